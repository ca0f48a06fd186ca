"""The caption index stage on real captions with a random-weight VSE: Multi30k's repeats of Flickr8k
captions are merged, the index answers like brute force over the Python API's vectors of the kept
captions, ids lead back to captions and skip-thought vectors, reruns skip, above the threshold an
IVF index reaches its measured recall, and `--index-factory` builds the index it names or says why not."""

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from data_schemas import CAPTIONS
from data_schemas.shards import read_artifact
from flows.cli.main import main
from model.skipthought.api import TextEncoder
from model.vse.api import VSEEncoder
from model.vse.embedding import VisualSemanticEmbedding, VSEConfig
from model.vse.files import save_vse
from pipelines import encode
from pipelines.core.manifest import StageStart
from pipelines.corpus import captions
from pipelines.index import build as index
from pipelines.index.caption_index import CaptionIndex, find_index
from tests.conftest import CAPTIONS as CAPTION_DATA
from tests.conftest import IN_PROCESS, SHARED_DATA
from tests.tiny_models import random_encoder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("ws")
    captions.run(str(SHARED_DATA / "images" / "flickr8k_1000" / "captions.txt"), "f1000", workspace,
                 captions.CaptionParams("csv"), IN_PROCESS)
    captions.run(str(CAPTION_DATA / "multi30k" / "task1" / "raw" / "test_2016_flickr.en.gz"), "m30k", workspace,
                 captions.CaptionParams("multi30k"), IN_PROCESS)
    tables = {c: read_artifact(workspace / "corpora" / c / "captions", CAPTIONS) for c in ("f1000", "m30k")}
    words = ["<eos>", "UNK", *sorted({t for tokens in tables["f1000"].column("tokens").to_pylist() for t in tokens})]
    torch.manual_seed(0)
    vse_dir = tmp_path_factory.mktemp("models") / "tiny-vse"
    save_vse(vse_dir, VisualSemanticEmbedding(VSEConfig(n_words=len(words), dim_image=8, dim_word=16, dim=32)), words)
    report = index.run(vse_dir, ["f1000", "m30k"], workspace, index.IndexParams(exact_max=10_000), name="caps",
                       beam_args=IN_PROCESS)
    return workspace, vse_dir, tables, report


def indexed(tables: dict, report: index.IndexReport, column: str) -> list:
    """A corpus column of the indexed captions by FAISS id (each corpus is one shard: `row` is its table row)."""
    id_map = pq.read_table(report.folder / index.ID_MAP_FILE)
    values = {c: tables[c].column(column).to_pylist() for c in tables}
    return [values[c][row] for c, row in zip(id_map.column("corpus").to_pylist(), id_map.column("row").to_pylist(),
                                             strict=True)]


def test_exact_index_answers_like_brute_force_over_the_api_vectors(built):
    workspace, vse_dir, tables, report = built
    # 5 Flickr8k captions repeat others of its own, 30 Multi30k captions repeat Flickr8k ones.
    assert (report.meta["captions_read"], report.meta["duplicates_merged"]) == (6_000, 35)
    assert report.start is StageStart.FRESH and report.captions == 5_965
    assert report.meta["index"]["kind"] == "flat" and report.meta["recall"]["recall@10"] == 1.0
    loaded = CaptionIndex(find_index(workspace, "caps"))
    assert len({index.duplicate_key(t) for t in loaded.id_map.column("text").to_pylist()}) == 5_965
    vectors = VSEEncoder(vse_dir).embed_token_lists(indexed(tables, report, "tokens"))
    queries = vectors[[0, 4_321, 5_964]] + 0.01
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scores, ids = loaded.search(queries, 5)
    brute = queries @ vectors.T
    np.testing.assert_allclose(scores, np.sort(brute, axis=1)[:, ::-1][:, :5], atol=1e-4)
    texts = indexed(tables, report, "text")
    assert loaded.captions(ids[:, 0]).column("text").to_pylist() == [texts[i] for i in ids[:, 0]]
    assert loaded.captions(np.array([4_994, 4_995])).column("corpus").to_pylist() == ["f1000", "m30k"]


