"""The skip-thought training objective (reference g): encode a sentence, decode its successor and
its predecessor. One word embedding is shared by the encoder and both decoders, the decoders start
from the encoder's state, and one output layer serves both. The cost is the summed NLL of both
neighbours' tokens including their <eos>:

    c        = GRU_enc(Wemb[s_i])                            final state, over the source and its <eos>
    h_t      = GRU_next(Wemb[y_{t-1}], h_{t-1}),  h_0 = c    zero input at t = 0; likewise GRU_prev
    p(y_t)   = softmax(h_t · W_logit + b_logit)              softmax "full", or "adaptive" (model/softmax.py)
    cost     = -sum_t log p(next_t) - sum_t log p(prev_t)

Nearly all of a step's time on a CPU is the output layer: every target token of both neighbours is
scored over the whole vocabulary. So the output layer sees only the real (unpadded) positions, and
the adaptive softmax, which scores a target in the frequent-word head and its own cluster only, cuts
it further. Only the encoder and the embedding are kept after training (model/skipthought/train.py).
"""

import torch
import torch.nn.functional as F
from torch import nn

from model.skipthought.encoder import final_states, reference_gru
from model.softmax import output_layer


class SkipThoughtObjective(nn.Module):
    def __init__(self, n_words: int, dim_word: int, dim: int, softmax: str = "full", cutoffs: list[int] | None = None):
        super().__init__()
        self.softmax = softmax
        self.embedding = nn.Embedding(n_words, dim_word)
        self.encoder = reference_gru(dim_word, dim)
        self.decoder_next = reference_gru(dim_word, dim)
        self.decoder_prev = reference_gru(dim_word, dim)
        self.logits = output_layer(dim, n_words, softmax, cutoffs or [])

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The encoder's final state; the sources carry their <eos> (training mask is len + 1)."""
        return final_states(self.encoder, self.embedding(ids), lengths)

    def neighbour_nll(self, decoder: nn.GRU, context: torch.Tensor, targets: torch.Tensor,
                      mask: torch.Tensor) -> torch.Tensor:
        """Summed NLL of `targets` (B, T, ending in <eos>, padded where `mask` is 0) decoded from
        `context` by teacher forcing."""
        inputs = self.embedding(targets)
        # The decoder reads the previous word; at the first step there is none (a zero vector).
        shifted = torch.cat([torch.zeros_like(inputs[:, :1]), inputs[:, :-1]], dim=1)
        states, _ = decoder(shifted, context.unsqueeze(0).contiguous())
        real = mask.bool()
        states, targets = states[real], targets[real]
        if self.softmax == "adaptive":
            return -self.logits(states.float(), targets).output.sum()
        return F.cross_entropy(self.logits(states).float(), targets, reduction="sum")

    def forward(self, source, source_lengths, next_ids, next_mask, prev_ids, prev_mask) -> torch.Tensor:
        context = self.encode(source, source_lengths)
        return (self.neighbour_nll(self.decoder_next, context, next_ids, next_mask)
                + self.neighbour_nll(self.decoder_prev, context, prev_ids, prev_mask))
