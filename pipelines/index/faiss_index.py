"""Choosing, building and checking a FAISS inner-product index over unit vectors.

Every index is built from a `faiss.index_factory` string. The automatic choice is exact search
("Flat") up to a size threshold and above it an inverted-file index ("IVF<lists>,Flat"); any other
string (`HNSW32`, `IVF4096,PQ32x8`) can be given instead. Either way the search-time knob (IVF probe
count, HNSW efSearch) is tuned against exact search on a sample, so the stored recall@10 is measured,
not assumed (IVF recall depends on how clustered the data is: 0.3 or 0.99 at the same settings).
"""

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from pipelines.core.logs import logger

LOG = logger("index")

FLAT, IVF, HNSW = "flat", "ivf", "hnsw"
EXACT = "Flat"
EXAMPLES = "Flat, HNSW32, IVF1024,Flat or IVF4096,PQ32x8"
# Points per centroid used to train a k-means (IVF lists, PQ codebooks): more costs k-means time.
TRAIN_POINTS_PER_LIST = 64
# FAISS warns below 39 training points per centroid: fewer give centroids that are mostly noise.
MIN_POINTS_PER_CENTROID = 39
KMEANS_ITERATIONS = 10
EF_SEARCH_START, EF_SEARCH_MAX = 16, 2048  # HNSW efSearch tried: FAISS's default, doubled up to this
ADD_CHUNK = 100_000


@dataclass(frozen=True)
class IndexChoice:
    factory: str  # a faiss.index_factory string
    given: bool = False  # named by the user (--index-factory) rather than chosen by size


def choose_index(count: int, exact_max: int) -> IndexChoice:
    """Exact up to `exact_max` vectors. Above it, IVF with about sqrt(N) lists (a power of two):
    autofaiss takes 4*sqrt(N), but on a few cores k-means training and list assignment grow with
    the list count, and sqrt(N) keeps a million 1024-d vectors well under two minutes; the probe
    count, tuned afterwards, buys the recall back."""
    if count <= exact_max:
        return IndexChoice(EXACT)
    nlist = 2 ** round(math.log2(math.sqrt(count)))
    return IndexChoice(f"IVF{int(min(max(nlist, 64), 65536))},Flat")


def _faiss_reason(error: RuntimeError) -> str:
    """FAISS's own words without its C++ location ("Error in ... at file.cpp:12: ")."""
    return re.sub(r"^Error in .*? at \S+:\d+: (Error: )?", "", str(error).strip().splitlines()[0])


def empty_index(factory: str, dim: int) -> faiss.Index:
    """The untrained index of `factory` over `dim`-d vectors; a ValueError naming the string otherwise."""
    try:
        return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as error:
        raise ValueError(f"--index-factory {factory!r} is not a FAISS index of {dim}-d vectors "
                         f"({_faiss_reason(error)}); give a faiss.index_factory string such as {EXAMPLES}") from error


def index_kind(index: faiss.Index) -> str:
    """FLAT, IVF (also wrapped, as in OPQ16,IVF...), HNSW, or FAISS's class name for anything else."""
    if isinstance(index, faiss.IndexFlat):
        return FLAT
    if faiss.try_extract_index_ivf(index) is not None:
        return IVF
    if isinstance(index, faiss.IndexHNSW):
        return HNSW
    return type(index).__name__.removeprefix("Index").lower()


def nlist_of(index: faiss.Index) -> int:
    ivf = faiss.try_extract_index_ivf(index)
    return int(ivf.nlist) if ivf is not None else 0


def largest_kmeans(index: faiss.Index, factory: str) -> int:
    """Centroids of the largest k-means training runs: the IVF lists, or 2^bits of a PQ codebook
    (`PQ32` is 8 bits, `PQ32x4` 4; OPQ trains one as well)."""
    codebooks = [2 ** int(bits or 8) for bits in re.findall(r"PQ\d+(?:x(\d+))?", factory)]
    return max([nlist_of(index), *codebooks])


def _log(message: str) -> None:
    LOG.info("[index] %s", message)


