"""Beam search on Markov "language models" (a fixed table of log-probabilities of the next token
given the previous one, one table per context), against a one-hypothesis-at-a-time restatement
of the original's gen_sample + run_sampler (reference c.3) and against brute force."""

import itertools
import math

import numpy as np
import pytest
import torch

from model.decoder.beam_search import SearchOptions, beam_search

EOS, UNK = 0, 1


def markov_step(tables: torch.Tensor):
    """tables (C, V + 1, V): row 0 follows START, row w + 1 follows word w; the state is the context."""
    return lambda prev, state: (tables[state[:, 0].long(), prev + 1], state)


def contexts(ids) -> torch.Tensor:
    return torch.tensor(ids, dtype=torch.float32)[:, None]


def random_tables(n: int, vocab: int, seed: int, sharpness: float = 2.0) -> torch.Tensor:
    logits = torch.randn((n, vocab + 1, vocab), generator=torch.Generator().manual_seed(seed)) * sharpness
    return torch.log_softmax(logits, dim=-1)


def table_from_probs(rows: dict[int, dict[int, float]], vocab: int) -> torch.Tensor:
    """One context's table from {previous word (-1 = START): {word: p}}; unnamed words share the rest."""
    table = torch.zeros((vocab + 1, vocab), dtype=torch.float64)
    for prev in range(-1, vocab):
        given = rows.get(prev, {})
        rest = (1 - sum(given.values())) / max(1, vocab - len(given))
        table[prev + 1] = torch.tensor([given.get(w, rest) for w in range(vocab)])
    return table.log().float()[None]


