"""The novels Beam job on real novels (UTF-8, MacRoman, pre-tokenised) and on crafted bad files."""

import gzip
import json
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pytest

from data_schemas import PASSAGES, REJECTS, SENTENCES
from data_schemas.shards import read_artifact
from pipelines.core.manifest import StageStart
from pipelines.corpus import novels
from pipelines.text.passages import PassageBounds
from tests.conftest import IN_PROCESS, NOVELS

REAL = ["romance/austen_pride_and_prejudice_pg1342", "romance/burney_cecilia_vol2", "adventure/carroll_alice_nltk"]
HEADER_ONLY = """The Project Gutenberg EBook of Nothing, by Nobody

Title: Nothing

Author: Nobody

Release Date: January 1, 2020 [EBook #99999]

*** START OF THIS PROJECT GUTENBERG EBOOK NOTHING ***

*** END OF THIS PROJECT GUTENBERG EBOOK NOTHING ***
"""


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory):
    inputs = tmp_path_factory.mktemp("novels")
    for name in REAL:
        shutil.copy(NOVELS / f"{name}.txt.gz", inputs)
    (inputs / "binary.txt").write_bytes(bytes(range(256)) * 50)
    (inputs / "empty.txt").write_text("  \n\n")
    (inputs / "truncated.txt.gz").write_bytes(gzip.compress(b"Some prose. " * 5000)[:-40])
    prose = "She walked home. It was late, and the lamps were lit. " * 10
    (inputs / "long_line.txt").write_text(f"{prose}\n\n{'word ' * 6000}\n\n{prose}\n")
    (inputs / "header_only.txt").write_text(HEADER_ONLY)
    (inputs / "utf16_le.txt").write_bytes(f"{prose}\r\n\r\n\u201c{prose}\u201d\r\n".encode("utf-16"))
    (inputs / "utf16_be.txt").write_bytes(b"\xfe\xff" + f"{prose}\n\n{prose}\n".encode("utf-16-be"))
    (inputs / "utf16_no_bom.txt").write_bytes(f"{prose}\n".encode("utf-16-le"))
    workspace = tmp_path_factory.mktemp("ws")
    report = novels.run(str(inputs / "*"), "books", workspace)  # default runner: FnApiRunner, 2 processes
    return inputs, workspace, report


def test_rows_in_equal_rows_out_plus_rejects(job):
    _, workspace, report = job
    stats = report.stats
    assert stats["records_in"] == stats["records_out"] + stats["records_rejected"]
    rejects = read_artifact(workspace / "rejects" / novels.STAGE / "books", REJECTS).to_pylist()
    assert len(rejects) == stats["records_rejected"] == report.rows["rejects"]
    reasons = {Path(r["source"]).name: r["reason"] for r in rejects}
    assert "binary" in reasons["binary.txt"]
    assert reasons["empty.txt"] == "empty file"
    assert "gzip" in reasons["truncated.txt.gz"]
    assert "max_paragraph_chars" in reasons["long_line.txt"]
    meta = json.loads((workspace / "corpora" / "books" / "sentences" / "_meta.json").read_text())
    assert meta["rows"] == report.rows["sentences"] and meta["stats"] == stats


def test_contents_are_clean_ordered_sentences(job):
    _, workspace, _ = job
    sentences = read_artifact(workspace / "corpora" / "books" / "sentences", SENTENCES)
    assert not any("gutenberg" in text.lower() for text in sentences.column("text").to_pylist())
    assert len(set(sentences.column("id").to_pylist())) == sentences.num_rows
    per_book = pc.value_counts(sentences.column("book_id")).to_pylist()
    counts = {row["values"]: row["counts"] for row in per_book}
    assert 4_500 < counts["austen_pride_and_prejudice_pg1342"] < 7_500
    assert 1_400 < counts["carroll_alice_nltk"] < 2_000
    assert 3_000 < counts["burney_cecilia_vol2"] < 6_000
    assert counts["long_line"] == 40  # the prose around the rejected paragraph survives
    first = sentences.filter(pc.equal(sentences.column("book_id"), "austen_pride_and_prejudice_pg1342")).slice(0, 1)
    assert first.column("tokens").to_pylist()[0] == [
        "It",
        "is",
        "a",
        "truth",
        "universally",
        "acknowledged",
        ",",
        "that",
        "a",
        "single",
        "man",
        "in",
        "possession",
        "of",
        "a",
        "good",
        "fortune",
        "must",
        "be",
        "in",
        "want",
        "of",
        "a",
        "wife",
        ".",
    ]
    assert first.column("chapter").to_pylist() == [1] and first.column("ordinal").to_pylist() == [0]


