"""A story collection: the folder the bulk-stories flow appends to. Each run tells stories only for
images no earlier run told, and the collection's JSONL and gallery hold every story so far.

The layout of OUT (the collection):
    OUT/collection.json          the story settings (style, decoder, k, search ...) every run must share
    OUT/runs/run-NNNNN/          one `pipelines.stories.job` job each, over that run's new images only
    OUT/stories/part-*.parquet   every run's finished shards, in run order (hard links, copies where
                                 the filesystem has none or OUT is on a store): the merged view the JSONL
                                 and gallery read
    OUT/stories.jsonl            every story so far; shards of runs made before the `story_text`
                                 column get it when read
    OUT/gallery.html, OUT/thumbs/  the same stories, 48 a page (then gallery-2.html ...)

Why per-run folders and not one growing job: the story stage keys its output on the whole image listing,
so one new photo would retell every story. A run folder is an ordinary stage output (resumable by shard,
skipped when complete), and "done" is simply every image with a row in some run's finished shard, so a
run killed halfway loses nothing: its finished shards count, and the next run takes the rest.
A rejected image (unreadable) is tried again only when it was written to after its run began, as a photo
still being copied into a watched folder was; a broken file left alone is not retried every hour.
"""

import json
import os
import shutil
import time
from pathlib import Path

from data_schemas.atomic import atomic_path, remove_temporaries, write_json_atomic
from data_schemas.features import PATH
from data_schemas.rejects import SOURCE
from data_schemas.shards import shard_name, shard_paths
from data_schemas.storage import Location, is_remote, is_url, location, read_parquet
from pipelines import features as images
from pipelines.stories import job as stories
from pipelines.stories.gallery import write_gallery

SETTINGS_FILE = "collection.json"
RUNS = "runs"
STARTED_FILE = "started.json"  # in a run folder: when the run began, before it read any image


def check_settings(out: Location, settings: dict) -> None:
    """Record the settings of a new collection; refuse to mix stories of other settings into one."""
    path = out / SETTINGS_FILE
    if path.is_file():
        recorded = json.loads(path.read_text())
        differ = sorted(key for key in {*recorded, *settings} if recorded.get(key) != settings.get(key))
        if differ:
            raise ValueError(f"{out} holds stories told with other settings ({', '.join(differ)}: "
                             f"{[recorded.get(k) for k in differ]} there, {[settings.get(k) for k in differ]} now); "
                             "give another --out for these settings")
    else:
        write_json_atomic(path, settings)


def run_folders(out: Location) -> list[Location]:
    return sorted(path for path in (out / RUNS).glob("run-*") if path.is_dir())


def told_images(out: Location) -> set[str]:
    """Paths of the images with a story in any finished shard of any run."""
    return {path for folder in run_folders(out) for shard in shard_paths(folder / "stories")
            for path in read_parquet(shard, columns=[PATH]).column(PATH).to_pylist()}


def settled_rejects(out: Location) -> set[str]:
    """Paths of the images a run rejected that nobody has written to since that run began."""
    settled = set()
    for folder in run_folders(out):
        if not (folder / STARTED_FILE).is_file():
            continue
        began = json.loads((folder / STARTED_FILE).read_text())["began_ns"]
        for shard in shard_paths(folder / "rejects"):
            for path in read_parquet(shard, columns=[SOURCE]).column(SOURCE).to_pylist():
                try:
                    if _written_ns(path) < began:
                        settled.add(path)
                except OSError:  # gone since: no longer listed either
                    continue
    return settled


def _written_ns(path: str) -> int:
    """When an image was last written; a stored one's upload time (to the second, on the store's clock)."""
    if is_url(path):
        return int(location(path).stat().st_mtime * 1e9)
    # A symlink that loops or dangles has only its own time; once its target appears, the target's.
    return os.stat(path).st_mtime_ns if os.path.exists(path) else os.lstat(path).st_mtime_ns


def list_dataset(images_arg: str | list[str]) -> list[str]:
    """The dataset's images; a watched folder that is still empty is no error, just nothing to do."""
    if isinstance(images_arg, str) and location(images_arg).is_dir():
        try:
            return images.list_images(images_arg)
        except FileNotFoundError:
            return []
    return images.list_images(images_arg)


def merge_runs(out: Location, gallery: bool) -> tuple[Location, Location | None, int]:
    """OUT/stories from every run's shards (in run order), then OUT/stories.jsonl and the gallery."""
    shards = [shard for folder in run_folders(out) for shard in shard_paths(folder / "stories")]
    merged = out / "stories"
    remove_temporaries(out)  # a merge killed before its rename leaves its staging folder
    with atomic_path(merged) as staging:
        staging.mkdir()
        for number, shard in enumerate(shards):
            _stage_shard(shard, staging / shard_name(number, len(shards)))
    jsonl = out / stories.JSONL_FILE
    count = stories.write_jsonl(merged, jsonl)
    return jsonl, write_gallery(merged, out) if gallery else None, count


def _stage_shard(shard: Location, target: Path) -> None:
    """A run's shard into the local staging of the merged folder: a hard link where the disk allows, else a
    copy (a stored shard is downloaded; the staging folder then goes up file by file)."""
    if is_remote(shard):
        shard.fs.get_file(shard.path, str(target))
        return
    try:
        os.link(shard, target)
    except OSError:
        shutil.copy2(shard, target)


def start_run(out: Location, pending: int) -> Location:
    """The next run folder, with the time it began: rejects written to after it are tried again."""
    folders = run_folders(out)
    number = int(folders[-1].name.split("-")[1]) + 1 if folders else 1
    run = out / RUNS / f"run-{number:05d}"
    write_json_atomic(run / STARTED_FILE, {"began_ns": time.time_ns(), "images": pending})
    return run
