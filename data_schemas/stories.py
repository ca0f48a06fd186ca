"""Schema of story shards: one row per image that was read, with what made its story.

The run's settings (style, k, beam or sampling, model ids) repeat on every row so that a row read alone, or a
JSONL line copied elsewhere, still says how it was made; dictionary encoding makes them nearly free.
"""

import pyarrow as pa

from data_schemas.features import IMAGE_ID, PATH

STORY = "story"  # the decoder's tokens, as the original wrote them (`do n't ,`)
STORY_TEXT = "story_text"  # the same story as prose for people (`don't,`): pipelines/stories/prose.py
CAPTIONS = "captions"  # the nearest captions, best first: caption_id, text, score (cosine)
CAPTION_ID = "caption_id"
TEXT = "text"
SCORE = "score"
STYLE = "style"
CAPTION_STYLE = "caption_style"
K = "k"
BEAM_WIDTH = "beam_width"
SEARCH = "search"
TOP_P = "top_p"  # the sample search's nucleus mass and temperature
TEMPERATURE = "temperature"
TOPIC_BONUS = "topic_bonus"  # nats pushed onto the nearest captions' content words (0: none)
TOPIC_CAPTIONS = "topic_captions"  # how many nearest captions gave those words
DECODER = "decoder"
ENCODER = "encoder"
VSE = "vse"
RETRIEVAL = "retrieval"  # the joint space that chose the captions: gru (trained VSE), zero-shot or fused
INDEX = "index"
CNN = "cnn"

NEAREST = pa.struct([
    pa.field(CAPTION_ID, pa.string(), nullable=False),
    pa.field(TEXT, pa.string(), nullable=False),
    pa.field(SCORE, pa.float32(), nullable=False),
])

NUMBER_FIELDS = (K, BEAM_WIDTH, TOPIC_BONUS, TOPIC_CAPTIONS)
RUN_FIELDS = (STYLE, CAPTION_STYLE, SEARCH, DECODER, ENCODER, VSE, RETRIEVAL, INDEX, CNN)
SAMPLING_FIELDS = (TOP_P, TEMPERATURE)  # a sampled run's settings have them; null for a beam search

STORIES = pa.schema(
    [
        pa.field(IMAGE_ID, pa.string(), nullable=False),
        pa.field(PATH, pa.string(), nullable=False),
        pa.field(STORY, pa.string(), nullable=False),
        pa.field(STORY_TEXT, pa.string(), nullable=False),
        pa.field(CAPTIONS, pa.list_(NEAREST), nullable=False),
        pa.field(K, pa.int32(), nullable=False),
        pa.field(BEAM_WIDTH, pa.int32(), nullable=False),
        pa.field(TOPIC_BONUS, pa.float64(), nullable=False),
        pa.field(TOPIC_CAPTIONS, pa.int32(), nullable=False),
        pa.field(TOP_P, pa.float64()),
        pa.field(TEMPERATURE, pa.float64()),
        *(pa.field(name, pa.dictionary(pa.int32(), pa.string()), nullable=False) for name in RUN_FIELDS),
    ]
)


def stories_table(rows: list[dict], run: dict) -> pa.Table:
    """`rows` hold image_id, path, story, story_text and captions; `run` the settings shared by every row."""
    columns = {name: [row[name] for row in rows] for name in (IMAGE_ID, PATH, STORY, STORY_TEXT, CAPTIONS)}
    columns.update({name: [run[name]] * len(rows) for name in (*NUMBER_FIELDS, *RUN_FIELDS)})
    columns.update({name: [run.get(name)] * len(rows) for name in SAMPLING_FIELDS})
    return pa.Table.from_pydict(columns, schema=STORIES)
