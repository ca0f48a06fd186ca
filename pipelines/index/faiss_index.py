"""Choosing, building and checking a FAISS inner-product index over unit vectors.

Exact search (`IndexFlatIP`) up to a size threshold; above it an inverted-file index whose probe
count is tuned against exact search on a sample, so the stored recall@10 is measured, not assumed
(IVF recall depends on how clustered the data is: 0.3 or 0.99 at the same settings).
"""

import math
import sys
import time
from dataclasses import dataclass

import faiss
import numpy as np

FLAT, IVF = "flat", "ivf"
# Points per list used to train the coarse quantizer: FAISS warns below 39; more costs k-means time.
TRAIN_POINTS_PER_LIST = 64
KMEANS_ITERATIONS = 10
ADD_CHUNK = 100_000


@dataclass(frozen=True)
class IndexChoice:
    kind: str  # FLAT or IVF
    nlist: int = 0  # inverted lists (IVF only)

    @property
    def factory(self) -> str:
        return "Flat" if self.kind == FLAT else f"IVF{self.nlist},Flat"


def choose_index(count: int, exact_max: int) -> IndexChoice:
    """Exact up to `exact_max` vectors. Above it, IVF with about sqrt(N) lists (a power of two):
    autofaiss takes 4*sqrt(N), but on a few cores k-means training and list assignment grow with
    the list count, and sqrt(N) keeps a million 1024-d vectors well under two minutes; the probe
    count, tuned afterwards, buys the recall back."""
    if count <= exact_max:
        return IndexChoice(FLAT)
    nlist = 2 ** round(math.log2(math.sqrt(count)))
    return IndexChoice(IVF, int(min(max(nlist, 64), 65536)))


def _log(message: str) -> None:
    print(f"[index] {message}", file=sys.stderr, flush=True)


def build_index(vectors: np.ndarray, choice: IndexChoice, seed: int = 0) -> faiss.Index:
    """The index over `vectors` (float32, unit rows); FAISS id = row number."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    count, dim = vectors.shape
    if choice.kind == FLAT:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, choice.nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = KMEANS_ITERATIONS
        index.cp.seed = seed
        sample_size = min(count, choice.nlist * TRAIN_POINTS_PER_LIST)
        sample = np.sort(np.random.default_rng(seed).choice(count, sample_size, replace=False))
        started = time.monotonic()
        index.train(vectors[sample])
        _log(f"trained {choice.nlist} lists on {sample_size:,} vectors in {time.monotonic() - started:.1f}s")
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
    nprobe: int  # 0 for an exact index
    recall: float
    queries: int
    k: int
    curve: list[dict]  # recall and queries/s for each probe count tried

    def to_json(self) -> dict:
        return {"nprobe": self.nprobe, f"recall@{self.k}": round(self.recall, 4), "queries": self.queries,
                "k": self.k, "curve": self.curve}


def tune_and_measure(index: faiss.Index, vectors: np.ndarray, target: float, queries: int = 1000, k: int = 10,
                     seed: int = 0) -> RecallCheck:
    """Recall@k against exact search on a sample of the vectors; for IVF, the smallest power-of-two
    probe count that reaches `target` (or the best tried, when none does), which is left set."""
    rng = np.random.default_rng(seed)
    query_ids = np.sort(rng.choice(len(vectors), min(queries, len(vectors) - 1), replace=False)).astype(np.int64)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(np.ascontiguousarray(vectors, dtype=np.float32))
    truth_scores, _ = search_without_self(exact, vectors, query_ids, k)
    if not isinstance(index, faiss.IndexIVF):
        found, _ = search_without_self(index, vectors, query_ids, k)
        recall = recall_at_k(found, truth_scores)
        return RecallCheck(0, recall, len(query_ids), k, [{"nprobe": 0, "recall": round(recall, 4)}])
    curve, chosen = [], None
    nprobe = 1
    while nprobe <= index.nlist:
        index.nprobe = nprobe
        started = time.monotonic()
        found, _ = search_without_self(index, vectors, query_ids, k)
        rate = len(query_ids) / max(time.monotonic() - started, 1e-9)
        recall = recall_at_k(found, truth_scores)
        curve.append({"nprobe": nprobe, "recall": round(recall, 4), "queries_per_s": round(rate, 1)})
        if recall >= target:
            chosen = (nprobe, recall)
            break
        nprobe *= 2
    if chosen is None:
        best = max(curve, key=lambda point: point["recall"])
        chosen = (best["nprobe"], best["recall"])
    index.nprobe = chosen[0]
    _log(f"nprobe {chosen[0]} of {index.nlist} lists: recall@{k} {chosen[1]:.3f} on {len(query_ids)} queries")
    return RecallCheck(chosen[0], chosen[1], len(query_ids), k, curve)


def write_index(index: faiss.Index, path) -> None:
    faiss.write_index(index, str(path))


def read_index(path, kind: str, nprobe: int = 0) -> faiss.Index:
    """Memory-mapped: a 4 GB flat index costs no RAM until pages are touched, and workers on one
    machine share the page cache. The flags are not bits to combine: IO_FLAG_MMAP is a whole code
    word (it maps IVF lists), IO_FLAG_MMAP_IFC maps flat codes; OR-ing them breaks both."""
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if kind == FLAT else faiss.IO_FLAG_MMAP)
    if nprobe and isinstance(index, faiss.IndexIVF):
        index.nprobe = nprobe
    return index