def _doublings(start: int, stop: int) -> list[int]:
    """start, 2*start, 4*start ... while below stop, then stop itself."""
    values = [start]
    while values[-1] * 2 < stop:
        values.append(values[-1] * 2)
    return [*values, stop] if stop > start else values


def _train(index: faiss.Index, vectors: np.ndarray, choice: IndexChoice, seed: int) -> None:
    count, factory = len(vectors), choice.factory
    named = f"--index-factory {factory!r}" if choice.given else f"the automatic index {factory!r} (--exact-max)"
    centroids = largest_kmeans(index, factory)
    if count < MIN_POINTS_PER_CENTROID * centroids:
        raise ValueError(f"{named} trains a k-means of {centroids:,} centroids, which needs at least "
                         f"{MIN_POINTS_PER_CENTROID * centroids:,} training vectors ({MIN_POINTS_PER_CENTROID} per "
                         f"centroid) but there are only {count:,} captions: give an index of at most "
                         f"{count // MIN_POINTS_PER_CENTROID:,} centroids (fewer IVF lists, fewer PQ bits), "
                         "or HNSW32 or Flat, which need no training")
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.cp.niter = KMEANS_ITERATIONS
        ivf.cp.seed = seed
    sample_size = min(count, centroids * TRAIN_POINTS_PER_LIST) if centroids else count
    sample = np.sort(np.random.default_rng(seed).choice(count, sample_size, replace=False))
    started = time.monotonic()
    try:
        index.train(vectors[sample])
    except RuntimeError as error:
        raise ValueError(f"{named}: FAISS could not train it on {sample_size:,} of {count:,} "
                         f"captions ({_faiss_reason(error)}); pick a smaller index, e.g. HNSW32 or Flat") from error
    _log(f"trained {factory} on {sample_size:,} vectors in {time.monotonic() - started:.1f}s")


def build_index(vectors: np.ndarray, choice: IndexChoice, seed: int = 0) -> faiss.Index:
    """The index of `choice.factory` over `vectors` (float32, unit rows), trained when it needs to be;
    FAISS id = row number."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count, dim = vectors.shape
    index = empty_index(choice.factory, dim)
    if not index.is_trained:
        _train(index, vectors, choice, seed)
    for start in range(0, count, ADD_CHUNK):
        index.add(vectors[start : start + ADD_CHUNK])
        if count > ADD_CHUNK:
            _log(f"added {min(start + ADD_CHUNK, count):,}/{count:,} vectors")
    return index


def search_without_self(index: faiss.Index, vectors: np.ndarray, query_ids: np.ndarray,
                        k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of database vectors used as queries, each query's own row left out (it would be a free hit)."""
    scores, ids = index.search(np.ascontiguousarray(vectors[query_ids]), k + 1)
    keep = ids != query_ids[:, None]
    out_scores = np.full((len(query_ids), k), -np.inf, dtype=np.float32)
    out_ids = np.full((len(query_ids), k), -1, dtype=np.int64)
    for row in range(len(query_ids)):
        kept_ids, kept_scores = ids[row][keep[row]][:k], scores[row][keep[row]][:k]
        out_ids[row, : len(kept_ids)], out_scores[row, : len(kept_scores)] = kept_ids, kept_scores
    return out_scores, out_ids


def recall_at_k(found_scores: np.ndarray, truth_scores: np.ndarray, tolerance: float = 1e-5) -> float:
    """Share of the exact top-k that the approximate search found, counting ties as found: many
    captions are word-for-word duplicates, and which of equal-scored duplicates comes back is arbitrary."""
    kth = truth_scores[:, -1:]
    hits = np.minimum((found_scores >= kth - tolerance).sum(axis=1), truth_scores.shape[1])
    return float(hits.mean() / truth_scores.shape[1])


@dataclass(frozen=True)
class RecallCheck:
    nprobe: int  # IVF probe count chosen; 0 for an index without lists
    recall: float
    queries: int
    k: int
    curve: list[dict]  # recall and queries/s for each knob value tried
    ef_search: int = 0  # HNSW efSearch chosen; 0 for an index without a graph

    def to_json(self) -> dict:
        return {"nprobe": self.nprobe, "ef_search": self.ef_search, f"recall@{self.k}": round(self.recall, 4),
                "queries": self.queries, "k": self.k, "curve": self.curve}


