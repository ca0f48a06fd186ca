"""Reading text files of unknown encoding: gzip, byte-order marks, binary detection, charset detection, newlines, NFC.

Old Gutenberg volumes come as cp1252 or MacRoman with CR-only line endings; both decode any byte
string, so the choice is made by which decoding gives characters that plausibly occur in prose.
"""

import gzip
import unicodedata
import zlib
from dataclasses import dataclass

from data_schemas.storage import Location, location

# Non-ASCII characters that are common in English prose of any period; a decoding that yields
# these rather than box-drawing or Greek letters is the right one.
_PROSE_CHARS = set(
    "\u2018\u2019\u201c\u201d\u2014\u2013\u2026\u00a3\u00a7\u00b6\u00b0\u00e0\u00e2\u00e4\u00e7"
    "\u00e8\u00e9\u00ea\u00eb\u00ee\u00ef\u00f4\u00f6\u00f9\u00fb\u00fc\u00c9\u00c0\u00e6\u0153"
    "\u00a0\u00bd\u00bc\u00be\u00d7\u00e1\u00ed\u00f3\u00fa\u00f1\u00c7\u2022\u2122\u00ab\u00bb"
)
_FALLBACK_ENCODINGS = ("cp1252", "mac_roman", "latin-1")
# Fraction of control characters (other than tab, newlines, form feed) above which a file is binary.
_BINARY_CONTROL_FRACTION = 0.01
# Byte-order marks, longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# UTF-16 of Latin text without a BOM: NUL in at least this share of the bytes of one parity (the high bytes),
# in almost none of the other.
_UTF16_NUL_SHARE = 0.3


class UnreadableTextError(ValueError):
    """A file that cannot be read as text; the message is the reject reason."""


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str


def read_bytes(path: str | Location) -> bytes:
    """The file's bytes (on disk or on a store), gunzipped when the name ends in .gz; a truncated gzip is an
    error."""
    path = location(path)
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as error:
        raise UnreadableTextError(f"corrupt or truncated gzip: {error}") from error


def _control_fraction(text: str) -> float:
    sample = text[:65536]
    controls = sum(1 for char in sample if char < " " and char not in "\t\n\f\r")
    return controls / max(len(sample), 1)


def _looks_like_utf16(sample: bytes) -> bool:
    even, odd = sample[0::2], sample[1::2]
    if not odd:
        return False
    shares = sorted((even.count(0) / len(even), odd.count(0) / len(odd)))
    return shares[0] < 0.01 and shares[1] >= _UTF16_NUL_SHARE


def _check_not_binary(data: bytes) -> None:
    """Raise with the reason a BOM-less byte string is not text: UTF-16 without its mark, NUL or control bytes."""
    nul = data.find(b"\x00")
    if nul >= 0 and _looks_like_utf16(data[:65536]):
        raise UnreadableTextError("UTF-16 text without a byte-order mark; save it as UTF-8 (or UTF-16 with a BOM)")
    if nul >= 0:
        # A whole line is named, since a NUL in an otherwise clean file is one corrupt line to fix.
        line = len(data[: nul + 1].splitlines())
        raise UnreadableTextError(f"binary file (NUL byte at line {line}), not text")
    # latin-1 maps each byte to the code point of its value, so control bytes stay control characters.
    if _control_fraction(data[:65536].decode("latin-1")) > _BINARY_CONTROL_FRACTION:
        raise UnreadableTextError("binary file (control bytes), not text")


def _decode_marked(data: bytes, mark: bytes, encoding: str) -> str:
    try:
        text = data[len(mark) :].decode(encoding.removesuffix("-sig"))
    except UnicodeDecodeError as error:
        raise UnreadableTextError(f"not valid {encoding} despite its byte-order mark: {error}") from error
    if "\x00" in text or _control_fraction(text) > _BINARY_CONTROL_FRACTION:
        raise UnreadableTextError(f"binary file (control characters after a {encoding} byte-order mark), not text")
    return text


def _prose_score(text: str) -> int:
    score = 0
    for char in text:
        if ord(char) < 128:
            continue
        score += 1 if char in _PROSE_CHARS else -1
    return score


def _decode_unmarked(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        candidates = []
        for name in _FALLBACK_ENCODINGS:
            try:
                candidates.append((_prose_score(data.decode(name)), name))
            except UnicodeDecodeError:
                continue
        # max() keeps the first of equal scores, so the order above breaks ties.
        encoding = max(candidates, key=lambda item: item[0])[1]
        return data.decode(encoding), encoding


def decode_text(data: bytes) -> DecodedText:
    """Decode bytes to NFC text with '\\n' line endings, naming the encoding that was used.

    A byte-order mark decides the encoding (UTF-8, UTF-16, UTF-32); without one, UTF-8 is tried before the
    8-bit encodings of old volumes.
    """
    marked = next(((mark, name) for mark, name in _BOMS if data.startswith(mark)), None)
    if marked:
        text, encoding = _decode_marked(data, *marked), marked[1]
    else:
        _check_not_binary(data)
        text, encoding = _decode_unmarked(data)
    if not text.strip():
        raise UnreadableTextError("empty file")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return DecodedText(unicodedata.normalize("NFC", text), encoding)


def read_text(path: str | Location) -> DecodedText:
    """Read, gunzip and decode one text file."""
    return decode_text(read_bytes(path))
