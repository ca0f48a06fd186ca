"""Near-duplicate captions are indexed once: keys ignore case, spacing and punctuation only; over two
corpora where the second repeats the first, each caption is kept once, ids stay 0..N-1, read = kept +
merged, and the id map's rows still lead to every text model's vectors of the kept captions."""

import numpy as np
import pyarrow.parquet as pq
import pytest

from data_schemas import CAPTIONS
from data_schemas.shards import read_artifact
from model.skipthought.api import TextEncoder
from model.vse.api import VSEEncoder
from pipelines import encode
from pipelines.corpus import captions
from pipelines.index import build as index
from pipelines.index.caption_index import CaptionIndex
from tests.conftest import IN_PROCESS
from tests.tiny_models import random_encoder, random_vse

FIRST = ["A dog runs .", "A black dog runs through the grass .", "a dog runs.", "Two children play on the beach .",
         "A man rides a bike ."]
SECOND = ["A DOG   runs!", "A woman reads a book .", '"two children, play on the beach"', "Café au lait on a table .",
          "A man rides a bike."]
KEPT = {"first": [0, 1, 3, 4], "second": [1, 3]}  # rows of each corpus' shard the index keeps


def test_keys_ignore_case_spacing_and_punctuation_only():
    assert index.duplicate_key("A dog runs .") == index.duplicate_key("  a DOG runs!") == "a dog runs"
    assert index.duplicate_key("Café, au-lait_2 .") == "café au lait 2"
    assert index.duplicate_key("A dog runs .") != index.duplicate_key("A dog runs fast .")
    assert len({index.duplicate_key(t) for t in ("Two dogs", "Two dog s", "Twodogs", "Two dogs 2")}) == 4


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("ws")
    for name, texts in (("first", FIRST), ("second", SECOND)):
        source = tmp_path_factory.mktemp(name) / "captions.csv"
        source.write_text("image,caption\n" + "".join(f'img{i}.jpg,"{t.replace(chr(34), 2 * chr(34))}"\n'
                                                      for i, t in enumerate(texts)))
        captions.run(str(source), name, workspace, captions.CaptionParams("csv"), IN_PROCESS)
    tables = {c: read_artifact(workspace / "corpora" / c / "captions", CAPTIONS) for c in KEPT}
    words = ["<eos>", "UNK", *sorted({t for c in KEPT for tokens in tables[c].column("tokens").to_pylist()
                                      for t in tokens})]
    random_vse(workspace / "models" / "tiny-vse", words)
    random_encoder(workspace / "models" / "tiny-st", words)
    return workspace, tables


def test_each_caption_is_indexed_once_and_rows_still_lead_to_its_vectors(workspace, caplog):
    workspace, tables = workspace
    report = index.run(workspace / "models" / "tiny-vse", ["first", "second"], workspace, name="merged",
                       beam_args=IN_PROCESS)
    assert "6 captions (10 read, 4 duplicates merged)" in caplog.text
    meta = report.meta
    assert (meta["captions_read"], meta["captions"], meta["duplicates_merged"]) == (10, 6, 4)
    rows_in = sum(i["rows"] for i in meta["inputs"])
    assert rows_in == meta["captions_read"] == meta["captions"] + meta["duplicates_merged"]  # in = out + merged
    loaded = CaptionIndex(report.folder)
    id_map = pq.read_table(report.folder / index.ID_MAP_FILE)
    assert id_map.column("faiss_id").to_pylist() == list(range(6)) and loaded.index.ntotal == 6
    kept = [(c, row) for c in KEPT for row in KEPT[c]]
    assert list(zip(id_map.column("corpus").to_pylist(), id_map.column("row").to_pylist(), strict=True)) == kept
    texts = [tables[c].column("text")[row].as_py() for c, row in kept]
    assert id_map.column("text").to_pylist() == texts
    tokens = [tables[c].column("tokens")[row].as_py() for c, row in kept]
    scores, ids = loaded.search(VSEEncoder(workspace / "models" / "tiny-vse").embed_token_lists(tokens), 6)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)  # each kept caption finds its own vector first
    assert loaded.captions(ids[:, 0]).column("text").to_pylist() == texts
    assert sorted(ids[0]) == list(range(6))  # the whole index in one search: no caption twice
    for corpus in KEPT:
        encode.run(encode.EncodeParams(str(workspace / "models" / "tiny-st")), corpus, "captions", workspace,
                   IN_PROCESS)
    got = loaded.caption_vectors(workspace, "tiny-st", np.array([5, 0, 4, 2]))
    expected = TextEncoder(workspace / "models" / "tiny-st").encode_tokens([tokens[i] for i in (5, 0, 4, 2)])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_without_merging_every_caption_is_kept(workspace, caplog):
    workspace, tables = workspace
    report = index.run(workspace / "models" / "tiny-vse", ["first", "second"], workspace,
                       index.IndexParams(merge_duplicates=False), name="all", beam_args=IN_PROCESS)
    assert "10 captions (10 read, 0 duplicates merged)" in caplog.text
    assert (report.meta["captions_read"], report.captions, report.meta["duplicates_merged"]) == (10, 10, 0)
    id_map = pq.read_table(report.folder / index.ID_MAP_FILE)
    assert id_map.column("text").to_pylist() == [t for c in KEPT for t in tables[c].column("text").to_pylist()]
    assert id_map.column("row").to_pylist() == [*range(5), *range(5)]
