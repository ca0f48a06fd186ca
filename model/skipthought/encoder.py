"""Skip-thought encoders (uni-skip, bi-skip, combine-skip) computing the original's function.

Reference b.1: the original GRU is PyTorch's GRU with the gate blocks in order (reset, update,
candidate), input-side biases only, and the reset gate applied after the recurrent product. So
each direction is one `nn.GRU` whose hidden-side bias is zero and frozen. Padded batches are
packed, so the bi-skip backward direction starts at each sentence's last real token (b.2).

Word vectors live outside the module, in tables that may be memory-mapped (the released tables
hold 930,913 x 620 floats each): `forward` gathers the rows it needs for each batch.
"""

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

KINDS = ("uni", "bi", "combine")


@dataclass
class SkipThoughtConfig:
    kind: str = "uni"  # uni | bi | combine
    dim_word: int = 620
    uni_dim: int = 2400  # hidden size of the uni-skip GRU
    bi_dim: int = 1200  # hidden size of each bi-skip direction
    use_eos: bool = False  # append the <eos> vector as one more step (reference b.2)
    use_norm: bool = True  # L2-normalise the uni and the bi halves separately
    provenance: dict = field(default_factory=dict)  # where the weights came from, recipe, metrics

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def parts(self) -> tuple[str, ...]:
        return ("uni", "bi") if self.kind == "combine" else (self.kind,)

    @property
    def output_dim(self) -> int:
        return sum(self.uni_dim if part == "uni" else 2 * self.bi_dim for part in self.parts)

    def to_json(self) -> dict:
        return asdict(self)


def reference_gru(dim_in: int, dim: int, bidirectional: bool = False) -> nn.GRU:
    """An nn.GRU with the original's layout: no hidden-side bias (zero, and kept zero)."""
    gru = nn.GRU(dim_in, dim, batch_first=True, bidirectional=bidirectional)
    for name, parameter in gru.named_parameters():
        if name.startswith("bias_hh"):
            parameter.data.zero_()
            parameter.requires_grad_(False)
    return gru


def final_states(gru: nn.GRU, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Last hidden state of each sequence, [forward ; backward] for a bidirectional GRU."""
    packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
    _, hidden = gru(packed)
    return torch.cat(list(hidden), dim=1)


class SkipThoughtEncoder(nn.Module):
    """Token ids (B, T) and lengths (B,) to skip-thought vectors (B, output_dim)."""

    def __init__(self, config: SkipThoughtConfig, tables: dict[str, np.ndarray] | None = None):
        super().__init__()
        self.config = config
        self.tables = tables or {}
        self.uni = reference_gru(config.dim_word, config.uni_dim) if "uni" in config.parts else None
        self.bi = reference_gru(config.dim_word, config.bi_dim, bidirectional=True) if "bi" in config.parts else None

    def embed(self, part: str, ids: torch.Tensor) -> torch.Tensor:
        rows = np.asarray(self.tables[part][ids.cpu().numpy()], dtype=np.float32)
        return torch.from_numpy(rows).to(self._device())

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        halves = []
        for part, gru in (("uni", self.uni), ("bi", self.bi)):
            if gru is None:
                continue
            vectors = final_states(gru, self.embed(part, ids), lengths)
            halves.append(F.normalize(vectors, dim=1) if self.config.use_norm else vectors)
        return torch.cat(halves, dim=1)