def search_knob(index: faiss.Index) -> tuple[str, list[int]]:
    """The search-time parameter that trades speed for recall (FAISS ParameterSpace name) and the
    values to try, smallest first; ("", []) for an index that has none."""
    nlist = nlist_of(index)
    if nlist:
        return "nprobe", _doublings(1, nlist)
    if isinstance(index, faiss.IndexHNSW):
        return "efSearch", _doublings(EF_SEARCH_START, EF_SEARCH_MAX)
    return "", []


def tune_and_measure(index: faiss.Index, vectors: np.ndarray, target: float, queries: int = 1000, k: int = 10,
                     seed: int = 0) -> RecallCheck:
    """Recall@k against exact search on a sample of the vectors; for IVF (HNSW), the smallest
    power-of-two probe count (efSearch) that reaches `target` (or the best tried, when none does),
    which is left set."""
    rng = np.random.default_rng(seed)
    query_ids = np.sort(rng.choice(len(vectors), min(queries, len(vectors) - 1), replace=False)).astype(np.int64)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(np.ascontiguousarray(vectors, dtype=np.float32))
    truth_scores, _ = search_without_self(exact, vectors, query_ids, k)
    knob, values = search_knob(index)
    if not knob:
        found, _ = search_without_self(index, vectors, query_ids, k)
        recall = recall_at_k(found, truth_scores)
        return RecallCheck(0, recall, len(query_ids), k, [{"nprobe": 0, "recall": round(recall, 4)}])
    name = "nprobe" if knob == "nprobe" else "ef_search"
    space = faiss.ParameterSpace()
    curve, chosen = [], None
    for value in values:
        space.set_index_parameter(index, knob, value)
        started = time.monotonic()
        found, _ = search_without_self(index, vectors, query_ids, k)
        rate = len(query_ids) / max(time.monotonic() - started, 1e-9)
        recall = recall_at_k(found, truth_scores)
        curve.append({name: value, "recall": round(recall, 4), "queries_per_s": round(rate, 1)})
        if recall >= target:
            chosen = (value, recall)
            break
    if chosen is None:
        best = max(curve, key=lambda point: point["recall"])
        chosen = (best[name], best["recall"])
    space.set_index_parameter(index, knob, chosen[0])
    _log(f"{knob} {chosen[0]}: recall@{k} {chosen[1]:.3f} on {len(query_ids)} queries")
    if knob == "nprobe":
        return RecallCheck(chosen[0], chosen[1], len(query_ids), k, curve)
    return RecallCheck(0, chosen[1], len(query_ids), k, curve, ef_search=chosen[0])


def write_index(index: faiss.Index, path: Path) -> None:
    """To a local file (for a store, `atomic_path`'s local temporary, uploaded in one call). FAISS writes an
    HNSW graph's efSearch with it; an IVF probe count is set again on load."""
    faiss.write_index(index, str(path))


def read_index(path: Path, kind: str, nprobe: int = 0) -> faiss.Index:
    """Memory-mapped and read-only, from a local file (a stored index is read from its local copy,
    `data_schemas.storage.local_copy`): a 4 GB flat index costs no RAM until pages are touched, and workers
    on one machine share the page cache. IO_FLAG_MMAP is a whole code word (it maps IVF lists) and
    IO_FLAG_MMAP_IFC maps flat codes and HNSW storage: OR-ing the two breaks both; READ_ONLY is a bit
    apart from either."""
    mmap = faiss.IO_FLAG_MMAP if kind == IVF else faiss.IO_FLAG_MMAP_IFC
    index = faiss.read_index(str(path), mmap | faiss.IO_FLAG_READ_ONLY)
    if nprobe and faiss.try_extract_index_ivf(index) is not None:
        faiss.ParameterSpace().set_index_parameter(index, "nprobe", nprobe)
    return index
