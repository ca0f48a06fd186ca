"""Reading text files of unknown encoding: gzip, binary detection, charset detection, newlines, NFC.

Old Gutenberg volumes come as cp1252 or MacRoman with CR-only line endings; both decode any byte
string, so the choice is made by which decoding gives characters that plausibly occur in prose.
"""

import gzip
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

# Non-ASCII characters that are common in English prose of any period; a decoding that yields
# these rather than box-drawing or Greek letters is the right one.
_PROSE_CHARS = set(
    "\u2018\u2019\u201c\u201d\u2014\u2013\u2026\u00a3\u00a7\u00b6\u00b0\u00e0\u00e2\u00e4\u00e7"
    "\u00e8\u00e9\u00ea\u00eb\u00ee\u00ef\u00f4\u00f6\u00f9\u00fb\u00fc\u00c9\u00c0\u00e6\u0153"
    "\u00a0\u00bd\u00bc\u00be\u00d7\u00e1\u00ed\u00f3\u00fa\u00f1\u00c7\u2022\u2122\u00ab\u00bb"
)
_FALLBACK_ENCODINGS = ("cp1252", "mac_roman", "latin-1")
# Fraction of control bytes (other than tab, newlines, form feed) above which a file is binary.
_BINARY_CONTROL_FRACTION = 0.01


class UnreadableTextError(ValueError):
    """A file that cannot be read as text; the message is the reject reason."""


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in .gz; a truncated gzip is an error."""
    path = Path(path)
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as error:
        raise UnreadableTextError(f"corrupt or truncated gzip: {error}") from error


def _control_fraction(data: bytes) -> float:
    sample = data[:65536]
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13))
    return controls / max(len(sample), 1)


def _prose_score(text: str) -> int:
    score = 0
    for char in text:
        if ord(char) < 128:
            continue
        score += 1 if char in _PROSE_CHARS else -1
    return score


def decode_text(data: bytes) -> DecodedText:
    """Decode bytes to NFC text with '\\n' line endings, naming the encoding that was used."""
    if not data.strip():
        raise UnreadableTextError("empty file")
    if b"\x00" in data[:65536] or _control_fraction(data) > _BINARY_CONTROL_FRACTION:
        raise UnreadableTextError("binary file (NUL or control bytes), not text")
    if data.startswith(b"\xef\xbb\xbf"):
        text, encoding = data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    else:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            candidates = []
            for name in _FALLBACK_ENCODINGS:
                try:
                    candidates.append((_prose_score(data.decode(name)), name))
                except UnicodeDecodeError:
                    continue
            # max() keeps the first of equal scores, so the order above breaks ties.
            encoding = max(candidates, key=lambda item: item[0])[1]
            text = data.decode(encoding)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return DecodedText(unicodedata.normalize("NFC", text), encoding)


def read_text(path: str | Path) -> DecodedText:
    """Read, gunzip and decode one text file."""
    return decode_text(read_bytes(path))
