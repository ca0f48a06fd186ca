"""Which rejected images a collection tries again: only those written to since their run began; a
symlink that loops or dangles is judged by its own time, so it is not retried every run."""

import os
import time

import pyarrow as pa

from data_schemas import REJECTS
from data_schemas.rejects import reject_row
from data_schemas.shards import shard_name, write_table_atomic
from pipelines.stories import collection


def test_rejected_links_that_lead_nowhere_settle_and_rewritten_files_are_retried(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "loop.jpg").symlink_to("loop.jpg")
    (photos / "gone.jpg").symlink_to("missing.jpg")
    (photos / "cut.jpg").write_bytes(b"half a photo")
    (photos / "late.jpg").symlink_to("arrived.jpg")
    run = collection.start_run(tmp_path / "out", 4)
    rows = [reject_row("stories", str(photos / name), "", "reason") for name in sorted(os.listdir(photos))]
    write_table_atomic(pa.Table.from_pylist(rows, schema=REJECTS), run / "rejects" / shard_name(0, 1))
    assert collection.settled_rejects(tmp_path / "out") == {str(photos / n) for n in ("cut.jpg", "gone.jpg",
                                                                                       "late.jpg", "loop.jpg")}
    time.sleep(0.05)  # past the coarse clock file times use: the writes below land after the run began
    (photos / "cut.jpg").write_bytes(b"the whole photo")
    (photos / "arrived.jpg").write_bytes(b"the photo the link waited for")
    assert collection.settled_rejects(tmp_path / "out") == {str(photos / n) for n in ("gone.jpg", "loop.jpg")}
