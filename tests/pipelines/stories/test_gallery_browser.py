"""The gallery of 60 stories over real photos in a real headless Chromium (Debian's, driven by Playwright):
every image loads and has its nearest caption as alt text, every text's computed colour has a contrast of at
least 4.5:1 on the background it is drawn on, and following the next links from the first page shows every
card exactly once (and the previous links lead back)."""

import shutil
from pathlib import Path

import pytest

from pipelines.stories.gallery import write_gallery
from pipelines.stories.prose import readable
from tests.conftest import SHARED_DATA
from tests.pipelines.stories.gallery_support import contrast_ratio, fake_stories

CHROMIUM = Path("/usr/bin/chromium")
# Offline and quiet: nothing in the test may reach a network or download a component.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHOTOS = sorted((SHARED_DATA / "images" / "flickr8k_1000" / "images").glob("*.jpg"))[:60]

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Debian's chromium at /usr/bin/chromium: "
                                "`make browser` installs it")

# Every element with text of its own: its computed colour and the first opaque background under it.
TEXT_COLOURS = """() => [...document.querySelectorAll('body *')]
  .filter(el => [...el.childNodes].some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim()))
  .map(el => {
    let under = el;
    while (under && getComputedStyle(under).backgroundColor === 'rgba(0, 0, 0, 0)') under = under.parentElement;
    return [el.tagName + '.' + el.className, getComputedStyle(el).color,
            under ? getComputedStyle(under).backgroundColor : 'rgb(255, 255, 255)'];
  })"""
# Loads every image now rather than when scrolled to (they are lazy), then says how wide each decoded.
IMAGES = """async () => Promise.all([...document.images].map(async img => {
  img.loading = 'eager';
  try { await img.decode(); } catch (e) {}
  return [img.alt, img.naturalWidth];
}))"""


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    root = tmp_path_factory.mktemp("gallery")
    odd = root / "odd #5?.jpg"  # a name that is no URL path as it stands
    shutil.copy(PHOTOS[5], odd)
    rows = fake_stories(root / "stories", [str(p) for p in PHOTOS[:5]] + [str(odd)] + [str(p) for p in PHOTOS[6:]])
    return write_gallery(root / "stories", root / "out"), rows


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser.new_page()
        browser.close()


def visit_pages(page, first: Path, rel: str) -> list[dict]:
    """Each page reached from `first` by following its `rel` link, with its cards' names, images and colours."""
    seen, url = [], first.resolve().as_uri()
    while url:
        page.goto(url)
        seen.append({"url": page.url, "names": page.locator("article .name").all_inner_texts(),
                     "images": page.evaluate(IMAGES), "colours": page.evaluate(TEXT_COLOURS)})
        link = page.locator(f"nav a[rel={rel}]").first
        url = link.evaluate("a => a.href") if link.count() else None
    return seen


def test_every_card_once_with_loaded_images_captions_as_alt_and_aa_contrast(gallery, page):
    first, rows = gallery
    pages = visit_pages(page, first, "next")
    assert [len(p["names"]) for p in pages] == [48, 12]
    assert [name for p in pages for name in p["names"]] == [row["image_id"] for row in rows]  # each once, in order
    images = [image for p in pages for image in p["images"]]
    assert [alt for alt, _ in images] == [readable(row["captions"][0]["text"]) for row in rows]
    assert all(alt and width > 0 for alt, width in images)
    ratios = {(what, fg, bg): contrast_ratio(fg, bg) for p in pages for what, fg, bg in p["colours"]}
    assert {what for what, _, _ in ratios} >= {"H1.", "P.story", "DIV.nearest", "SPAN.score", "DIV.name", "A."}
    assert min(ratios.values()) >= 4.5, sorted(ratios.items(), key=lambda item: item[1])[:3]
    back = visit_pages(page, first.parent / "gallery-2.html", "prev")
    assert [p["url"] for p in back] == [p["url"] for p in reversed(pages)]
