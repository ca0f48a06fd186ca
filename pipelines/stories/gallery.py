"""`gallery.html`: one card per image with its thumbnail, its nearest captions and its story.

A static page beside the stories (thumbnails in `thumbs/`, linked relatively), so the output folder
can be copied or served as it is and opened without a server. Thumbnails are made once: a rerun
keeps those whose image has not changed since.
"""

import html
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
from nltk.tokenize.treebank import TreebankWordDetokenizer
from PIL import Image, ImageOps

from data_schemas import stories as st
from data_schemas.atomic import atomic_path, write_text_atomic
from data_schemas.features import IMAGE_ID, PATH
from data_schemas.shards import shard_paths
from model.cnn.image_loading import ImageLoadError, to_rgb

GALLERY_FILE = "gallery.html"
THUMBS = "thumbs"
DETOKENIZER = TreebankWordDetokenizer()
THUMB_SIDE = 360  # pixels, the longer side: sharp at the card width on high-density screens

STYLE = """
body { margin: 0; background: #f4f1ea; color: #2b2622; font: 17px/1.55 Georgia, 'Times New Roman', serif; }
header { padding: 28px 32px 8px; }
h1 { margin: 0; font-weight: normal; font-size: 30px; }
header p { margin: 6px 0 0; color: #6d645a; font: 14px/1.4 system-ui, sans-serif; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 24px; padding: 24px 32px; }
article { background: #fffdf8; border-radius: 10px; box-shadow: 0 1px 4px rgba(60, 40, 20, .15); overflow: hidden; }
article img { display: block; width: 100%; height: 240px; object-fit: cover; }
.body { padding: 16px 20px 20px; }
.story { margin: 0 0 14px; white-space: pre-line; }
.nearest { font: 13px/1.45 system-ui, sans-serif; color: #6d645a; }
ol { margin: 4px 0 0; padding-left: 20px; }
.score { color: #a0968a; font-variant-numeric: tabular-nums; }
.name { font: 12px system-ui, sans-serif; color: #a0968a; margin-top: 10px; word-break: break-all; }
"""


def make_thumbnail(source: str, target: Path) -> bool:
    """A JPEG of at most THUMB_SIDE pixels a side, upright and in RGB; False if the image is unreadable."""
    if target.is_file() and target.stat().st_mtime >= os.path.getmtime(source):
        return True
    try:
        with Image.open(source) as image:
            thumb = to_rgb(ImageOps.exif_transpose(image))
            thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    except (OSError, ImageLoadError, ValueError):
        return False
    with atomic_path(target) as temp:
        thumb.save(temp, "JPEG", quality=85)
    return True


def readable(story: str) -> str:
    """The story as prose for the page: Treebank tokens joined back (`do n't ,` -> `don't,`), first
    letter capitalised; each lyric line alike. The data files keep the original's token text."""
    lines = [DETOKENIZER.detokenize(line.split()) for line in story.split("\n")]
    return "\n".join(re.sub(r"^(\W*)(\w)", lambda m: m[1] + m[2].upper(), line) for line in lines)


def card(row: dict, thumb: str | None) -> str:
    nearest = "".join(f"<li>{html.escape(c[st.TEXT])} <span class=score>{c[st.SCORE]:.2f}</span></li>"
                      for c in row[st.CAPTIONS])
    image = f'<img src="{html.escape(thumb)}" alt="{html.escape(row[IMAGE_ID])}" loading="lazy">' if thumb else ""
    return (f"<article>{image}<div class=body><p class=story>{html.escape(readable(row[st.STORY]))}</p>"
            f"<div class=nearest>nearest captions<ol>{nearest}</ol></div>"
            f"<div class=name>{html.escape(row[IMAGE_ID])}</div></div></article>")


def write_gallery(stories_folder: Path, out: Path) -> Path:
    """Write `out/gallery.html` (and thumbnails) for every story in `stories_folder`, in shard order."""
    rows = [row for path in shard_paths(stories_folder) for row in pq.read_table(path).to_pylist()]
    cards = []
    for row in rows:
        thumb = Path(THUMBS) / f"{Path(row[IMAGE_ID]).stem}.jpg"
        ok = make_thumbnail(row[PATH], out / thumb)
        cards.append(card(row, thumb.as_posix() if ok else None))
    subtitle = ""
    if rows:
        first = rows[0]
        search = (f"top-p {first[st.TOP_P]} · temperature {first[st.TEMPERATURE]}" if first.get(st.TOP_P) is not None
                  else f"beam {first[st.BEAM_WIDTH]}")
        topics = (f" · topic bonus {first[st.TOPIC_BONUS]} over {first[st.TOPIC_CAPTIONS]} captions"
                  if first.get(st.TOPIC_BONUS) else "")
        subtitle = (f"{len(rows)} images · style {first[st.STYLE]} · k {first[st.K]} · {search} "
                    f"({first[st.SEARCH]}){topics} · decoder {first[st.DECODER]} · captions by {first[st.RETRIEVAL]} "
                    f"retrieval ({first[st.VSE]}) from index {first[st.INDEX]}")
    page = (f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width, initial-scale=1'><title>Stories</title>"
            f"<style>{STYLE}</style></head><body><header><h1>Stories</h1><p>{html.escape(subtitle)}</p></header>"
            f"<main>{''.join(cards)}</main></body></html>\n")
    path = out / GALLERY_FILE
    write_text_atomic(path, page)
    return path
