"""Batched beam search over a step function, for the story decoder (reference c.3).

`beam_search(step, initial_states, options)` decodes N contexts (one per image) at once: the live
hypotheses of every context are the rows of one tensor, advanced by one `step` call per time step,
and each context picks its candidates with one batched top-k, on whatever device the tensors are.

Two searches:

* ``original``: the original's `gen_sample` + `run_sampler`. Costs are float32 sums of -log p with
  no length normalisation; the beam shrinks by one for each hypothesis that ends, so `beam_width`
  is also the number of finished hypotheses; the text is the lowest-cost one, with the original's
  quirks (the last token of every hypothesis is dropped, an empty first entry is skipped).
* ``normalized`` (default): a constant beam of the `beam_width` best hypotheses that go on; one
  that ends with <eos> among the top `beam_width` candidates is finished and scored by GNMT's
  length-normalised log-probability, log p(Y) / ((5 + |Y|) / 6) ** alpha, |Y| counting its <eos>.
  A context stops when no live hypothesis can beat its best finished one: a live hypothesis with
  log-probability S <= 0 can reach at most S / lp(max_len). <eos> is banned at the first step (no
  empty story) and forced at the last (a cut story is scored as ending there). Optional n-gram
  blocking.

Ties are broken by a fixed rule in both: lower parent slot first, then lower token id (the
original's numpy argsort was not stable, so its ties fell arbitrarily).

`SearchOptions` also holds the options of the third mode, ``sample`` (model/decoder/sampling.py),
which shares the normalized search's token bans (`ban_tokens`).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
MODES = ("original", "normalized", "sample")
STORY_SEARCH = "sample"  # the default of `stories`, `decode` and the demo, chosen by bench/story_quality.py
START = -1  # previous token at the first step (the decoder's zero input)
UNK_COST = 1e20  # the original sets the UNK column to this cost rather than removing it
# The original's `story()` values: bw = 50, maxlen = 1000; it has no length penalty or n-gram blocking.
ORIGINAL_DEFAULTS = {"beam_width": 50, "max_len": 1000, "length_penalty": 0.0, "no_repeat_ngram": 0}
# Nucleus sampling as in Holtzman et al. 2019 (p 0.9-0.95 reads closest to human text), a little
# cooled; blocking repeated trigrams stops the loops a small decoder falls into even when sampling.
SAMPLE_DEFAULTS = {"beam_width": 1, "length_penalty": 0.0, "no_repeat_ngram": 3, "top_p": 0.9, "temperature": 0.8}
# The fields each mode reads: what stage keys and collections record. The beam searches' are all
# the fields there were before sampling, so stories told then keep their stage keys and collections.
BEAM_READS = ("mode", "beam_width", "max_len", "length_penalty", "no_repeat_ngram", "ban_unk")
SAMPLE_READS = ("mode", "max_len", "no_repeat_ngram", "ban_unk", "top_p", "temperature")


@dataclass(frozen=True)
class SearchOptions:
    """How to search. The defaults are for the normalized search:

    * beam_width 5: with length normalisation most of the gain of a beam comes by 4-8 hypotheses;
      wider beams cost time linearly and drift towards generic text.
    * max_len 150 decoding steps (tokens, <eos> included): the corpus stage caps passages at 150
      tokens, so a decoder trained on them has never seen a longer story; a runaway is cut.
      The bound on what a live hypothesis can still reach uses it, so it also sets the run time.
    * length_penalty 0.6 (alpha): the usual default of GNMT-style scorers (e.g. tensor2tensor);
      0 ranks by the raw log-probability, which favours short stories.
    * no_repeat_ngram 4: beam search on a language model loops ("she said , she said , ..."), the
      more so here where the context only sets the first state; blocking repeated 4-grams stops
      loops yet lets common trigrams of prose (". She was") recur. 0 turns it off.
    * ban_unk: never emit UNK, as the original.

    Use `for_mode("original")` for the original's values (beam 50, max_len 1000, neither option).

    The sample mode (`for_mode("sample")`) draws one text per context from the nucleus: the fewest
    most likely tokens whose probabilities, at `temperature`, sum to at least `top_p` (p 0.9,
    temperature 0.8, no repeated trigram; beam width 1 and no length penalty, which it does not
    use). top_p and temperature 1 (the values the beam searches require) sample the model as it is.
    """

    mode: str = "normalized"
    beam_width: int = 5
    max_len: int = 150
    length_penalty: float = 0.6
    no_repeat_ngram: int = 4
    ban_unk: bool = True
    top_p: float = 1.0
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"search mode {self.mode!r} is not one of {MODES}")
        if self.beam_width < 1 or self.max_len < 1:
            raise ValueError(f"beam width ({self.beam_width}) and max length ({self.max_len}) must be at least 1")
        if self.mode == "normalized" and self.max_len < 2:
            raise ValueError("the normalized search needs max length >= 2: one word and <eos>")
        if self.length_penalty < 0 or self.no_repeat_ngram < 0:
            raise ValueError(f"length penalty ({self.length_penalty}) and no-repeat n-gram size "
                             f"({self.no_repeat_ngram}) must be >= 0")
        if self.mode == "original" and (self.length_penalty or self.no_repeat_ngram):
            raise ValueError("length penalty and n-gram blocking belong to the normalized search; the original "
                             "search (reference c.3) has neither: set them to 0 or use the normalized search")
        if self.mode != "sample" and (self.top_p != 1 or self.temperature != 1):
            raise ValueError(f"top-p ({self.top_p}) and temperature ({self.temperature}) belong to the sample "
                             f"search; the {self.mode} search takes neither: leave them out or use the sample search")
        if self.mode == "sample":
            self._check_sampling()

    def _check_sampling(self) -> None:
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top-p must be in (0, 1], not {self.top_p}: the probability mass the nucleus "
                             "keeps (1 = every token; a tiny value = always the most likely one)")
        if not self.temperature > 0:  # also refuses NaN
            raise ValueError(f"temperature must be above 0, not {self.temperature} (for greedy decoding give a "
                             "tiny top-p instead)")
        if self.beam_width != 1 or self.length_penalty:
            raise ValueError(f"beam width ({self.beam_width}) and length penalty ({self.length_penalty}) belong "
                             "to the beam searches; the sample search draws one text per vector: leave them out")
        if self.max_len < 2:
            raise ValueError("the sample search needs max length >= 2: one word and <eos>")

    @classmethod
    def for_mode(cls, mode: str, **given: float | int | bool | None) -> "SearchOptions":
        """The defaults of `mode`, overridden by the `given` values that are not None."""
        defaults = {"original": ORIGINAL_DEFAULTS, "sample": SAMPLE_DEFAULTS}.get(mode, {})
        return cls(mode=mode, **{**defaults, **{key: value for key, value in given.items() if value is not None}})

    def settings(self) -> dict:
        """The options this mode reads, by name: what a run records of its search."""
        return {name: getattr(self, name) for name in (SAMPLE_READS if self.mode == "sample" else BEAM_READS)}


@dataclass(frozen=True)
class Hypothesis:
    tokens: list[int]  # the text's token ids, without <eos>
    log_prob: float  # sum of the log-probabilities of all generated tokens, <eos> included
    score: float  # what the search ranks by, higher is better (original: log_prob, i.e. minus its cost)
    ended: bool  # False: reached max_len (original: cut there; normalized: <eos> forced there)


@dataclass(frozen=True)
class SearchResult:
    best: Hypothesis
    finished: list[Hypothesis]  # every finished hypothesis of the context, in the order found


def beam_search(step: StepFn, initial_states: torch.Tensor, options: SearchOptions, eos: int = 0,
                unk: int = 1, bonus: torch.Tensor | None = None) -> list[SearchResult]:
    """Decode N contexts at once. `step(prev (M,), states (M, H)) -> (log_probs (M, V), states)`,
    `prev` being START (-1) at the first step; `initial_states` (N, H) holds one row per context.
    eos = 0 and unk = 1 are the original dictionaries' ids (reference a.2). `bonus` (N, V), if given,
    is added to each context's log-probabilities until the word is used (`unused_bonus`); scores
    then include it."""
    if options.mode not in ("original", "normalized"):
        raise ValueError(f"beam_search runs the original and normalized searches, not {options.mode!r} "
                         "(model/decoder/sampling.py samples)")
    with torch.inference_mode():
        return _search(step, initial_states, options, eos, unk, bonus)


def _search(step: StepFn, states: torch.Tensor, options: SearchOptions, eos: int, unk: int,
            bonus: torch.Tensor | None) -> list[SearchResult]:
    n, k, device = states.shape[0], options.beam_width, states.device
    original = options.mode == "original"
    # Live hypotheses are rows grouped by context, cheapest first within one: the original's order
    # of hypotheses, on which both its tie-breaks and its choice of text depend.
    owner = torch.arange(n, device=device)
    tokens = torch.zeros((n, 0), dtype=torch.long, device=device)
    costs = torch.zeros(n, dtype=torch.float32, device=device)  # -sum log p, accumulated in float32
    finished: list[list[Hypothesis]] = [[] for _ in range(n)]
    best = [-math.inf] * n  # best finished score per context
    ranks = torch.arange(2 * k, device=device)
    for t in range(options.max_len):
        prev = tokens[:, -1] if t else torch.full((len(owner),), START, dtype=torch.long, device=device)
        log_probs, states = step(prev, states)
        candidates = costs[:, None] - log_probs.float()
        if bonus is not None and t:  # the first word stays the model's: a capitalised sentence start
            candidates -= unused_bonus(bonus, owner, tokens)
        ban_tokens(candidates, tokens, t, options, eos, unk)
        cost, row, word = _best_per_context(candidates, owner, n, k, k if original else 2 * k)
        # An infinite cost (p = 0, banned, or no candidate at all) is never taken; the original could
        # take a p = 0 word when nothing else was left, which needs a vocabulary smaller than the beam.
        rank, possible = ranks[: cost.shape[1]], torch.isfinite(cost)
        if original:  # k - dead live slots per context: the beam shrinks as hypotheses end
            room = k - torch.tensor([len(f) for f in finished], device=device)
            chosen = possible & (rank < room[:, None])
            ends, live = chosen & (word == eos), chosen & (word != eos)
        else:  # ends among the top k are finished; the best k others go on
            ends = possible & (word == eos) & (rank < k)
            going = possible & (word != eos)
            live = going & (going.cumsum(dim=1) <= k)
        ended = original or t < options.max_len - 1
        for context, ids, total in zip(*_host(ends.nonzero(as_tuple=True)[0], tokens[row[ends]], cost[ends]),
                                       strict=True):
            finished[context].append(_hypothesis(ids, -total, len(ids) + 1, ended, options))
            best[context] = max(best[context], finished[context][-1].score)
        if not original:
            live &= ~_cannot_win(cost, live, best, options)[:, None]
        context, slot = live.nonzero(as_tuple=True)
        parents = row[context, slot]
        owner, states, costs = context, states[parents], cost[context, slot]
        tokens = torch.cat([tokens[parents], word[context, slot][:, None]], dim=1)
        if not len(owner):
            break
    # Original only (the normalized search forces <eos> at max_len): hypotheses still live at
    # max_len are finished as they are, and lose their last token like every other hypothesis,
    # since the original drops the last token to remove the <eos> (its quirk: a real word here).
    for context, ids, total in zip(*_host(owner, tokens, costs), strict=True):
        finished[context].append(_hypothesis(ids[:-1], -total, len(ids), False, options))
    return [SearchResult(_choose(f, original, c), f) for c, f in enumerate(finished)]


def _cannot_win(cost: torch.Tensor, live: torch.Tensor, best: list[float], options: SearchOptions) -> torch.Tensor:
    """(N,) contexts whose live hypotheses cannot beat the best finished one. Log-probabilities
    only fall as a hypothesis grows and the length penalty grows with the length, so S / lp(max_len)
    bounds the score of anything a live hypothesis with log-probability S can become."""
    reach = torch.where(live, -cost, -math.inf).amax(dim=1) / _length_penalty(options.max_len, options)
    return torch.tensor(best, device=cost.device) >= reach


def unused_bonus(bonus: torch.Tensor, owner: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(M, V) each live row's bonus: its context's row of `bonus`, less the words the row already holds,
    so a topic word is pushed into a text once rather than repeated."""
    rows = bonus[owner]
    return rows.scatter(1, tokens, 0.0) if tokens.shape[1] else rows


