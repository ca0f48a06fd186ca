"""Pairwise ranking loss of the visual-semantic embedding (reference d.3).

With S = images · captionsᵀ over a batch of matching pairs (row i and column i belong together),
every other entry of a row is a contrastive caption for image i, every other entry of a column a
contrastive image for caption j, and each costs a hinge with margin α:

    caption side: max(0, α − S_ii + S_ij)      image side: max(0, α − S_jj + S_ij)

"sum" adds every violation of the batch, as the original did; "max" keeps only the hardest
negative of each row and each column (VSE++, Faghri et al. 2018), which learns faster from
strong negatives. Neither is averaged.
"""

import torch

REDUCTIONS = ("sum", "max")


def ranking_loss(images: torch.Tensor, captions: torch.Tensor, margin: float = 0.2, reduction: str = "sum",
                 same_image: torch.Tensor | None = None) -> torch.Tensor:
    """images, captions: (B, dim), row i of each a matching pair. `same_image` (B, B) bool marks
    pairs that are not negatives although off the diagonal: two captions of one image in a batch.
    The original counted those as negatives; they are left out here."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    scores = images @ captions.T
    positive = scores.diagonal()
    cost_caption = (margin - positive[:, None] + scores).clamp(min=0)  # row i: image i against caption j
    cost_image = (margin - positive[None, :] + scores).clamp(min=0)  # column j: caption j against image i
    not_negative = torch.eye(len(scores), dtype=torch.bool, device=scores.device)
    if same_image is not None:
        not_negative = not_negative | same_image
    cost_caption = cost_caption.masked_fill(not_negative, 0)
    cost_image = cost_image.masked_fill(not_negative, 0)
    if reduction == "max":
        return cost_caption.max(dim=1).values.sum() + cost_image.max(dim=0).values.sum()
    return cost_caption.sum() + cost_image.sum()
