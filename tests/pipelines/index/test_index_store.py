"""The caption index with its workspace on an object store (a moto S3 server): the same captions, vectors and
top-k as on disk, a rerun that writes nothing, the index loaded through the local cache once per version,
the skip-thought matrix beside it, and `storyteller index` / `retrieve` with `--workspace s3://...`."""

import uuid

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from data_schemas.storage import is_remote, location, read_parquet
from flows.cli.main import main
from model.cnn.registry import DEFAULT_CNN, image_model_spec
from model.skipthought.api import TextEncoder
from model.vse.embedding import VisualSemanticEmbedding, VSEConfig
from model.vse.files import save_vse
from pipelines import encode
from pipelines.core.manifest import StageStart
from pipelines.corpus import captions
from pipelines.index import build as index
from pipelines.index import retrieve
from pipelines.index.caption_index import CaptionIndex, find_index
from pipelines.index.caption_vectors import cache_paths, caption_vectors
from tests.conftest import IN_PROCESS, SHARED_DATA
from tests.tiny_models import random_encoder

PHOTOS = SHARED_DATA / "images" / "flickr8k_1000"


@pytest.fixture(scope="module")
def built(s3_bucket, tmp_path_factory):
    """80 Flickr8k captions indexed by one random VSE in a workspace on disk and in one on the store."""
    folder = tmp_path_factory.mktemp("index-store")
    header, *lines = (PHOTOS / "captions.txt").read_text().splitlines()
    source = folder / "caps.csv"
    source.write_text("\n".join([header, *lines[:80]]) + "\n")
    words = ["<eos>", "UNK", *sorted({w for line in lines[:80] for w in line.split(",", 1)[1].split()})]
    torch.manual_seed(0)
    vse_dir = folder / "models" / "tiny-vse"
    config = VSEConfig(n_words=len(words), dim_image=image_model_spec(DEFAULT_CNN).feature_dim, dim_word=16, dim=32,
                       provenance={"cnn": DEFAULT_CNN})
    save_vse(vse_dir, VisualSemanticEmbedding(config), words)
    workspaces = {"disk": folder / "ws", "store": location(f"{s3_bucket}/index-store-{uuid.uuid4().hex[:6]}")}
    reports = {}
    for where, workspace in workspaces.items():
        captions.run(str(source), "caps", workspace, captions.CaptionParams("csv"), IN_PROCESS)
        reports[where] = index.run(vse_dir, ["caps"], workspace, name="caps", beam_args=IN_PROCESS)
    return vse_dir, words, workspaces, reports


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STORYTELLER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def copies(cache) -> dict:
    """Each cached copy (CACHE/store/VERSION/s3/...) and its modification time."""
    return {path.relative_to(cache).as_posix(): path.stat().st_mtime_ns for path in cache.rglob("*") if path.is_file()}


def test_the_stored_index_holds_what_the_one_on_disk_holds_and_a_rerun_writes_nothing(built):
    vse_dir, _, workspaces, reports = built
    disk, stored = reports["disk"], reports["store"]
    assert is_remote(stored.folder) and stored.start is StageStart.FRESH and stored.captions == disk.captions > 70
    same = ("inputs", "captions", "duplicates_merged", "dim", "index", "recall")
    assert {key: stored.meta[key] for key in same} == {key: disk.meta[key] for key in same}
    on_disk, on_store = CaptionIndex(disk.folder), CaptionIndex(stored.folder)
    assert on_store.id_map.equals(on_disk.id_map)
    vectors = on_disk.index.reconstruct_n(0, on_disk.index.ntotal)
    np.testing.assert_array_equal(on_store.index.reconstruct_n(0, on_store.index.ntotal), vectors)
    queries = vectors[[0, 17, 40]] + 0.05
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    assert on_store.search(queries, 5)[1].tolist() == on_disk.search(queries, 5)[1].tolist()

    faiss_file = stored.folder / index.INDEX_FILE
    etag = faiss_file.fs.info(faiss_file.path)["ETag"]
    again = index.run(vse_dir, ["caps"], workspaces["store"], name="caps", beam_args=IN_PROCESS)
    assert again.start is StageStart.DONE and all(report.shards_run == 0 for report in again.embedded)
    assert faiss_file.fs.info(faiss_file.path)["ETag"] == etag


