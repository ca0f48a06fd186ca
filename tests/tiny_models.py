"""Small encoder and VSE model directories with random weights, for tests of the stages that use them."""

from pathlib import Path

import numpy as np
import torch

from model.skipthought.encoder import SkipThoughtConfig, SkipThoughtEncoder, sif_weights
from model.skipthought.files import save_encoder
from model.vse.embedding import VisualSemanticEmbedding, VSEConfig
from model.vse.files import save_vse
from model.vse.zero_shot import ZeroShotConfig, ZeroShotEmbedding

VSE_WORDS = ["<eos>", "UNK", "a", "dog", "runs", ".", "café", "two", "cats"]


def random_encoder(out: Path, words: list[str], kind: str = "combine", dim_word: int = 16, dim: int = 24,
                   use_eos: bool = False, seed: int = 0, mean_words: bool = False) -> Path:
    config = SkipThoughtConfig(kind=kind, dim_word=dim_word, uni_dim=dim, bi_dim=dim // 2, use_eos=use_eos,
                               mean_words=mean_words)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    weights = sif_weights(rng.integers(1, 5000, size=len(words))) if mean_words else None
    encoder = SkipThoughtEncoder(config, word_weights=weights)
    tables = {part: rng.normal(size=(len(words), dim_word)).astype(np.float32) for part in config.parts}
    save_encoder(out, encoder, words, tables)
    return out


def random_vse(out: Path, words: list[str] = VSE_WORDS, dim_image: int = 12, dim_word: int = 6, dim: int = 8,
               seed: int = 0) -> Path:
    torch.manual_seed(seed)
    save_vse(out, VisualSemanticEmbedding(VSEConfig(len(words), dim_image, dim_word, dim)), words)
    return out


def random_zero_shot(out: Path, words: list[str] = VSE_WORDS, dim_image: int = 12, dim: int = 6, n_classes: int = 5,
                     seed: int = 0) -> Path:
    """A zero-shot model folder with random word vectors, classifier and class vectors."""
    generator = torch.Generator().manual_seed(seed)
    model = ZeroShotEmbedding(ZeroShotConfig(len(words), dim_image, n_classes, dim, top_classes=2,
                                             provenance={"cnn": "efficientnet-lite0"}))
    with torch.no_grad():
        for name in ("words", "classifier_weight", "class_vectors"):
            getattr(model, name).copy_(torch.randn(getattr(model, name).shape, generator=generator))
        model.word_weights.fill_(1.0)
        model.common.copy_(torch.nn.functional.normalize(torch.randn(dim, generator=generator), dim=0))
    save_vse(out, model, words)
    return out
