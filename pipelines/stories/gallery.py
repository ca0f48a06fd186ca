"""`gallery.html`: one card per image with its thumbnail, its nearest captions and its story.

Static pages beside the stories (thumbnails in `thumbs/`, linked relatively), so the output folder
can be copied or served as it is (from an object store too, as a static site) and opened without a
server. Thumbnails are made once: a rerun keeps those whose image has not changed since. Each image
has its own thumbnail, named by its stem and a hash of its path, so `dup.jpg` and `dup.png` (or two
folders' `dup.jpg`) never share one.

A large collection is split into pages of PAGE_SIZE cards (gallery.html, gallery-2.html, ...) joined
by previous/next links, not one page paged by a script: plain links work without JavaScript and from
a file:// URL, and a page of a 10,000-story collection loads 48 thumbnails and a small file, not all.
Every text colour has a contrast of at least 4.5:1 on its background (WCAG AA); an image's alt text
is its nearest caption, which is what the retrieval saw in it.
"""

import hashlib
import html
import math
import re
import webbrowser
from pathlib import Path
from string import Template
from urllib.parse import quote

from PIL import Image, ImageOps

from data_schemas import stories as st
from data_schemas.atomic import atomic_path, write_text_atomic
from data_schemas.features import IMAGE_ID, PATH
from data_schemas.storage import Location, location
from model.cnn.image_loading import ImageLoadError, to_rgb
from pipelines.stories.prose import readable, story_rows

GALLERY_FILE = "gallery.html"
THUMBS = "thumbs"
THUMB_SIDE = 360  # pixels, the longer side: sharp at the card width on high-density screens
PAGE_SIZE = 48  # cards a page: 16 rows of three on a wide screen

# Contrast ratios (WCAG 2 relative luminance) are on the background each colour is used on.
PAGE_BG, CARD_BG = "#f4f1ea", "#fffdf8"
INK = "#2b2622"  # title and stories: 13.3:1 on the page, 14.7:1 on a card
MUTED = "#6d645a"  # subtitle, page counter, nearest captions: 5.1:1 on the page, 5.7:1 on a card
FAINT = "#72685d"  # caption scores and file names, on cards: 5.4:1
LINK = "#8a3b12"  # previous/next links, on the page: 6.9:1

STYLE = Template("""
body { margin: 0; background: $page; color: $ink; font: 17px/1.55 Georgia, 'Times New Roman', serif; }
header { padding: 28px 32px 8px; }
h1 { margin: 0; font-weight: normal; font-size: 30px; }
header p { margin: 6px 0 0; color: $muted; font: 14px/1.4 system-ui, sans-serif; }
nav { display: flex; gap: 20px; padding: 8px 32px; color: $muted; font: 15px/1.4 system-ui, sans-serif; }
nav a { color: $link; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 24px; padding: 16px 32px; }
article { background: $card; border-radius: 10px; box-shadow: 0 1px 4px rgba(60, 40, 20, .15); overflow: hidden; }
article img { display: block; width: 100%; height: 240px; object-fit: cover; }
.body { padding: 16px 20px 20px; }
.story { margin: 0 0 14px; white-space: pre-line; }
.nearest { font: 13px/1.45 system-ui, sans-serif; color: $muted; }
ol { margin: 4px 0 0; padding-left: 20px; }
.score { color: $faint; font-variant-numeric: tabular-nums; }
.name { font: 12px system-ui, sans-serif; color: $faint; margin-top: 10px; word-break: break-all; }
""").substitute(page=PAGE_BG, card=CARD_BG, ink=INK, muted=MUTED, faint=FAINT, link=LINK)


def thumb_name(path: str) -> str:
    """A thumbnail file name of its own for each source image: stem, then a hash of the whole path."""
    return f"{Path(path).stem}-{hashlib.sha256(path.encode()).hexdigest()[:10]}.jpg"


def make_thumbnail(source: str, target: Location) -> bool:
    """A JPEG of at most THUMB_SIDE pixels a side, upright and in RGB; False if the image is unreadable.
    The image and the thumbnail may each be on disk or on a store."""
    image_path = location(source)
    if target.is_file() and target.stat().st_mtime >= image_path.stat().st_mtime:
        return True
    try:
        with image_path.open("rb") as handle, Image.open(handle) as image:
            thumb = to_rgb(ImageOps.exif_transpose(image))
            thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    except (OSError, ImageLoadError, ValueError):
        return False
    with atomic_path(target) as temp:
        thumb.save(temp, "JPEG", quality=85)
    return True


