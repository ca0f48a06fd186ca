"""Image files to RGB arrays with Pillow, whatever their mode, with a reason for every file that fails.

Unlike the original (reference e, `load_image`), which took `numpy.array(Image.open(path))` as it came,
this loader
- applies the EXIF orientation, so a phone photo stored sideways is seen upright;
- gives palette images their colours (the original fed palette indices to the CNN as grey levels);
- composites transparent images (RGBA, LA, palette with transparency) on white, where the original
  failed on the 4th channel; converts CMYK; scales 16-bit grey to 8 bits instead of clipping it;
- refuses an image of more than `max_pixels` from its header, before decoding a pixel, and decodes a big
  JPEG at 1/2, 1/4 or 1/8 scale (Pillow's draft mode), so the memory an image takes is bounded by the
  CNN's input size rather than by the photo (a 2 MB JPEG can declare 144 megapixels).

A path may be a URL on an object store (s3://bucket/photos/x.jpg): its bytes are read through an open file
of the store, with the same header check and draft decoding as a file on disk.
"""

import errno
import os
from typing import IO

import numpy as np
from PIL import Image, ImageOps

from data_schemas.storage import is_url, location

# Modes holding 16 bits per pixel (or more, for I and F: Pillow reads some 16-bit files that way).
_WIDE_GREY = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}
_WITH_ALPHA = {"RGBA", "RGBa", "LA", "La", "PA"}
WHITE = (255, 255, 255, 255)
# 50 MP holds the largest photos common cameras write (48-50 MP phone modes, 45-50 MP full-frame bodies) and
# refuses the 100+ MP images that are mostly decompression bombs (a 2 MB JPEG can declare 144 MP) or scans.
# A JPEG under it is drafted (below), so it costs little: 14-35 MB for a 49 MP one. The limit bounds the full
# decode of the other formats: a 49 MP RGBA PNG peaks at 0.9 GB (EfficientNet), 1.4 GB (VGG-19) in flight.
DEFAULT_MAX_PIXELS = 50_000_000
# Both CNNs (model/cnn/registry.py) take their input from the image with its shorter side at 256 (EfficientNet
# crops 224/256 of it, VGG-19 resizes it to 256). A JPEG is drafted to no less than twice that, so the final
# resize still shrinks 2x or more and its filter, not the decoder's DCT scaling, shapes the CNN input: on
# mosaics of Flickr8k photos (2000x1500 to 8000x6000) EfficientNet's features of a draft stayed within cosine
# 0.998 of a full decode (relative L2 <= 5%; re-saving as JPEG quality 90 moves them 2-3%), where drafting
# down to 256 moved them 13-15%, as much as shifting the crop by 4 pixels.
DRAFT_SHORT_SIDE = 512
# Our limit decides, from the header, with a reason naming the flag; Pillow's global one would warn above
# 89 MP and refuse above 179 MP with its own message, whatever --max-image-pixels says.
Image.MAX_IMAGE_PIXELS = None


class ImageLoadError(Exception):
    """An image file that cannot be used; `reason` says why, for the reject row."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def to_rgb(image: Image.Image) -> Image.Image:
    """The image as 8-bit RGB: grey repeated, palettes looked up, transparency composited on white."""
    mode = image.mode
    if mode in _WIDE_GREY:
        # 65535 -> 255, as an 8-bit display would show it; Pillow's own conversion clips at 255 instead.
        grey = np.clip(np.asarray(image, dtype=np.float64) / 257.0, 0, 255).round().astype(np.uint8)
        return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in _WITH_ALPHA:
        return Image.alpha_composite(Image.new("RGBA", image.size, WHITE), image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV and RGB itself


def unreachable_reason(path: str, error: OSError) -> str:
    """Why `path` cannot be opened at all: a symlink that loops or dangles, a missing file, no permission."""
    if error.errno == errno.ELOOP:
        return "symlink loop: its links lead back to themselves, never to a file"
    if isinstance(error, FileNotFoundError):
        return f"dangling symlink to {os.readlink(path)}, which does not exist" if os.path.islink(path) else \
            "no such file"
    if isinstance(error, PermissionError):
        return "no permission to read it"
    return f"cannot read it: {error.strerror or error}"


def load_rgb(path: str, max_pixels: int = DEFAULT_MAX_PIXELS, short_side: int | None = DRAFT_SHORT_SIDE) -> np.ndarray:
    """The image at `path` (a file on disk or a URL on an object store) as a uint8 (H, W, 3) RGB array,
    upright by its EXIF orientation.

    An image of more than `max_pixels` is refused from its header. A JPEG whose sides are both at least
    twice `short_side` is decoded at the smallest of 1/2, 1/4, 1/8 scale that keeps `short_side` pixels on
    each side (None: full size); any other image at full size.
    Raises ImageLoadError for a missing, empty, oversized, truncated or non-image file, a folder, a pipe or
    device, or a symlink that loops or dangles.
    """
    if is_url(path):
        check_stored_file(path)
        with location(path).open("rb") as handle:
            return decode_rgb(path, handle, max_pixels, short_side)
    check_local_file(path)
    return decode_rgb(path, path, max_pixels, short_side)


def check_local_file(path: str) -> None:
    """Refuse, before opening it, what is not a non-empty regular file on disk."""
    try:
        size = os.path.getsize(path)
    except OSError as error:
        raise ImageLoadError(path, unreachable_reason(path, error)) from None
    if os.path.isdir(path):
        link = " (links to folders are not followed: give the folder it links to as its own --images)"
        raise ImageLoadError(path, "a folder, not an image file" + (link if os.path.islink(path) else ""))
    if not os.path.isfile(path):  # reading a pipe or a device would block or never end
        raise ImageLoadError(path, "not a regular file (a pipe, socket or device)")
    if size == 0:
        raise ImageLoadError(path, "empty file (0 bytes)")


def check_stored_file(path: str) -> None:
    """Refuse what is not a non-empty object on the store (a store has no links, pipes or devices)."""
    where = location(path)
    try:
        info = where.fs.info(where.path)
    except OSError as error:
        raise ImageLoadError(path, unreachable_reason(path, error)) from None
    if info.get("type") == "directory":
        raise ImageLoadError(path, "a folder, not an image file")
    if not info.get("size"):
        raise ImageLoadError(path, "empty file (0 bytes)")


def decode_rgb(path: str, source: str | IO[bytes], max_pixels: int, short_side: int | None) -> np.ndarray:
    """Decode `source` (the file at `path`, or an open file of it) as `load_rgb` describes."""
    try:
        with Image.open(source) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageLoadError(path, f"image is {width} x {height} = {width * height / 1e6:.1f} megapixels, "
                                           f"over the limit of {max_pixels / 1e6:g} megapixels: shrink it, or pass "
                                           f"--max-image-pixels {width * height} or more to read it")
            if short_side:
                image.draft(image.mode, (short_side, short_side))  # JPEG only; other formats ignore it
            upright = ImageOps.exif_transpose(image)  # decodes the pixels, so a truncated file fails here
            rgb = to_rgb(upright)
    except ImageLoadError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageLoadError(path, "not an image file Pillow can read") from None
    except Exception as error:  # damaged files make decoders raise OSError, SyntaxError, ValueError, struct.error...
        raise ImageLoadError(path, f"cannot decode image: {type(error).__name__}: {error}") from None
    array = np.asarray(rgb)
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageLoadError(path, f"image has no pixels ({rgb.size[0]}x{rgb.size[1]})")
    return array