def ban_tokens(candidates: torch.Tensor, tokens: torch.Tensor, t: int, options: SearchOptions, eos: int,
               unk: int) -> None:
    """Costs (-log p, inf = never) of forbidden next tokens, in place; `tokens` (M, t) holds each
    row's text so far. The normalized search and sampling ban the same tokens."""
    if options.mode == "original":
        if options.ban_unk:
            candidates[:, unk] = UNK_COST
        return
    if options.ban_unk:
        candidates[:, unk] = math.inf
    if t == 0:  # no empty story (the original skips an empty first one)
        candidates[:, eos] = math.inf
    if t == options.max_len - 1:  # end here, so the story is scored with the cost of ending
        candidates[:, :eos] = math.inf
        candidates[:, eos + 1:] = math.inf
    if options.no_repeat_ngram:
        candidates.masked_fill_(_repeats(tokens, options.no_repeat_ngram, candidates.shape[1]), math.inf)


def _repeats(tokens: torch.Tensor, n: int, vocab: int) -> torch.Tensor:
    """(M, V) mask of the tokens that would complete an n-gram already in each hypothesis."""
    blocked = torch.zeros((tokens.shape[0], vocab), dtype=torch.int32, device=tokens.device)
    t = tokens.shape[1]
    if t < n:
        return blocked.bool()
    windows = tokens.unfold(1, n, 1)  # (M, t - n + 1, n): every n-gram so far
    follows_suffix = (windows[:, :, :-1] == tokens[:, None, t - n + 1:]).all(dim=2)
    return blocked.scatter_add_(1, windows[:, :, -1], follows_suffix.int()) > 0


