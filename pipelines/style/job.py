"""Beam job: a style vector, the mean skip-thought vector of a corpus's texts (reference e, "Skip-thoughts
and style shift": c is the mean over COCO training captions, b the mean over romance passages "of
length > 100").

    vectors/<encoder>/<corpus>/<kind>/part-*.parquet -> per-shard float64 sums of the rows that pass
    the filter -> CombineFn (sum, count) -> styles/<encoder>/<name>.npy + .sum.npy + .json

The float64 sum and the count are stored beside the mean, so shards added later (a corpus that grew,
another corpus) are read alone and added to them; see `style_files.plan_update` for when that is
allowed. The combine keeps one partial sum per shard and adds them in shard order at the end: the
same shards give the same bits whatever order the runner delivers them in.
"""

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa

from data_schemas import check_schema
from data_schemas.atomic import atomic_path, temporary_name
from data_schemas.shards import shard_name, shard_paths
from data_schemas.storage import Location, location, parquet_file, parquet_metadata, parquet_schema, remove_tree
from data_schemas.vectors import N_TOKENS, VECTOR, vector_matrix, vectors_schema
from data_schemas.workspace import Workspace, check_name
from pipelines.core.beam_options import local_defaults, make_pipeline
from pipelines.core.dry_run import dry_run_enabled, print_plan
from pipelines.core.logs import logger
from pipelines.core.manifest import META_FILE, code_version, read_meta
from pipelines.style import files as style_files
from pipelines.style.files import FULL, UNCHANGED, plan_update, resolve_encoder

LOG = logger("stages")

KINDS = ("passages", "captions")
_READ_ROWS = 4096  # rows per batch read from a shard: bounded memory for 4800-d rows


@dataclass(frozen=True)
class ShardSum:
    """One shard's contribution: the float64 sum of the rows kept, and how many rows it had."""

    position: int
    total: np.ndarray
    rows: int
    used: int
    filtered: int


@dataclass(frozen=True)
class StyleReport:
    name: str
    encoder: str
    action: str  # UNCHANGED, INCREMENTAL or FULL
    reason: str
    shards: int
    shards_read: int
    rows_read: int  # in the shards read by this run
    rows_used: int
    rows_filtered: int
    count: int  # rows in the mean, all shards
    dim: int
    path: Location
    seconds: float
    dry_run: bool = False  # a plan only: shards_read is what a real run would read, nothing was


def shard_sum(position: int, path: str, dim: int, min_tokens: int | None) -> ShardSum:
    """Sum, in float64, the vectors of one shard's rows with more than `min_tokens` tokens."""
    total = np.zeros(dim, np.float64)
    used = filtered = 0
    with parquet_file(location(path)) as parquet:
        for batch in parquet.iter_batches(batch_size=_READ_ROWS, columns=[N_TOKENS, VECTOR]):
            table = pa.Table.from_batches([batch])
            keep = np.ones(table.num_rows, bool)
            if min_tokens is not None:
                keep = table.column(N_TOKENS).to_numpy() > min_tokens
            vectors = vector_matrix(table)[keep]
            total += vectors.sum(axis=0, dtype=np.float64)
            used += len(vectors)
            filtered += int((~keep).sum())
        rows = parquet.metadata.num_rows
    return ShardSum(position, total, rows, used, filtered)


class SumShards(beam.CombineFn):
    """Accumulates (float64 sum, count) per shard; the output adds the shards up in position order."""

    def create_accumulator(self) -> dict[int, ShardSum]:
        return {}

    def add_input(self, accumulator: dict[int, ShardSum], part: ShardSum) -> dict[int, ShardSum]:
        accumulator[part.position] = part
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[dict[int, ShardSum]]) -> dict[int, ShardSum]:
        merged = {}
        for accumulator in accumulators:
            merged.update(accumulator)
        return merged

    def extract_output(self, accumulator: dict[int, ShardSum]) -> tuple[np.ndarray, list[ShardSum]]:
        parts = [accumulator[position] for position in sorted(accumulator)]
        total = np.zeros_like(parts[0].total) if parts else np.zeros(0)
        for part in parts:
            total += part.total
        return total, parts


def _save_result(result: tuple[np.ndarray, list[ShardSum]], path: Location) -> None:
    total, parts = result
    fields = {name: np.array([getattr(p, name) for p in parts], np.int64)
              for name in ("position", "rows", "used", "filtered")}
    finite = np.array([bool(np.isfinite(p.total).all()) for p in parts])
    with atomic_path(path) as temp, open(temp, "wb") as handle:
        np.savez(handle, total=total, finite=finite, **fields)


