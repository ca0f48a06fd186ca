"""The vocabulary Beam combine: special indices, ordering, ties, the size cut and skip on rerun."""

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from pipelines.corpus import captions, vocab
from pipelines.corpus.caption_formats import CaptionColumns
from tests.conftest import IN_PROCESS

CAPTION_TEXTS = ["a dog runs .", "a cat sleeps .", "the dog and the cat .", "zebra yak ."]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    workspace = tmp_path_factory.mktemp("ws")
    source = tmp_path_factory.mktemp("src") / "caps.jsonl"
    source.write_text("\n".join(json.dumps({"image": f"{i}.jpg", "caption": t}) for i, t in enumerate(CAPTION_TEXTS)))
    captions.run(str(source), "tiny", workspace, captions.CaptionParams("jsonl", CaptionColumns()), IN_PROCESS)
    return workspace


def test_vocab_indices_counts_and_ties(workspace):
    report = vocab.run(["tiny"], 6, workspace, beam_args=IN_PROCESS)
    rows = pq.read_table(report.path).to_pylist()
    counts = Counter(t for text in CAPTION_TEXTS for t in text.split())
    # Descending count, ties by word: '.'=4, then a/cat/dog/the=2 (alphabetical), cut at 6 entries.
    assert [r["word"] for r in rows] == ["<eos>", "UNK", ".", "a", "cat", "dog"]
    assert [r["index"] for r in rows] == list(range(6))
    assert rows[0]["count"] == len(CAPTION_TEXTS)
    left_out = sum(n for w, n in counts.items() if w not in {".", "a", "cat", "dog"})
    assert rows[1]["count"] == left_out == 2 + 5  # "the" twice; and, runs, sleeps, yak, zebra
    assert report.tokens == sum(counts.values())


def test_rerun_is_skipped_and_size_change_rebuilds(workspace):
    first = vocab.run(["tiny"], 6, workspace, beam_args=IN_PROCESS)
    assert vocab.run(["tiny"], 6, workspace, beam_args=IN_PROCESS).skipped
    bigger = vocab.run(["tiny"], 100, workspace, beam_args=IN_PROCESS)
    assert not bigger.skipped and bigger.words == 2 + 10 and first.words == 6


def test_unknown_corpus_is_a_clear_error(workspace):
    with pytest.raises(FileNotFoundError, match="corpus 'nope'"):
        vocab.run(["nope"], 10, workspace, beam_args=IN_PROCESS)
    with pytest.raises(ValueError, match="--size"):
        vocab.build_vocab(Counter(a=1), 2)
