"""Two joint spaces as one: the score is w * cos_a + (1 - w) * cos_b, in a single FAISS search.

    image:   [ sqrt(w) * v_a ; sqrt(1 - w) * v_b ]       caption: [ sqrt(w) * s_a ; sqrt(1 - w) * s_b ]

Each part is a unit vector, so the dot product of the concatenations is exactly the weighted sum of
the two cosines, and the concatenation is itself a unit vector: the caption index, its recall check and
every consumer treat the fused model as one more VSE. Used to add the zero-shot space (which knows
ImageNet's thousand things) to a trained VSE (which knows the people and scenes of its photos); the
weight is chosen on photos neither saw (bench/retrieval.py). Both parts read the same vocabulary.
"""

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

FUSED = "fused"
# The shipped VSE's share: the weight bench/retrieval.py chose on the held-out validation photos.
FUSION_WEIGHT = 0.7


@dataclass
class FusedConfig:
    n_words: int
    dim_image: int
    dim: int  # the two parts' sizes added
    weight: float  # w, the first part's share of the score
    parts: dict  # {"a": config json of the first part, "b": of the second}
    kind: str = FUSED
    provenance: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


class FusedEmbedding(nn.Module):
    def __init__(self, config: FusedConfig, first: nn.Module, second: nn.Module):
        super().__init__()
        if not 0.0 <= config.weight <= 1.0:
            raise ValueError(f"the fusion weight must lie in [0, 1], got {config.weight}")
        self.config = config
        self.a, self.b = first, second
        self.scale_a, self.scale_b = math.sqrt(config.weight), math.sqrt(1.0 - config.weight)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.scale_a * self.a(ids, lengths), self.scale_b * self.b(ids, lengths)], dim=1)

    def embed_images(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.scale_a * self.a.embed_images(features),
                          self.scale_b * self.b.embed_images(features)], dim=1)
