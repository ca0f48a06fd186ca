"""Beam job: caption files to tokenised `captions` shards, one shard per input file.

parse file (format) -> chunks of records -> [spread] -> Treebank tokens -> [regroup] -> captions
"""

from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import partial

import pyarrow as pa

from data_schemas import CAPTIONS
from data_schemas import text as col
from data_schemas.rejects import reject_row
from data_schemas.storage import Location, location
from data_schemas.workspace import Workspace
from model.text.sentences import split_sentences
from model.text.tokenize import tokenize
from pipelines.core.sharded_job import Chunk, ShardTask, WriteShard, sharded_build
from pipelines.core.stage_run import StageReport, run_sharded_stage
from pipelines.corpus.caption_formats import BadRecord, CaptionColumns, CaptionRecord, parse_captions
from pipelines.corpus.inputs import glob_files, input_name
from pipelines.text.encodings import UnreadableTextError

STAGE = "corpus-captions"


@dataclass(frozen=True)
class CaptionParams:
    format: str
    columns: CaptionColumns = field(default_factory=CaptionColumns)
    split: str | None = None
    image_splits: str | None = None
    # A caption longer than this is a pasted document or a broken line: rejected.
    max_caption_chars: int = 1000
    chunk_records: int = 5000


def list_caption_files(pattern: str) -> list[str]:
    """Caption files of a glob, on disk or on a store (a store's glob lists files only), sorted."""
    files = sorted(glob_files(pattern))
    if not files:
        raise FileNotFoundError(f"no caption files match --input {pattern!r}")
    return files


def read_captions(task: ShardTask, params: CaptionParams) -> Iterator[Chunk]:
    """Parse one caption file into chunks of records; an unusable file is one reject."""
    chunk = Chunk(task, 0)
    try:
        for parsed in parse_captions(task.source, params.format, params.columns, params.split, params.image_splits):
            chunk.stats["records_in"] += 1
            if isinstance(parsed, BadRecord):
                chunk.rejects.append(reject_row(STAGE, task.source, parsed.location, parsed.reason, parsed.sample))
                chunk.stats["records_rejected"] += 1
            else:
                chunk.items.append(parsed)
            if len(chunk.items) >= params.chunk_records:
                yield chunk
                chunk = Chunk(task, chunk.number + 1)
    except (UnreadableTextError, OSError) as error:
        chunk.rejects.append(reject_row(STAGE, task.source, "", str(error)))
        chunk.stats.update(records_in=1, records_rejected=1, files_rejected=1)
    yield chunk


def tokenize_captions(chunk: Chunk, params: CaptionParams) -> Chunk:
    """Tokenise each caption as the encoder will see it; empty or absurd captions become rejects."""
    kept, rejects, stats = [], list(chunk.rejects), Counter(chunk.stats)
    for record in chunk.items:
        text = record.text.strip()
        reason = None
        if len(text) > params.max_caption_chars:
            reason = f"caption of {len(text)} characters exceeds max_caption_chars={params.max_caption_chars}"
        else:
            tokens = [token for sentence in split_sentences(text) for token in tokenize(sentence)]
            if not tokens:
                reason = "caption has no tokens"
        if reason:
            rejects.append(reject_row(STAGE, chunk.task.source, record.location, reason, record.text))
            stats["records_rejected"] += 1
        else:
            kept.append((record, text, tokens))
            stats["records_out"] += 1
    return Chunk(chunk.task, chunk.number, kept, rejects, stats, chunk.info)


def assemble_captions(task: ShardTask, chunks: list[Chunk], folder: Location) -> dict[Location, pa.Table]:
    rows: list[tuple[CaptionRecord, str, list[str]]] = [row for chunk in chunks for row in chunk.items]
    table = pa.table(
        {
            col.ID: [record.id for record, _, _ in rows],
            col.IMAGE_ID: [record.image_id for record, _, _ in rows],
            col.SPLIT: [record.split for record, _, _ in rows],
            col.SOURCE: [input_name(task.source)] * len(rows),
            col.TEXT: [text for _, text, _ in rows],
            col.TOKENS: [tokens for _, _, tokens in rows],
            col.N_TOKENS: [len(tokens) for _, _, tokens in rows],
        },
        schema=CAPTIONS,
    )
    return {folder: table}


def output_folders(workspace: Location, name: str) -> dict[str, Location]:
    return {
        "captions": Workspace(workspace).corpus_part(name, "captions"),
        "rejects": Workspace(workspace).rejects(STAGE, name),
    }


def run(
    input_pattern: str, name: str, workspace: Location, params: CaptionParams, beam_args: list[str] | None = None
) -> StageReport:
    """Parse and tokenise every caption file matching `input_pattern` into `corpora/<name>/captions`."""
    outputs = output_folders(location(workspace), name)
    sources = list_caption_files(input_pattern)

    build = sharded_build(
        read=partial(read_captions, params=params),
        process=partial(tokenize_captions, params=params),
        write=WriteShard(partial(assemble_captions, folder=outputs["captions"]), outputs["rejects"],
                         [outputs["captions"]]),
    )
    return run_sharded_stage(STAGE, sources, asdict(params), outputs, build, beam_args or [])