def test_ids_lead_to_skip_thought_vectors_of_any_encoder(built, tmp_path):
    workspace, _, tables, report = built
    encoder = random_encoder(workspace / "models" / "tiny-st", ["<eos>", "UNK", "A", "dog", "a", "man", "."])
    for corpus in ("f1000", "m30k"):
        encode.run(encode.EncodeParams(str(encoder)), corpus, "captions", workspace, IN_PROCESS)
    loaded = CaptionIndex(report.folder)
    ids = np.array([5_964, 2, 4_000, 4_995])
    got = loaded.caption_vectors(workspace, "tiny-st", ids)
    token_lists = indexed(tables, report, "tokens")
    np.testing.assert_allclose(got, TextEncoder(encoder).encode_tokens([token_lists[i] for i in ids]), atol=1e-5)
    with pytest.raises(FileNotFoundError, match="storyteller encode --encoder nothing"):
        loaded.caption_vectors(workspace, "nothing", ids)


def test_rerun_skips_and_ivf_above_the_threshold_meets_its_recall(built):
    workspace, vse_dir, _, _ = built
    again = index.run(vse_dir, ["f1000", "m30k"], workspace, index.IndexParams(exact_max=10_000), name="caps",
                      beam_args=IN_PROCESS)
    assert again.start is StageStart.DONE and all(r.shards_run == 0 for r in again.embedded)
    ivf = index.run(vse_dir, ["f1000", "m30k"], workspace, index.IndexParams(exact_max=1_000, recall_queries=300),
                    name="caps", beam_args=IN_PROCESS)
    meta = ivf.meta
    assert ivf.start is StageStart.FRESH and meta["index"]["kind"] == "ivf" and meta["index"]["nlist"] == 64
    assert meta["recall"]["recall@10"] >= 0.95 and meta["recall"]["queries"] == 300
    assert CaptionIndex(ivf.folder).index.nprobe == meta["index"]["nprobe"]
    id_map = pq.read_table(ivf.folder / index.ID_MAP_FILE)
    assert id_map.column("faiss_id").to_pylist() == list(range(5_965))


def test_a_skip_thought_model_is_not_a_vse(built, tmp_path):
    workspace, *_ = built
    encoder = random_encoder(tmp_path / "st", ["<eos>", "UNK", "a"])
    with pytest.raises(ValueError, match="not a visual-semantic embedding"):
        index.run(encoder, ["f1000"], workspace, beam_args=IN_PROCESS)


def test_index_factory_builds_the_named_index_with_its_recall_checked(built, capsys):
    workspace, vse_dir, *_ = built
    args = ["index", "--vse", str(vse_dir), "--corpus", "f1000,m30k", "--workspace", str(workspace),
            "--recall-queries", "300"]  # no Beam flags: the captions are embedded already, so no job runs
    assert main([*args, "--name", "hnsw", "--index-factory", "HNSW32"]) == 0
    meta = CaptionIndex(find_index(workspace, "hnsw")).meta
    assert meta["index"]["factory"] == "HNSW32" and meta["index"]["kind"] == "hnsw" and meta["index"]["given"]
    assert meta["recall"]["recall@10"] >= 0.95 and meta["index"]["ef_search"] == meta["recall"]["ef_search"] >= 16
    assert "HNSW32" in capsys.readouterr().out
    loaded = CaptionIndex(find_index(workspace, "hnsw"))
    assert loaded.index.hnsw.efSearch == meta["index"]["ef_search"]
    queries = np.asarray([loaded.index.reconstruct(i) for i in (7, 3_000)])
    assert loaded.search(queries, 1)[1].ravel().tolist() == [7, 3_000]  # each caption its own nearest

    assert main([*args, "--name", "bad", "--index-factory", "IVF64,Bogus"]) == 1
    assert "--index-factory 'IVF64,Bogus' is not a FAISS index of 32-d vectors" in capsys.readouterr().err
    assert not (workspace / "index" / "tiny-vse" / "bad").exists()  # refused before any work
    assert main([*args, "--name", "big", "--index-factory", "IVF1024,Flat"]) == 1
    assert "needs at least 39,936 training vectors (39 per centroid) but there are only 5,965" in \
        capsys.readouterr().err
