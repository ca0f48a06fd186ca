"""The caption index stage: caption corpora -> VSE caption vectors -> FAISS index and id map.

    corpora/<c>/captions --encode job (RunInference, VSE text side)--> vectors/<vse>/<c>/captions
        --> index/<vse>/<name>/captions.faiss    the index, memory-mapped on load
                               captions.parquet  FAISS id -> corpus, shard, row, caption id, image, text
                               _meta.json        inputs, captions read and merged, the index's factory
                                                 string (automatic or --index-factory), probes or efSearch,
                                                 measured recall@10, timings

Embedding reuses the encode job, so it is sharded, resumable and on the GPU when there is one; the
index is rebuilt only when a vector folder or a parameter changed. On a workspace on an object store the
index file is written to a local temporary and uploaded in one call, the id map in one PUT, `_meta.json`
last: a reader that finds `_meta.json` finds both whole.

Near-duplicate captions are merged, so a search never returns the same caption twice: Multi30k repeats
Flickr8k captions word for word, differing only in case, spacing and punctuation ("A dog runs ." and
"a dog runs."). The first caption of each `duplicate_key` is kept, in corpus, shard and row order.
"""

import re
import time
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_schemas import CAPTIONS
from data_schemas import index as ix
from data_schemas import text as col
from data_schemas.atomic import atomic_path
from data_schemas.shards import shard_paths, write_table_atomic
from data_schemas.storage import Location, location, read_parquet
from data_schemas.vectors import VECTOR, vector_matrix
from data_schemas.workspace import Workspace
from model.families import VSE, model_family
from model.vse.files import read_vse_config
from model.weights_file import weights_path
from pipelines import encode
from pipelines.core.dry_run import dry_run_enabled, print_plan
from pipelines.core.logs import logger
from pipelines.core.manifest import Stage, StageStart, file_fingerprint, read_meta, stage_key
from pipelines.core.stage_run import StageReport
from pipelines.index.faiss_index import (
    IndexChoice,
    build_index,
    choose_index,
    empty_index,
    index_kind,
    nlist_of,
    tune_and_measure,
    write_index,
)

LOG = logger("index")

STAGE = "index"
INDEX_FILE = "captions.faiss"
ID_MAP_FILE = "captions.parquet"


@dataclass(frozen=True)
class IndexParams:
    exact_max: int = 250_000  # exact search up to this many captions, IVF above
    target_recall: float = 0.95  # recall@10 against exact search the IVF probe count (HNSW efSearch) must reach
    recall_queries: int = 1000  # sample of captions the recall is measured on
    seed: int = 0
    merge_duplicates: bool = True  # index the first caption of each duplicate_key only
    factory: str | None = None  # a faiss.index_factory string; None: Flat up to exact_max, IVF above


@dataclass(frozen=True)
class Collected:
    """The kept captions' (N, D) float32 vectors and id map, and how many captions were read."""
    vectors: np.ndarray
    id_map: pa.Table
    read: int

    @property
    def merged(self) -> int:
        return self.read - self.id_map.num_rows


@dataclass(frozen=True)
class IndexReport:
    folder: Location
    start: StageStart
    captions: int
    meta: dict
    embedded: list[StageReport]
    dry_run: bool = False  # a plan only: nothing was embedded, built or written


def index_folder(workspace: str | Location, vse_id: str, name: str) -> Location:
    return Workspace(workspace).index(vse_id, name)


def duplicate_key(text: str) -> str:
    """What two captions share when they differ only in case, spacing and punctuation: the lower-cased
    runs of letters and digits (any script), joined by single spaces."""
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def first_of_each_key(texts: list[str], seen: set[str]) -> np.ndarray:
    """Positions of the texts whose duplicate key is not in `seen` yet (first one of each); adds their keys."""
    kept = []
    for position, text in enumerate(texts):
        key = duplicate_key(text)
        if key not in seen:
            seen.add(key)
            kept.append(position)
    return np.array(kept, dtype=np.int64)


def _shard_id_map(corpus: str, corpus_shard: Location, vector_shard: Location, first_id: int,
                  seen: set[str] | None) -> tuple[pa.Table, np.ndarray, int]:
    """The id map rows and vectors of one shard, less captions whose duplicate key is in `seen` (when
    merging), and the number of captions read. The vector shard keeps the corpus shard's rows in order,
    less the rejected ones, so a filter on ids lines them up (checked, not assumed)."""
    vectors = read_parquet(vector_shard, columns=[col.ID, VECTOR])
    captions = read_parquet(corpus_shard, columns=[col.ID, col.IMAGE_ID, col.TEXT], schema=CAPTIONS)
    kept = captions.filter(pc.is_in(captions.column(col.ID), value_set=vectors.column(col.ID)))
    if not kept.column(col.ID).equals(vectors.column(col.ID)):
        raise ValueError(f"{vector_shard} does not hold the captions of {corpus_shard} in order; "
                         "rebuild it with `storyteller encode`")
    read = kept.num_rows
    # Rows of the vector shard, not renumbered: the id map's `row` is where every text model's
    # vectors of the caption are (caption_index.caption_vectors, caption_vectors._fill).
    rows = np.arange(read) if seen is None else first_of_each_key(kept.column(col.TEXT).to_pylist(), seen)
    picked = kept.take(pa.array(rows, pa.int64()))
    count = len(rows)
    id_map = pa.table({
        ix.FAISS_ID: pa.array(np.arange(first_id, first_id + count), pa.int64()),
        ix.CORPUS: pa.array([corpus] * count, pa.string()),
        ix.SHARD: pa.array([vector_shard.name] * count, pa.string()),
        ix.ROW: pa.array(rows, pa.int32()),
        ix.CAPTION_ID: picked.column(col.ID),
        ix.IMAGE_ID: picked.column(col.IMAGE_ID),
        ix.TEXT: picked.column(col.TEXT),
    }, schema=ix.INDEX_CAPTIONS)
    return id_map, vector_matrix(vectors)[rows], read