def _best_per_context(candidates: torch.Tensor, owner: torch.Tensor, n: int, k: int,
                      width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The `width` cheapest candidates of each context, as (N, width) costs (inf where there are
    fewer), parent rows and words. A context picks at most `width` from one row, so each row's
    own top `width` is taken first: the (N, k * width) pool is small however large V is."""
    rows, vocab = candidates.shape
    per_row = min(width, vocab)
    row_cost, row_word = _smallest(candidates, per_row)
    counts = torch.bincount(owner, minlength=n)
    starts = counts.cumsum(0) - counts
    slot = torch.arange(rows, device=owner.device) - starts[owner]
    pool = torch.full((n, k, per_row), math.inf, device=candidates.device)
    pool[owner, slot] = row_cost
    cost, flat = _smallest(pool.view(n, k * per_row), min(width, k * per_row))
    # Flat pool order is (slot, rank in row), so ties go to the lower slot, then the lower word.
    row = (starts[:, None] + flat // per_row).clamp(max=rows - 1)  # clamped entries have cost inf
    return cost, row, row_word[row, flat % per_row]


def _smallest(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k smallest values of each row, ascending, and their column indices; of equal values the
    lower indices are taken and come first. NaN counts as largest (and is dropped as not finite)."""
    rows, columns = x.shape
    if k < columns:
        values, index = torch.topk(x, k + 1, dim=1, largest=False)
        # Which of several values equal to the k-th topk keeps is unspecified; settle those rows.
        tied = (values[:, k - 1] == values[:, k]).nonzero()[:, 0]
        index = index[:, :k]
        if len(tied):
            index[tied] = _lowest_indices(x[tied], values[tied, k - 1:k], k)
    else:
        index = torch.arange(columns, device=x.device).expand(rows, columns)
    index = index.sort(dim=1).values
    values, order = torch.sort(x.gather(1, index), dim=1, stable=True)
    return values, index.gather(1, order)


def _lowest_indices(x: torch.Tensor, kth: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k smallest of each row, whose k-th smallest value is `kth`, taking the lowest
    indices among the values equal to it."""
    below, at = x < kth, x == kth
    take = below | (at & (at.cumsum(dim=1) <= k - below.sum(dim=1, keepdim=True)))
    return take.nonzero()[:, 1].view(x.shape[0], k)


def _host(*tensors: torch.Tensor) -> list[list]:
    return [tensor.tolist() for tensor in tensors]


def _length_penalty(length: int, options: SearchOptions) -> float:
    """GNMT's lp(|Y|) = ((5 + |Y|) / 6) ** alpha; 1 for the original, which ranks by raw cost."""
    return 1.0 if options.mode == "original" else ((5 + length) / 6) ** options.length_penalty


def _hypothesis(ids: list[int], log_prob: float, length: int, ended: bool, options: SearchOptions) -> Hypothesis:
    return Hypothesis(ids, log_prob, log_prob / _length_penalty(length, options), ended)


def _choose(finished: list[Hypothesis], original: bool, context: int) -> Hypothesis:
    """The best hypothesis; on equal scores the first found (numpy's argmin did the same)."""
    if not finished:
        raise ValueError(f"context {context}: no hypothesis could be generated (every token banned or impossible)")
    candidates = finished
    # run_sampler removes the first entry when it is empty (the model ended at once), and only
    # that one; if nothing is left the original crashed, and this returns the empty text.
    if original and not finished[0].tokens and len(finished) > 1:
        candidates = finished[1:]
    return max(candidates, key=lambda hypothesis: hypothesis.score)
