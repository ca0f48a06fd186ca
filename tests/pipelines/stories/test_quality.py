"""The story metrics on real text: Flickr8k captions of the shared photos and paragraphs of two novels
(The Call of the Wild, The Castle of Otranto) in the project's tokens, plus crafted cases."""

import csv
import math

import numpy as np
import pytest

from model.text.sentences import split_sentences
from model.text.tokenize import tokenize
from pipelines.stories import quality as q
from pipelines.text.chapters import chapter_paragraphs
from pipelines.text.encodings import read_text
from pipelines.text.gutenberg import strip_gutenberg
from tests.conftest import NOVELS, SHARED_DATA

BOOKS = {"adventure": "adventure/london_call_of_the_wild_pg215", "romance": "romance/walpole_castle_of_otranto"}


@pytest.fixture(scope="module")
def books() -> dict[str, tuple[list[str], list[str]]]:
    """(first 80 %, last 20 %) of each book's paragraphs of 40+ tokens, as texts of space-joined tokens."""
    split = {}
    for style, book in BOOKS.items():
        body = chapter_paragraphs(strip_gutenberg(read_text(NOVELS / f"{book}.txt.gz").text))
        texts = [" ".join(t for s in split_sentences(p.text) for t in tokenize(s)) for p in body.paragraphs]
        texts = [text for text in texts if len(text.split()) >= 40]
        split[style] = texts[: len(texts) * 4 // 5], texts[len(texts) * 4 // 5 :]
    return split


@pytest.fixture(scope="module")
def captions() -> list[list[str]]:
    """The 5 captions of each of the first 20 photos."""
    by_photo: dict[str, list[str]] = {}
    with open(SHARED_DATA / "images" / "flickr8k_1000" / "captions.txt", newline="") as file:
        for row in csv.DictReader(file):
            by_photo.setdefault(row["image"], []).append(row["caption"])
    return list(by_photo.values())[:20]


def test_distinct_loops_and_length(captions):
    stories = [c[0] for c in captions]
    assert q.distinct(stories) == 1
    assert q.distinct([*stories[:3], "  " + stories[0].replace(" ", "  ")]) == pytest.approx(2 / 4)
    assert q.loop_share("the cat sat the cat sat") == pytest.approx(1 - 3 / 4)
    assert q.loop_share("hello there") == 0
    assert q.length("I do n't know , she said .") == 6


def test_loops_of_real_prose(books):
    paragraph = max(books["adventure"][1], key=len)
    assert q.loop_share(paragraph) < 0.05
    assert q.loop_share(" ".join([paragraph] * 3)) > 0.6


def test_relevance_counts_caption_content_words(captions):
    assert {"girl", "pink", "dress", "little"} <= q.content_words(captions[0])
    assert q.relevance("A little girl in a pink dress , a girl .", captions[0]) == 4
    assert q.relevance("It was in the house and of a day .", captions[0]) == 0
    stories = [c[0] for c in captions]
    own = q.mean_relevance(stories, captions)
    assert own >= np.mean([len(q.content_words([c[0]])) for c in captions])
    assert own > 3 * q.mean_relevance(stories, captions, q.derangement(len(stories), seed=1))


@pytest.mark.parametrize("count", [2, 3, 17, 100])
def test_derangement_moves_everything(count):
    order = q.derangement(count, seed=count)
    assert sorted(order) == list(range(count))
    assert all(i != j for i, j in enumerate(order))
    assert order == q.derangement(count, seed=count)


@pytest.mark.parametrize("smoothing", q.SMOOTHINGS)
def test_bigram_model_is_a_distribution_and_prefers_prose(books, smoothing):
    model = q.BigramModel.fit([text.split() for train, _ in books.values() for text in train], smoothing=smoothing)
    words = [w for w in model.vocab if w != q.START]
    for context in ("the", "never-seen-word"):
        total = sum(math.exp(model.log_probs([context, w])[1]) for w in words)
        assert total == pytest.approx(1, abs=1e-6)
    held_out = [text for _, test in books.values() for text in test]
    written = np.mean([q.order_ratio(model, text) for text in held_out])
    salad = np.mean([q.order_ratio(model, " ".join(q.shuffled(text.split(), 7))) for text in held_out])
    assert written > 1.8
    assert 0.85 < salad < 1.15
    assert model.perplexity(held_out[0].split()) < model.perplexity(q.shuffled(held_out[0].split(), 0))


def test_unknown_smoothing_is_refused():
    with pytest.raises(ValueError, match="smoothing 'witten-bell'"):
        q.BigramModel.fit([["a", "b"]], smoothing="witten-bell")


def test_voice_leans_to_the_book_a_text_comes_from(books):
    voice = q.VoiceModel.fit(*(" ".join(books[style][0]).split() for style in ("adventure", "romance")))
    adventure = np.mean([voice.score(text) for text in books["adventure"][1]])
    romance = np.mean([voice.score(text) for text in books["romance"][1]])
    assert adventure > 0 > romance
    assert voice.score(", . ''") == 0


def test_photo_captions_and_flickr_photo_numbers(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text('image,caption\na_1.jpg,"A dog , wet ."\na_1.jpg,Two dogs\nb_2.jpg,A cat\n', encoding="utf-8")
    assert q.photo_captions(path) == {"a_1.jpg": ["A dog , wet .", "Two dogs"], "b_2.jpg": ["A cat"]}
    assert q.flickr_photo("1000268201_693b08cb0e.jpg") == q.flickr_photo("1000268201.jpg") == "1000268201"