def test_a_stored_index_is_fetched_once_per_version(built, cache):
    vse_dir, _, workspaces, _ = built
    report = index.run(vse_dir, ["caps"], workspaces["store"], name="versions", beam_args=IN_PROCESS)
    first = CaptionIndex(find_index(workspaces["store"], "versions"))
    fetched = copies(cache)
    assert sorted(name.rsplit("/", 1)[1] for name in fetched) == [index.INDEX_FILE, index.ID_MAP_FILE]
    second = CaptionIndex(find_index(workspaces["disk"], str(report.folder)))  # by URL: the same copies, untouched
    assert copies(cache) == fetched and second.id_map.equals(first.id_map)
    index.run(vse_dir, ["caps"], workspaces["store"], index.IndexParams(factory="HNSW32"), name="versions",
              beam_args=IN_PROCESS)
    rebuilt = CaptionIndex(str(report.folder))
    assert rebuilt.meta["index"]["kind"] == "hnsw" and rebuilt.index.hnsw.efSearch == rebuilt.meta["index"]["ef_search"]
    new = [name.rsplit("/", 1)[1] for name in set(copies(cache)) - set(fetched)]
    assert index.INDEX_FILE in new and all(copies(cache)[name] == time for name, time in fetched.items())


def test_the_skip_thought_matrix_beside_a_stored_index(built, tmp_path):
    _, words, workspaces, reports = built
    encoder = random_encoder(tmp_path / "tiny-st", words)
    dim = TextEncoder(encoder).dim
    matrices = {}
    for where, workspace in workspaces.items():
        encode.run(encode.EncodeParams(str(encoder)), "caps", "captions", workspace, IN_PROCESS)
        matrices[where] = caption_vectors(CaptionIndex(reports[where].folder), workspace, "tiny-st", dim)
    np.testing.assert_array_equal(matrices["store"], matrices["disk"])
    matrix, _ = cache_paths(reports["store"].folder, "tiny-st")
    etag = matrix.fs.info(matrix.path)["ETag"]
    again = caption_vectors(CaptionIndex(reports["store"].folder), workspaces["store"], "tiny-st", dim)
    assert matrix.fs.info(matrix.path)["ETag"] == etag and np.array_equal(again, matrices["disk"])


def test_index_and_retrieve_commands_with_a_stored_workspace(built, tmp_path, capsys):
    vse_dir, _, workspaces, _ = built
    store = str(workspaces["store"])
    # No Beam flags: the captions are embedded already, so no job runs.
    assert main(["index", "--vse", str(vse_dir), "--corpus", "caps", "--workspace", store, "--name", "cli"]) == 0
    assert f"index {store}/index/tiny-vse/cli: built" in capsys.readouterr().out
    photo = str(sorted((PHOTOS / "images").glob("*.jpg"))[0])
    found = f"{store}/found/found.parquet"
    assert main(["retrieve", "--index", "cli", "--workspace", store, "--images", photo, "--k", "3",
                 "--out", found]) == 0
    assert main(["retrieve", "--index", f"{store}/index/tiny-vse/cli", "--images", photo, "--k", "3",
                 "--out", str(tmp_path / "by-url.parquet")]) == 0
    on_disk = retrieve.run("caps", photo, tmp_path / "disk.parquet", workspaces["disk"], retrieve.RetrieveParams(k=3))
    by_name = read_parquet(location(found))
    assert on_disk.rows == by_name.num_rows == 3 and by_name.equals(pq.read_table(tmp_path / "disk.parquet"))
    assert pq.read_table(tmp_path / "by-url.parquet").equals(by_name)
    assert read_parquet(location(f"{store}/found/found.rejects.parquet")).num_rows == 0
