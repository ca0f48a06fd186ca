"""Small encoder model directories with random weights, for tests of the stages that use them."""

from pathlib import Path

import numpy as np
import torch

from model.encoder_files import save_encoder
from model.skipthought import SkipThoughtConfig, SkipThoughtEncoder


def random_encoder(out: Path, words: list[str], kind: str = "combine", dim_word: int = 16, dim: int = 24,
                   use_eos: bool = False, seed: int = 0) -> Path:
    config = SkipThoughtConfig(kind=kind, dim_word=dim_word, uni_dim=dim, bi_dim=dim // 2, use_eos=use_eos)
    torch.manual_seed(seed)
    encoder = SkipThoughtEncoder(config)
    rng = np.random.default_rng(seed)
    tables = {part: rng.normal(size=(len(words), dim_word)).astype(np.float32) for part in config.parts}
    save_encoder(out, encoder, words, tables)
    return out
