"""Image files of every awkward kind become upright 8-bit RGB, and broken ones a reason, never a crash."""

import io

import numpy as np
import pytest
from PIL import Image

from model.cnn.image_loading import ImageLoadError, load_rgb

RED, BLUE = (255, 0, 0), (0, 0, 255)


def save(tmp_path, name, image, **options):
    path = tmp_path / name
    image.save(path, **options)
    return str(path)


def test_grey_palette_and_cmyk_become_rgb(tmp_path):
    grey = load_rgb(save(tmp_path, "grey.png", Image.new("L", (5, 4), 90)))
    assert grey.shape == (4, 5, 3) and grey.dtype == np.uint8 and (grey == 90).all()
    bilevel = load_rgb(save(tmp_path, "bw.png", Image.new("1", (3, 3), 1)))
    assert (bilevel == 255).all()
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, *RED] + [0] * 762)
    assert (load_rgb(save(tmp_path, "palette.png", palette)) == RED).all()  # colours, not indices
    cmyk = load_rgb(save(tmp_path, "cmyk.jpg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)), quality=100))
    assert abs(cmyk.astype(int) - RED).max() < 8


def test_transparency_is_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (*BLUE, 0))
    rgba.putpixel((0, 0), (*BLUE, 255))
    loaded = load_rgb(save(tmp_path, "rgba.png", rgba))
    assert tuple(loaded[0, 0]) == BLUE and tuple(loaded[1, 1]) == (255, 255, 255)
    assert tuple(load_rgb(save(tmp_path, "la.png", Image.new("LA", (2, 2), (0, 128))))[0, 0]) == (127, 127, 127)
    palette = Image.new("P", (2, 2), 0)
    palette.putpalette([*BLUE, *RED] + [0] * 762)
    palette.info["transparency"] = 0
    assert (load_rgb(save(tmp_path, "transparent.png", palette, transparency=0)) == 255).all()


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    levels = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    loaded = load_rgb(save(tmp_path, "deep.png", Image.fromarray(levels)))
    assert loaded[0, :, 0].tolist() == [0, 100, 255]


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), RED)  # red left half, blue right half, stored landscape
    image.paste(BLUE, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    loaded = load_rgb(save(tmp_path, "rotated.jpg", image, exif=exif.tobytes(), quality=95))
    assert loaded.shape == (40, 20, 3)  # upright: portrait, red on top
    assert loaded[:18, :, 0].mean() > 200 and loaded[22:, :, 2].mean() > 200


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("empty.jpg", b"", "empty file"),
    ("text.jpg", b"this is not a picture\n", "not an image"),
    ("missing.jpg", None, "no such file"),
])
def test_unusable_files_raise_with_a_reason(tmp_path, name, content, reason):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageLoadError) as error:
        load_rgb(str(tmp_path / name))
    assert reason in error.value.reason and name in str(error.value)


def test_truncated_jpeg_is_rejected(tmp_path):
    data = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(data, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        load_rgb(str(tmp_path / "cut.jpg"))
