"""The style Beam job on real vector shards: the mean of exactly the rows passing the filter, reruns
that do nothing, new corpora and books added from the stored sum, full recomputation on changed
shards or weights, float16 shards, the update rule, the reader, and the command line."""

import shutil
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from data_schemas import CAPTIONS, PASSAGES
from data_schemas.shards import read_artifact, shard_paths
from data_schemas.vectors import N_TOKENS, vector_matrix, vectors_schema
from flows.cli.main import main
from pipelines import encode
from pipelines.core.manifest import file_fingerprint, read_meta
from pipelines.corpus import captions, novels
from pipelines.style import job as style
from pipelines.style.files import FULL, INCREMENTAL, UNCHANGED, list_styles, plan_update, read_style, style_paths
from tests.conftest import IN_PROCESS, NOVELS, SHARED_DATA
from tests.tiny_models import random_encoder

DIM = 16
BOOKS = {"wild": "adventure/london_call_of_the_wild_pg215.txt.gz",
         "otranto": "romance/walpole_castle_of_otranto.txt.gz"}
CORPORA = {"f1000": "captions", "wild": "passages", "otranto": "passages"}


def encode_corpus(workspace, corpus, dtype="float32"):
    params = encode.EncodeParams(str(workspace / "models" / "tiny"), dtype, batch_size=4096, batch_tokens=1 << 16)
    encode.run(params, corpus, CORPORA[corpus], workspace, IN_PROCESS)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("ws")
    captions.run(str(SHARED_DATA / "images" / "flickr8k_1000" / "captions.txt"), "f1000", workspace,
                 captions.CaptionParams("csv"), IN_PROCESS)
    for name, book in BOOKS.items():
        novels.run(str(NOVELS / book), name, workspace, beam_args=IN_PROCESS)
    words = set()
    for corpus, kind in CORPORA.items():
        table = read_artifact(workspace / "corpora" / corpus / kind, CAPTIONS if kind == "captions" else PASSAGES)
        words.update(token for tokens in table.column("tokens").to_pylist() for token in tokens)
    random_encoder(workspace / "models" / "tiny", ["<eos>", "UNK", *sorted(words)], kind="uni", dim_word=8, dim=DIM)
    for corpus in CORPORA:
        encode_corpus(workspace, corpus)
    return workspace


def expected_mean(workspace, corpora, kind, min_tokens=None):
    """The float64 numpy mean of the vectors of the rows with more than `min_tokens` tokens."""
    tables = [pq.read_table(path) for c in corpora for path in shard_paths(workspace / "vectors" / "tiny" / c / kind)]
    vectors = np.concatenate([vector_matrix(t) for t in tables]).astype(np.float64)
    tokens = np.concatenate([t.column(N_TOKENS).to_numpy() for t in tables])
    keep = tokens > min_tokens if min_tokens is not None else np.ones(len(tokens), bool)
    return vectors[keep].mean(axis=0), int(keep.sum()), len(tokens)


def test_style_is_the_mean_of_the_rows_passing_the_filter(workspace):
    report = style.run("adventure", ["wild"], "passages", "tiny", workspace, 100, IN_PROCESS)
    mean, count, rows = expected_mean(workspace, ["wild"], "passages", 100)
    found = read_style(workspace, "tiny", "adventure")
    assert found.vector.dtype == np.float32 and found.vector.shape == (DIM,)
    np.testing.assert_allclose(found.vector, mean, atol=1e-7)
    assert (report.action, report.count, report.rows_used, report.rows_read) == (FULL, count, count, rows)
    assert report.rows_filtered == rows - count > 0
    shard = workspace / "vectors" / "tiny" / "wild" / "passages" / "part-00000-of-00001.parquet"
    assert found.meta["inputs"] == [{"corpus": "wild", "path": shard.relative_to(workspace).as_posix(),
                                     "content_id": style.shard_ids(read_meta(shard.parent))[0], "rows": rows,
                                     "rows_used": count}]
    weights = file_fingerprint(workspace / "models" / "tiny" / "weights.pt")["sha256"]
    assert found.meta["encoder"]["id"] == "tiny" and found.meta["encoder"]["files"]["weights.pt"] == weights
    assert (found.meta["filter"], found.meta["kind"], found.meta["count"]) == ({"min_tokens": 100}, "passages", count)
    captions_report = style.run("captions", ["f1000"], "captions", str(workspace / "models" / "tiny"), workspace,
                                beam_args=IN_PROCESS)
    mean, count, _ = expected_mean(workspace, ["f1000"], "captions")
    np.testing.assert_allclose(read_style(workspace, "tiny", "captions").vector, mean, atol=1e-7)
    assert captions_report.count == count == 5000 and list_styles(workspace, "tiny") == ["adventure", "captions"]


