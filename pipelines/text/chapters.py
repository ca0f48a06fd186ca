"""Splitting a book body into chapters of paragraphs, dropping front matter and tables of contents.

Two layouts occur: hard-wrapped text with blank lines between paragraphs (Gutenberg), and one
paragraph per line (the NLTK copies, where a heading may share its line with the first sentence).
A chapter starts at a heading ("CHAPTER IV.", "Letter 3", "BOOK II", "I. A SCANDAL IN BOHEMIA",
"1.  The Cyclone"). Two rules remove what is not story: a table of contents is recognised by its
headings reappearing later with little text between them, and a heading followed by almost no
prose (a "VOLUME I" above "CHAPTER I") opens no chapter.
"""

import re
from dataclasses import dataclass

from pipelines.text.gutenberg import is_boilerplate

_KEYWORD = r"CHAPTER|CHAP\.?|BOOK|VOLUME|VOL\.|PART|LETTER|STAVE|CANTO|ADVENTURE"
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    "seventeen|eighteen|nineteen|twenty|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|"
    "eleventh|twelfth|last|the\\s+\\w+"
)
# Roman numerals in one case ("CHAPTER x." occurs), digits, or number words.
_NUMBER = rf"(?-i:[IVXLCDM]+|[ivxlcdm]+)|\d+|{_NUMBER_WORDS}"
# What may follow a heading's number: the end, punctuation, or a title (not lower-case prose: "Part did not").
_AFTER_NUMBER = r"(?=\s*$|\s*[.:,;\u2014-]|\s+[A-Z\"\u201c'\u2018_\[(])"
# A heading line: keyword and number, or a bare numbering followed by a title.
_HEADING = re.compile(
    rf"^\s*(?:(?P<keyword>{_KEYWORD})\s+(?P<number>{_NUMBER}){_AFTER_NUMBER}"
    rf"|(?P<bare>(?-i:[IVXLC]+)|\d+)\.(?:\s+\S.*)?$)",
    re.IGNORECASE,
)
# A heading that opens a long paragraph (NLTK copies put the heading and first sentence on a line).
_LEADING_HEADING = re.compile(
    rf"^\s*(?:(?:{_KEYWORD})\s+(?:(?-i:[IVXLCDM]+)|\d+)\b\.?|(?-i:[IVXLC]+)\.)\s+(?=[A-Z])", re.IGNORECASE
)
# After its marker, a heading line with this many words ending like a sentence is a heading plus prose.
_MIN_PROSE_WORDS = 6
_CONTENTS = re.compile(r"^\s*(table of\s+)?contents\.?\s*$", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]{2,}")
# Longest line that can be a heading on its own; longer lines are prose that starts with "Book".
_MAX_HEADING_CHARS = 90
# A chapter with fewer words than this is a table-of-contents entry or a part title, not a chapter.
_MIN_CHAPTER_WORDS = 40
# Headings with fewer words than this between them on average are a table of contents.
_MAX_CONTENTS_WORDS_PER_HEADING = 150
# All-caps lines up to this many words are titles or running heads, not prose.
_MAX_TITLE_WORDS = 25
# Below this share of blank lines a file is one paragraph per line rather than hard-wrapped.
_LINE_MODE_BLANK_SHARE = 0.02


@dataclass(frozen=True)
class Paragraph:
    chapter: int
    number: int  # position among the book's kept paragraphs, for reject locations
    text: str


@dataclass(frozen=True)
class BookBody:
    paragraphs: list[Paragraph]
    # Paragraphs cleaned away as front matter or too-short sections: counted, not silently lost.
    dropped: int


