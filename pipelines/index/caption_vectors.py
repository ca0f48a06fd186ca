"""The skip-thought vectors of an index's captions, one row per FAISS id, in one memory-mapped `.npy`.

The story job averages the skip-thought vectors of the k captions it retrieves for each image
(reference e). Reading them from the encode job's shards for every image would reopen Parquet files
per batch, and keeping 220 k x 4800 floats in each worker's memory costs 4 GB; the original
re-encoded the captions every time. One aligned float32 matrix beside the index, built once and
memory-mapped by every worker, makes the lookup a fancy index: `vectors[ids].mean(0)`.

    index/<vse>/<name>/skipthought/<encoder>.npy    (N, D) float32, row = FAISS id
                                      <encoder>.json   the encode keys it was built from

Beside an index on an object store, the matrix is built in a local temporary and uploaded in one call,
its `.json` after it; readers map a local copy made once per version (`data_schemas.storage.local_copy`).
"""

import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from data_schemas import index as ix
from data_schemas.atomic import atomic_path, write_json_atomic
from data_schemas.storage import Location, local_copy, location, read_parquet
from data_schemas.vectors import ID, VECTOR, vector_matrix
from data_schemas.workspace import Workspace
from pipelines import encode
from pipelines.core.dry_run import dry_run_enabled, print_plan
from pipelines.core.logs import logger
from pipelines.core.manifest import read_meta
from pipelines.core.progress import LINE_EVERY
from pipelines.index.caption_index import CaptionIndex

LOG = logger("index")

FOLDER = "skipthought"


def cache_paths(index_folder: str | Location, encoder_id: str) -> tuple[Location, Location]:
    folder = location(index_folder) / FOLDER
    return folder / f"{encoder_id}.npy", folder / f"{encoder_id}.json"


def encode_captions(index: CaptionIndex, encoder_dir: Path, workspace: str | Location, device: str,
                    beam_args: list[str]) -> list:
    """Run the encode job over every corpus of the index (a no-op for corpora already encoded)."""
    params = encode.EncodeParams(str(encoder_dir), device=device)
    return [encode.run(params, corpus, "captions", workspace, beam_args) for corpus in index.meta["corpora"]]


def _vector_folder(workspace: str | Location, encoder_id: str, corpus: str) -> Location:
    return Workspace(workspace).vectors(encoder_id, corpus, "captions")


def _sources(index: CaptionIndex, workspace: str | Location, encoder_id: str) -> dict:
    """What the cache is made of: the index's id map and the encode key of each corpus' vectors."""
    keys = {}
    for corpus in index.meta["corpora"]:
        folder = _vector_folder(workspace, encoder_id, corpus)
        try:
            keys[corpus] = read_meta(folder)["key"]
        except FileNotFoundError:
            raise FileNotFoundError(f"{folder} is missing: run `storyteller encode --encoder {encoder_id} "
                                    f"--corpus {corpus} --kind captions`") from None
    return {"index_key": index.meta["key"], "captions": index.meta["captions"], "vectors_keys": keys}


def _fill(index: CaptionIndex, workspace: str | Location, encoder_id: str, out: np.ndarray) -> None:
    """Copy each vector shard's rows to their FAISS ids, checking caption ids line up."""
    id_map = index.id_map
    groups = id_map.group_by([ix.CORPUS, ix.SHARD]).aggregate([]).to_pylist()
    corpus_col = id_map.column(ix.CORPUS).to_numpy(zero_copy_only=False)
    shard_col = id_map.column(ix.SHARD).to_numpy(zero_copy_only=False)
    reported = time.monotonic()
    for number, group in enumerate(groups, 1):
        corpus, shard = group[ix.CORPUS], group[ix.SHARD]
        path = _vector_folder(workspace, encoder_id, corpus) / shard
        faiss_ids = np.flatnonzero((corpus_col == corpus) & (shard_col == shard))
        rows = id_map.column(ix.ROW).to_numpy()[faiss_ids]
        table = read_parquet(path, columns=[ID, VECTOR]).take(pa.array(rows))
        if not table.column(ID).equals(id_map.column(ix.CAPTION_ID).take(pa.array(faiss_ids))):
            raise ValueError(f"{path} does not line up with the index's id map: re-encode {corpus} with {encoder_id}")
        out[faiss_ids] = vector_matrix(table)
        if number == len(groups) or time.monotonic() - reported >= LINE_EVERY:
            LOG.info("[caption-vectors] %d/%d shards", number, len(groups))
            reported = time.monotonic()


def caption_vectors(index: CaptionIndex, workspace: str | Location, encoder_id: str,
                    dim: int) -> np.ndarray | None:
    """The (N, dim) matrix of the index's caption vectors under `encoder_id`, memory-mapped; built
    (atomically) when missing or when the index or any corpus' vectors changed. Under a dry run, None
    where it would be built."""
    matrix_path, meta_path = cache_paths(index.folder, encoder_id)
    try:
        sources = _sources(index, workspace, encoder_id)
    except FileNotFoundError:
        if not dry_run_enabled():
            raise
        sources = None
    if sources and meta_path.is_file() and matrix_path.is_file() and json.loads(meta_path.read_text()) == sources:
        return np.load(local_copy(matrix_path), mmap_mode="r")
    if dry_run_enabled():
        print_plan("caption-vectors", f"would build {index.id_map.num_rows:,} x {dim}", [f"{matrix_path}"])
        return None
    started = time.monotonic()
    with atomic_path(matrix_path) as temp:
        out = np.lib.format.open_memmap(temp, mode="w+", dtype=np.float32, shape=(index.id_map.num_rows, dim))
        _fill(index, workspace, encoder_id, out)
        out.flush()
        del out
    write_json_atomic(meta_path, sources)
    LOG.info("[caption-vectors] %s: %s x %d in %.0fs", matrix_path, f"{index.id_map.num_rows:,}", dim,
             time.monotonic() - started)
    return np.load(local_copy(matrix_path), mmap_mode="r")
