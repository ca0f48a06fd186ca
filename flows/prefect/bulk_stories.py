"""Bulk stories for a growing dataset: each run tells stories only for images no earlier run told; the
collection's layout and bookkeeping are in `pipelines.stories.collection`."""

from dataclasses import replace
from pathlib import Path

from prefect import flow, get_run_logger

from data_schemas.storage import location
from flows.prefect import tasks as tasks
from flows.prefect.artifacts import publish_stories, publish_summary
from flows.prefect.cache import StageSummary, run_stage
from flows.prefect.tasks import StoryModelNames, resolve_story_models
from flows.prefect.workspace import WorkspaceLocation
from pipelines.core.manifest import StageStart
from pipelines.stories import collection as collection
from pipelines.stories import job as stories
from pipelines.stories.batch import StoryParams


def collection_settings(workspace: Path, models: StoryModelNames, params: StoryParams) -> dict:
    """What every story of a collection shares: the values written on each row, and the search options."""
    resolved = resolve_story_models(workspace, models)
    return {**stories.run_identity(resolved, params), "search_options": params.search.settings(), "lyric": params.lyric}


@flow(name="bulk-stories")
def bulk_stories_flow(images_arg: str | list[str], out: WorkspaceLocation, workspace: WorkspaceLocation,
                      models: StoryModelNames, params: StoryParams, job: stories.JobParams | None = None,
                      gallery: bool = True, beam_args: list[str] | None = None) -> StageSummary:
    """Stories for the images of IMAGES_ARG (folder, glob, list file or paths) that no earlier run into
    OUT told, appended to OUT's collection (see `pipelines.stories.collection`)."""
    logger = get_run_logger()
    out = location(out)
    collection.check_settings(out, collection_settings(location(workspace), models, params))
    told, settled = collection.told_images(out), collection.settled_rejects(out)
    pending = [path for path in collection.list_dataset(images_arg) if path not in told and path not in settled]
    if pending:
        run = collection.start_run(out, len(pending))
        logger.info("%d new image(s), %d told before, %d rejected before and unchanged: run %s", len(pending),
                    len(told), len(settled), run.name)
        summary = run_stage(tasks.tell_stories, images_arg=pending, out=run, workspace=workspace, models=models,
                            params=params, job=job, gallery=False, beam_args=beam_args)
    else:
        logger.info("no new images: %d told before, %d rejected before and unchanged", len(told), len(settled))
        summary = StageSummary(f"stories {out.name}", StageStart.DONE.value)
    jsonl, page, total = collection.merge_runs(out, gallery)
    summary = replace(summary, stage=f"stories {out.name}",
                      details={**summary.details, "new_images": len(pending), "stories_total": total,
                               "jsonl": str(jsonl), "gallery": str(page) if page else None})
    publish_summary("bulk-stories", [summary])
    publish_stories(jsonl, page, out.name)
    return summary
