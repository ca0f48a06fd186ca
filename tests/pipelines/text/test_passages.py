"""Checks that group_passages covers every sentence once, in order, within chapters and length bounds."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.text.passages import PassageBounds, group_passages

BOUNDS = PassageBounds(100, 150)


@st.composite
def chapters_and_lengths(draw):
    lengths = draw(st.lists(st.integers(1, 80), min_size=1, max_size=200))
    steps = draw(st.lists(st.integers(0, 1), min_size=len(lengths), max_size=len(lengths)))
    chapters, chapter = [], draw(st.integers(0, 3))
    for step in steps:
        chapter += step
        chapters.append(chapter)
    return chapters, lengths


@settings(max_examples=300, deadline=None, database=None)
@given(chapters_and_lengths())
def test_passages_cover_sentences_within_chapters(data):
    chapters, lengths = data
    ranges = group_passages(chapters, lengths, BOUNDS)
    assert [i for start, end in ranges for i in range(start, end)] == list(range(len(lengths)))
    assert all(start < end for start, end in ranges)
    for start, end in ranges:
        assert len(set(chapters[start:end])) == 1
        only_passage = chapters.count(chapters[start]) == end - start
        assert only_passage or sum(lengths[start:end]) >= BOUNDS.min_tokens // 2


def test_small_example_exact_ranges():
    # 60+60 reaches the minimum; 70 then 90 would pass 150; the chapter-2 tail of 10 tokens stands alone.
    chapters = [1, 1, 1, 1, 2]
    lengths = [60, 60, 70, 90, 10]
    assert group_passages(chapters, lengths, BOUNDS) == [(0, 2), (2, 3), (3, 4), (4, 5)]


def test_short_chapter_tail_joins_previous_passage():
    assert group_passages([1, 1, 1], [100, 30, 10], BOUNDS) == [(0, 3)]  # 40-token tail is < 50
    assert group_passages([1, 1, 1], [100, 30, 30], BOUNDS) == [(0, 1), (1, 3)]  # 60-token tail stands


def test_lengths_must_match_chapters():
    with pytest.raises(ValueError):
        group_passages([1, 1], [10], BOUNDS)


@pytest.mark.parametrize(("low", "high"), [(0, 10), (20, 10), (-5, 10)])
def test_invalid_bounds_raise(low, high):
    with pytest.raises(ValueError, match="0 < min <= max"):
        PassageBounds(low, high)
