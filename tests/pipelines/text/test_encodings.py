"""Checks reading text of unknown encoding: BOM, newlines, NFC, cp1252/MacRoman detection, rejects."""

import gzip

import pytest

from pipelines.text.encodings import DecodedText, UnreadableTextError, decode_text, read_bytes, read_text
from tests.conftest import SHARED_DATA


def test_utf8_bom_is_removed():
    decoded = decode_text(b"\xef\xbb\xbfHello")
    assert decoded.encoding == "utf-8-sig"
    assert decoded.text == "Hello"


def test_crlf_and_cr_become_newlines():
    decoded = decode_text(b"one\r\ntwo\rthree\n")
    assert decoded.text == "one\ntwo\nthree\n"
    assert decoded.encoding == "utf-8"


def test_nfc_normalization():
    decoded = decode_text("cafe\u0301".encode())
    assert decoded.text == "caf\u00e9"
    assert len(decoded.text) == 4


def test_mac_roman_detected():
    decoded = decode_text(b"\xd2Hello\xd3")
    assert decoded == DecodedText("\u201cHello\u201d", "mac_roman")


def test_cp1252_detected():
    decoded = decode_text(b"\x93Hi\x94 caf\xe9")
    assert decoded.encoding == "cp1252"
    assert decoded.text == "\u201cHi\u201d caf\u00e9"


@pytest.mark.parametrize("data", [b"", b"   \n\t\r\n"])
def test_empty_file_is_unreadable(data):
    with pytest.raises(UnreadableTextError, match="empty file"):
        decode_text(data)


def test_nul_bytes_mean_binary():
    with pytest.raises(UnreadableTextError, match="binary"):
        decode_text(b"PK\x03\x04\x00\x00some zip header")


def test_read_text_gunzips(tmp_path):
    path = tmp_path / "book.txt.gz"
    path.write_bytes(gzip.compress(b"Line one\r\nLine two"))
    assert read_bytes(path) == b"Line one\r\nLine two"
    assert read_text(path).text == "Line one\nLine two"


def test_truncated_gzip_is_unreadable(tmp_path):
    path = tmp_path / "book.txt.gz"
    path.write_bytes(gzip.compress(b"It was a dark and stormy night. " * 50)[:-20])
    with pytest.raises(UnreadableTextError, match="gzip"):
        read_text(path)


def test_real_mac_roman_volume():
    decoded = read_text(SHARED_DATA / "novels" / "romance" / "burney_cecilia_vol2.txt.gz")
    assert decoded.encoding == "mac_roman"
    assert "\u201c" in decoded.text
    assert "\r" not in decoded.text


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-8-sig"])
def test_byte_order_mark_decides_the_encoding(encoding):
    text = "\u201cCaf\u00e9,\u201d she said.\r\nThen left."
    data = text.encode("utf-8-sig") if encoding == "utf-8-sig" else "\ufeff".encode(encoding) + text.encode(encoding)
    assert decode_text(data) == DecodedText("\u201cCaf\u00e9,\u201d she said.\nThen left.", encoding)


def test_utf16_without_bom_and_binary_get_their_own_reasons():
    with pytest.raises(UnreadableTextError, match="UTF-16 text without a byte-order mark"):
        decode_text("A line of text.\n".encode("utf-16-le"))
    with pytest.raises(UnreadableTextError, match=r"binary file \(NUL byte at line 3\)"):
        decode_text(b"one\r\ntwo\nthr\x00ee\n")
    with pytest.raises(UnreadableTextError, match=r"binary file \(control bytes\)"):
        decode_text(b"\x01\x02\x03\x04 some control noise")
    with pytest.raises(UnreadableTextError, match="control characters after a utf-16-le byte-order mark"):
        decode_text(b"\xff\xfe" + b"\x01\x00\x00\x00" * 20)
    with pytest.raises(UnreadableTextError, match="not valid utf-16-le despite its byte-order mark"):
        decode_text(b"\xff\xfe" + bytes(range(256)) * 4)
    with pytest.raises(UnreadableTextError, match="empty file"):
        decode_text(b"\xff\xfe" + " \n".encode("utf-16-le"))
    with pytest.raises(UnreadableTextError, match="not valid utf-8-sig despite its byte-order mark"):
        decode_text(b"\xef\xbb\xbfcaf\xe9")
