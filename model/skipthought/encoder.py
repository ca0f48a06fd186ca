"""Skip-thought encoders (uni-skip, bi-skip, combine-skip) computing the original's function.

Reference b.1: the original GRU is PyTorch's GRU with the gate blocks in order (reset, update,
candidate), input-side biases only, and the reset gate applied after the recurrent product. So
each direction is one `nn.GRU` whose hidden-side bias is zero and frozen. Padded batches are
packed, so the bi-skip backward direction starts at each sentence's last real token (b.2).

Word vectors live outside the module, in tables that may be memory-mapped (the released tables
hold 930,913 x 620 floats each): `forward` gathers the rows it needs for each batch.

With `mean_words` (our recipes only; the released models have no such part) the vector also carries
the frequency-weighted (SIF, Arora et al. 2017) mean of the sentence's word vectors, L2-normalised like
each GRU part and appended after them. A skip-thought GRU trained for minutes on two cores keeps little
of which words a sentence had; the mean keeps exactly that, and it is what lets a decoder conditioned
on the vector (and a caption index) know what the text is about. The weights a / (a + p(word)) are a
table beside the word table (`word_weights.npy`), computed from the training vocabulary's counts.
"""

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from model.words import sif
from model.words.sif import DEFAULT_A

KINDS = ("uni", "bi", "combine")


@dataclass
class SkipThoughtConfig:
    kind: str = "uni"  # uni | bi | combine
    dim_word: int = 620
    uni_dim: int = 2400  # hidden size of the uni-skip GRU
    bi_dim: int = 1200  # hidden size of each bi-skip direction
    use_eos: bool = False  # append the <eos> vector as one more step (reference b.2)
    use_norm: bool = True  # L2-normalise the uni and the bi halves separately
    mean_words: bool = False  # append the SIF-weighted mean of the word vectors (see the module docstring)
    provenance: dict = field(default_factory=dict)  # where the weights came from, recipe, metrics

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def parts(self) -> tuple[str, ...]:
        return ("uni", "bi") if self.kind == "combine" else (self.kind,)

    @property
    def output_dim(self) -> int:
        grus = sum(self.uni_dim if part == "uni" else 2 * self.bi_dim for part in self.parts)
        return grus + (self.dim_word if self.mean_words else 0)

    def to_json(self) -> dict:
        return asdict(self)


SIF_A = DEFAULT_A  # Arora et al.'s a: words much commoner than this weigh little


def sif_weights(counts: np.ndarray) -> np.ndarray:
    """a / (a + p(word)) for each vocabulary row from its token count (the counts sum to all tokens)."""
    rows = list(range(len(counts)))
    return sif.sif_weights(rows, dict(zip(rows, np.asarray(counts, dtype=np.float64), strict=True)), SIF_A).astype(
        np.float32)


def reference_gru(dim_in: int, dim: int, bidirectional: bool = False) -> nn.GRU:
    """An nn.GRU with the original's layout: no hidden-side bias (zero, and kept zero)."""
    gru = nn.GRU(dim_in, dim, batch_first=True, bidirectional=bidirectional)
    for name, parameter in gru.named_parameters():
        if name.startswith("bias_hh"):
            parameter.data.zero_()
            parameter.requires_grad_(False)
    return gru


def final_states(gru: nn.GRU, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Last hidden state of each sequence, [forward ; backward] for a bidirectional GRU.

    A one-layer forward GRU runs on the padded batch and reads each row's state at its last real token:
    padding after it cannot change that state, and on a CPU the dense pass is 1.2-6x faster than a packed
    one, which shrinks the batch step by step (batches hold texts of similar length, so little is
    padding). A bidirectional GRU must start its backward pass at each row's end: packed."""
    if not gru.bidirectional and gru.num_layers == 1:
        outputs, _ = gru(embedded)
        return outputs[torch.arange(len(lengths), device=outputs.device), lengths.to(outputs.device) - 1]
    packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
    _, hidden = gru(packed)
    return torch.cat(list(hidden), dim=1)


class SkipThoughtEncoder(nn.Module):
    """Token ids (B, T) and lengths (B,) to skip-thought vectors (B, output_dim)."""

    def __init__(self, config: SkipThoughtConfig, tables: dict[str, np.ndarray] | None = None,
                 word_weights: np.ndarray | None = None):
        super().__init__()
        self.config = config
        self.tables = tables or {}
        self.word_weights = word_weights  # (vocab,) SIF weights, needed with mean_words
        self.uni = reference_gru(config.dim_word, config.uni_dim) if "uni" in config.parts else None
        self.bi = reference_gru(config.dim_word, config.bi_dim, bidirectional=True) if "bi" in config.parts else None

    def embed(self, part: str, ids: torch.Tensor) -> torch.Tensor:
        rows = np.asarray(self.tables[part][ids.cpu().numpy()], dtype=np.float32)
        return torch.from_numpy(rows).to(self._device())

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def mean_words(self, ids: torch.Tensor, lengths: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        """The SIF-weighted mean of each sentence's word vectors (its real tokens only)."""
        if self.word_weights is None:
            raise ValueError("this encoder's config asks for mean_words but it has no word weights table")
        weights = torch.from_numpy(np.asarray(self.word_weights[ids.cpu().numpy()], dtype=np.float32))
        real = torch.arange(ids.shape[1])[None, :] < lengths.cpu()[:, None]
        weights = (weights * real).to(embedded.device)
        return (weights[:, :, None] * embedded).sum(dim=1) / weights.sum(dim=1, keepdim=True).clamp(min=1e-12)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        halves = []
        for part, gru in (("uni", self.uni), ("bi", self.bi)):
            if gru is None:
                continue
            embedded = self.embed(part, ids)
            vectors = final_states(gru, embedded, lengths)
            halves.append(F.normalize(vectors, dim=1) if self.config.use_norm else vectors)
            if self.config.mean_words and part == self.config.parts[0]:
                mean = self.mean_words(ids, lengths, embedded)
        if self.config.mean_words:
            halves.append(F.normalize(mean, dim=1) if self.config.use_norm else mean)
        return torch.cat(halves, dim=1)
