"""The ranking loss and the original's recall on hand-built similarity matrices with known answers."""

import numpy as np
import pytest
import torch

from model.vse.loss import ranking_loss
from model.vse.metrics import i2t_ranks, recall_report, summarize, t2i_ranks

# Rows: images, columns: captions; the diagonal holds the matching pairs.
S = torch.tensor([[0.9, 0.8, 0.1],
                  [0.5, 0.6, 0.7],
                  [0.0, 0.3, 1.0]], dtype=torch.float64)
# With margin 0.2 the violations are, caption side (per row): (0,1) 0.1, (1,0) 0.1, (1,2) 0.3;
# image side (per column): (0,1) 0.4. Everything else is below zero.


def loss(reduction: str, same_image=None) -> float:
    images = torch.eye(3, dtype=torch.float64)  # images · captionsᵀ = captionsᵀ, so captions = Sᵀ gives S
    return float(ranking_loss(images, S.T.contiguous(), 0.2, reduction, same_image))


def test_sum_and_max_losses_on_a_known_matrix():
    assert loss("sum") == pytest.approx(0.1 + 0.1 + 0.3 + 0.4)
    assert loss("max") == pytest.approx((0.1 + 0.3) + 0.4)  # hardest per row + hardest per column


def test_two_captions_of_one_image_are_not_negatives():
    same = torch.zeros(3, 3, dtype=torch.bool)
    same[0, 1] = same[1, 0] = True
    assert loss("sum", same) == pytest.approx(0.3)
    assert loss("max", same) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="reduction must be one of"):
        loss("mean")


# Caption c scores image i with CAPTIONS[c, i] (images are the identity basis); two captions per image.
CAPTIONS = np.array([[0.9, 0.1, 0.0, 0.0], [0.2, 0.8, 0.0, 0.0],
                     [0.0, 0.5, 0.6, 0.0], [0.0, 0.4, 0.7, 0.1],
                     [0.3, 0.2, 0.1, 0.0], [0.35, 0.25, 0.05, 0.9],
                     [0.1, 0.0, 0.0, 0.85], [0.0, 0.0, 0.0, 0.2]])
CAPTION_IMAGE = np.array([0, 0, 1, 1, 2, 2, 3, 3])


def test_ranks_in_both_directions():
    images = np.eye(4)
    assert i2t_ranks(images, CAPTIONS, CAPTION_IMAGE).tolist() == [0, 1, 2, 1]  # best of each image's captions
    assert t2i_ranks(images, CAPTIONS, CAPTION_IMAGE).tolist() == [0, 1, 1, 1, 2, 3, 0, 0]
    report = recall_report(images, CAPTIONS, CAPTION_IMAGE)
    assert report["i2t"] == {"r1": 25.0, "r5": 100.0, "r10": 100.0, "medr": 2.0}
    assert report["t2i"] == {"r1": 37.5, "r5": 100.0, "r10": 100.0, "medr": 2.0}
    assert (report["rsum"], report["images"], report["captions"]) == (462.5, 4, 8)


def test_recall_at_k_and_median_rank_rounding():
    assert summarize(np.array([0, 2, 5, 12])) == {"r1": 25.0, "r5": 50.0, "r10": 75.0, "medr": 4.0}  # floor(3.5)+1
