"""The skip-thought objective: the summed NLL of both neighbours over their real tokens (the output
layer never sees padding), with the full or the adaptive softmax; the adaptive one learns."""

import pytest
import torch
import torch.nn.functional as F

from model.skipthought.objective import SkipThoughtObjective
from model.skipthought.triples import _pad

N_WORDS = 40
SOURCES, NEXT, PREV = [[5, 6, 7, 0], [8, 0]], [[9, 10, 0], [11, 12, 13, 14, 15, 0]], [[30, 0], [3, 4, 20, 0]]
PADDING_ONLY = 39  # a word that occurs only as padding below


def batch() -> tuple[torch.Tensor, ...]:
    (source, source_lengths, _), (next_ids, _, next_mask), (prev_ids, _, prev_mask) = map(_pad, (SOURCES, NEXT, PREV))
    next_ids = next_ids.masked_fill(next_mask == 0, PADDING_ONLY)
    prev_ids = prev_ids.masked_fill(prev_mask == 0, PADDING_ONLY)
    return source, source_lengths, next_ids, next_mask, prev_ids, prev_mask


def tiny(softmax: str) -> SkipThoughtObjective:
    torch.manual_seed(0)
    return SkipThoughtObjective(N_WORDS, 8, 16, softmax, [10, 25] if softmax == "adaptive" else None)


def by_hand(model: SkipThoughtObjective, decoder, context, ids, mask) -> torch.Tensor:
    """The NLL from the full distribution at every position, padding masked out afterwards."""
    inputs = model.embedding(ids)
    states, _ = decoder(torch.cat([torch.zeros_like(inputs[:, :1]), inputs[:, :-1]], dim=1), context[None])
    log_probs = (model.logits.log_prob(states.reshape(-1, 16)) if model.softmax == "adaptive"
                 else F.log_softmax(model.logits(states.reshape(-1, 16)), dim=-1))
    return -(log_probs.gather(1, ids.reshape(-1, 1))[:, 0] * mask.reshape(-1)).sum()


@pytest.mark.parametrize("softmax", ["full", "adaptive"])
def test_cost_is_the_nll_of_the_real_tokens_and_padding_gets_no_gradient(softmax):
    model = tiny(softmax)
    source, lengths, next_ids, next_mask, prev_ids, prev_mask = batch()
    cost = model(*batch())
    with torch.no_grad():
        context = model.encode(source, lengths)
        expected = (by_hand(model, model.decoder_next, context, next_ids, next_mask)
                    + by_hand(model, model.decoder_prev, context, prev_ids, prev_mask))
    torch.testing.assert_close(cost, expected)
    cost.backward()
    assert model.embedding.weight.grad[PADDING_ONLY].abs().sum() == 0


def test_the_adaptive_softmax_objective_learns():
    model = tiny("adaptive")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    costs = []
    for _ in range(30):
        cost = model(*batch())
        optimizer.zero_grad()
        cost.backward()
        optimizer.step()
        costs.append(float(cost.detach()))
    assert costs[-1] < costs[0] / 2, costs
