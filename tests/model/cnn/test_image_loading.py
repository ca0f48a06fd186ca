"""Image files of every awkward kind become upright 8-bit RGB, and broken ones a reason, never a crash; big
images are refused from their header or, for JPEG, decoded at reduced scale."""

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.cnn import efficientnet_lite
from model.cnn.image_loading import ImageLoadError, load_rgb
from tests.model.cnn.awkward_images import png_header

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


def test_pixel_limit_is_read_from_the_header_before_any_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(20000, 20000))  # 400 MP declared: Pillow's own check would raise
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        with pytest.raises(ImageLoadError, match=r"20000 x 20000 = 400\.0 megapixels, over the limit of 50 mega"):
            load_rgb(str(bomb))
        with pytest.raises(ImageLoadError, match="cannot decode"):  # our limit raised: Pillow's does not decide
            load_rgb(str(bomb), max_pixels=10**9)
    photo = save(tmp_path, "photo.png", Image.new("RGB", (30, 20), RED))
    assert load_rgb(photo, max_pixels=600).shape == (20, 30, 3)
    with pytest.raises(ImageLoadError, match=r"30 x 20 .* --max-image-pixels 600 or more"):
        load_rgb(photo, max_pixels=599)


def test_big_jpegs_decode_at_reduced_scale_close_to_a_full_decode(tmp_path):
    ramp = np.linspace(0, 255, 1300, dtype=np.float32)
    smooth = np.stack([np.add.outer(ramp[:1100] / 2, ramp / 2), np.tile(ramp, (1100, 1)),
                       np.tile(ramp[:1100, None], (1, 1300))], axis=2).astype(np.uint8)
    jpeg = save(tmp_path, "big.jpg", Image.fromarray(smooth), quality=95)
    drafted, full = load_rgb(jpeg), load_rgb(jpeg, short_side=None)
    assert drafted.shape == (550, 650, 3) and full.shape == (1100, 1300, 3)  # both sides kept >= 512
    difference = efficientnet_lite.preprocess(drafted) - efficientnet_lite.preprocess(full)
    assert np.abs(difference).mean() * efficientnet_lite.STDDEV_RGB < 1  # under one grey level on average
    assert load_rgb(save(tmp_path, "small.jpg", Image.fromarray(smooth[:1000]))).shape == (1000, 1300, 3)
    assert load_rgb(save(tmp_path, "big.png", Image.fromarray(smooth))).shape == (1100, 1300, 3)  # JPEG only
    data = (tmp_path / "big.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):  # a draft still decodes every block
        load_rgb(str(tmp_path / "cut.jpg"))


def test_corrupt_png_and_bad_links_raise_with_a_reason(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = bytearray(Path(save(tmp_path, "ok.png", Image.fromarray(noise))).read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the compressed pixels
    (tmp_path / "bad.png").write_bytes(bytes(data))
    cases = {"bad.png": "cannot decode", "loop.jpg": "symlink loop", "gone.jpg": "dangling symlink to nowhere.jpg",
             "folder": "links to folders are not followed", "ok.jpg": None}
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")
    (tmp_path / "gone.jpg").symlink_to("nowhere.jpg")
    (tmp_path / "folder").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "ok.jpg").symlink_to(tmp_path / "ok.png")  # a link to a file is read
    for name, reason in cases.items():
        if reason is None:
            assert load_rgb(str(tmp_path / name)).shape == (64, 64, 3)
            continue
        with pytest.raises(ImageLoadError, match=reason):
            load_rgb(str(tmp_path / name))
