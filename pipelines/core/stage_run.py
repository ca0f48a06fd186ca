"""Running a sharded stage end to end: decide skip/resume/fresh, run the Beam job on the shards
still missing, check that every shard landed, and write each output's `_meta.json`."""

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq

from data_schemas.shards import finished_shards, shard_paths
from pipelines.core.beam_options import make_pipeline
from pipelines.core.manifest import Stage, StageStart, file_fingerprint, stage_key
from pipelines.core.progress import ShardProgress
from pipelines.core.sharded_job import ShardTask, shard_summaries


@dataclass(frozen=True)
class StageReport:
    stage: str
    start: StageStart
    shards: int
    shards_run: int
    stats: dict[str, int]
    rows: dict[str, int]  # rows written per output label
    seconds: float


def plan_tasks(sources: list[str]) -> list[ShardTask]:
    return [ShardTask(index, len(sources), source) for index, source in enumerate(sources)]


def run_sharded_stage(
    stage_name: str,
    sources: list[str],
    params: dict,
    outputs: dict[str, Path],
    build: Callable[[beam.Pipeline, list[ShardTask]], object],
    beam_args: list[str],
) -> StageReport:
    """Run `build` over the shards not yet written, one shard per input file.

    `outputs` maps labels to folders; the first one marks a shard as finished (the writer puts it
    there last), and one labelled "rejects" is expected.
    """
    inputs = [file_fingerprint(source) for source in sources]
    return run_planned_stage(stage_name, plan_tasks(sources), inputs, params, outputs, build, beam_args)


def _count_rows(folder: Path) -> int:
    return sum(pq.read_metadata(path).num_rows for path in shard_paths(folder))


def run_planned_stage(
    stage_name: str,
    tasks: list[ShardTask],
    inputs: list[dict],
    params: dict,
    outputs: dict[str, Path],
    build: Callable[[beam.Pipeline, list[ShardTask]], object],
    beam_args: list[str],
) -> StageReport:
    """Run `build` over the planned shards not yet written; `inputs` (fingerprints) and `params` make
    the stage key, so shards that are not one input file each (many images, say) resume the same way."""
    marker = next(iter(outputs.values()))
    started = time.monotonic()
    stage = Stage(stage_name, stage_key(stage_name, inputs, params), tuple(outputs.values()))
    start = stage.start()
    pending: list[ShardTask] = []
    if start is not StageStart.DONE:
        done = finished_shards(marker, len(tasks))
        pending = [task for task in tasks if task.index not in done]
        if pending:
            print(f"[{stage_name}] {start.value}: {len(pending)} of {len(tasks)} shards to write", file=sys.stderr)
            with ShardProgress(stage_name, marker, len(tasks), len(done)), make_pipeline(beam_args) as pipeline:
                build(pipeline, pending)
        missing = set(range(len(tasks))) - finished_shards(marker, len(tasks))
        if missing:
            raise RuntimeError(f"{stage_name}: shards {sorted(missing)} were not written; rerun to resume.")
    summaries = shard_summaries(marker)
    stats: Counter = Counter()
    for summary in summaries:
        stats.update(summary["stats"])
    rows = {label: _count_rows(folder) for label, folder in outputs.items()}
    if start is not StageStart.DONE:
        sources = {s["source"]: {"stats": s["stats"], **s["info"]} for s in summaries}
        stage.finish({folder: {"inputs": inputs, "params": params, "shards": len(tasks), "rows": rows[label],
                               "stats": dict(stats), "sources": sources} for label, folder in outputs.items()})
    return StageReport(stage_name, start, len(tasks), len(pending), dict(stats), rows, time.monotonic() - started)
