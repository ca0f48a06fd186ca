"""The storyteller decoder (reference c.1): a GRU language model conditioned on a skip-thought
vector v through its initial state and, with ctx_every_step, at every step as well.

    h_0   = tanh(v · W_state + b_state)                   v: (style-shifted) skip-thought vector
    x_t   = Wemb[y_{t-1}], and a zero vector at t = 0     (the original's "previous word -1")
    x_t   = [x_t ; v]                                     only with ctx_every_step
    h_t   = GRU(x_t, h_{t-1})                             the original's GRU (reference b.1)
    hid_t = tanh(h_t · W_hid + b_hid)                     deep output; skipped when deep_output is False
    hid_t = tanh(h_t · W_hid + v · W_ctx_hid + b_hid)     with ctx_in_output (needs deep_output)
    p_t   = softmax(hid_t · W_logit + b_logit)            softmax "full"; "adaptive": model/softmax.py

The released romance decoder sees v only in h_0. ctx_every_step is the decoder of the paper (Kiros et
al. 2015, eqs. 5-7; skip-thoughts issue #8): each gate and the candidate add C · v, which is the GRU's
input matrix applied to [x_t ; v]. A small decoder trained briefly, seeing v once, tends to ignore it.
ctx_in_output also adds v to the deep output layer, so which words v holds reaches the word scores in
one linear map, without having to survive the recurrence (the "deep output" of Cho et al. 2014 and
of show-attend-tell's decoder, which adds its context there too).

With either option the state `step` carries is [h_t ; v] (N, dim + dim_ctx): a beam search that
reorders its hypotheses' states keeps each with its own vector, and `initial_state` / `step` keep
their signatures.

Parameter names follow the original's (`ff_state`, `ff_hid`, `ff_logit`) so the converter in
model/decoder/original.py is a plain name-for-name mapping; the defaults are its architecture.
"""

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from model.skipthought.encoder import reference_gru
from model.softmax import output_layer

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
    ctx_every_step: bool = False  # v joins the GRU's input at every step (the paper), not only h_0
    ctx_in_output: bool = False  # v joins the deep output layer as well
    softmax: str = "full"  # full | adaptive (model/softmax.py)
    cutoffs: list[int] = field(default_factory=list)  # adaptive softmax: where the head and each cluster end
    provenance: dict = field(default_factory=dict)  # where the weights came from, recipe, metrics

    def __post_init__(self) -> None:
        if self.ctx_in_output and not self.deep_output:
            raise ValueError("ctx_in_output adds the vector to the deep output layer: it needs deep_output")

    @property
    def carries_ctx(self) -> bool:
        """Whether `step`'s state holds the vector beside the GRU state."""
        return self.ctx_every_step or self.ctx_in_output

    def to_json(self) -> dict:
        return asdict(self)


class StoryDecoder(nn.Module):
    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.n_words, config.dim_word)
        self.ff_state = nn.Linear(config.dim_ctx, config.dim)
        self.gru = reference_gru(config.dim_word + (config.dim_ctx if config.ctx_every_step else 0), config.dim)
        self.ff_hid = nn.Linear(config.dim, config.dim_word) if config.deep_output else None
        self.ff_ctx_hid = nn.Linear(config.dim_ctx, config.dim_word, bias=False) if config.ctx_in_output else None
        self.ff_logit = output_layer(config.dim_word if config.deep_output else config.dim, config.n_words,
                                     config.softmax, config.cutoffs)

    def initial_state(self, ctx: torch.Tensor) -> torch.Tensor:
        """(N, dim_ctx) conditioning vectors to the states `step` starts from: h_0 (N, dim), or
        [h_0 ; v] (N, dim + dim_ctx) with ctx_every_step or ctx_in_output."""
        h0 = torch.tanh(self.ff_state(ctx))
        return torch.cat([h0, ctx], dim=1) if self.config.carries_ctx else h0

    def _output_input(self, states: torch.Tensor, ctx: torch.Tensor | None) -> torch.Tensor:
        if self.ff_hid is None:
            return states
        pre = self.ff_hid(states)
        if self.ff_ctx_hid is not None:
            pre = pre + self.ff_ctx_hid(ctx)
        return torch.tanh(pre)

    def log_probs(self, states: torch.Tensor, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """(N, dim) GRU states (and their (N, dim_ctx) vectors, with ctx_in_output) to float32
        log-probabilities of every word (N, n_words)."""
        hid = self._output_input(states, ctx)
        if self.config.softmax == "adaptive":
            return self.ff_logit.log_prob(hid.float())
        return F.log_softmax(self.ff_logit(hid).float(), dim=-1)

    def target_log_probs(self, states: torch.Tensor, targets: torch.Tensor,
                         ctx: torch.Tensor | None = None) -> torch.Tensor:
        """(N, dim) GRU states and (N,) target ids (and (N, dim_ctx) vectors, with ctx_in_output) to the
        targets' float32 log-probabilities (N,)."""
        hid = self._output_input(states, ctx)
        if self.config.softmax == "adaptive":  # the head and the target's own cluster only
            return self.ff_logit(hid.float(), targets).output
        # Exact log-softmax; the original's cost was -log(p + 1e-8), which differs only for p ~ 1e-8.
        return -F.cross_entropy(self.ff_logit(hid).float(), targets, reduction="none")

    def step(self, prev: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step for N hypotheses: previous tokens (N,), START (-1) at the first step, and states
        (from `initial_state`, then from `step`), to float32 log-probabilities of the next token
        (N, n_words) and the new states."""
        start = prev < 0
        inputs = self.embedding(prev.clamp(min=0)).masked_fill(start[:, None], 0.0)
        h, ctx = state, None
        if self.config.carries_ctx:
            h, ctx = state.split([self.config.dim, self.config.dim_ctx], dim=1)
        if self.config.ctx_every_step:
            inputs = torch.cat([inputs, ctx], dim=1)
        output, _ = self.gru(inputs[:, None, :], h[None].contiguous())
        h = output[:, 0]
        state = torch.cat([h, ctx], dim=1) if self.config.carries_ctx else h
        return self.log_probs(h, ctx), state

    def forward(self, ctx: torch.Tensor, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: ctx (B, dim_ctx), target ids (B, T) each ending in <eos> and zero-padded,
        lengths (B,) counting the <eos>. Returns (B, T) log-probabilities of the targets, 0 at padding.

        The GRU runs over the padding too (it is causal, so the real positions do not see it); only
        the output layer, the expensive part for a large vocabulary, is limited to real positions."""
        embedded = self.embedding(ids)
        inputs = torch.cat([torch.zeros_like(embedded[:, :1]), embedded[:, :-1]], dim=1)
        if self.config.ctx_every_step:
            inputs = torch.cat([inputs, ctx[:, None, :].expand(-1, ids.shape[1], -1)], dim=2)
        states, _ = self.gru(inputs, torch.tanh(self.ff_state(ctx))[None].contiguous())
        real = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths.to(ids.device)[:, None]
        row_ctx = ctx[:, None, :].expand(-1, ids.shape[1], -1)[real] if self.config.ctx_in_output else None
        scores = self.target_log_probs(states[real], ids[real], row_ctx)
        return torch.zeros(ids.shape, dtype=scores.dtype, device=ids.device).masked_scatter(real, scores)
