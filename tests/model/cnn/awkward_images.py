"""A folder of the image inputs a job must answer one by one: good photos (one a link to a photo
outside the folder), symlinks that loop, dangle or lead to a folder, an image over a pixel limit, a
header declaring 400 megapixels, and a truncated JPEG. Shared by the loader's and the jobs' tests."""

import struct
import zlib
from pathlib import Path

from PIL import Image

# Under this limit the Flickr photos (at most 500 x 500) pass and big.jpg (700 x 700) does not.
LIMIT = 400_000
# Each file that must become a reject row, and what its reason says.
REASONS = {"a.jpg": "symlink loop", "b.jpg": "symlink loop", "gone.jpg": "dangling symlink to missing.jpg",
           "up": "links to folders are not followed", "huge.png": "20000 x 20000 = 400.0 megapixels",
           "big.jpg": "700 x 700", "cut.jpg": "truncated"}


def png_header(width: int, height: int) -> bytes:
    """A PNG of a few bytes that declares width x height: a header and the start of its (missing) pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(64)))


def awkward_folder(folder: Path, photos: list[Path]) -> list[str]:
    """Fill `folder` (photos: two or more JPEGs elsewhere); returns the paths that must give features."""
    folder.mkdir(parents=True, exist_ok=True)
    good = []
    for photo in photos[:2]:
        (folder / photo.name).write_bytes(photo.read_bytes())
        good.append(str(folder / photo.name))
    (folder / "outside.jpg").symlink_to(photos[2])
    (folder / "a.jpg").symlink_to("b.jpg")
    (folder / "b.jpg").symlink_to("a.jpg")
    (folder / "gone.jpg").symlink_to("missing.jpg")
    (folder / "up").symlink_to("..", target_is_directory=True)
    (folder / "huge.png").write_bytes(png_header(20000, 20000))
    Image.new("RGB", (700, 700), (40, 90, 160)).save(folder / "big.jpg")
    (folder / "cut.jpg").write_bytes(photos[0].read_bytes()[:5000])
    return sorted([*good, str(folder / "outside.jpg")])
