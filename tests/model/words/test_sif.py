"""SIF sentence vectors on hand-sized inputs: weights against the formula (from counts and from Zipf
ranks), means against sums worked by hand (unknown words skipped, repeats counted twice), and the
component removal against its two properties (the removed direction is gone, the others untouched; a
matrix of rank one becomes zero)."""

import numpy as np
import pytest

from model.words.sif import remove_first_component, sif_weights, weighted_means, zipf_counts

WORDS = ["the", "dog", "runs"]
VECTORS = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], dtype=np.float32)
INDEX = {word: row for row, word in enumerate(WORDS)}


def test_weights_follow_a_over_a_plus_p():
    weights = sif_weights([*WORDS, "unseen"], {"the": 6, "dog": 3, "runs": 1}, a=0.1)
    np.testing.assert_allclose(weights, [0.1 / 0.7, 0.1 / 0.4, 0.1 / 0.2, 1.0])
    assert weights[0] < weights[1] < weights[2] < weights[3]


def test_zipf_counts_make_p_one_over_rank():
    counts = zipf_counts(WORDS)
    assert counts == {"the": 1.0, "dog": 0.5, "runs": 1 / 3}
    harmonic = 1 + 1 / 2 + 1 / 3
    np.testing.assert_allclose(sif_weights(WORDS, counts, a=0.1), [0.1 / (0.1 + 1 / (r * harmonic)) for r in (1, 2, 3)])


def test_weights_refuse_bad_input():
    with pytest.raises(ValueError, match="positive"):
        sif_weights(WORDS, {"the": 1}, a=0)
    with pytest.raises(ValueError, match="empty"):
        sif_weights(WORDS, {})


def test_means_skip_unknown_words_and_count_repeats():
    weights = np.array([0.5, 1.0, 2.0])
    means = weighted_means([["the", "dog", "cat"], ["runs", "runs", "the"], ["cat"], []], INDEX, VECTORS, weights)
    np.testing.assert_allclose(means[0], (0.5 * VECTORS[0] + 1.0 * VECTORS[1]) / 2)
    np.testing.assert_allclose(means[1], (2 * 2.0 * VECTORS[2] + 0.5 * VECTORS[0]) / 3)
    np.testing.assert_array_equal(means[2:], np.zeros((2, 2)))


def test_means_need_one_weight_per_row():
    with pytest.raises(ValueError, match="one weight per row"):
        weighted_means([["the"]], INDEX, VECTORS, np.ones(2))


def test_removal_takes_out_the_dominant_direction():
    rng = np.random.default_rng(0)
    shared = np.array([3.0, 4.0, 0.0]) / 5
    sentences = 10 * shared + rng.normal(scale=0.1, size=(50, 3))
    cleaned = remove_first_component(sentences)
    _, _, vt = np.linalg.svd(sentences, full_matrices=False)
    np.testing.assert_allclose(cleaned @ vt[0], 0, atol=1e-9)
    assert abs(vt[0] @ shared) > 0.99
    np.testing.assert_allclose(cleaned @ vt[1:].T, sentences @ vt[1:].T)


def test_removal_of_a_rank_one_matrix_leaves_zero():
    sentences = np.outer([1.0, -2.0, 0.5], [2.0, 1.0])
    np.testing.assert_allclose(remove_first_component(sentences), 0, atol=1e-12)
    with pytest.raises(ValueError, match="non-empty"):
        remove_first_component(np.zeros((0, 2)))