def build_style(pipeline: beam.Pipeline, shards: list[tuple[int, str]], dim: int, min_tokens: int | None,
                out: Location) -> None:
    """Sum the shards' rows into one (sum, per-shard counts) result saved at `out` (a .npz, in the
    workspace: a worker on another machine writes it where the driver reads it)."""
    _ = (
        pipeline
        | "Shards" >> beam.Create(shards)
        | "Spread" >> beam.Reshuffle()
        | "SumShard" >> beam.MapTuple(partial(shard_sum, dim=dim, min_tokens=min_tokens))
        | "Combine" >> beam.CombineGlobally(SumShards())
        | "Save" >> beam.Map(_save_result, path=out)
    )


def _encode_command(encoder: str, corpus: str, kind: str, workspace: Location, model_dir: Path | None) -> str:
    model = model_dir or Workspace(workspace).model(encoder)
    return f"storyteller encode --encoder {model} --corpus {corpus} --kind {kind} --workspace {workspace}"


def _model_hashes(meta: dict) -> dict[str, str]:
    return {Path(f["path"]).name: f["sha256"] for f in meta["params"]["model"]}


def shard_ids(meta: dict) -> list[str]:
    """What determines each vector shard's content, hashed, from the encode stage's `_meta.json`:
    shard i was made from input i (stage_run plans one task per input, in order) by the recorded
    parameters and code.

    Not the vector file's own hash: a corpus that grows is rebuilt under new shard names
    (part-00003-of-00021 becomes part-00003-of-00022) and each vector shard's Parquet metadata
    names its corpus shard's path, so every vector shard gets new bytes. The corpus shard of an
    unchanged book keeps its bytes (its metadata names the book's file, not the shard). Model file
    paths are left out: the same weights moved elsewhere make the same vectors.
    """
    params = {**meta["params"], "model": _model_hashes(meta)}
    return [hashlib.sha256(json.dumps({"corpus_shard": source["sha256"], "encode": params,
                                       "code_version": meta["code_version"]}, sort_keys=True).encode()).hexdigest()
            for source in meta["inputs"]]


def _shard_inputs(workspace: Location, encoder: str, corpora: list[str], kind: str,
                  model_dir: Path | None) -> tuple[list[dict], dict, int]:
    """Every shard (corpus, workspace-relative path, content id, rows), the encoder's file hashes, the dim."""
    inputs, encoders, dims = [], {}, set()
    for corpus in corpora:
        folder = Workspace(workspace).vectors(encoder, corpus, kind)
        command = _encode_command(encoder, corpus, kind, workspace, model_dir)
        if not (folder / META_FILE).is_file():
            raise FileNotFoundError(f"{folder} holds no finished vectors: run `{command}` first")
        meta, paths = read_meta(folder), shard_paths(folder)
        ids = shard_ids(meta)
        if [path.name for path in paths] != [shard_name(i, len(ids)) for i in range(len(ids))]:
            raise FileNotFoundError(f"{folder} has {len(paths)} shards but its {META_FILE} lists {len(ids)} "
                                    f"encoded corpus shards: run `{command}`")
        encoders[corpus] = _model_hashes(meta)
        for path, content_id in zip(paths, ids, strict=True):
            schema = parquet_schema(path)
            dim = schema.field(VECTOR).type.list_size if VECTOR in schema.names else 0
            dtype = "float16" if dim and schema.field(VECTOR).type.value_type == pa.float16() else "float32"
            check_schema(schema, vectors_schema(dim, dtype), str(path))
            dims.add(dim)
            inputs.append({"corpus": corpus, "path": path.relative_to(workspace).as_posix(),
                           "content_id": content_id, "rows": parquet_metadata(path).num_rows})
    first = corpora[0]
    for corpus in corpora[1:]:
        if encoders[corpus] != encoders[first]:
            command = _encode_command(encoder, corpus, kind, workspace, model_dir)
            raise ValueError(f"vectors of corpora {first!r} and {corpus!r} were made by different weights of "
                             f"{encoder}: re-encode the older one, e.g. `{command}`")
    if len(dims) != 1:
        raise ValueError(f"vectors of {', '.join(corpora)} ({kind}) have different dimensions {sorted(dims)}")
    return inputs, encoders[first], dims.pop()


