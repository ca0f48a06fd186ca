"""Topic words: which caption words take a bonus and how much, and that a search uses a topic word once
and then goes on with the model's own odds."""

import pytest
import torch

from model.decoder.beam_search import SearchOptions, beam_search, unused_bonus
from model.decoder.sampling import sample
from pipelines.stories.topics import TopicParams, TopicWords

WORDS = ["<eos>", "UNK", ",", ".", "the", "a", "dog", "Dog", "grass", "runs", "on", "ball", "red"]


def test_weights_are_shares_of_captions_over_lowercase_content_words():
    topics = TopicWords(WORDS)
    weights = topics.weights(["A dog runs on the grass .", "The dog , a red ball .", "Dogs play ."])
    named = {WORDS[i]: share for i, share in weights.items()}
    # stopwords, punctuation and the capitalised "Dog" take none; "Dogs" is not in the vocabulary
    assert named == pytest.approx({"dog": 2 / 3, "runs": 1 / 3, "grass": 1 / 3, "red": 1 / 3, "ball": 1 / 3})


def test_a_topic_word_needs_min_captions():
    topics = TopicWords(WORDS)
    weights = topics.weights(["A dog runs on the grass .", "The dog , a red ball .", "Dogs play ."], min_captions=2)
    assert {WORDS[i]: share for i, share in weights.items()} == pytest.approx({"dog": 2 / 3})
    bonus = topics.bonus([["a dog", "a red dog", "red grass"]], 3.0, min_captions=2)
    assert bonus[0, WORDS.index("dog")] == 2.0 and bonus[0, WORDS.index("red")] == 2.0
    assert bonus[0, WORDS.index("grass")] == 0


def test_bonus_rows_scale_shares_by_the_strength():
    bonus = TopicWords(WORDS).bonus([["a dog"], ["red grass", "red ball"], []], 6.0)
    assert bonus.shape == (3, len(WORDS))
    assert bonus[0, WORDS.index("dog")] == 6.0 and bonus[0].count_nonzero() == 1
    assert bonus[1, WORDS.index("red")] == 6.0 and bonus[1, WORDS.index("grass")] == 3.0
    assert bonus[2].count_nonzero() == 0


def test_a_used_word_loses_its_bonus():
    bonus = torch.tensor([[0.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    rows = unused_bonus(bonus, torch.tensor([0, 0, 1]), torch.tensor([[2], [0], [1]]))
    assert rows.tolist() == [[0.0, 2.0, 0.0], [0.0, 2.0, 3.0], [1.0, 0.0, 1.0]]


def _step(prev: torch.Tensor, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed language model: <eos> after five steps is likely, "dog" (6) never much."""
    logits = torch.zeros((len(prev), len(WORDS)))
    logits[:, 6] = -6.0
    logits[:, 0] = torch.where(states[:, 0] >= 5, 4.0, -4.0)
    return torch.log_softmax(logits, dim=1), states + 1


@pytest.mark.parametrize("search", ["sample", "normalized"])
def test_a_topic_word_is_told_once(search):
    options = SearchOptions.for_mode(search, max_len=12, no_repeat_ngram=0)
    states = torch.zeros((4, 1))
    bonus = torch.zeros((4, len(WORDS)))
    bonus[:2, 6] = 12.0  # contexts 0 and 1 are about the dog, 2 and 3 have no topic
    if search == "sample":
        results = sample(_step, states, options, [1, 2, 3, 4], bonus=bonus)
    else:
        results = beam_search(_step, states, options, bonus=bonus)
    counts = [result.best.tokens.count(6) for result in results]
    assert counts[:2] == [1, 1] and counts[2:] == [0, 0]


def test_topic_params_are_checked():
    with pytest.raises(ValueError, match="topic bonus"):
        TopicParams(bonus=-1.0)
    with pytest.raises(ValueError, match="topic captions"):
        TopicParams(captions=0)
    with pytest.raises(ValueError, match="topic bonus"):
        TopicParams(bonus=float("nan"))
    with pytest.raises(ValueError, match=r"topic captions \(3\) >= the captions a topic word needs \(4\)"):
        TopicParams(captions=3, min_captions=4)