def test_macroman_volume_is_detected_and_recorded(job):
    _, workspace, _ = job
    meta = json.loads((workspace / "corpora" / "books" / "sentences" / "_meta.json").read_text())
    cecilia = next(v for k, v in meta["sources"].items() if "cecilia" in k)
    assert cecilia["encoding"] == "mac_roman"
    sentences = read_artifact(workspace / "corpora" / "books" / "sentences", SENTENCES)
    text = " ".join(
        sentences.filter(pc.equal(sentences.column("book_id"), "burney_cecilia_vol2")).column("text").to_pylist()
    )
    assert "“" in text and "\r" not in text and "Ò" not in text


def test_passages_cover_each_book_in_order(job):
    _, workspace, _ = job
    sentences = read_artifact(workspace / "corpora" / "books" / "sentences", SENTENCES).to_pylist()
    passages = read_artifact(workspace / "corpora" / "books" / "passages", PASSAGES).to_pylist()
    for book in {row["book_id"] for row in sentences}:
        sentence_tokens = [t for row in sentences if row["book_id"] == book for t in row["tokens"]]
        passage_tokens = [t for row in passages if row["book_id"] == book for t in row["tokens"]]
        assert passage_tokens == sentence_tokens
    lengths = sorted(row["n_tokens"] for row in passages if row["book_id"] in {Path(name).name for name in REAL})
    assert 100 <= lengths[len(lengths) // 2] <= 150


def test_rerun_with_same_inputs_does_nothing_and_new_params_rebuild(job):
    inputs, workspace, _ = job
    shard = sorted((workspace / "corpora" / "books" / "sentences").glob("part-*"))[0]
    before = shard.stat().st_mtime_ns
    again = novels.run(str(inputs / "*"), "books", workspace, beam_args=IN_PROCESS)
    assert again.start is StageStart.DONE and again.shards_run == 0
    assert shard.stat().st_mtime_ns == before
    changed = novels.run(
        str(inputs / "*"), "books", workspace, novels.NovelParams(passages=PassageBounds(30, 60)), beam_args=IN_PROCESS
    )
    assert changed.start is StageStart.FRESH and changed.shards_run == changed.shards
    assert changed.rows["sentences"] == again.rows["sentences"]
    assert changed.rows["passages"] > again.rows["passages"]


def _checked_rejects(job) -> dict[str, str]:
    """Reject reason per file name, after checking rows in = rows out + rejected in the report and _meta.json."""
    _, workspace, report = job
    stats = report.stats
    assert stats["records_in"] == stats["records_out"] + stats["records_rejected"]
    meta = json.loads((workspace / "corpora" / "books" / "passages" / "_meta.json").read_text())
    assert meta["stats"] == stats and stats["records_rejected"] == report.rows["rejects"]
    rejects = read_artifact(workspace / "rejects" / novels.STAGE / "books", REJECTS).to_pylist()
    return {Path(r["source"]).name: r["reason"] for r in rejects}


def test_book_that_is_only_a_gutenberg_header_is_rejected(job):
    assert _checked_rejects(job)["header_only.txt"] == "no text after the Gutenberg header"
    sentences = read_artifact(job[1] / "corpora" / "books" / "sentences", SENTENCES)
    assert "header_only" not in set(sentences.column("book_id").to_pylist())


def test_utf16_books_with_a_bom_are_read_and_without_one_rejected(job):
    reasons = _checked_rejects(job)
    assert reasons["utf16_no_bom.txt"].startswith("UTF-16 text without a byte-order mark")
    assert not {"utf16_le.txt", "utf16_be.txt"} & set(reasons)
    meta = json.loads((job[1] / "corpora" / "books" / "sentences" / "_meta.json").read_text())
    encodings = {Path(source).name: info.get("encoding") for source, info in meta["sources"].items()}
    assert encodings["utf16_le.txt"] == "utf-16-le" and encodings["utf16_be.txt"] == "utf-16-be"
    sentences = read_artifact(job[1] / "corpora" / "books" / "sentences", SENTENCES)
    counts = pc.value_counts(sentences.column("book_id")).to_pylist()
    counts = {row["values"]: row["counts"] for row in counts}
    assert counts["utf16_le"] == counts["utf16_be"] == counts["long_line"] == 40  # the same two paragraphs
