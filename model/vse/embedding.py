"""Visual-semantic embedding (Kiros et al. 2014, as the storyteller uses it; reference d.1).

Images and captions are mapped into one `dim`-d space where the score of a pair is the dot product
of two unit vectors (cosine):

    image:   v = l2norm( l2norm(x_img) · W_image + b_image )       x_img: raw CNN feature
    caption: s = l2norm( GRU(Wemb[w_1], ..., Wemb[w_k], Wemb[<eos>]) )   final state, h0 = 0

The GRU is the original's (reference b.1) as an nn.GRU; captions run k + 1 steps, the last one
reading row 0 (`<eos>`) of the word embedding, so callers pass ids that already end with 0.
"""

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from model.skipthought.encoder import final_states, reference_gru

GRU = "gru"


@dataclass
class VSEConfig:
    n_words: int  # rows of the word embedding: 0 = <eos>, 1 = UNK, then words
    dim_image: int  # size of the CNN features the image side reads
    dim_word: int = 300
    dim: int = 1024  # joint space
    provenance: dict = field(default_factory=dict)  # where the weights came from, recipe, metrics
    kind: str = GRU  # which joint space a VSE model directory holds (model/vse/files.py)

    def to_json(self) -> dict:
        return asdict(self)


class VisualSemanticEmbedding(nn.Module):
    def __init__(self, config: VSEConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.n_words, config.dim_word)
        self.gru = reference_gru(config.dim_word, config.dim)
        self.image_projection = nn.Linear(config.dim_image, config.dim)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The text side: ids (B, T) ending in <eos> (0), zero-padded; lengths (B,) count the <eos>.
        Returns (B, dim) unit vectors. Named `forward` so the Beam encode job can run it like any
        other text model."""
        states = final_states(self.gru, self.embedding(ids), lengths)
        return F.normalize(states, dim=1)

    def embed_images(self, features: torch.Tensor) -> torch.Tensor:
        """Raw CNN features (B, dim_image) to (B, dim) unit vectors. The original's caller
        normalised fc7 before the projection (reference e, Features), so the input is normalised here."""
        projected = self.image_projection(F.normalize(features, dim=1))
        return F.normalize(projected, dim=1)