def original_reference(table: np.ndarray, k: int, maxlen: int) -> tuple[list[int], float]:
    """The original's search and text choice, hypothesis by hypothesis, with a stable argsort."""
    vocab = table.shape[1]
    live, samples, costs, dead = [([], np.float32(0))], [], [], 0
    for _ in range(maxlen):
        cand = np.stack([cost - table[(h[-1] if h else -1) + 1] for h, cost in live]).astype(np.float32)
        cand[:, UNK] = 1e20
        flat = cand.ravel()
        new_live = []
        for index in np.argsort(flat, kind="stable")[: k - dead]:
            hypothesis = [*live[index // vocab][0], int(index % vocab)]
            if hypothesis[-1] == EOS:
                samples.append(hypothesis)
                costs.append(flat[index])
                dead += 1
            else:
                new_live.append((hypothesis, flat[index]))
        live = new_live
        if not live or dead >= k:
            break
    samples += [h for h, _ in live]
    costs += [c for _, c in live]
    texts = [s[:-1] for s in samples]
    if not texts[0] and len(texts) > 1:  # with nothing left the original crashed; the port keeps it
        texts, costs = texts[1:], costs[1:]
    best = int(np.argmin(costs))
    return texts[best], float(costs[best])


@pytest.mark.parametrize(("k", "maxlen"), [(1, 6), (2, 2), (3, 6), (5, 4)])
def test_original_search_matches_the_original_batched(k, maxlen):
    tables = random_tables(6, vocab=5, seed=k * 10 + maxlen, sharpness=1.5)
    results = beam_search(markov_step(tables), contexts(range(6)), SearchOptions.for_mode("original", beam_width=k,
                                                                                        max_len=maxlen))
    for table, result in zip(tables.numpy(), results, strict=True):
        tokens, cost = original_reference(table, k, maxlen)
        assert (result.best.tokens, -result.best.score) == (tokens, cost)
        assert len(result.finished) == k  # bw is also the number of finished hypotheses


def test_original_beam_shrinks_as_hypotheses_end():
    rows_per_step = []
    step = markov_step(table_from_probs({-1: {EOS: 0.1}, 2: {EOS: 0.5}, 3: {EOS: 0.3}}, vocab=6))

    def counting(prev, state):
        rows_per_step.append(len(prev))
        return step(prev, state)

    result = beam_search(counting, contexts([0]), SearchOptions.for_mode("original", beam_width=4))[0]
    dead_before = [sum(h.ended and len(h.tokens) < t for h in result.finished) for t in range(len(rows_per_step))]
    assert rows_per_step == [1] + [4 - dead for dead in dead_before[1:]]
    assert rows_per_step[-1] < 4 and len(result.finished) == 4


def test_original_cut_at_maxlen_drops_a_real_word_and_bans_unk():
    table = table_from_probs({w: {EOS: 1e-12, UNK: 0.6, 2: 0.25, 3: 0.1} for w in range(-1, 5)}, vocab=5)
    result = beam_search(markov_step(table), contexts([0]), SearchOptions.for_mode("original", beam_width=2,
                                                                                   max_len=3))[0]
    assert not any(h.ended for h in result.finished)
    words = itertools.product([2, 3, 4], repeat=3)  # UNK banned, <eos> too unlikely to be chosen
    best = max(words, key=lambda seq: sum(table[0, p + 1, w].item() for p, w in zip((-1, *seq), seq, strict=False)))
    assert result.best.tokens == list(best[:2]) == [2, 2]


def test_original_skips_only_an_empty_first_entry():
    # The model ends at once with the highest probability; with max_len 1 the two cut hypotheses
    # are empty texts too, but only the first entry is removed.
    table = table_from_probs({-1: {EOS: 0.7, 2: 0.2, 3: 0.05}}, vocab=5)
    first = beam_search(markov_step(table), contexts([0]), SearchOptions.for_mode("original", beam_width=3,
                                                                                  max_len=1))[0]
    assert [h.tokens for h in first.finished] == [[], [], []]
    assert first.best is first.finished[1]
    longer = beam_search(markov_step(table), contexts([0]), SearchOptions.for_mode("original", beam_width=2))[0]
    assert longer.finished[0].tokens == [] and longer.finished[0].score > longer.best.score
    assert longer.best.tokens


@pytest.mark.parametrize("mode", ["original", "normalized"])
def test_batch_equals_separate_runs(mode):
    tables = random_tables(5, vocab=7, seed=3)
    options = SearchOptions.for_mode(mode, beam_width=3, max_len=8)
    batched = beam_search(markov_step(tables), contexts(range(5)), options)
    for i, result in enumerate(batched):
        assert beam_search(markov_step(tables), contexts([i]), options)[0] == result


def normalized_brute_force(table: torch.Tensor, max_len: int, alpha: float) -> tuple[list[int], float]:
    """Every story of 1..max_len-1 words plus <eos>, scored log p / ((5 + len) / 6) ** alpha."""
    scores = {}
    for n_words in range(1, max_len):
        for words in itertools.product(range(2, table.shape[1]), repeat=n_words):
            path = (*words, EOS)
            log_prob = sum(table[p + 1, w].item() for p, w in zip((-1, *path), path, strict=False))
            scores[words] = log_prob / ((5 + len(path)) / 6) ** alpha
    best = max(scores, key=scores.get)
    return list(best), scores[best]


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_normalized_search_with_a_full_beam_finds_the_best_story(alpha):
    tables = random_tables(4, vocab=4, seed=7)  # two real words: 14 stories of up to 3 words
    options = SearchOptions(beam_width=16, max_len=4, length_penalty=alpha, no_repeat_ngram=0)
    for table, result in zip(tables, beam_search(markov_step(tables), contexts(range(4)), options), strict=True):
        tokens, score = normalized_brute_force(table, 4, alpha)
        assert result.best.tokens == tokens
        assert result.best.score == pytest.approx(score, rel=1e-5)


def test_length_penalty_prefers_longer_stories():
    # Ending costs as much whenever it happens; each word costs little: raw log-prob favours one word.
    table = table_from_probs({-1: {2: 0.9}, 2: {3: 0.9, EOS: 0.05}, 3: {4: 0.9, EOS: 0.05},
                              4: {2: 0.9, EOS: 0.05}}, vocab=5)
    lengths = [len(beam_search(markov_step(table), contexts([0]), SearchOptions(
        beam_width=2, max_len=8, length_penalty=alpha, no_repeat_ngram=0))[0].best.tokens) for alpha in (0, 1)]
    assert lengths == [1, 7]


def test_ngram_blocking_stops_loops():
    table = table_from_probs({-1: {2: 0.9}, 2: {3: 0.9}, 3: {2: 0.9}}, vocab=6)  # 2 3 2 3 2 3 ...
    options = SearchOptions(beam_width=3, max_len=12, length_penalty=1.0, no_repeat_ngram=0)
    looping = beam_search(markov_step(table), contexts([0]), options)[0]
    assert looping.best.tokens[:6] == [2, 3, 2, 3, 2, 3]
    for n in (1, 2, 3):
        blocked = beam_search(markov_step(table), contexts([0]), SearchOptions(
            beam_width=3, max_len=12, length_penalty=1.0, no_repeat_ngram=n))[0]
        for hypothesis in blocked.finished:
            grams = list(zip(*(hypothesis.tokens[i:] for i in range(n)), strict=False))
            assert len(grams) == len(set(grams)), hypothesis.tokens


def greedy(table: torch.Tensor, max_len: int, stop_at_start: bool) -> list[int]:
    tokens, prev = [], -1
    for t in range(max_len):
        row = table[prev + 1].clone()
        row[UNK] = -math.inf
        if not stop_at_start and t == 0:
            row[EOS] = -math.inf
        prev = int(row.argmax())
        if prev == EOS:
            return tokens
        tokens.append(prev)
    return tokens


def test_beam_width_one_is_greedy():
    tables = random_tables(6, vocab=6, seed=11, sharpness=3.0)
    normalized = SearchOptions(beam_width=1, max_len=9, length_penalty=0.0, no_repeat_ngram=0)
    original = SearchOptions.for_mode("original", beam_width=1, max_len=9)
    for table, a, b in zip(tables, beam_search(markov_step(tables), contexts(range(6)), normalized),
                           beam_search(markov_step(tables), contexts(range(6)), original), strict=True):
        assert a.best.tokens == greedy(table, 8, stop_at_start=False)
        ended = greedy(table, 9, stop_at_start=True)
        assert b.best.tokens == (ended if b.best.ended else ended[:-1])  # the original's maxlen quirk


def test_unk_is_banned_unless_allowed_and_ties_go_to_the_lower_id():
    table = table_from_probs({w: {UNK: 0.5, 2: 0.1, 3: 0.1, EOS: 0.3} for w in range(-1, 4)}, vocab=4)
    options = SearchOptions(beam_width=2, max_len=5, length_penalty=0.0, no_repeat_ngram=0)
    banned = beam_search(markov_step(table), contexts([0]), options)[0]
    assert banned.best.tokens == [2]  # 2 and 3 are equally likely
    assert all(UNK not in h.tokens for h in banned.finished)
    allowed = beam_search(markov_step(table), contexts([0]), SearchOptions(
        beam_width=2, max_len=5, length_penalty=0.0, no_repeat_ngram=0, ban_unk=False))[0]
    assert allowed.best.tokens == [UNK]


def test_options_are_checked():
    with pytest.raises(ValueError, match="normalized search"):
        SearchOptions(mode="original")
    assert SearchOptions.for_mode("original") == SearchOptions("original", 50, 1000, 0.0, 0, True)
    with pytest.raises(ValueError, match="not one of"):
        SearchOptions.for_mode("sampling")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("mode", ["original", "normalized"])
def test_cuda_gives_the_cpu_results(mode):
    tables = random_tables(8, vocab=50, seed=5)
    options = SearchOptions.for_mode(mode, beam_width=4, max_len=20)
    on_cpu = beam_search(markov_step(tables), contexts(range(8)), options)
    assert beam_search(markov_step(tables.cuda()), contexts(range(8)).cuda(), options) == on_cpu
