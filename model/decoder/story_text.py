"""Decoder token ids to the text the original printed, and its lyric layout (reference a.4, e)."""

from collections.abc import Sequence


def passage_text(ids: Sequence[int], words: Sequence[str]) -> str:
    """The words joined with single spaces. Treebank tokens stay as they are (`I do n't know .`):
    the original does no detokenisation, and the style vectors were made from such text."""
    return " ".join(words[i] for i in ids)


def lyric_lines(passage: str) -> list[str]:
    """The passage split on ',' into lines, one leading space dropped where there is one, as the
    original's lyric mode printed them. A piece with nothing in it (the passage starts or ends with
    ',') crashed the original, which read `line[0]`; it is left out here."""
    return [piece[1:] if piece.startswith(" ") else piece for piece in passage.split(",") if piece]


def lyric_text(passage: str) -> str:
    return "\n".join(lyric_lines(passage))
