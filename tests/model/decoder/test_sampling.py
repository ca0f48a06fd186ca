"""Nucleus sampling on a small random StoryDecoder and on Markov "language models" (a fixed table of
next-token log-probabilities per previous token): reproducible per text, greedy at a tiny top-p, the
nucleus and temperature as stated, the bans of the normalized search, clear errors."""

import math
from collections import Counter

import pytest
import torch

from model.decoder.beam_search import SearchOptions, beam_search
from model.decoder.conditional_gru import DecoderConfig, StoryDecoder
from model.decoder.sampling import sample, text_seed

EOS, UNK = 0, 1
SAMPLE = SearchOptions.for_mode("sample", max_len=20)


@pytest.fixture(scope="module")
def decoder():
    torch.manual_seed(0)
    model = StoryDecoder(DecoderConfig(n_words=30, dim_word=8, dim=16, dim_ctx=6))
    with torch.no_grad():  # sharper than the default init, so the first state decides the story
        for parameter in model.parameters():
            parameter.mul_(3)
    return model


def states(decoder, n: int, seed: int = 1) -> torch.Tensor:
    with torch.inference_mode():
        return decoder.initial_state(torch.randn((n, 6), generator=torch.Generator().manual_seed(seed)))


def tokens(results) -> list[list[int]]:
    return [result.best.tokens for result in results]


def markov(probs: dict[int, dict[int, float]], vocab: int):
    """A step whose next-token distribution depends only on the previous token (-1 = START)."""
    table = torch.full((vocab + 1, vocab), 1e-12)
    for prev, row in probs.items():
        for word, p in row.items():
            table[prev + 1, word] = p
    log_table = (table / table.sum(dim=1, keepdim=True)).log()
    return lambda prev, state: (log_table[prev + 1], state)


def test_same_seed_same_text_whatever_the_batch(decoder):
    start, seeds = states(decoder, 6), [text_seed(f"photo-{i}.jpg") for i in range(6)]
    batched = tokens(sample(decoder.step, start, SAMPLE, seeds))
    assert tokens(sample(decoder.step, start, SAMPLE, seeds)) == batched
    alone = [tokens(sample(decoder.step, start[i:i + 1], SAMPLE, seeds[i:i + 1]))[0] for i in range(6)]
    assert alone == batched
    reordered = [5, 2, 0, 4, 1, 3]
    assert tokens(sample(decoder.step, start[reordered], SAMPLE, [seeds[i] for i in reordered])) == \
        [batched[i] for i in reordered]
    same_context = start[[0] * 6]
    assert len({tuple(t) for t in tokens(sample(decoder.step, same_context, SAMPLE, seeds))}) > 1  # seeds matter


def greedy(decoder, start: torch.Tensor, max_len: int) -> list[int]:
    out, prev, state = [], torch.tensor([-1]), start[None]
    for t in range(max_len):
        log_probs, state = decoder.step(prev, state)
        log_probs[0, UNK] = -math.inf
        if t == 0:
            log_probs[0, EOS] = -math.inf
        prev = log_probs.argmax(dim=1) if t < max_len - 1 else torch.tensor([EOS])
        if prev.item() == EOS:
            return out
        out.append(prev.item())
    return out


def test_tiny_top_p_is_greedy(decoder):
    start = states(decoder, 5, seed=2)
    options = SearchOptions.for_mode("sample", top_p=1e-6, temperature=1.7, no_repeat_ngram=0, max_len=15)
    with torch.inference_mode():
        expected = [greedy(decoder, row, 15) for row in start]
    assert tokens(sample(decoder.step, start, options, range(5))) == expected


def test_nucleus_and_temperature_are_sampled_as_stated():
    step = markov({-1: {2: 0.5, 3: 0.3, 4: 0.2}, 2: {EOS: 1.0}, 3: {EOS: 1.0}, 4: {EOS: 1.0}}, vocab=5)
    n = 4000

    def shares(**given):
        options = SearchOptions.for_mode("sample", max_len=4, **given)
        counts = Counter(result.best.tokens[0] for result in sample(step, torch.zeros((n, 1)), options, range(n)))
        return {word: counts[word] / n for word in (2, 3, 4)}

    plain = shares(top_p=1.0, temperature=1.0)
    assert plain == pytest.approx({2: 0.5, 3: 0.3, 4: 0.2}, abs=0.03)
    nucleus = shares(top_p=0.6, temperature=1.0)  # 0.5 < 0.6: the two most likely, renormalised
    assert nucleus[4] == 0 and nucleus == pytest.approx({2: 0.625, 3: 0.375, 4: 0}, abs=0.03)
    cooled = shares(top_p=1.0, temperature=0.5)  # p ** 2, renormalised
    assert cooled == pytest.approx({2: 25 / 38, 3: 9 / 38, 4: 4 / 38}, abs=0.03)


