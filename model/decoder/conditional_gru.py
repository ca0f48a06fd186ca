"""The storyteller decoder (reference c.1): a GRU language model conditioned on a skip-thought
vector only through its initial state.

    h_0   = tanh(ctx · W_state + b_state)                      ctx: (style-shifted) skip-thought vector
    x_t   = Wemb[y_{t-1}], and a zero vector at t = 0         (the original's "previous word -1")
    h_t   = GRU(x_t, h_{t-1})                                  the original's GRU (reference b.1)
    hid_t = tanh(h_t · W_hid + b_hid)                          deep output; skipped when deep_output is False
    p_t   = softmax(hid_t · W_logit + b_logit)

Parameter names follow the original's (`ff_state`, `ff_hid`, `ff_logit`) so the converter in
model/original_decoder.py is a plain name-for-name mapping.
"""

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from model.skipthought.encoder import reference_gru

# Fixed by the original's dictionaries (reference a.2): the decoder ends a text with 0, and beam
# search bans 1.
EOS_ID, UNK_ID = 0, 1
START = -1  # `step`'s previous token at t = 0: the input is a zero vector


@dataclass
class DecoderConfig:
    n_words: int  # softmax size: 0 = <eos>, 1 = UNK, then words by frequency
    dim_word: int = 620
    dim: int = 1600  # GRU hidden size
    dim_ctx: int = 4800  # size of the conditioning vector (combine-skip)
    deep_output: bool = True  # the original's `doutput`
    provenance: dict = field(default_factory=dict)  # where the weights came from, recipe, metrics

    def to_json(self) -> dict:
        return asdict(self)


class StoryDecoder(nn.Module):
    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.n_words, config.dim_word)
        self.ff_state = nn.Linear(config.dim_ctx, config.dim)
        self.gru = reference_gru(config.dim_word, config.dim)
        self.ff_hid = nn.Linear(config.dim, config.dim_word) if config.deep_output else None
        self.ff_logit = nn.Linear(config.dim_word if config.deep_output else config.dim, config.n_words)

    def initial_state(self, ctx: torch.Tensor) -> torch.Tensor:
        """(N, dim_ctx) conditioning vectors to (N, dim) initial GRU states."""
        return torch.tanh(self.ff_state(ctx))

    def logits(self, states: torch.Tensor) -> torch.Tensor:
        """(..., dim) GRU states to (..., n_words) unnormalised scores."""
        if self.ff_hid is not None:
            states = torch.tanh(self.ff_hid(states))
        return self.ff_logit(states)

    def step(self, prev: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for N hypotheses: previous tokens (N,), START (-1) at the first step, and states
        (N, dim), to float32 log-probabilities of the next token (N, n_words) and the new states."""
        start = prev < 0
        inputs = self.embedding(prev.clamp(min=0)).masked_fill(start[:, None], 0.0)
        output, _ = self.gru(inputs[:, None, :], state[None].contiguous())
        state = output[:, 0]
        return F.log_softmax(self.logits(state).float(), dim=-1), state

    def forward(self, ctx: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: ctx (B, dim_ctx), target ids (B, T) each ending in <eos> and zero-padded,
        lengths (B,) counting the <eos>. Returns (B, T) log-probabilities of the targets, 0 at padding.

        The GRU runs over the padding too (it is causal, so the real positions do not see it); only
        the output layer, the expensive part for a large vocabulary, is limited to real positions."""
        embedded = self.embedding(ids)
        inputs = torch.cat([torch.zeros_like(embedded[:, :1]), embedded[:, :-1]], dim=1)
        states, _ = self.gru(inputs, self.initial_state(ctx)[None].contiguous())
        real = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths.to(ids.device)[:, None]
        # Exact log-softmax; the original's cost was -log(p + 1e-8), which differs only for p ~ 1e-8.
        scores = -F.cross_entropy(self.logits(states[real]).float(), ids[real], reduction="none")
        return torch.zeros(ids.shape, dtype=scores.dtype, device=ids.device).masked_scatter(real, scores)
