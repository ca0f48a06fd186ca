"""Grouping consecutive sentences of one chapter into passages of a target length."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PassageBounds:
    min_tokens: int = 100
    max_tokens: int = 150

    def __post_init__(self) -> None:
        if not 0 < self.min_tokens <= self.max_tokens:
            raise ValueError(
                f"passage length bounds must satisfy 0 < min <= max, got {self.min_tokens}..{self.max_tokens}"
            )


def group_passages(chapters: list[int], lengths: list[int], bounds: PassageBounds) -> list[tuple[int, int]]:
    """[start, end) sentence ranges covering every sentence once, never crossing a chapter.

    A passage closes as soon as it reaches `min_tokens`, or before a sentence that would push it
    past `max_tokens` once it holds half the minimum. A chapter's short tail joins the previous
    passage, so only chapters shorter than half the minimum give passages below it.
    """
    ranges: list[tuple[int, int]] = []
    start, total = 0, 0
    for index, (chapter, length) in enumerate(zip(chapters, lengths, strict=True)):
        if (index > start and chapter != chapters[start]) or (
            index > start and total + length > bounds.max_tokens and total * 2 >= bounds.min_tokens
        ):
            ranges.append((start, index))
            start, total = index, 0
        total += length
        if total >= bounds.min_tokens:
            ranges.append((start, index + 1))
            start, total = index + 1, 0
    if start < len(lengths):
        ranges.append((start, len(lengths)))
    return _merge_short_tails(ranges, chapters, lengths, bounds)


def _merge_short_tails(
    ranges: list[tuple[int, int]], chapters: list[int], lengths: list[int], bounds: PassageBounds
) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        short = sum(lengths[start:end]) * 2 < bounds.min_tokens
        if short and merged and chapters[merged[-1][0]] == chapters[start]:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
