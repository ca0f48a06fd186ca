"""The skip-thought training objective (reference g): encode a sentence, decode its successor and
its predecessor. One word embedding is shared by the encoder and both decoders, the decoders start
from the encoder's state, and one output layer serves both. The cost is the summed NLL of both
neighbours' tokens including their <eos>."""

import torch
import torch.nn.functional as F
from torch import nn

from model.skipthought.encoder import final_states, reference_gru


class SkipThoughtObjective(nn.Module):
    def __init__(self, n_words: int, dim_word: int, dim: int):
        super().__init__()
        self.embedding = nn.Embedding(n_words, dim_word)
        self.encoder = reference_gru(dim_word, dim)
        self.decoder_next = reference_gru(dim_word, dim)
        self.decoder_prev = reference_gru(dim_word, dim)
        self.logits = nn.Linear(dim, n_words)

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The encoder's final state; the sources carry their <eos> (training mask is len + 1)."""
        return final_states(self.encoder, self.embedding(ids), lengths)

    def neighbour_nll(self, decoder: nn.GRU, context: torch.Tensor, targets: torch.Tensor,
                      mask: torch.Tensor) -> torch.Tensor:
        """Summed NLL of `targets` (B, T, ending in <eos>) decoded from `context` by teacher forcing."""
        inputs = self.embedding(targets)
        # The decoder reads the previous word; at the first step there is none (a zero vector).
        shifted = torch.cat([torch.zeros_like(inputs[:, :1]), inputs[:, :-1]], dim=1)
        states, _ = decoder(shifted, context.unsqueeze(0).contiguous())
        logits = self.logits(states).float()
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
        return (nll * mask.reshape(-1)).sum()

    def forward(self, source, source_lengths, next_ids, next_mask, prev_ids, prev_mask) -> torch.Tensor:
        context = self.encode(source, source_lengths)
        return (self.neighbour_nll(self.decoder_next, context, next_ids, next_mask)
                + self.neighbour_nll(self.decoder_prev, context, prev_ids, prev_mask))
