"""`storyteller status` on a small real workspace: current, stale (an input file changed, or the corpus
under a vocabulary rebuilt) and incomplete (an interrupted run) artifacts, as a table and as JSON."""

import json

from data_schemas.atomic import write_json_atomic
from flows.cli.main import main
from pipelines.core.manifest import META_FILE, RUN_FILE, read_meta
from pipelines.corpus import captions, vocab
from tests.conftest import IN_PROCESS

CSV = "image,caption\n" + "".join(f"img{i}.jpg,two cats sleep on mat {i} .\n" for i in range(10))


def corpus(ws, source, name, **params):
    captions.run(str(source), name, ws, captions.CaptionParams("csv", **params), IN_PROCESS)


def status(ws, capsys):
    assert main(["status", "--workspace", str(ws), "--json"]) == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


def test_status_lists_current_stale_and_incomplete_artifacts(tmp_path, capsys):
    ws = tmp_path / "ws"
    for name in ("tiny", "other", "cut"):
        (tmp_path / f"{name}.csv").write_text(CSV)
        corpus(ws, tmp_path / f"{name}.csv", name)
    vocab.run(["tiny"], 6, ws, beam_args=IN_PROCESS)
    (tmp_path / "other.csv").write_text(CSV + "img99.jpg,one more .\n")
    cut = ws / "corpora" / "cut" / "captions"
    key = read_meta(cut)["key"]
    (cut / META_FILE).unlink()
    write_json_atomic(cut / RUN_FILE, {"stage": captions.STAGE, "key": key})

    found = status(ws, capsys)
    tiny, other = found["corpora/tiny/captions"], found["corpora/other/captions"]
    assert (tiny["kind"], tiny["rows"], tiny["state"], tiny["bytes"] > 0) == ("corpus", 10, "current", True)
    assert other["state"] == "stale" and str(tmp_path / "other.csv") in other["note"]
    assert found["corpora/cut/captions"]["state"] == "incomplete"
    assert (found["vocab/tiny.parquet"]["rows"], found["vocab/tiny.parquet"]["state"]) == (6, "current")

    corpus(ws, tmp_path / "tiny.csv", "tiny", max_caption_chars=20)  # rebuilt: the vocabulary is now stale
    assert status(ws, capsys)["vocab/tiny.parquet"]["state"] == "stale"
    assert main(["status", "--workspace", str(ws)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["kind", "artifact", "rows", "model", "state", "size", "note"]
    assert any("corpora/cut/captions" in line and "incomplete" in line for line in lines)