def test_rerun_is_unchanged_and_a_new_corpus_is_added_incrementally(workspace):
    style.run("romance", ["wild"], "passages", "tiny", workspace, 100, IN_PROCESS)
    paths = style_paths(workspace, "tiny", "romance")
    before = [p.read_bytes() for p in (paths.vector, paths.sum, paths.meta)]
    again = style.run("romance", ["wild"], "passages", "tiny", workspace, 100, IN_PROCESS)
    assert (again.action, again.shards_read) == (UNCHANGED, 0)
    assert [p.read_bytes() for p in (paths.vector, paths.sum, paths.meta)] == before
    grown = style.run("romance", ["wild", "otranto"], "passages", "tiny", workspace, 100, IN_PROCESS)
    assert (grown.action, grown.shards, grown.shards_read) == (INCREMENTAL, 2, 1)
    full = style.run("romance-full", ["wild", "otranto"], "passages", "tiny", workspace, 100, IN_PROCESS)
    assert full.action == FULL and full.count == grown.count
    mean, count, _ = expected_mean(workspace, ["wild", "otranto"], "passages", 100)
    incremental = read_style(workspace, "tiny", "romance").vector
    np.testing.assert_allclose(incremental, read_style(workspace, "tiny", "romance-full").vector, atol=1e-6)
    np.testing.assert_allclose(incremental, mean, atol=1e-6)
    assert grown.count == count


def test_changed_shards_and_new_weights_recompute_everything(workspace, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws, ignore=shutil.ignore_patterns("styles"))
    assert style.run("romance", ["wild", "otranto"], "passages", "tiny", ws, 100, IN_PROCESS).action == FULL
    encode_corpus(ws, "otranto", "float16")
    changed = style.run("romance", ["wild", "otranto"], "passages", "tiny", ws, 100, IN_PROCESS)
    assert (changed.action, changed.shards_read) == (FULL, 2) and "changed or removed" in changed.reason
    assert pq.read_schema(shard_paths(ws / "vectors" / "tiny" / "otranto" / "passages")[0]).equals(
        vectors_schema(DIM, "float16"))
    mean, _, _ = expected_mean(ws, ["wild", "otranto"], "passages", 100)
    np.testing.assert_allclose(read_style(ws, "tiny", "romance").vector, mean, atol=1e-6)
    words = (ws / "models" / "tiny" / "vocab.txt").read_text().split("\n")[:-1]
    random_encoder(ws / "models" / "tiny", words, kind="uni", dim_word=8, dim=DIM, seed=1)
    encode_corpus(ws, "wild")
    with pytest.raises(ValueError, match="different weights of tiny: re-encode"):
        style.run("romance", ["wild", "otranto"], "passages", "tiny", ws, 100, IN_PROCESS)
    retrained = style.run("romance", ["wild"], "passages", "tiny", ws, 100, IN_PROCESS)
    assert (retrained.action, retrained.reason, retrained.shards_read) == (FULL, "encoder changed", 1)


def test_a_book_added_to_a_corpus_is_added_to_the_stored_sum(workspace, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws, ignore=shutil.ignore_patterns("styles"))
    corpus, vectors = ws / "corpora" / "wild" / "passages", ws / "vectors" / "tiny" / "wild" / "passages"
    before = [file_fingerprint(shard_paths(folder)[0])["sha256"] for folder in (corpus, vectors)]
    style.run("grown", ["wild"], "passages", "tiny", ws, 100, IN_PROCESS)
    # Corpus "wild" rebuilt from Otranto too; London's path is spelled as when the fixture built it.
    both = str(NOVELS / "*" / "[lw][oa][nl]*.txt.gz")
    assert novels.list_novels(both) == [str(NOVELS / BOOKS["wild"]), str(NOVELS / BOOKS["otranto"])]
    novels.run(both, "wild", ws, beam_args=IN_PROCESS)
    encode_corpus(ws, "wild")
    # Every shard was renamed: London's corpus shard kept its bytes, its vector shard did not.
    after = [file_fingerprint(shard_paths(folder)[0])["sha256"] for folder in (corpus, vectors)]
    assert shard_paths(vectors)[0].name == "part-00000-of-00002.parquet"
    assert after[0] == before[0] and after[1] != before[1]
    grown = style.run("grown", ["wild"], "passages", "tiny", ws, 100, IN_PROCESS)
    assert (grown.action, grown.shards, grown.shards_read) == (INCREMENTAL, 2, 1)
    assert grown.rows_read == pq.read_metadata(shard_paths(vectors)[1]).num_rows
    mean, count, _ = expected_mean(ws, ["wild"], "passages", 100)
    np.testing.assert_allclose(read_style(ws, "tiny", "grown").vector, mean, atol=1e-6)
    assert grown.count == count


