"""The gallery from story shards over real photos: a thumbnail per source image (dup.jpg and dup.png keep
their own photos), alt texts that are the nearest caption, 48 cards a page joined by previous/next links
(pages of an earlier, larger gallery removed), WCAG AA contrast of every colour, and the hand-off to a browser."""

import html
import os
import re
import shutil
import subprocess
import sys
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from pipelines.stories.gallery import CARD_BG, FAINT, INK, LINK, MUTED, PAGE_BG, STYLE, write_gallery
from pipelines.stories.prose import readable
from tests.conftest import SHARED_DATA
from tests.pipelines.stories.gallery_support import contrast_ratio, fake_stories

PHOTOS = sorted((SHARED_DATA / "images" / "flickr8k_1000" / "images").glob("*.jpg"))


def test_contrast_ratio_matches_the_wcag_reference_values():
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.005)  # the grey that just fails AA


def test_every_text_colour_has_aa_contrast_on_its_background():
    on_page, on_card = (INK, MUTED, LINK), (INK, MUTED, FAINT)
    ratios = [contrast_ratio(c, PAGE_BG) for c in on_page] + [contrast_ratio(c, CARD_BG) for c in on_card]
    assert min(ratios) >= 4.5, ratios
    assert set(re.findall(r"#[0-9a-f]{6}", STYLE)) == {PAGE_BG, CARD_BG, INK, MUTED, FAINT, LINK}  # no colour unchecked


def _mean_difference(thumb: Image.Image, source: str) -> float:
    with Image.open(source) as image:
        scaled = np.asarray(image.convert("RGB").resize(thumb.size), dtype=np.float32)
    return float(np.abs(np.asarray(thumb, dtype=np.float32) - scaled).mean())


def test_each_source_image_has_its_own_thumbnail(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    sources = [str(tmp_path / "a" / "dup.jpg"), str(tmp_path / "a" / "dup.png"), str(tmp_path / "b" / "dup.jpg"),
               str(tmp_path / "b" / "dup #2?.jpg")]
    shutil.copy(PHOTOS[0], sources[0])
    Image.open(PHOTOS[1]).save(sources[1])
    shutil.copy(PHOTOS[2], sources[2])
    shutil.copy(PHOTOS[4], sources[3])
    fake_stories(tmp_path / "stories", sources)
    out = tmp_path / "out"
    (out / "thumbs").mkdir(parents=True)
    (out / "thumbs" / "dup.jpg").write_bytes(PHOTOS[3].read_bytes())  # named as before: no longer any card's
    page = write_gallery(tmp_path / "stories", out).read_text()
    thumbs = [unquote(src) for src in re.findall(r'<img src="([^"]+)"', page)]
    assert len(set(thumbs)) == 4 and sorted(p.name for p in (out / "thumbs").iterdir()) == sorted(
        t.split("/")[1] for t in thumbs)
    for thumb, source in zip(thumbs, sources, strict=True):
        with Image.open(out / thumb) as image:
            differences = [_mean_difference(image, other) for other in sources]
        assert int(np.argmin(differences)) == sources.index(source), (thumb, differences)
    assert "<nav" not in page  # one page: no page links


def test_pages_of_48_cards_linked_both_ways_with_captions_as_alt_text(tmp_path):
    rows = fake_stories(tmp_path / "stories", [str(p) for p in PHOTOS[:60]])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "gallery-3.html").write_text("an earlier, larger gallery's page")
    first = write_gallery(tmp_path / "stories", tmp_path / "out")
    pages = sorted(p.name for p in (tmp_path / "out").glob("gallery*.html"))
    assert pages == ["gallery-2.html", "gallery.html"]
    one, two = first.read_text(), (tmp_path / "out" / "gallery-2.html").read_text()
    assert (one.count("<article>"), two.count("<article>")) == (48, 12)
    assert 'rel=next href="gallery-2.html"' in one and "rel=prev" not in one
    assert 'rel=prev href="gallery.html"' in two and "rel=next" not in two and "stories 49–60 of 60" in two
    alts = re.findall(r'alt="([^"]*)"', one + two)
    assert alts == [html.escape(readable(row["captions"][0]["text"])) for row in rows]
    assert alts[7] == "A dog number 7 runs, rank 0."
    assert html.escape(rows[0]["story_text"]) in one and rows[0]["story_text"] == "\"I don't know,\" she said of " \
        "picture 0."


def _python(code: str, *args: str, env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_open_hands_the_page_url_to_the_browser_or_says_there_is_none(tmp_path):
    page = tmp_path / "gallery.html"
    page.write_text("<!doctype html>")
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > {tmp_path / "opened"}\n')
    browser.chmod(0o755)
    (tmp_path / "empty").mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    code = ("import sys; from pathlib import Path; from pipelines.stories.gallery import open_in_browser; "
            "print(open_in_browser(Path(sys.argv[1])))")
    assert _python(code, str(page), env={**env, "BROWSER": str(browser)}) == "True"
    assert (tmp_path / "opened").read_text().strip() == page.resolve().as_uri()
    assert _python(code, str(page), env={**env, "PATH": str(tmp_path / "empty")}) == "False"  # no browser here
