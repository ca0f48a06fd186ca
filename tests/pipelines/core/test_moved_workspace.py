"""A copied workspace keeps its stage keys: the same stage calls against the copy find every stage done
and rewrite nothing, though its inputs and its encoder (a symlink) now sit under another root; its
status is read from its own files."""

import os
import shutil

from pipelines import encode
from pipelines.core.dry_run import dry_run
from pipelines.core.manifest import StageStart, _code_text, read_meta, stage_key
from pipelines.core.workspace_status import workspace_status
from pipelines.corpus import captions, vocab
from pipelines.style import job as style
from pipelines.style.files import FULL, UNCHANGED
from tests.conftest import IN_PROCESS
from tests.tiny_models import random_encoder

WORDS = ["<eos>", "UNK", "a", "dog", "runs", ".", "two", "cats", "sleep", "on", "the", "grass"]
CAPTIONS = "image,caption\n" + "".join(f"img{i}.jpg,{text}\n" for i, text in enumerate(
    ["A dog runs .", "Two cats sleep on the grass .", "a dog runs on the grass", "two cats ."] * 5))


def run_stages(ws):
    """Captions from a file inside the workspace, a vocabulary, their vectors and a style of them."""
    corpus = captions.run(str(ws / "inputs" / "captions.csv"), "tiny", ws, captions.CaptionParams("csv"), IN_PROCESS)
    words = vocab.run(["tiny"], 8, ws, beam_args=IN_PROCESS)
    vectors = encode.run(encode.EncodeParams(str(ws / "models" / "enc")), "tiny", "captions", ws, IN_PROCESS)
    mean = style.run("plain", ["tiny"], "captions", "enc", ws, None, IN_PROCESS)
    return corpus, words, vectors, mean


def files(root):
    return {path: os.stat(path).st_mtime_ns for path in sorted(root.rglob("*")) if path.is_file()}


def test_a_copied_workspace_is_reused(tmp_path):
    ws = tmp_path / "ws"
    (ws / "inputs").mkdir(parents=True)
    (ws / "inputs" / "captions.csv").write_text(CAPTIONS)
    random_encoder(tmp_path / "shipped" / "enc", WORDS, kind="uni", dim_word=8, dim=16)
    (ws / "models").mkdir()
    (ws / "models" / "enc").symlink_to(tmp_path / "shipped" / "enc")
    corpus, words, vectors, mean = run_stages(ws)
    assert (corpus.start, words.skipped, vectors.start, mean.action) == (StageStart.FRESH, False, StageStart.FRESH,
                                                                         FULL)
    moved = tmp_path / "elsewhere" / "ws2"
    shutil.copytree(ws, moved, symlinks=True)
    before = files(moved)
    corpus, words, vectors, mean = run_stages(moved)
    assert (corpus.start, words.skipped, vectors.start, mean.action) == (StageStart.DONE, True, StageStart.DONE,
                                                                         UNCHANGED)
    assert files(moved) == before
    with dry_run():  # a style not made yet: planned, not written
        planned = style.run("other", ["tiny"], "captions", "enc", moved, 3, IN_PROCESS)
    assert (planned.dry_run, planned.action, planned.shards_read) == (True, FULL, 1) and files(moved) == before
    # The provenance still names the files where they were read; the key does not depend on it.
    meta = read_meta(moved / "corpora" / "tiny" / "captions")
    assert meta["inputs"][0]["path"] == str(ws / "inputs" / "captions.csv") and meta["root"] == str(ws)
    # `storyteller status` checks the copy's own files: an input edited in the copy makes only it stale.
    assert {found.state for found in workspace_status(moved)} == {"current"}
    (moved / "inputs" / "captions.csv").write_text(CAPTIONS + "img99.jpg,a cat .\n")
    assert {found.name: found.state for found in workspace_status(moved)}["corpora/tiny/captions"] == "stale"
    assert {found.state for found in workspace_status(ws)} == {"current"}


def test_keys_ignore_where_the_root_is_and_code_docstrings(tmp_path):
    fingerprint = {"path": str(tmp_path / "ws" / "corpora" / "c" / "part.parquet"), "sha256": "x"}
    moved = {**fingerprint, "path": str(tmp_path / "ws2" / "corpora" / "c" / "part.parquet")}
    outside = {"model": "/opt/models/enc", "kind": "captions"}
    assert stage_key("s", [fingerprint], outside, tmp_path / "ws") == stage_key("s", [moved], outside, tmp_path / "ws2")
    assert stage_key("s", [fingerprint], outside, tmp_path / "ws") != stage_key("s", [moved], outside, tmp_path / "ws")
    (tmp_path / "a.py").write_text('"""One."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # why\n')
    (tmp_path / "b.py").write_text('"""Two."""\n\n\ndef f(x):\n    return x + 1\n')
    (tmp_path / "c.py").write_text('"""Two."""\n\n\ndef f(x):\n    return x + 2\n')
    assert _code_text(tmp_path / "a.py") == _code_text(tmp_path / "b.py") != _code_text(tmp_path / "c.py")
