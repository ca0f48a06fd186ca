"""`storyteller status` and `python -m flows.cli.summary` on a workspace on the object store (a moto S3
server): the same artifacts, rows and states as the same workspace on disk, with stale and incomplete
artifacts found over the store."""

import json
import sys

from data_schemas.atomic import write_json_atomic
from data_schemas.storage import location
from flows.cli import summary
from flows.cli.main import main
from pipelines.core.manifest import META_FILE, RUN_FILE, read_meta
from pipelines.corpus import captions, vocab
from tests.conftest import IN_PROCESS

CSV = "image,caption\n" + "".join(f"img{i}.jpg,two cats sleep on mat {i} .\n" for i in range(10))


def build(ws, sources):
    for name in ("tiny", "other", "cut"):
        captions.run(str(sources / f"{name}.csv"), name, ws, captions.CaptionParams("csv"), IN_PROCESS)
    vocab.run(["tiny"], 6, ws, beam_args=IN_PROCESS)
    cut = ws / "corpora" / "cut" / "captions"  # an interrupted run: its run record, no _meta.json
    key = read_meta(cut)["key"]
    (cut / META_FILE).unlink()
    write_json_atomic(cut / RUN_FILE, {"stage": captions.STAGE, "key": key})


def status(ws, capsys) -> dict[str, dict]:
    assert main(["status", "--workspace", str(ws), "--json"]) == 0
    return {row["name"]: row for row in json.loads(capsys.readouterr().out)}


def test_status_and_summary_read_a_stored_workspace_as_one_on_disk(s3_workspace, tmp_path, capsys, monkeypatch):
    for name in ("tiny", "other", "cut"):
        (tmp_path / f"{name}.csv").write_text(CSV)
    stored, on_disk = location(s3_workspace), tmp_path / "ws"
    build(stored, tmp_path)
    build(on_disk, tmp_path)
    (tmp_path / "other.csv").write_text(CSV + "img99.jpg,one more .\n")  # both corpora "other" are now stale

    found, expected = status(s3_workspace, capsys), status(on_disk, capsys)
    assert sorted(found) == sorted(expected) == [
        "corpora/cut/captions", "corpora/other/captions", "corpora/tiny/captions", "vocab/tiny.parquet"]
    for name, row in expected.items():
        assert {k: found[name][k] for k in ("kind", "rows", "model", "state")} == \
            {k: row[k] for k in ("kind", "rows", "model", "state")}, name
    assert found["corpora/other/captions"]["state"] == "stale" and str(tmp_path / "other.csv") in \
        found["corpora/other/captions"]["note"]
    assert found["corpora/cut/captions"]["state"] == "incomplete" and found["corpora/tiny/captions"]["bytes"] > 0

    def printed(ws) -> str:
        monkeypatch.setattr(sys, "argv", ["summary", "--workspace", str(ws)])
        summary.main()
        return capsys.readouterr().out

    tables = printed(s3_workspace)
    assert tables == printed(on_disk) and "tiny/captions" in tables


def test_an_empty_prefix_is_reported(s3_workspace, capsys):
    assert main(["status", "--workspace", f"{s3_workspace}/nothing-here"]) == 1
    assert "holds no objects" in capsys.readouterr().err
