"""Story prose: Treebank tokens joined back, and shards written before the story_text column (earlier runs
of a collection) read with it, beside the token text, into the JSONL and the gallery."""

import json

import pyarrow.parquet as pq

from data_schemas import stories as st
from data_schemas.shards import shard_name, shard_paths
from pipelines.stories.gallery import write_gallery
from pipelines.stories.job import write_jsonl
from pipelines.stories.prose import readable, story_rows
from tests.conftest import SHARED_DATA
from tests.pipelines.stories.gallery_support import fake_stories

PHOTOS = sorted((SHARED_DATA / "images" / "flickr8k_1000" / "images").glob("*.jpg"))


def test_readable_joins_treebank_tokens_for_people():
    assert readable("`` i do n't know , '' she said .\nit 's late") == "\"I don't know,\" she said.\nIt's late"


def test_shards_from_before_story_text_get_it_beside_the_token_text(tmp_path):
    fake_stories(tmp_path / "new", [str(PHOTOS[0])])
    fake_stories(tmp_path / "old", [str(PHOTOS[1])])
    folder = tmp_path / "stories"
    folder.mkdir()
    (tmp_path / "new" / shard_name(0, 1)).rename(folder / shard_name(1, 2))
    old = pq.read_table(tmp_path / "old" / shard_name(0, 1)).drop_columns([st.STORY_TEXT])
    pq.write_table(old, folder / shard_name(0, 2))
    rows = story_rows(folder)
    assert [list(row)[:4] for row in rows] == [["image_id", "path", "story", "story_text"]] * 2
    assert [row[st.STORY_TEXT] for row in rows] == ["\"I don't know,\" she said of picture 0."] * 2
    assert write_jsonl(folder, tmp_path / "stories.jsonl") == 2
    lines = [json.loads(line) for line in (tmp_path / "stories.jsonl").read_text().splitlines()]
    assert [line[st.STORY_TEXT] for line in lines] == [row[st.STORY_TEXT] for row in rows]
    assert write_gallery(folder, tmp_path).read_text().count("she said of picture 0.") == 2
    assert st.STORY_TEXT not in pq.read_schema(shard_paths(folder)[0]).names  # read, not rewritten
