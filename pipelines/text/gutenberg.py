"""Removing Project Gutenberg headers, footers, license text and production notes from a book."""

import re

# Everything up to and including the first of these lines is header.  The old "small print" sometimes
# closes a book instead of opening it, so these count only in the file's first half ...
_START = re.compile(
    r"^.*(\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG|\*END\*THE SMALL PRINT|"
    r"\*\s*END THE SMALL PRINT).*$",
    re.IGNORECASE | re.MULTILINE,
)
# ... but the modern marker only ever opens the body: a file that is little more than a header has it late.
_MODERN_START = re.compile(r"^.*\*\*\*\s*START OF (THE|THIS) PROJECT GUTENBERG.*$", re.IGNORECASE | re.MULTILINE)
# Everything from the first of these (anywhere, since pre-tokenised copies join lines) is footer.
_END = re.compile(
    r"(\*\*\*\s*END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg|"
    r"END OF (THE|THIS) PROJECT GUTENBERG|\*\*\*\s*START:? FULL LICENSE|"
    r"\*\*\s*The Legal Small Print|Start of the Project Gutenberg License)",
    re.IGNORECASE,
)
# Paragraphs that are production notes rather than the author's words.
_NOTE = re.compile(
    r"^\s*\[?\s*(Produced by|E-?text prepared by|Transcriber['\u2019]?s? notes?|"
    r"This (e-?book|e-?text|file) (was|is)|Updated editions will replace|"
    r"\[?Illustration|\[Frontispiece|Note: Project Gutenberg)",
    re.IGNORECASE,
)
_GUTENBERG_MENTION = re.compile(r"project gutenberg|gutenberg\.org|gutenberg-tm|\bp\s*g\s*license", re.I)
_ILLUSTRATION_BLOCK = re.compile(r"\[(Illustration|Frontispiece)[^\]]*\]", re.IGNORECASE | re.DOTALL)
# Illustrated editions put the chapter heading inside the illustration caption: keep such lines.
_HEADING_IN_CAPTION = re.compile(r"^\s*(chapter|book|volume|part|letter)\b.*$", re.IGNORECASE | re.MULTILINE)


def _keep_headings(block: re.Match) -> str:
    headings = [line.group(0).strip().rstrip("]") for line in _HEADING_IN_CAPTION.finditer(block.group(0))]
    return "\n\n" + "\n\n".join(headings) + "\n\n" if headings else ""


def strip_gutenberg(text: str) -> str:
    """The body of a book: text between the Gutenberg start and end markers, when there are any.

    A header without a start marker (some mirrors strip it) is left to the paragraph filter; a
    missing end marker (truncated files) simply keeps the text to the end.
    """
    start = _START.search(text, 0, len(text) // 2 + 1) or _MODERN_START.search(text)
    if start:
        # The search's half-way limit can cut the marker's line short; the header ends with the whole line.
        line_end = text.find("\n", start.start())
        text = text[line_end + 1 :] if line_end >= 0 else ""
    end = _END.search(text)
    if end:
        text = text[: end.start()]
    return _ILLUSTRATION_BLOCK.sub(_keep_headings, text)


def is_boilerplate(paragraph: str) -> bool:
    """A production note, illustration caption or leftover Gutenberg license paragraph."""
    return bool(_NOTE.match(paragraph) or _GUTENBERG_MENTION.search(paragraph))
