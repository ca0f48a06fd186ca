"""`storyteller retrieve` on real photos: the top-k equal brute force over the API's image and caption
vectors, unreadable images are reject rows (images in = answered + rejected), and a query side that
does not match the index (another CNN, changed VSE weights) is refused before any work."""

import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from data_schemas import CAPTIONS, REJECTS
from data_schemas import index as ix
from data_schemas.shards import read_artifact
from flows.cli.main import main
from flows.cli.summary import workspace_summary
from model.cnn.registry import DEFAULT_CNN, image_model_spec
from model.vse.api import VSEEncoder
from model.vse.embedding import VisualSemanticEmbedding, VSEConfig
from model.vse.files import save_vse
from pipelines.corpus import captions
from pipelines.features import image_features
from pipelines.index import build as index
from pipelines.index import retrieve
from tests.conftest import IN_PROCESS, SHARED_DATA
from tests.tiny_models import random_zero_shot

PHOTOS = SHARED_DATA / "images" / "flickr8k_1000"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("ws")
    captions.run(str(PHOTOS / "captions.txt"), "f1000", workspace, captions.CaptionParams("csv"), IN_PROCESS)
    table = read_artifact(workspace / "corpora" / "f1000" / "captions", CAPTIONS)
    words = ["<eos>", "UNK", *sorted({t for tokens in table.column("tokens").to_pylist() for t in tokens})]
    torch.manual_seed(0)
    dim_image = image_model_spec(DEFAULT_CNN).feature_dim
    vse_dir = workspace / "models" / "tiny-vse"
    config = VSEConfig(n_words=len(words), dim_image=dim_image, dim_word=16, dim=32, provenance={"cnn": DEFAULT_CNN})
    save_vse(vse_dir, VisualSemanticEmbedding(config), words)
    report = index.run(vse_dir, ["f1000"], workspace, index.IndexParams(exact_max=10_000), name="caps",
                       beam_args=IN_PROCESS)
    # The captions the index kept (5 repeat others): one shard, so the id map's rows are table rows.
    return workspace, vse_dir, table.take(pq.read_table(report.folder / index.ID_MAP_FILE).column(ix.ROW))


@pytest.fixture()
def photos(tmp_path):
    """Four real photos, a truncated JPEG and a text file, listed in a list file."""
    paths = [str(path) for path in sorted((PHOTOS / "images").glob("*.jpg"))[:4]]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(Path(paths[0]).read_bytes()[:300])
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture\n")
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([paths[0], str(broken), *paths[1:3], str(text), paths[3]]) + "\n")
    return listing, paths, [str(broken), str(text)]


def test_top_k_equal_brute_force_and_rows_balance(built, photos, tmp_path, capsys):
    workspace, vse_dir, table = built
    listing, good, bad = photos
    out = tmp_path / "found.parquet"
    assert main(["retrieve", "--index", "caps", "--workspace", str(workspace), "--images", str(listing),
                 "--k", "7", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ok" in printed and "MISMATCH" not in printed
    found = pq.read_table(out)
    rejects = pq.read_table(retrieve.rejects_path(out))
    assert found.schema.equals(ix.RETRIEVALS) and rejects.schema.equals(REJECTS)
    assert sorted(rejects.column("source").to_pylist()) == sorted(bad)
    assert set(found.column(ix.IMAGE).to_pylist()) == set(good)  # 6 in = 4 answered + 2 rejected
    assert found.num_rows == 7 * len(good)

    encoder = VSEEncoder(vse_dir)
    features, failed = image_features(good, DEFAULT_CNN)
    assert not failed
    scores = encoder.embed_features(features) @ encoder.embed_token_lists(table.column("tokens").to_pylist()).T
    texts = table.column("text").to_pylist()
    for row, path in enumerate(good):
        mine = found.filter(np.array(found.column(ix.IMAGE).to_pylist()) == path).sort_by(ix.RANK)
        assert mine.column(ix.RANK).to_pylist() == list(range(1, 8))
        expected = np.sort(scores[row])[::-1][:7]
        np.testing.assert_allclose(mine.column(ix.SCORE).to_numpy(), expected, atol=1e-4)
        best = [texts[i] for i in np.flatnonzero(scores[row] >= expected[-1] - 1e-4)]
        assert set(mine.column(ix.TEXT).to_pylist()) <= set(best)


def test_query_side_must_match_the_index(built, photos, tmp_path):
    workspace, vse_dir, _ = built
    listing, _, _ = photos
    with pytest.raises(ValueError, match="vgg19 gives 4096-d features"):
        retrieve.run("caps", str(listing), tmp_path / "x.parquet", workspace, retrieve.RetrieveParams(cnn="vgg19"))
    with pytest.raises(ValueError, match="--k must be at least 1"):
        retrieve.run("caps", str(listing), tmp_path / "x.parquet", workspace, retrieve.RetrieveParams(k=0))
    moved = tmp_path / "other-vse"
    shutil.copytree(vse_dir, moved)
    torch.manual_seed(1)
    config = VSEConfig(n_words=3, dim_image=8, dim_word=4, dim=8)
    save_vse(vse_dir, VisualSemanticEmbedding(config), ["<eos>", "UNK", "a"])  # the index's VSE is overwritten
    try:
        with pytest.raises(FileNotFoundError, match="rebuild the index"):
            retrieve.run("caps", str(listing), tmp_path / "x.parquet", workspace)
    finally:
        shutil.rmtree(vse_dir)
        shutil.copytree(moved, vse_dir)
    assert not (tmp_path / "x.parquet").exists()


def test_workspace_summary_lists_the_index_and_the_vse(built):
    workspace, _, _ = built
    lines = workspace_summary(workspace).splitlines()
    assert any(line.split()[:4] == ["tiny-vse/caps", "4995", "32", "Flat"] for line in lines)
    assert any(line.split()[:4] == ["tiny-vse", "vse/gru", "16", "32"] for line in lines)


def test_a_zero_shot_index_retrieves_like_brute_force(built, photos, tmp_path):
    """The zero-shot kind through the same commands: `index` embeds the captions with its SIF side, `retrieve`
    the photos with its classifier side, and the top 3 are brute force over the API's vectors."""
    workspace, vse_dir, _ = built
    words = VSEEncoder(vse_dir).vocab.words
    dim_image = image_model_spec(DEFAULT_CNN).feature_dim
    zero_dir = random_zero_shot(workspace / "models" / "tiny-zs", words, dim_image=dim_image)
    report = index.run(zero_dir, ["f1000"], workspace, index.IndexParams(exact_max=10_000), name="caps-zs",
                       beam_args=IN_PROCESS)
    kept = read_artifact(workspace / "corpora" / "f1000" / "captions", CAPTIONS).take(
        pq.read_table(report.folder / index.ID_MAP_FILE).column(ix.ROW))
    listing, good, _ = photos
    out = tmp_path / "zs.parquet"
    assert main(["retrieve", "--index", str(report.folder), "--images", str(listing), "--k", "3", "--out", str(out),
                 "--workspace", str(workspace)]) == 0
    rows = pq.read_table(out).to_pylist()
    encoder = VSEEncoder(zero_dir)
    features, _ = image_features(good, DEFAULT_CNN)
    scores = encoder.embed_features(features) @ encoder.embed_token_lists(kept.column("tokens").to_pylist()).T
    for position, path in enumerate(good):
        found = [row[ix.SCORE] for row in rows if row[ix.IMAGE] == path]
        np.testing.assert_allclose(found, np.sort(scores[position])[::-1][:3], atol=1e-4)
