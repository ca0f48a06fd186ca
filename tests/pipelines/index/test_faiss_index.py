"""Index choice as factory strings, tie-aware recall, probe and efSearch tuning, checked against brute-force
NumPy search; factory strings FAISS cannot parse or train on the vectors given are clear errors."""

import numpy as np
import pytest

from pipelines.index.faiss_index import (
    FLAT,
    HNSW,
    IVF,
    IndexChoice,
    build_index,
    choose_index,
    index_kind,
    read_index,
    recall_at_k,
    search_without_self,
    tune_and_measure,
    write_index,
)


def clustered(count: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, dim))
    vectors = centres[rng.integers(0, 64, count)] + 0.3 * rng.normal(size=(count, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_choice_is_exact_up_to_the_threshold_then_ivf_with_about_sqrt_n_lists():
    assert choose_index(250_000, 250_000).factory == "Flat"
    assert choose_index(250_001, 250_000).factory == "IVF512,Flat"
    assert choose_index(5_000, 100).factory == "IVF64,Flat"  # never fewer than 64 lists
    assert choose_index(1_000_000, 250_000).factory == "IVF1024,Flat"
    vectors = clustered(3_000, 8)
    assert index_kind(build_index(vectors, choose_index(3_000, 10_000))) == FLAT
    assert index_kind(build_index(vectors, choose_index(3_000, 100))) == IVF


def test_recall_counts_ties_as_found():
    truth = np.array([[0.9, 0.8, 0.7], [0.5, 0.5, 0.5]], dtype=np.float32)
    # row 0 found the top two but not the third; row 1 found other captions with the same score.
    found = np.array([[0.9, 0.8, 0.6], [0.5, 0.5, 0.5]], dtype=np.float32)
    assert recall_at_k(found, truth) == pytest.approx((2 / 3 + 1) / 2)


def test_exact_index_matches_numpy_and_leaves_the_query_out():
    vectors = clustered(2_000, 16)
    index = build_index(vectors, choose_index(len(vectors), 10_000))
    queries = np.array([3, 700, 1999])
    scores, ids = search_without_self(index, vectors, queries, 5)
    brute = vectors[queries] @ vectors.T
    brute[np.arange(3), queries] = -np.inf
    np.testing.assert_array_equal(ids, np.argsort(-brute, axis=1)[:, :5])
    np.testing.assert_allclose(scores, np.sort(brute, axis=1)[:, ::-1][:, :5], atol=1e-5)


def test_ivf_probes_are_tuned_to_the_target_and_survive_a_memory_mapped_reload(tmp_path):
    vectors = clustered(6_000, 24)
    choice = choose_index(len(vectors), 1_000)
    index = build_index(vectors, choice, seed=1)
    check = tune_and_measure(index, vectors, target=0.97, queries=300, seed=2)
    assert check.recall >= 0.97 and index.nprobe == check.nprobe
    below = [point for point in check.curve if point["nprobe"] < check.nprobe]
    assert all(point["recall"] < 0.97 for point in below)  # the smallest probe count that reaches it
    write_index(index, tmp_path / "ivf.faiss")
    loaded = read_index(tmp_path / "ivf.faiss", IVF, check.nprobe)
    assert loaded.nprobe == check.nprobe and loaded.ntotal == len(vectors)
    np.testing.assert_array_equal(loaded.search(vectors[:50], 10)[1], index.search(vectors[:50], 10)[1])


def test_unreachable_target_keeps_the_best_probe_count():
    vectors = np.random.default_rng(3).normal(size=(5_000, 32)).astype(np.float32)  # no cluster structure
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = build_index(vectors, choose_index(len(vectors), 100))
    check = tune_and_measure(index, vectors, target=1.01, queries=100)
    assert check.nprobe == index.nlist and check.recall == max(p["recall"] for p in check.curve)


def test_a_given_hnsw_factory_has_its_ef_search_tuned_and_kept_on_reload(tmp_path):
    vectors = clustered(4_000, 16)
    index = build_index(vectors, IndexChoice("HNSW32", given=True))
    assert index_kind(index) == HNSW
    check = tune_and_measure(index, vectors, target=0.95, queries=200)
    assert check.recall >= 0.95 and check.nprobe == 0 and index.hnsw.efSearch == check.ef_search
    assert all(point["recall"] < 0.95 for point in check.curve if point["ef_search"] < check.ef_search)
    write_index(index, tmp_path / "hnsw.faiss")
    assert read_index(tmp_path / "hnsw.faiss", HNSW).hnsw.efSearch == check.ef_search


def test_unknown_or_undertrained_factory_strings_are_clear_errors():
    vectors = clustered(1_000, 16)
    with pytest.raises(ValueError, match=r"--index-factory 'Bogus' is not a FAISS index of 16-d vectors "
                                         r"\(could not parse index string Bogus\); give .* such as Flat, HNSW32"):
        build_index(vectors, IndexChoice("Bogus", given=True))
    with pytest.raises(ValueError, match="multiple of the number of subquantizers"):
        build_index(vectors, IndexChoice("PQ7", given=True))
    with pytest.raises(ValueError, match=r"'IVF4096,PQ8' trains a k-means of 4,096 centroids, which needs at least "
                                         r"159,744 training vectors .* only 1,000 captions: .* at most 25 "):
        build_index(vectors, IndexChoice("IVF4096,PQ8", given=True))
    with pytest.raises(ValueError, match=r"'IVF16,PQ8' trains a k-means of 256 centroids"):  # the PQ's 2^8 codes
        build_index(vectors, IndexChoice("IVF16,PQ8", given=True))