def test_update_rule_matches_shards_by_content():
    params = {"kind": "passages", "filter": None, "encoder": {"id": "m", "files": {}}, "dim": 4, "code_version": "x"}
    old = [{"path": "a/part-00000-of-00001.parquet", "content_id": "A", "rows_used": 3}]
    previous = {**params, "inputs": old}
    renamed = [{"path": "a/part-00000-of-00002.parquet", "content_id": "A"},
               {"path": "a/part-00001-of-00002.parquet", "content_id": "B"}]
    plan = plan_update(previous, params, renamed)
    assert (plan.action, plan.read, plan.carried) == (INCREMENTAL, (1,), {0: old[0]})
    assert plan_update(previous, params, renamed[:1]).action == UNCHANGED
    assert plan_update(previous, params, renamed[1:]).action == FULL
    assert plan_update(previous, {**params, "filter": {"min_tokens": 5}}, renamed).reason == "filter changed"
    assert plan_update(None, params, renamed).read == (0, 1)


def test_shard_ids_follow_the_corpus_shard_content_and_encode_settings_not_paths():
    meta = {"inputs": [{"path": "c/part-00000-of-00001.parquet", "bytes": 9, "sha256": "A"}], "code_version": "x",
            "params": {"dtype": "float32", "model": [{"path": "/m/weights.pt", "bytes": 9, "sha256": "W"}]}}
    moved = {**meta, "inputs": [{**meta["inputs"][0], "path": "c/part-00000-of-00002.parquet"}],
             "params": {**meta["params"], "model": [{"path": "/n/weights.pt", "bytes": 9, "sha256": "W"}]}}
    assert style.shard_ids(moved) == style.shard_ids(meta)
    for changed in ({**meta, "inputs": [{**meta["inputs"][0], "sha256": "B"}]}, {**meta, "code_version": "y"},
                    {**meta, "params": {**meta["params"], "dtype": "float16"}}):
        assert style.shard_ids(changed) != style.shard_ids(meta)


def test_reader_errors_and_an_interrupted_write(workspace, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.json is missing: build it with `storyteller style --name nope"):
        read_style(workspace, "tiny", "nope")
    with pytest.raises(FileNotFoundError, match=r"run `storyteller encode --encoder \S+/models/tiny --corpus none"):
        style.run("x", ["none"], "passages", "tiny", workspace, None, IN_PROCESS)
    with pytest.raises(ValueError, match="no passages of wild pass the filter"):
        style.run("x", ["wild"], "passages", "tiny", workspace, 10_000, IN_PROCESS)
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws, ignore=shutil.ignore_patterns("styles", "corpora"))
    style.run("s", ["wild"], "passages", "tiny", ws, None, IN_PROCESS)
    paths = style_paths(ws, "tiny", "s")
    np.save(paths.vector, np.zeros(DIM, np.float32))  # as if killed after this write, before the json
    with pytest.raises(ValueError, match="does not match the sha256"):
        read_style(ws, "tiny", "s")
    assert style.run("s", ["wild"], "passages", "tiny", ws, None, IN_PROCESS).action == FULL
    assert read_style(ws, "tiny", "s").vector.any()
    shard_paths(ws / "vectors" / "tiny" / "wild" / "passages")[0].unlink()
    with pytest.raises(FileNotFoundError, match=r"has 0 shards but its _meta\.json lists 1 .* run `storyteller encode"):
        style.run("s", ["wild"], "passages", "tiny", ws, None, IN_PROCESS)


def test_style_command_prints_rows_that_add_up_and_one_line_errors(workspace, capsys):
    args = ["style", "--name", "cli", "--corpus", "wild", "--kind", "passages", "--encoder", "tiny",
            "--workspace", str(workspace), *IN_PROCESS]
    assert main([*args, "--min-tokens", "100"]) == 0
    records = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("records"))
    _, rows_in, rows_out, filtered, balance = records.split()
    assert int(rows_in) == int(rows_out) + int(filtered) and int(filtered) > 0 and balance == "ok"
    missing = subprocess.run([sys.executable, "-m", "flows.cli.main", *args[:4], "nothing", *args[5:]],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    last = missing.stderr.strip().splitlines()[-1]
    assert last.startswith("storyteller: error:") and "storyteller encode --encoder" in last
