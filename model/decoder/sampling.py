"""Batched nucleus sampling over a step function (Holtzman et al. 2019, "The Curious Case of Neural
Text Degeneration"): the `sample` search mode of `SearchOptions`.

`sample(step, initial_states, options, seeds)` draws one text for each of N contexts at once: the live
texts are the rows of one tensor, advanced by one `step` call per time step. At each step a text's
next token comes from its nucleus:

    p_t(w)   = softmax(log p(w | text so far) / temperature), banned tokens removed
    nucleus  = the fewest most likely tokens whose p_t sum to at least top_p
    w_t      ~ p_t restricted to the nucleus, renormalised

with the normalized beam search's bans (`ban_tokens`): UNK never, no <eos> at the first step (no
empty story), <eos> forced at the last step (`max_len`), no repeated n-gram of `no_repeat_ngram`
tokens. `<eos>` ends a text.

Reproducible by construction: each text has its own `torch.Generator`, seeded from its own 64-bit
seed, which draws all of the text's uniforms up front (one per step, on the CPU). A text's tokens
therefore depend only on its context and its seed, not on which other texts share its batch, nor on
the device (up to the device's float rounding of the probabilities). The token is found by inverting
the nucleus's cumulative distribution, sorted most likely first (ties to the lower id), so a tiny
top_p is greedy (argmax) decoding.
"""

import hashlib
from collections.abc import Sequence

import torch

from model.decoder.beam_search import START, Hypothesis, SearchOptions, SearchResult, StepFn, ban_tokens, unused_bonus


def text_seed(key: str) -> int:
    """A 64-bit seed from a text's name (an image id, a row number): the first 8 bytes of its sha256."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def sample(step: StepFn, initial_states: torch.Tensor, options: SearchOptions, seeds: Sequence[int], eos: int = 0,
           unk: int = 1, bonus: torch.Tensor | None = None) -> list[SearchResult]:
    """One sampled text per context. `step(prev (M,), states (M, H)) -> (log_probs (M, V), states)`,
    `prev` being START (-1) at the first step; `initial_states` (N, H) holds one row per context and
    `seeds` one seed in [0, 2**64) per context. Each result's `best` (its only entry in `finished`)
    has the text's tokens without <eos> and the model's log-probability of them, <eos> included
    (untempered and over the whole vocabulary), which is also its score. `bonus` (N, V), if given, is
    added to each context's log-probabilities before the temperature, until the word is used
    (`unused_bonus`); the log-probability reported stays the model's."""
    if options.mode != "sample":
        raise ValueError(f"sample() runs the sample search, not {options.mode!r} (use beam_search)")
    if len(seeds) != initial_states.shape[0]:
        raise ValueError(f"{len(seeds)} seeds for {initial_states.shape[0]} contexts: give one seed per context")
    uniforms = torch.stack([torch.rand(options.max_len, generator=torch.Generator().manual_seed(int(seed)))
                            for seed in seeds]) if len(seeds) else torch.zeros((0, options.max_len))
    with torch.inference_mode():
        return _sample(step, initial_states, options, uniforms.to(initial_states.device), eos, unk, bonus)


def _sample(step: StepFn, states: torch.Tensor, options: SearchOptions, uniforms: torch.Tensor, eos: int,
            unk: int, bonus: torch.Tensor | None) -> list[SearchResult]:
    n, device = states.shape[0], states.device
    owner = torch.arange(n, device=device)  # the context of each live row
    tokens = torch.zeros((n, 0), dtype=torch.long, device=device)
    log_prob = torch.zeros(n, dtype=torch.float32, device=device)
    found: list[Hypothesis | None] = [None] * n
    for t in range(options.max_len):
        prev = tokens[:, -1] if t else torch.full((len(owner),), START, dtype=torch.long, device=device)
        log_probs, states = step(prev, states)
        log_probs = log_probs.float()
        costs = -log_probs
        ban_tokens(costs, tokens, t, options, eos, unk)
        if not torch.isfinite(costs).any(dim=1).all():
            context = int(owner[~torch.isfinite(costs).any(dim=1)][0])
            raise ValueError(f"context {context}: every token is banned or impossible at step {t}")
        # The first word stays the model's (a capitalised sentence start); topic words come after it.
        logits = -costs if bonus is None or not t else unused_bonus(bonus, owner, tokens) - costs
        word = _draw(logits / options.temperature, options.top_p, uniforms[owner, t])
        log_prob = log_prob + log_probs.gather(1, word[:, None])[:, 0]
        tokens = torch.cat([tokens, word[:, None]], dim=1)
        ends = word == eos
        ended = t < options.max_len - 1  # False: <eos> was forced at max_len
        for context, ids, total in zip(owner[ends].tolist(), tokens[ends, :-1].tolist(), log_prob[ends].tolist(),
                                       strict=True):
            found[context] = Hypothesis(ids, total, total, ended)
        live = ~ends
        owner, states, tokens, log_prob = owner[live], states[live], tokens[live], log_prob[live]
        if not len(owner):
            break
    return [SearchResult(hypothesis, [hypothesis]) for hypothesis in found]


def _draw(logits: torch.Tensor, top_p: float, u: torch.Tensor) -> torch.Tensor:
    """(M,) tokens drawn from the nucleus of each row of `logits` (M, V) (-inf = banned), with one
    uniform u in [0, 1) per row: the first token, most likely first, whose cumulative probability
    within the nucleus passes u times the nucleus's mass."""
    probs, order = torch.softmax(logits, dim=1).sort(dim=1, descending=True, stable=True)
    cumulative = probs.cumsum(dim=1)
    # A token is in the nucleus if the more likely ones sum to less than top_p (the first always is);
    # zero-probability (banned) tokens never are, even when float rounding leaves the sum below 1.
    nucleus = (cumulative - probs < top_p) & (probs > 0)
    cumulative = (probs * nucleus).cumsum(dim=1)
    threshold = u * cumulative[:, -1]
    position = ((cumulative <= threshold[:, None]) & nucleus).sum(dim=1)
    # u * mass can round up to the mass itself: then the last token of the nucleus.
    position = torch.minimum(position, nucleus.sum(dim=1) - 1)
    return order.gather(1, position[:, None])[:, 0]