def alt_text(row: dict) -> str:
    """The image's nearest caption as prose: what the retrieval saw in it, for readers who cannot see it."""
    return readable(row[st.CAPTIONS][0][st.TEXT]) if row[st.CAPTIONS] else row[IMAGE_ID]


def card(row: dict, thumb: str | None) -> str:
    nearest = "".join(f"<li>{html.escape(readable(c[st.TEXT]))} <span class=score>{c[st.SCORE]:.2f}</span></li>"
                      for c in row[st.CAPTIONS])
    # Quoted: a '#' or '?' in a file name would otherwise end the path part of the URL.
    image = (f'<img src="{html.escape(quote(thumb))}" alt="{html.escape(alt_text(row))}" loading="lazy">'
             if thumb else "")
    return (f"<article>{image}<div class=body><p class=story>{html.escape(row[st.STORY_TEXT])}</p>"
            f"<div class=nearest>nearest captions<ol>{nearest}</ol></div>"
            f"<div class=name>{html.escape(row[IMAGE_ID])}</div></div></article>")


def page_file(number: int) -> str:
    return GALLERY_FILE if number == 1 else f"gallery-{number}.html"


def page_links(number: int, pages: int, first: int, last: int, total: int) -> str:
    """Previous/next links and where this page is, or nothing for a gallery of one page."""
    if pages == 1:
        return ""
    previous = f'<a rel=prev href="{page_file(number - 1)}">← previous page</a>' if number > 1 else ""
    following = f'<a rel=next href="{page_file(number + 1)}">next page →</a>' if number < pages else ""
    return (f"<nav aria-label=pages>{previous}<span>page {number} of {pages} · stories {first}–{last} of "
            f"{total}</span>{following}</nav>")


def subtitle(rows: list[dict]) -> str:
    if not rows:
        return ""
    first = rows[0]
    search = (f"top-p {first[st.TOP_P]} · temperature {first[st.TEMPERATURE]}" if first.get(st.TOP_P) is not None
              else f"beam {first[st.BEAM_WIDTH]}")
    topics = (f" · topic bonus {first[st.TOPIC_BONUS]} over {first[st.TOPIC_CAPTIONS]} captions"
              if first.get(st.TOPIC_BONUS) else "")
    return (f"{len(rows)} images · style {first[st.STYLE]} · k {first[st.K]} · {search} "
            f"({first[st.SEARCH]}){topics} · decoder {first[st.DECODER]} · captions by {first[st.RETRIEVAL]} "
            f"retrieval ({first[st.VSE]}) from index {first[st.INDEX]}")


def _thumbnails(rows: list[dict], out: Location) -> list[str | None]:
    """Each row's thumbnail path relative to `out` (None for an unreadable image); thumbnails of
    images no longer in the gallery are removed."""
    names = [thumb_name(row[PATH]) for row in rows]
    made = [make_thumbnail(row[PATH], out / THUMBS / name) for row, name in zip(rows, names, strict=True)]
    for stale in set(path.name for path in (out / THUMBS).glob("*.jpg")) - set(names):
        (out / THUMBS / stale).unlink()
    return [f"{THUMBS}/{name}" if ok else None for name, ok in zip(names, made, strict=True)]


def write_gallery(stories_folder: Location, out: Location) -> Location:
    """Write `out/gallery.html`, its further pages and thumbnails for every story in `stories_folder`, in
    shard order; returns the first page."""
    rows = story_rows(stories_folder)
    cards = [card(row, thumb) for row, thumb in zip(rows, _thumbnails(rows, out), strict=True)]
    pages = max(1, math.ceil(len(cards) / PAGE_SIZE))
    head = html.escape(subtitle(rows))
    for number in range(1, pages + 1):
        start = (number - 1) * PAGE_SIZE
        shown = cards[start : start + PAGE_SIZE]
        nav = page_links(number, pages, start + 1, start + len(shown), len(cards))
        title = "Stories" if pages == 1 else f"Stories, page {number} of {pages}"
        write_text_atomic(out / page_file(number), (
            f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width, initial-scale=1'><title>{title}</title>"
            f"<style>{STYLE}</style></head><body><header><h1>Stories</h1><p>{head}</p></header>{nav}"
            f"<main>{''.join(shown)}</main>{nav}</body></html>\n"))
    for path in out.glob("gallery-*.html"):  # pages of an earlier, larger gallery
        found = re.fullmatch(r"gallery-(\d+)\.html", path.name)
        if found and int(found[1]) > pages:
            path.unlink()
    return out / GALLERY_FILE


def open_in_browser(page: Path) -> bool:
    """Show the page in the user's web browser; False when there is none (a server, an SSH session)."""
    return webbrowser.open(Path(page).resolve().as_uri())
