"""Bulk stories for a growing dataset: each run tells stories only for images no earlier run told, and
the collection's JSONL and gallery hold every story so far.

The layout of OUT (the collection):
    OUT/collection.json          the story settings (style, decoder, k, search ...) every run must share
    OUT/runs/run-NNNNN/          one `pipelines.stories` job each, over that run's new images only
    OUT/stories/part-*.parquet   every run's finished shards, in run order (hard links, copies where
                                 the filesystem has none): the merged view the JSONL and gallery read
    OUT/stories.jsonl, OUT/gallery.html

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
from dataclasses import asdict, replace
from pathlib import Path

import pyarrow.parquet as pq
from prefect import flow, get_run_logger

from data_schemas.features import PATH
from data_schemas.rejects import SOURCE
from flows import stage_tasks as tasks
from flows.run_artifacts import publish_stories, publish_summary
from flows.stage_tasks import StoryModelNames, resolve_story_models
from flows.task_cache import StageSummary, run_stage
from pipelines import images, stories
from pipelines.gallery import write_gallery
from pipelines.manifest import StageStart, write_json_atomic
from pipelines.shards import shard_name, shard_paths
from pipelines.storyteller import StoryParams

SETTINGS_FILE = "collection.json"
RUNS = "runs"
STARTED_FILE = "started.json"  # in a run folder: when the run began, before it read any image


def collection_settings(workspace: Path, models: StoryModelNames, params: StoryParams) -> dict:
    """What every story of a collection shares: the values written on each row, and the search options."""
    resolved = resolve_story_models(workspace, models)
    return {**stories.run_identity(resolved, params), "search_options": asdict(params.search), "lyric": params.lyric}


def check_settings(out: Path, settings: dict) -> None:
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


def run_folders(out: Path) -> list[Path]:
    return sorted(path for path in (out / RUNS).glob("run-*") if path.is_dir())


def told_images(out: Path) -> set[str]:
    """Paths of the images with a story in any finished shard of any run."""
    return {path for folder in run_folders(out) for shard in shard_paths(folder / "stories")
            for path in pq.read_table(shard, columns=[PATH]).column(PATH).to_pylist()}


def settled_rejects(out: Path) -> set[str]:
    """Paths of the images a run rejected that nobody has written to since that run began."""
    settled = set()
    for folder in run_folders(out):
        if not (folder / STARTED_FILE).is_file():
            continue
        began = json.loads((folder / STARTED_FILE).read_text())["began_ns"]
        for shard in shard_paths(folder / "rejects"):
            for path in pq.read_table(shard, columns=[SOURCE]).column(SOURCE).to_pylist():
                try:
                    if Path(path).stat().st_mtime_ns < began:
                        settled.add(path)
                except OSError:  # gone since: no longer listed either
                    continue
    return settled


def list_dataset(images_arg: str | list[str]) -> list[str]:
    """The dataset's images; a watched folder that is still empty is no error, just nothing to do."""
    if isinstance(images_arg, str) and Path(images_arg).is_dir():
        try:
            return images.list_images(images_arg)
        except FileNotFoundError:
            return []
    return images.list_images(images_arg)


def merge_runs(out: Path, gallery: bool) -> tuple[Path, Path | None, int]:
    """OUT/stories from every run's shards (in run order), then OUT/stories.jsonl and the gallery."""
    shards = [shard for folder in run_folders(out) for shard in shard_paths(folder / "stories")]
    staging, merged = out / ".stories-merging", out / "stories"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for number, shard in enumerate(shards):
        target = staging / shard_name(number, len(shards))
        try:
            os.link(shard, target)
        except OSError:
            shutil.copy2(shard, target)
    old = out / ".stories-old"
    if merged.exists():
        os.replace(merged, old)
    os.replace(staging, merged)
    shutil.rmtree(old, ignore_errors=True)
    jsonl = out / stories.JSONL_FILE
    count = stories.write_jsonl(merged, jsonl)
    return jsonl, write_gallery(merged, out) if gallery else None, count


@flow(name="bulk-stories")
def bulk_stories_flow(images_arg: str | list[str], out: Path, workspace: Path, models: StoryModelNames,
                      params: StoryParams, job: stories.JobParams | None = None, gallery: bool = True,
                      beam_args: list[str] | None = None) -> StageSummary:
    """Stories for the images of IMAGES_ARG (folder, glob, list file or paths) that no earlier run into
    OUT told, appended to OUT's collection (see the module docstring)."""
    logger = get_run_logger()
    out = Path(out)
    check_settings(out, collection_settings(Path(workspace), models, params))
    told, settled = told_images(out), settled_rejects(out)
    pending = [path for path in list_dataset(images_arg) if path not in told and path not in settled]
    if pending:
        folders = run_folders(out)
        number = int(folders[-1].name.split("-")[1]) + 1 if folders else 1
        run = out / RUNS / f"run-{number:05d}"
        write_json_atomic(run / STARTED_FILE, {"began_ns": time.time_ns(), "images": len(pending)})
        logger.info("%d new image(s), %d told before, %d rejected before and unchanged: run %s", len(pending),
                    len(told), len(settled), run.name)
        summary = run_stage(tasks.tell_stories, images_arg=pending, out=run, workspace=workspace, models=models,
                            params=params, job=job, gallery=False, beam_args=beam_args)
    else:
        logger.info("no new images: %d told before, %d rejected before and unchanged", len(told), len(settled))
        summary = StageSummary(f"stories {out.name}", StageStart.DONE.value)
    jsonl, page, total = merge_runs(out, gallery)
    summary = replace(summary, stage=f"stories {out.name}",
                      details={**summary.details, "new_images": len(pending), "stories_total": total,
                               "jsonl": str(jsonl), "gallery": str(page) if page else None})
    publish_summary("bulk-stories", [summary])
    publish_stories(jsonl, page, out.name)
    return summary