def _read_new_shards(workspace: Location, inputs: list[dict], read: tuple[int, ...], dim: int,
                     min_tokens: int | None, staging: Location, beam_args: list[str]) -> dict:
    """Run the Beam job over the shards at positions `read`; their sum and per-shard counts."""
    shards = [(position, str(workspace / inputs[position]["path"])) for position in read]
    try:
        with make_pipeline(local_defaults(beam_args)) as pipeline:
            build_style(pipeline, shards, dim, min_tokens, staging)
        with staging.open("rb") as handle, np.load(handle, allow_pickle=False) as saved:
            result = {key: saved[key] for key in saved.files}
    finally:
        remove_tree(staging)
    bad = [inputs[p]["path"] for p, finite in zip(result["position"], result["finite"], strict=True) if not finite]
    if bad:
        raise ValueError(f"{workspace / bad[0]}: vectors hold NaN or infinite values; re-encode that corpus")
    if sorted(result["position"].tolist()) != sorted(read):
        raise RuntimeError(f"style job summed {len(result['position'])} of {len(read)} shards; rerun it")
    return result


def run(name: str, corpora: list[str], kind: str, encoder: str, workspace: str | Location,
        min_tokens: int | None = None,
        beam_args: list[str] | None = None) -> StyleReport:
    """Mean vector of the `kind` texts of `corpora` (with more than `min_tokens` tokens when given),
    written to `styles/<encoder id>/<name>.npy`; reruns reuse or extend the stored sum when they may."""
    started = time.monotonic()
    workspace = location(workspace)
    check_name("style", name)
    if kind not in KINDS:
        raise ValueError(f"--kind must be one of {list(KINDS)}, got {kind!r}")
    if min_tokens is not None and min_tokens < 0:
        raise ValueError(f"--min-tokens must be 0 or more, got {min_tokens}")
    corpora = list(dict.fromkeys(c for c in corpora if c))
    if not corpora:
        raise ValueError("--corpus needs at least one corpus name")
    encoder_id, model_dir = resolve_encoder(workspace, encoder)
    inputs, encoder_files, dim = _shard_inputs(workspace, encoder_id, corpora, kind, model_dir)
    params = {"kind": kind, "filter": None if min_tokens is None else {"min_tokens": min_tokens},
              "encoder": {"id": encoder_id, "files": encoder_files}, "dim": dim, "code_version": code_version()}
    stored = style_files.read_stored_sum(workspace, encoder_id, name)
    plan = plan_update(stored[0] if stored else None, params, inputs)
    total, count = (stored[1], stored[0]["count"]) if plan.action != FULL else (np.zeros(dim, np.float64), 0)
    if dry_run_enabled():
        path = style_files.style_paths(workspace, encoder_id, name).vector
        what = (f"would read {len(plan.read)} of {len(inputs)} shards" if plan.read else "nothing to read")
        print_plan(f"style {name}", f"{plan.action} ({plan.reason}): {what}", [f"{path} ({dim}-d)"])
        return StyleReport(name, encoder_id, plan.action, plan.reason, len(inputs), len(plan.read), 0, 0, 0,
                           count if plan.action == UNCHANGED else 0, dim, path, time.monotonic() - started, True)
    records = {position: {**inputs[position], "rows_used": record["rows_used"]}
               for position, record in plan.carried.items()}
    read_rows = used_rows = filtered_rows = 0
    if plan.read:
        LOG.info("[style] %s: reading %d of %d shards", plan.action, len(plan.read), len(inputs))
        paths = style_files.style_paths(workspace, encoder_id, name)
        staging = temporary_name(paths.meta.with_name(f"{name}.job.npz"))  # two runs of one style never share it
        result = _read_new_shards(workspace, inputs, plan.read, dim, min_tokens, staging, beam_args or [])
        total = total + result["total"]
        for position, used in zip(result["position"].tolist(), result["used"].tolist(), strict=True):
            records[position] = {**inputs[position], "rows_used": used}
        read_rows, used_rows, filtered_rows = (int(result[k].sum()) for k in ("rows", "used", "filtered"))
        count += used_rows
    if count == 0:
        where = f"{kind} of {', '.join(corpora)}"
        raise ValueError(f"no {where} to average" if min_tokens is None else
                         f"no {where} pass the filter (more than {min_tokens} tokens): lower --min-tokens")
    meta = {"source": "computed", **params, "corpora": corpora, "count": count,
            "inputs": [records[position] for position in range(len(inputs))]}
    path = style_files.style_paths(workspace, encoder_id, name).vector
    previous = stored[0] if stored else None
    if plan.action != UNCHANGED or {k: v for k, v in previous.items() if k not in ("files", "name")} != meta:
        path = style_files.write_style(workspace, encoder_id, name, (total / count).astype(np.float32), meta, total)
    return StyleReport(name, encoder_id, plan.action, plan.reason, len(inputs), len(plan.read), read_rows, used_rows,
                       filtered_rows, count, dim, path, time.monotonic() - started)

