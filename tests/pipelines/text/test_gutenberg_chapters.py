"""Checks Gutenberg header/footer stripping and splitting a book body into chapters of paragraphs."""

import re
from pathlib import Path

import pytest

from pipelines.text.chapters import chapter_paragraphs
from pipelines.text.encodings import read_text
from pipelines.text.gutenberg import is_boilerplate, strip_gutenberg
from tests.conftest import NOVELS

PROSE_1 = " ".join(["The morning was cold and the river ran quietly past the old mill where nobody lived."] * 4)
PROSE_2 = " ".join(["She walked into the town at noon and asked the baker whether the coach had come."] * 4)
BOOK = f"""Title: A Tale\n\nProduced by Jane Doe\n\n*** START OF THE PROJECT GUTENBERG EBOOK A TALE ***\n
A TALE\n\nBy Somebody Else\n\nTo my dear sister, with love.\n\nCONTENTS\n\nCHAPTER I. One\nCHAPTER II. Two\n
CHAPTER I. One\n\n{PROSE_1}\n\n{PROSE_2}\n\nCHAPTER II. Two\n\n{PROSE_2}\n
*** END OF THE PROJECT GUTENBERG EBOOK A TALE ***\n\nSection 1. General Terms of Use of Project Gutenberg.\n"""


def _line(number: int, chapter: int) -> str:
    return f"In chapter {chapter} the traveller spoke his line number {number} to the patient listener by the fire."


def _book(path: Path):
    return chapter_paragraphs(strip_gutenberg(read_text(path).text))


def test_strip_gutenberg_and_boilerplate():
    body = strip_gutenberg(BOOK)
    assert body.strip().startswith("A TALE") and body.rstrip().endswith(PROSE_2)
    assert is_boilerplate("Produced by Jane Doe and the Online Distributed Proofreading Team.")
    assert is_boilerplate("You may copy it under the terms of the Project Gutenberg License.")
    assert not is_boilerplate("It was a dark night, and Gutenberg had gone to bed.")


def test_contents_and_front_matter_dropped():
    book = chapter_paragraphs(strip_gutenberg(BOOK))
    expected = [(1, 0, PROSE_1), (1, 1, PROSE_2), (2, 2, PROSE_2)]
    assert [(p.chapter, p.number, p.text) for p in book.paragraphs] == expected
    assert book.dropped == 2  # "By Somebody Else" and the dedication


def test_book_without_headings_is_chapter_zero():
    book = chapter_paragraphs(f"{PROSE_1}\n\n{PROSE_2}\n")
    assert [(p.chapter, p.text) for p in book.paragraphs] == [(0, PROSE_1), (0, PROSE_2)] and book.dropped == 0


def test_one_paragraph_per_line_layout():
    lines = ["CHAPTER I. " + _line(0, 1)] + [_line(i, 1) for i in range(1, 30)]
    book = chapter_paragraphs("\n".join([*lines, "CHAPTER II.", *(_line(i, 2) for i in range(30))]) + "\n")
    assert [p.chapter for p in book.paragraphs] == [1] * 30 + [2] * 30
    assert [p.text for p in book.paragraphs] == [_line(i, 1) for i in range(30)] + [_line(i, 2) for i in range(30)]


def test_short_one_paragraph_per_line_file_with_final_newline():
    book = chapter_paragraphs("\n".join(_line(i, 0) for i in range(3)) + "\n")
    assert [p.text for p in book.paragraphs] == [_line(i, 0) for i in range(3)]


def test_short_first_sentence_on_heading_line_is_kept():
    book = _book(NOVELS / "romance" / "austen_emma_nltk.txt.gz")
    assert any("Mr. Woodhouse was fond of society in his own way" in p.text for p in book.paragraphs)


def test_prose_line_starting_with_keyword_is_not_a_heading():
    lines = ["CHAPTER I.", *(_line(i, 1) for i in range(30)), "Book learning was all he had."]
    book = chapter_paragraphs("\n".join([*lines, *(_line(i, 1) for i in range(30, 60))]) + "\n")
    assert {p.chapter for p in book.paragraphs} == {1} and len(book.paragraphs) == 61


@pytest.mark.parametrize("path", sorted(NOVELS.glob("*/*.txt.gz")), ids=lambda p: p.name)
def test_real_novels_have_no_gutenberg_text(path):
    book = _book(path)
    assert not [p.text for p in book.paragraphs if re.search("gutenberg", p.text, re.IGNORECASE)]
    assert sum(len(p.text.split()) for p in book.paragraphs) > 20_000


def test_pride_and_prejudice_chapters():
    book = _book(NOVELS / "romance" / "austen_pride_and_prejudice_pg1342.txt.gz")
    assert 55 <= len({p.chapter for p in book.paragraphs}) <= 65
    assert book.paragraphs[0].text.startswith("It is a truth universally acknowledged")


def test_header_only_file_leaves_no_body():
    header = "Title: Nothing\n\nAuthor: Nobody\n\n*** START OF THE PROJECT GUTENBERG EBOOK NOTHING ***\n\n"
    assert strip_gutenberg(header).strip() == ""
    assert strip_gutenberg(header + "*** END OF THE PROJECT GUTENBERG EBOOK NOTHING ***\n").strip() == ""
