"""Stories as people read them: the decoder's Treebank tokens (`do n't ,`) joined back into prose.

The one detokeniser of the project: the `story_text` column of the stories Parquet and JSONL, the
gallery's cards and its image alt texts all come from `readable`, so they never disagree.
"""

import re

import pyarrow as pa
from nltk.tokenize.treebank import TreebankWordDetokenizer

from data_schemas import stories as st
from data_schemas.shards import shard_paths
from data_schemas.storage import Location, read_parquet

DETOKENIZER = TreebankWordDetokenizer()


def readable(tokens: str) -> str:
    """Treebank tokens joined back (`do n't ,` -> `don't,`), first letter capitalised; each line (a lyric
    line) alike."""
    lines = [DETOKENIZER.detokenize(line.split()) for line in tokens.split("\n")]
    return "\n".join(re.sub(r"^(\W*)(\w)", lambda m: m[1] + m[2].upper(), line) for line in lines)


def with_story_text(table: pa.Table) -> pa.Table:
    """A story shard with its `story_text` column: shards written before the column existed (the
    earlier runs of a story collection) get it from their token text, beside it."""
    if st.STORY_TEXT in table.column_names:
        return table
    texts = pa.array([readable(story) for story in table.column(st.STORY).to_pylist()], pa.string())
    return table.add_column(table.schema.get_field_index(st.STORY) + 1, st.STORY_TEXT, texts)


def story_rows(folder: Location) -> list[dict]:
    """Every story row of the shards in `folder` (on disk or a store), in shard (sorted path) order, each with
    its story_text."""
    return [row for path in shard_paths(folder) for row in with_story_text(read_parquet(path)).to_pylist()]
