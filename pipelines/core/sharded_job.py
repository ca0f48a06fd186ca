"""The shape every text stage shares: shards of input files, read, spread, tokenised, regrouped by
shard and written atomically, with rejects and counts travelling beside the rows.

A shard is one input file, so its output name is known before the job runs: finished shards are
skipped on a rerun and a killed job resumes where it stopped. Between read and write the work is
spread in chunks, so one huge book does not leave the other cores idle.
"""

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
import pyarrow as pa

from data_schemas import REJECTS
from data_schemas.shards import shard_name, shard_paths, write_table_atomic
from data_schemas.storage import Location, location, parquet_metadata, parquet_schema
from pipelines.core.progress import count_records, flush_counts

STATS_METADATA_KEY = b"storyteller.stats"
# The stage key of the run that wrote a shard, in its rejects shard only: data shards keep the same bytes
# whatever run wrote them (a style's incremental sum identifies corpus shards by content).
RUN_METADATA_KEY = b"storyteller.run"


@dataclass(frozen=True)
class ShardTask:
    index: int
    count: int
    source: str
    progress: str = ""  # the run's progress folder, set by the stage runner (see pipelines.core.progress)
    run: str = ""  # the stage key of the run that writes it, recorded in the shard (see run_planned_stage)

    def records(self) -> int | None:
        """Records the shard holds, when known before it runs: the rows of a Parquet source."""
        if not self.source.endswith(".parquet"):
            return None
        try:
            return parquet_metadata(location(self.source)).num_rows
        except (OSError, pa.ArrowException):  # the worker turns it into a reject
            return None


def planned_records(tasks: list[ShardTask]) -> int | None:
    """The records of all the tasks (a progress total), or None when any shard's count is unknown."""
    counts = [task.records() for task in tasks]
    return None if None in counts else sum(counts)


@dataclass
class Chunk:
    """A piece of one shard's work; `number` orders the pieces when the shard is reassembled."""

    task: ShardTask
    number: int
    items: list = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)
    info: dict[str, Any] = field(default_factory=dict)


# Called with the shard's chunks in order: the tables to write, keyed by output folder.
Assemble = Callable[[ShardTask, list[Chunk]], dict[Location, pa.Table]]


class WriteShard(beam.DoFn):
    """Assemble one shard's chunks and write every output table plus its rejects atomically."""

    def __init__(self, assemble: Assemble, rejects_folder: Location, data_folders: list[Location]):
        self.assemble = assemble
        self.rejects_folder = rejects_folder
        self.data_folders = data_folders

    def process(self, element: tuple[int, Iterable[Chunk]]) -> Iterator[dict]:
        _, chunks = element
        ordered = sorted(chunks, key=lambda chunk: chunk.number)
        task = ordered[0].task
        tables = self.assemble(task, ordered)
        stats: Counter = Counter()
        info: dict[str, Any] = {}
        rejects: list[dict] = []
        for chunk in ordered:
            stats.update(chunk.stats)
            info.update(chunk.info)
            rejects.extend(chunk.rejects)
        summary = {"source": task.source, "stats": dict(stats), "info": info}
        metadata = {STATS_METADATA_KEY: json.dumps(summary).encode()}
        name = shard_name(task.index, task.count)
        # Rejects first and the first data folder last: a shard counts as finished when the first
        # data folder has it, and by then everything else of the shard is on disk.
        write_table_atomic(pa.Table.from_pylist(rejects, schema=REJECTS), self.rejects_folder / name,
                           {**metadata, RUN_METADATA_KEY: task.run.encode()})
        for folder in reversed(self.data_folders):
            write_table_atomic(tables[folder], folder / name, metadata)
        yield summary


class CountRecords(beam.DoFn):
    """Passes chunks through, counting the records they finished (written or rejected) for progress."""

    def process(self, chunk: Chunk) -> Iterator[Chunk]:
        count_records(chunk.task.progress, chunk.stats["records_out"] + chunk.stats["records_rejected"])
        yield chunk

    def finish_bundle(self) -> None:
        flush_counts()


class WriteShards(beam.PTransform):
    """The tail of every sharded job: each shard's chunks, from whichever workers made them, counted as
    they arrive, regrouped and written together by `write`; one summary per shard comes out."""

    def __init__(self, write: WriteShard):
        super().__init__()
        self.write = write

    def expand(self, chunks):  # no annotations: Beam would read them as type hints
        return (chunks
                | "CountRecords" >> beam.ParDo(CountRecords())
                | "KeyByShard" >> beam.Map(lambda chunk: (chunk.task.index, chunk))
                | "GroupByShard" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(self.write))


def sharded_build(
    read: Callable[[ShardTask], Iterator[Chunk]],
    process: Callable[[Chunk], Chunk],
    write: WriteShard,
) -> Callable[[beam.Pipeline, list[ShardTask]], beam.PCollection]:
    """The pipeline builder: read -> spread -> process -> regroup by shard -> write (shard summaries)."""

    def build(pipeline: beam.Pipeline, tasks: list[ShardTask]) -> beam.PCollection:
        return (
            pipeline
            | "Shards" >> beam.Create(tasks)
            | "Read" >> beam.FlatMap(read)
            | "Spread" >> beam.Reshuffle()
            | "Process" >> beam.Map(process)
            | "WriteShards" >> WriteShards(write)
        )

    return build


def shard_summaries(folder: Location) -> list[dict]:
    """The per-shard summaries stored in each shard's Parquet metadata, in shard order."""
    return [json.loads(parquet_schema(path).metadata[STATS_METADATA_KEY]) for path in shard_paths(folder)]


def shard_runs(rejects_folder: Location) -> set[str]:
    """The stage keys of the runs that wrote a stage's shards, from its rejects shards."""
    return {(parquet_schema(path).metadata or {}).get(RUN_METADATA_KEY, b"").decode()
            for path in shard_paths(rejects_folder)}
