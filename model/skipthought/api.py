"""`TextEncoder(model_dir).encode(texts) -> np.ndarray`: the skip-thought encoder as a Python API.

Texts go through the original's preprocessing (reference a.1): sentence split, Treebank tokens of
all sentences concatenated into one sequence, unknown words to UNK. Batches are formed from texts
of similar length so that little compute goes to padding.
"""

from pathlib import Path

import numpy as np
import torch

from model.device import torch_device
from model.skipthought.files import load_encoder, read_vocabulary
from model.text.batching import plan_batches
from model.text.sentences import split_sentences
from model.text.tokenize import tokenize


def text_tokens(text: str) -> list[str]:
    return [token for sentence in split_sentences(text) for token in tokenize(sentence)]


def pad_batch(id_lists: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) ids padded with 0 and (B,) lengths."""
    lengths = torch.tensor([len(ids) for ids in id_lists], dtype=torch.int64)
    batch = torch.zeros((len(id_lists), int(lengths.max())), dtype=torch.int64)
    for row, ids in enumerate(id_lists):
        batch[row, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
    return batch, lengths


class TextEncoder:
    """A loaded encoder on `device` (auto, cpu or cuda, as `--device`); `use_eos` / `use_norm` override the
    model's config.json (reference b.2)."""

    def __init__(self, model_dir: str | Path, device: str = "cpu", use_eos: bool | None = None,
                 use_norm: bool | None = None):
        self.model = load_encoder(model_dir, torch_device(device))
        self.vocab = read_vocabulary(Path(model_dir))
        if use_eos is not None:
            self.model.config.use_eos = use_eos
        if use_norm is not None:
            self.model.config.use_norm = use_norm

    @property
    def dim(self) -> int:
        return self.model.config.output_dim

    def token_ids(self, tokens: list[str]) -> list[int]:
        ids = self.vocab.ids(tokens)
        if self.model.config.use_eos:
            if self.vocab.eos is None:
                raise ValueError("use_eos is set but the vocabulary has no <eos> entry")
            ids.append(self.vocab.eos)
        return ids

    @torch.inference_mode()
    def encode_tokens(self, token_lists: list[list[str]], batch_size: int = 256,
                      batch_tokens: int = 8192) -> np.ndarray:
        empty = [row for row, tokens in enumerate(token_lists) if not tokens]
        if empty:
            raise ValueError(f"texts at positions {empty[:10]} have no tokens; the encoder needs at least one")
        ids = [self.token_ids(tokens) for tokens in token_lists]
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        for rows in plan_batches([len(x) for x in ids], batch_size, batch_tokens):
            batch, lengths = pad_batch([ids[row] for row in rows])
            out[rows] = self.model(batch, lengths).float().cpu().numpy()
        return out

    def encode(self, texts: list[str]) -> np.ndarray:
        """One vector per text, in input order; an empty text is a ValueError naming its position."""
        return self.encode_tokens([text_tokens(text) for text in texts])
