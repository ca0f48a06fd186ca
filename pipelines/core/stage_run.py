"""Running a sharded stage end to end: decide skip/resume/fresh, run the Beam job on the shards
still missing, check that every shard landed, and write each output's `_meta.json`."""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import apache_beam as beam

from data_schemas.shards import finished_shards, shard_paths
from data_schemas.storage import Location, parquet_metadata
from pipelines.core.beam_options import make_pipeline
from pipelines.core.dry_run import dry_run_enabled, print_plan
from pipelines.core.logs import logger
from pipelines.core.manifest import RUN_FILE, Stage, StageStart, file_fingerprint, read_json, stage_key, stage_root
from pipelines.core.progress import StageProgress
from pipelines.core.sharded_job import ShardTask, planned_records, shard_runs, shard_summaries

LOG = logger("stages")


@dataclass(frozen=True)
class StageReport:
    stage: str
    start: StageStart
    shards: int
    shards_run: int
    stats: dict[str, int]
    rows: dict[str, int]  # rows written per output label
    seconds: float
    dry_run: bool = False  # a plan only: shards_run is what a real run would write, nothing was
    outputs: dict[str, Location] = field(default_factory=dict)  # output label -> folder (or file) written


def plan_tasks(sources: list[str]) -> list[ShardTask]:
    return [ShardTask(index, len(sources), source) for index, source in enumerate(sources)]


def run_sharded_stage(
    stage_name: str,
    sources: list[str],
    params: dict,
    outputs: dict[str, Location],
    build: Callable[[beam.Pipeline, list[ShardTask]], object],
    beam_args: list[str],
) -> StageReport:
    """Run `build` over the shards not yet written, one shard per input file.

    `outputs` maps labels to folders; the first one marks a shard as finished (the writer puts it
    there last), and one labelled "rejects" is expected.
    """
    inputs = [file_fingerprint(source) for source in sources]
    return run_planned_stage(stage_name, plan_tasks(sources), inputs, params, outputs, build, beam_args)


def _count_rows(folder: Location) -> int:
    return sum(parquet_metadata(path).num_rows for path in shard_paths(folder))


def check_owner(stage: Stage, rejects: Location | None) -> None:
    """Two runs with other inputs writing one artifact at once would leave a mix of their shards: the shards
    carry their run's key, and a run finishes only when every shard and the run marker are its own."""
    others = sorted(shard_runs(rejects) - {stage.key}) if rejects is not None else []
    marks = {folder: (read_json(folder / RUN_FILE) or {}).get("key") for folder in stage.outputs}
    taken = [str(folder) for folder, key in marks.items() if key != stage.key]
    if others or taken:
        raise RuntimeError(f"{stage.name}: another run with other inputs or parameters is writing "
                           f"{', '.join(taken) or str(stage.outputs[0])} at the same time (run keys {others}); "
                           "nothing was marked finished. Let one run end, then rerun.")


def _planned(stage: Stage, start: StageStart, tasks: list[ShardTask], outputs: dict[str, Location],
             started: float) -> StageReport:
    """The dry run of a planned stage: say what a run would do, from what is on disk, and touch nothing."""
    marker = next(iter(outputs.values()))
    kept = {StageStart.DONE: set(range(len(tasks))), StageStart.FRESH: set()}.get(
        start, finished_shards(marker, len(tasks)))
    pending = [task.index for task in tasks if task.index not in kept]
    rows = {label: _count_rows(folder) for label, folder in outputs.items()} if start is StageStart.DONE else {}
    stats: Counter = Counter()
    for summary in shard_summaries(marker) if start is StageStart.DONE else []:
        stats.update(summary["stats"])
    if start is StageStart.DONE:
        action = f"done: every output is current ({len(tasks)} shards), nothing to write"
        lines = [f"{label}: {folder} current, {rows[label]} rows" for label, folder in outputs.items()]
    else:
        shown = ", ".join(map(str, pending[:10])) + (f" and {len(pending) - 10} more" if len(pending) > 10 else "")
        records = planned_records([task for task in tasks if task.index not in kept])
        action = (f"{start.value}: {len(pending)} of {len(tasks)} shards to write"
                  + ("" if records is None else f", {records:,} records")
                  + (f" (shards {shown}); {len(kept)} already written" if start is StageStart.RESUME else ""))
        lines = [f"{label}: {folder} " + ("resumable" if start is StageStart.RESUME else
                                            "would be replaced: made from other inputs, parameters or code"
                                            if folder.exists() else "would be created")
                 for label, folder in outputs.items()]
    print_plan(stage.name, action, lines)
    return StageReport(stage.name, start, len(tasks), len(pending), dict(stats), rows,
                       time.monotonic() - started, dry_run=True)


def run_planned_stage(
    stage_name: str,
    tasks: list[ShardTask],
    inputs: list[dict],
    params: dict,
    outputs: dict[str, Location],
    build: Callable[[beam.Pipeline, list[ShardTask]], object],
    beam_args: list[str],
) -> StageReport:
    """Run `build` over the planned shards not yet written; `inputs` (fingerprints) and `params` make
    the stage key, so shards that are not one input file each (many images, say) resume the same way."""
    marker = next(iter(outputs.values()))
    started = time.monotonic()
    root = stage_root(list(outputs.values()))
    stage = Stage(stage_name, stage_key(stage_name, inputs, params, root), tuple(outputs.values()), root)
    start = stage.plan()
    if dry_run_enabled():
        return _planned(stage, start, tasks, outputs, started)
    stage.prepare(start)
    pending: list[ShardTask] = []
    if start is not StageStart.DONE:
        done = finished_shards(marker, len(tasks))
        pending = [task for task in tasks if task.index not in done]
        if pending:
            LOG.info("[%s] %s: %d of %d shards to write", stage_name, start.value, len(pending), len(tasks))
            with StageProgress(stage_name, marker, planned_records(pending)) as progress, \
                    make_pipeline(beam_args) as pipeline:
                build(pipeline, [replace(task, progress=str(progress.folder), run=stage.key) for task in pending])
        missing = set(range(len(tasks))) - finished_shards(marker, len(tasks))
        if missing:
            raise RuntimeError(f"{stage_name}: shards {sorted(missing)} were not written; rerun to resume.")
    summaries = shard_summaries(marker)
    stats: Counter = Counter()
    for summary in summaries:
        stats.update(summary["stats"])
    rows = {label: _count_rows(folder) for label, folder in outputs.items()}
    if start is not StageStart.DONE:
        check_owner(stage, outputs.get("rejects"))
        sources = {s["source"]: {"stats": s["stats"], **s["info"]} for s in summaries}
        stage.finish({folder: {"inputs": inputs, "params": params, "shards": len(tasks), "rows": rows[label],
                               "stats": dict(stats), "sources": sources} for label, folder in outputs.items()})
    return StageReport(stage_name, start, len(tasks), len(pending), dict(stats), rows, time.monotonic() - started,
                       outputs=dict(outputs))