@dataclass
class _Section:
    key: tuple[str, str] | None  # (keyword, number) of the heading that opened it
    paragraphs: list[str]

    def words(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


def heading_key(paragraph: str) -> tuple[str, str] | None:
    """(keyword, number) of a heading line, lower-cased so that contents and body entries match."""
    if len(paragraph) > _MAX_HEADING_CHARS:
        return None
    match = _HEADING.match(paragraph)
    if not match or _carries_prose(paragraph):
        return None
    if match.group("bare"):
        return ("", match.group("bare").lower())
    return (match.group("keyword").lower().rstrip("."), match.group("number").lower())


def _carries_prose(paragraph: str) -> bool:
    """'CHAPTER III Mr. Woodhouse was fond of society .': a heading followed by a whole sentence."""
    leading = _LEADING_HEADING.match(paragraph)
    if not leading:
        return False
    rest = paragraph[leading.end():].strip()
    return len(rest.split()) >= _MIN_PROSE_WORDS and rest[-1:] in ".!?\"'\u201d\u2019"


def split_paragraphs(body: str) -> list[str]:
    """Paragraphs with internal line breaks joined by spaces."""
    lines = body.strip("\n").split("\n")
    blank = sum(1 for line in lines if not line.strip())
    if blank < _LINE_MODE_BLANK_SHARE * len(lines):
        return [line.strip() for line in lines if line.strip()]
    blocks, current = [], []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    paragraphs = []
    for block in blocks:
        # A block of heading lines is a table of contents: keep its lines apart so each is seen
        # as a heading rather than one long pseudo-sentence.
        if len(block) > 1 and sum(heading_key(line) is not None for line in block) * 2 >= len(block):
            paragraphs.extend(block)
        else:
            paragraphs.append(" ".join(block))
    return paragraphs


def _is_noise(paragraph: str) -> bool:
    """Page numbers, illustration file names, rows of asterisks, all-caps titles and running heads."""
    words = _WORD.findall(paragraph)
    if not words:
        return True
    return len(words) <= _MAX_TITLE_WORDS and not any(c.islower() for c in paragraph)


def _sections(body: str) -> list[_Section]:
    sections = [_Section(None, [])]
    for paragraph in split_paragraphs(body):
        key = heading_key(paragraph)
        if key is None and _CONTENTS.match(paragraph):
            key = ("contents", "")
        if key is not None:
            sections.append(_Section(key, []))
            continue
        leading = _LEADING_HEADING.match(paragraph)
        if leading:
            sections.append(_Section(heading_key(leading.group(0).strip()) or ("", ""), []))
            paragraph = paragraph[leading.end() :]
        if not _is_noise(paragraph) and not is_boilerplate(paragraph):
            sections[-1].paragraphs.append(paragraph)
    return sections


def _after_contents(sections: list[_Section]) -> list[_Section]:
    """Sections after a table of contents: the first heading that reappears with little text
    between its two occurrences marks the contents; the story starts at its second occurrence."""
    first_seen: dict[tuple[str, str], int] = {}
    for index, section in enumerate(sections):
        if section.key is None or section.key == ("contents", ""):
            continue
        if section.key in first_seen:
            start = first_seen[section.key]
            words = sum(s.words() for s in sections[start:index])
            if words < _MAX_CONTENTS_WORDS_PER_HEADING * (index - start):
                return sections[index:]
            return sections
        first_seen[section.key] = index
    return sections


def chapter_paragraphs(body: str) -> BookBody:
    """The book's prose paragraphs, numbered by chapter (1, 2, ...), or chapter 0 without headings.

    Text before the first real chapter (title pages, contents, dedications) is front matter and
    is dropped when the book has chapters.
    """
    sections = _sections(body)
    total = sum(len(section.paragraphs) for section in sections)
    chapters = [
        s.paragraphs for s in _after_contents(sections) if s.key is not None and s.words() >= _MIN_CHAPTER_WORDS
    ]
    first_chapter = 1
    if not chapters:
        chapters, first_chapter = [[p for section in sections for p in section.paragraphs]], 0
    paragraphs = []
    for offset, section in enumerate(chapters):
        for text in section:
            paragraphs.append(Paragraph(first_chapter + offset, len(paragraphs), text))
    return BookBody(paragraphs, total - len(paragraphs))
