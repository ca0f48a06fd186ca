"""A joint space that needs no paired training: ConSE (Norouzi et al. 2014) over word vectors.

    image:   p = softmax(W_fc x + b_fc)               the CNN's own ImageNet classifier, x its pooled feature
             v = l2norm( sum over the T likeliest classes t of p_t * class_t  - common )
    caption: s = l2norm( SIF(words) - common )         SIF: sum of a / (a + p(w)) * word(w) / |known words|,
                                                        each word read in lower case when that form has a vector
    class_t = l2norm( mean over the class's names (its WordNet synonyms and a generic word such as "dog"
              for its ImageNet range) of the SIF mean of the name's words )

The score is v . s. Nothing here is learned from image-caption pairs, so it holds on photos unlike any
a trained VSE saw (a kitchen, a ski slope, an elephant), where a VSE trained on 800 Flickr8k photos of
dogs and children falls back on what it knows. `common` is the first principal component of the
caption vectors (SIF's common-component removal), taken out of both sides so neither is pulled towards
what every caption shares. Lower case: "A Dog" and "a dog" are one caption here, and on Flickr8k photos the
lower-cased captions lifted the content words the top captions share with a photo's own (bench/retrieval.py).
Every part is a buffer, so the model directory has the VSE's files
(config.json, weights.pt, vocab.txt) and every VSE consumer (index, retrieve, stories) runs it as one.
"""

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

ZERO_SHOT = "zero-shot"
EOS_ID, UNK_ID = 0, 1


@dataclass
class ZeroShotConfig:
    n_words: int  # rows of the word table: 0 = <eos>, 1 = UNK, then words
    dim_image: int  # the CNN's pooled feature size
    n_classes: int  # the classifier's classes
    dim: int  # word vector size = joint space size
    top_classes: int = 10  # classes mixed into an image's vector
    kind: str = ZERO_SHOT
    provenance: dict = field(default_factory=dict)  # word vectors, CNN, class names, common component

    def to_json(self) -> dict:
        return asdict(self)


class ZeroShotEmbedding(nn.Module):
    def __init__(self, config: ZeroShotConfig):
        super().__init__()
        self.config = config
        self.register_buffer("words", torch.zeros(config.n_words, config.dim))
        self.register_buffer("word_map", torch.arange(config.n_words))  # id -> id of its lower-case form
        self.register_buffer("word_weights", torch.zeros(config.n_words))
        self.register_buffer("common", torch.zeros(config.dim))
        self.register_buffer("classifier_weight", torch.zeros(config.n_classes, config.dim_image))
        self.register_buffer("classifier_bias", torch.zeros(config.n_classes))
        self.register_buffer("class_vectors", torch.zeros(config.n_classes, config.dim))

    def _unit_without_common(self, vectors: torch.Tensor) -> torch.Tensor:
        vectors = vectors - (vectors @ self.common)[:, None] * self.common
        return F.normalize(vectors, dim=1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The text side: ids (B, T), zero-padded, <eos> and UNK ignored; (B, dim) unit vectors. A text with no
        known word is the zero vector, which ranks nowhere rather than failing."""
        ids = self.word_map[ids]
        positions = torch.arange(ids.shape[1], device=ids.device)[None, :]
        known = (positions < lengths.to(ids.device)[:, None]) & (ids != EOS_ID) & (ids != UNK_ID)
        weights = self.word_weights[ids] * known
        sums = (weights[:, :, None] * self.words[ids]).sum(dim=1)
        means = sums / known.sum(dim=1, keepdim=True).clamp(min=1)
        return self._unit_without_common(means)

    def embed_images(self, features: torch.Tensor) -> torch.Tensor:
        """Raw pooled CNN features (B, dim_image) to (B, dim) unit vectors: the classes' probability-weighted
        mean. The classifier reads the raw feature, as it did in ImageNet training."""
        probabilities = F.softmax(F.linear(features, self.classifier_weight, self.classifier_bias), dim=1)
        top, classes = probabilities.topk(min(self.config.top_classes, self.config.n_classes), dim=1)
        mixed = (top[:, :, None] * self.class_vectors[classes]).sum(dim=1)
        return self._unit_without_common(mixed)