def collect_captions(workspace: str | Location, vse_id: str, corpora: list[str], merge_duplicates: bool) -> Collected:
    """The embedded captions of the corpora in corpus, shard and row order, FAISS ids 0..N-1; with
    `merge_duplicates`, only the first caption of each duplicate key."""
    maps, matrices, next_id, read = [], [], 0, 0
    seen: set[str] | None = set() if merge_duplicates else None
    for corpus in corpora:
        corpus_folder = Workspace(workspace).corpus_part(corpus, "captions")
        for vector_shard in shard_paths(Workspace(workspace).vectors(vse_id, corpus, "captions")):
            id_map, vectors, shard_read = _shard_id_map(corpus, corpus_folder / vector_shard.name, vector_shard,
                                                        next_id, seen)
            maps.append(id_map)
            matrices.append(vectors)
            next_id += id_map.num_rows
            read += shard_read
    if not next_id:
        raise ValueError(f"corpora {corpora} have no embedded captions to index")
    return Collected(np.concatenate(matrices), pa.concat_tables(maps), read)


def _write_index_atomic(index, path: Location) -> None:
    with atomic_path(path) as temp:
        write_index(index, temp)


def run(vse: str | Location, corpora: list[str], workspace: str | Location, params: IndexParams | None = None,
        name: str | None = None, device: str = "auto", beam_args: list[str] | None = None) -> IndexReport:
    """Embed the corpora's captions with the VSE and index them under index/<vse>/<name>."""
    params = params or IndexParams()
    workspace = location(workspace)
    vse_dir = Workspace(workspace).resolve_model(vse, "vse")
    if model_family(vse_dir) != VSE:
        raise ValueError(f"--vse {vse}: {vse_dir} is not a visual-semantic embedding model directory")
    vse_id = encode.model_id(str(vse_dir))
    if not corpora:
        raise ValueError("--corpus names no corpus")
    folder = index_folder(workspace, vse_id, "+".join(corpora) if name is None else name)  # checked before any work
    if params.factory is not None:
        empty_index(params.factory, read_vse_config(vse_dir).dim)  # an unknown string fails before any work
    embedded = [encode.run(encode.EncodeParams(str(vse_dir), device=device), corpus, "captions", workspace,
                           beam_args) for corpus in corpora]
    vector_folders = [Workspace(workspace).vectors(vse_id, corpus, "captions") for corpus in corpora]
    if dry_run_enabled() and any(report.start is not StageStart.DONE for report in embedded):
        print_plan(STAGE, "fresh: would index the captions once they are embedded", [f"{folder} would be written"])
        return IndexReport(folder, StageStart.FRESH, 0, {}, embedded, dry_run=True)
    inputs = [{"corpus": c, "vectors_key": read_meta(f)["key"], "rows": read_meta(f)["rows"]}
              for c, f in zip(corpora, vector_folders, strict=True)]
    stage = Stage(STAGE, stage_key(STAGE, inputs, asdict(params)), (folder,))
    start = stage.plan()
    if dry_run_enabled():
        meta = read_meta(folder) if start is StageStart.DONE else {}
        action = (f"{start.value}: would index {sum(i['rows'] for i in inputs)} captions" if not meta
                  else "done: current, nothing to write")
        print_plan(STAGE, action, [f"{folder} " + ("current" if meta else "would be written")])
        return IndexReport(folder, start, meta.get("captions", 0), meta, embedded, dry_run=True)
    stage.prepare(start)
    if start is StageStart.DONE:
        meta = read_meta(folder)
        return IndexReport(folder, start, meta["captions"], meta, embedded)
    started = time.monotonic()
    captions = collect_captions(workspace, vse_id, corpora, params.merge_duplicates)
    vectors, id_map = captions.vectors, captions.id_map
    collected = time.monotonic()
    choice = (choose_index(len(vectors), params.exact_max) if params.factory is None
              else IndexChoice(params.factory, given=True))
    LOG.info("[index] %s captions (%s read, %s duplicates merged), %d-d: %s", f"{len(vectors):,}",
             f"{captions.read:,}", f"{captions.merged:,}", vectors.shape[1], choice.factory)
    index = build_index(vectors, choice, params.seed)
    built = time.monotonic()
    check = tune_and_measure(index, vectors, params.target_recall, params.recall_queries, seed=params.seed)
    measured = time.monotonic()
    _write_index_atomic(index, folder / INDEX_FILE)
    write_table_atomic(id_map, folder / ID_MAP_FILE)
    meta = {
        "vse": vse_id,
        "vse_weights": file_fingerprint(weights_path(vse_dir)),
        "corpora": corpora,
        "inputs": inputs,
        "params": asdict(params),
        "captions_read": captions.read,
        "duplicates_merged": captions.merged,
        "captions": len(vectors),
        "dim": int(vectors.shape[1]),
        "index": {"kind": index_kind(index), "factory": choice.factory, "given": choice.given,
                  "nlist": nlist_of(index), "nprobe": check.nprobe, "ef_search": check.ef_search},
        "recall": check.to_json(),
        "seconds": {"read": round(collected - started, 2), "build": round(built - collected, 2),
                    "recall": round(measured - built, 2)},
    }
    stage.finish({folder: meta})
    return IndexReport(folder, start, len(vectors), meta, embedded)
