"""For the gallery tests: story shards of made-up stories over real photos, and WCAG 2 contrast."""

import re
from pathlib import Path

from data_schemas import stories as st
from data_schemas.features import IMAGE_ID, PATH
from data_schemas.shards import shard_name, write_table_atomic
from pipelines.stories.prose import readable

RUN = {st.STYLE: "romance", st.CAPTION_STYLE: "captions", st.K: 10, st.BEAM_WIDTH: 3, st.SEARCH: "normalized",
       st.TOPIC_BONUS: 0.0, st.TOPIC_CAPTIONS: 0, st.DECODER: "dec", st.ENCODER: "st", st.VSE: "vse",
       st.RETRIEVAL: "gru", st.INDEX: "vse/caps", st.CNN: "cnn"}


def fake_stories(folder: Path, images: list[str]) -> list[dict]:
    """One shard in `folder` with a story per image; each image's top caption names its number."""
    rows = []
    for number, path in enumerate(images):
        story = f"`` i do n't know , '' she said of picture {number} ."
        captions = [{st.CAPTION_ID: f"c{number}-{rank}", st.TEXT: f"a dog number {number} runs , rank {rank} .",
                     st.SCORE: 0.9 - rank / 10} for rank in range(3)]
        rows.append({IMAGE_ID: Path(path).name, PATH: path, st.STORY: story, st.STORY_TEXT: readable(story),
                     st.CAPTIONS: captions})
    write_table_atomic(st.stories_table(rows, RUN), folder / shard_name(0, 1))
    return rows


def rgb(colour: str) -> tuple[int, int, int]:
    """`#rrggbb` or a computed style's `rgb(r, g, b)` / opaque `rgba(r, g, b, 1)`."""
    if colour.startswith("#"):
        return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    channels = [float(c) for c in re.findall(r"[\d.]+", colour)]
    assert len(channels) == 3 or channels[3] == 1, f"{colour} is not opaque"
    return tuple(int(c) for c in channels[:3])


def relative_luminance(colour: str) -> float:
    """WCAG 2: the sRGB channels linearised, weighted 0.2126 R + 0.7152 G + 0.0722 B."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb(colour))]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(foreground: str, background: str) -> float:
    """(L1 + 0.05) / (L2 + 0.05), the lighter luminance over the darker: 1 to 21."""
    light, dark = sorted((relative_luminance(foreground), relative_luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
