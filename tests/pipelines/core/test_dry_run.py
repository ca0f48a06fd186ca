"""Under a dry run the stages say what they would do (done, resume which shards, or fresh) and leave
the workspace byte for byte as it was; a real run afterwards still works."""

import hashlib

from data_schemas.atomic import write_json_atomic
from flows.cli.report import stage_summary
from model.words.train import WordsRecipe
from pipelines.core.dry_run import dry_run
from pipelines.core.manifest import META_FILE, RUN_FILE, StageStart, read_meta
from pipelines.corpus import captions, vocab
from pipelines.training import train_words_in_workspace
from tests.conftest import IN_PROCESS

CSV = "image,caption\n" + "".join(f"img{i}.jpg,a dog runs on the grass number {i} .\n" for i in range(12))


def tree(root):
    """Every file's bytes and every entry's mtime under root: what a dry run must leave alone."""
    return {path.relative_to(root).as_posix(): (path.is_dir(), path.stat().st_mtime_ns,
                                                 None if path.is_dir() else hashlib.sha256(path.read_bytes()).digest())
            for path in sorted(root.rglob("*"))}


def corpus(ws, sources, **params):
    return captions.run(str(sources / "*.csv"), "tiny", ws, captions.CaptionParams("csv", **params), IN_PROCESS)


def test_dry_runs_plan_and_write_nothing(tmp_path, capsys):
    ws, sources = tmp_path / "ws", tmp_path / "in"
    sources.mkdir()
    for part in range(3):
        (sources / f"c{part}.csv").write_text(CSV)
    with dry_run():
        planned = corpus(ws, sources)
    assert not ws.exists() and planned.dry_run and (planned.start, planned.shards_run) == (StageStart.FRESH, 3)
    assert "(dry run), 3 of 3 shards to run" in stage_summary(planned)
    assert f"[dry run] {captions.STAGE}: fresh: 3 of 3 shards to write" in capsys.readouterr().out

    corpus(ws, sources)
    vocab.run(["tiny"], 10, ws, beam_args=IN_PROCESS)
    before = tree(tmp_path)
    with dry_run():
        assert corpus(ws, sources).start is StageStart.DONE
        changed = corpus(ws, sources, max_caption_chars=20)
        assert vocab.run(["tiny"], 10, ws, beam_args=IN_PROCESS).skipped
        assert vocab.run(["tiny"], 12, ws, beam_args=IN_PROCESS).dry_run
        assert train_words_in_workspace(ws, ["tiny"], WordsRecipe()).dry_run
    assert (changed.start, changed.shards_run) == (StageStart.FRESH, 3)
    printed = capsys.readouterr().out
    assert "would be replaced" in printed and "train words words-tiny: would train" in printed
    assert tree(tmp_path) == before

    # An interrupted run: two shards landed, no _meta.json yet.
    folder = ws / "corpora" / "tiny" / "captions"
    key = read_meta(folder)["key"]
    for output in (folder, ws / "rejects" / captions.STAGE / "tiny"):
        (output / META_FILE).unlink()
        write_json_atomic(output / RUN_FILE, {"stage": captions.STAGE, "key": key})
    (folder / "part-00001-of-00003.parquet").unlink()
    before = tree(tmp_path)
    with dry_run():
        resumable = corpus(ws, sources)
    assert (resumable.start, resumable.shards_run) == (StageStart.RESUME, 1) and tree(tmp_path) == before
    assert "(shards 1); 2 already written" in capsys.readouterr().out
    resumed = corpus(ws, sources)
    assert (resumed.start, resumed.shards_run, resumed.rows["captions"]) == (StageStart.RESUME, 1, 36)
