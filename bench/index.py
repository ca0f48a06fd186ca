"""Benchmark: caption index build time, queries/s and recall@10 against exact search.

1. The real caption index of a workspace (`storyteller index` over Flickr8k, COCO and Multi30k:
   about 220 k captions): exact `IndexFlatIP` (the baseline) beside the IVF index the stage would
   choose above its threshold, with probes tuned to recall@10 >= 0.95; queries are captions (self
   excluded) and, when image features are given, the VSE vectors of real photos.
2. One million synthetic vectors of the same dimension, drawn around the real caption vectors
   (each a real vector plus noise of the size of the real nearest-neighbour distance, then
   normalised), so they have the clustered structure real embeddings have; uniform random vectors
   have none, and their recall says nothing about real data.
3. Image features/s of the CNN: the Beam features job vs a bare forward pass (bench/features.py).
"""

import argparse
import time
from pathlib import Path

import faiss
import numpy as np

from pipelines.index.build import collect_captions
from pipelines.index.caption_index import CaptionIndex, find_index
from pipelines.index.faiss_index import EXACT, IndexChoice, build_index, choose_index, recall_at_k, tune_and_measure

K = 10
TARGET = 0.95


def queries_per_second(index: faiss.Index, queries: np.ndarray) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    scores, _ = index.search(queries, K)
    return len(queries) / (time.perf_counter() - started), scores


def compare(label: str, vectors: np.ndarray, queries: np.ndarray, query_label: str, seed: int = 0) -> None:
    """Exact vs IVF on the same vectors: build seconds, queries/s, recall@10 of both query kinds."""
    started = time.perf_counter()
    exact = build_index(vectors, IndexChoice(EXACT))
    exact_build = time.perf_counter() - started
    exact_rate, truth = queries_per_second(exact, queries)
    choice = choose_index(len(vectors), 0)
    started = time.perf_counter()
    ivf = build_index(vectors, choice, seed)
    ivf_build = time.perf_counter() - started
    started = time.perf_counter()
    check = tune_and_measure(ivf, vectors, TARGET, queries=1000, k=K, seed=seed)
    tune_seconds = time.perf_counter() - started
    ivf_rate, found = queries_per_second(ivf, queries)
    print(f"\n{label}: {len(vectors):,} vectors, {vectors.shape[1]}-d")
    print(f"  exact Flat        : build {exact_build:6.1f} s  {exact_rate:9,.0f} queries/s ({query_label})")
    print(f"  {choice.factory:<18}: build {ivf_build:6.1f} s  {ivf_rate:9,.0f} queries/s ({query_label}), "
          f"nprobe {check.nprobe} tuned in {tune_seconds:.1f} s")
    print(f"  recall@{K} vs exact: {check.recall:.3f} (1,000 database vectors as queries, self excluded), "
          f"{recall_at_k(found, truth):.3f} ({query_label})")
    print(f"  ratio IVF/exact   : {ivf_rate / exact_rate:.1f}x queries/s; build + tune "
          f"{ivf_build + tune_seconds:.1f} s (target: 1 M vectors under 120 s, recall@10 >= {TARGET})")


def synthetic_around(real: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """`count` unit vectors, each a random real vector plus Gaussian noise whose norm is the median
    distance from a real vector to its nearest neighbour."""
    rng = np.random.default_rng(seed)
    sample = real[rng.choice(len(real), min(2000, len(real)), replace=False)]
    exact = faiss.IndexFlatIP(real.shape[1])
    exact.add(real)
    scores, _ = exact.search(sample, 2)
    nearest = float(np.median(np.sqrt(np.maximum(2 - 2 * scores[:, 1], 0))))
    out = np.empty((count, real.shape[1]), dtype=np.float32)
    for start in range(0, count, 100_000):
        stop = min(start + 100_000, count)
        noise = rng.standard_normal((stop - start, real.shape[1]), dtype=np.float32)
        noise *= nearest / np.sqrt(real.shape[1])
        out[start:stop] = real[rng.integers(0, len(real), stop - start)] + noise
    faiss.normalize_L2(out)
    print(f"synthetic: {count:,} vectors around the real ones, noise norm {nearest:.3f} "
          f"(median real nearest-neighbour distance)")
    return out


def image_queries(workspace: Path, index: CaptionIndex, features: str | None) -> np.ndarray | None:
    """VSE vectors of real photos from a features dataset of the workspace, when one is named."""
    if not features:
        return None
    from data_schemas.features import features_schema
    from data_schemas.shards import read_artifact
    from data_schemas.vectors import vector_matrix
    from data_schemas.workspace import Workspace
    from model.vse.api import VSEEncoder

    cnn, dataset = features.split("/", 1)
    encoder = VSEEncoder(Workspace(workspace).resolve_model(index.vse))
    table = read_artifact(workspace / "features" / cnn / dataset, features_schema(encoder.dim_image))
    return encoder.embed_features(vector_matrix(table))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, required=True, help="workspace holding a built caption index")
    parser.add_argument("--index", default="flickr8k+coco+multi30k", help="index name or folder")
    parser.add_argument("--features", help="CNN/DATASET of image features to use as queries, e.g. "
                                           "efficientnet-lite0/flickr8k_1000")
    parser.add_argument("--synthetic", type=int, default=1_000_000, help="synthetic vectors (0: skip)")
    parser.add_argument("--images", type=Path, default=Path("../shared/data/images/flickr8k_1000/images"),
                        help="photos for the CNN features/s figure (empty: skip)")
    parser.add_argument("--cnn", default="efficientnet-lite0")
    args = parser.parse_args()
    print(f"FAISS {faiss.__version__}, {faiss.omp_get_max_threads()} threads")
    loaded = CaptionIndex(find_index(args.workspace, args.index))
    real, _ = collect_captions(args.workspace, loaded.vse, loaded.meta["corpora"])
    photos = image_queries(args.workspace, loaded, args.features)
    caption_queries = real[np.random.default_rng(1).choice(len(real), 1000, replace=False)]
    if photos is not None:
        compare(f"real captions ({args.index})", real, photos, f"{len(photos):,} photos")
    else:
        compare(f"real captions ({args.index})", real, caption_queries, "1,000 captions")
    if args.synthetic:
        synthetic = synthetic_around(real, args.synthetic + 1000)  # the last 1,000 are held-out queries
        del real
        compare("synthetic", synthetic[: args.synthetic], synthetic[args.synthetic :], "1,000 held-out vectors")
    if str(args.images):
        from features import bench_features, print_result  # bench/features.py, beside this script

        paths = [str(path) for path in sorted(args.images.glob("*.jpg"))]
        print(f"\nCNN features ({args.cnn}, {len(paths):,} photos):")
        print_result(bench_features(paths, args.cnn))


if __name__ == "__main__":
    from pipelines.core.logs import configure_logging

    configure_logging()
    main()