def test_no_repeated_ngram_and_no_unk(decoder):
    loop = markov({-1: {2: 0.9, UNK: 0.1}, 2: {3: 0.6, UNK: 0.4}, 3: {2: 0.6, UNK: 0.4}, 4: {2: 1.0}}, vocab=6)
    looping = tokens(sample(loop, torch.zeros((20, 1)), SearchOptions.for_mode(
        "sample", max_len=12, no_repeat_ngram=0), range(20)))
    assert all(text[:6] == [2, 3, 2, 3, 2, 3] for text in looping)  # UNK is never drawn
    for n, step, start in [(2, loop, torch.zeros((20, 1))), (3, decoder.step, states(decoder, 20, seed=3))]:
        options = SearchOptions.for_mode("sample", max_len=40, no_repeat_ngram=n, top_p=1.0, temperature=1.0)
        for text in tokens(sample(step, start, options, range(20))):
            grams = list(zip(*(text[i:] for i in range(n)), strict=False))
            assert len(grams) == len(set(grams)) and UNK not in text, text
    allowed = SearchOptions.for_mode("sample", max_len=12, no_repeat_ngram=0, ban_unk=False, top_p=1.0)
    assert any(UNK in text for text in tokens(sample(loop, torch.zeros((20, 1)), allowed, range(20))))


def test_max_len_cuts_and_an_empty_story_never_happens():
    step = markov({-1: {EOS: 0.9, 2: 0.1}, 2: {3: 1.0}, 3: {2: 1.0}}, vocab=4)  # ends at once or never
    results = sample(step, torch.zeros((10, 1)), SearchOptions.for_mode("sample", max_len=7, no_repeat_ngram=0),
                     range(10))
    assert all(r.best.tokens == [2, 3, 2, 3, 2, 3] and not r.best.ended for r in results)
    assert all(r.best.log_prob == pytest.approx(math.log(0.1) + math.log(1e-12), rel=1e-4) for r in results)


@pytest.mark.parametrize(("given", "message"), [
    ({"top_p": 0.0}, r"top-p must be in \(0, 1\]"),
    ({"top_p": 1.5}, r"top-p must be in \(0, 1\]"),
    ({"temperature": 0.0}, "temperature must be above 0"),
    ({"temperature": math.nan}, "temperature must be above 0"),
    ({"beam_width": 5}, "belong to the beam searches"),
    ({"length_penalty": 0.6}, "belong to the beam searches"),
    ({"max_len": 1}, "max length >= 2"),
])
def test_bad_options_are_clear_errors(given, message):
    with pytest.raises(ValueError, match=message):
        SearchOptions.for_mode("sample", **given)


def test_modes_refuse_each_others_options_and_functions():
    with pytest.raises(ValueError, match="belong to the sample search"):
        SearchOptions.for_mode("normalized", top_p=0.9)
    assert SearchOptions.for_mode("sample") == SearchOptions("sample", 1, 150, 0.0, 3, True, 0.9, 0.8)
    assert SearchOptions.for_mode("sample").settings() == {"mode": "sample", "max_len": 150, "no_repeat_ngram": 3,
                                                           "ban_unk": True, "top_p": 0.9, "temperature": 0.8}
    start = torch.zeros((2, 1))
    with pytest.raises(ValueError, match="one seed per context"):
        sample(markov({}, 3), start, SAMPLE, [1])
    with pytest.raises(ValueError, match="not 'normalized'"):
        sample(markov({}, 3), start, SearchOptions(), [1, 2])
    with pytest.raises(ValueError, match="not 'sample'"):
        beam_search(markov({}, 3), start, SAMPLE)


def test_text_seed_is_64_bit_and_stable():
    assert text_seed("1000268201_693b08cb0e.jpg") == text_seed("1000268201_693b08cb0e.jpg")
    assert text_seed("a") != text_seed("b")
    assert 0 <= text_seed("a") < 2 ** 64
