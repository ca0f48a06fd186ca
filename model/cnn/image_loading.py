"""Image files to RGB arrays with Pillow, whatever their mode, with a reason for every file that fails.

Unlike the original (reference e, `load_image`), which took `numpy.array(Image.open(path))` as it came,
this loader
- applies the EXIF orientation, so a phone photo stored sideways is seen upright;
- gives palette images their colours (the original fed palette indices to the CNN as grey levels);
- composites transparent images (RGBA, LA, palette with transparency) on white, where the original
  failed on the 4th channel; converts CMYK; scales 16-bit grey to 8 bits instead of clipping it.
"""

import os

import numpy as np
from PIL import Image, ImageOps

# Modes holding 16 bits per pixel (or more, for I and F: Pillow reads some 16-bit files that way).
_WIDE_GREY = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}
_WITH_ALPHA = {"RGBA", "RGBa", "LA", "La", "PA"}
WHITE = (255, 255, 255, 255)


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


def load_rgb(path: str) -> np.ndarray:
    """The image at `path` as a uint8 (H, W, 3) RGB array, upright by its EXIF orientation.

    Raises ImageLoadError for a missing, empty, truncated or non-image file.
    """
    try:
        if os.path.getsize(path) == 0:
            raise ImageLoadError(path, "empty file (0 bytes)")
        with Image.open(path) as image:
            upright = ImageOps.exif_transpose(image)  # decodes the pixels, so a truncated file fails here
            rgb = to_rgb(upright)
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError(path, "no such file") from None
    except Image.UnidentifiedImageError:
        raise ImageLoadError(path, "not an image file Pillow can read") from None
    except Exception as error:  # damaged files make decoders raise OSError, SyntaxError, ValueError, struct.error...
        raise ImageLoadError(path, f"cannot decode image: {type(error).__name__}: {error}") from None
    array = np.asarray(rgb)
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageLoadError(path, f"image has no pixels ({rgb.size[0]}x{rgb.size[1]})")
    return array
