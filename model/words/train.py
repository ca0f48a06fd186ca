"""Word vectors by word2vec (gensim's Word2Vec, CBOW or skip-gram with negative sampling) over token
lists: the cheapest way to give every word of the corpora a vector on two CPU cores (7.5 M tokens in
about 35 s), as the original borrowed GoogleNews word2vec for its 930 k-word vocabulary (reference a.3).

Tokens are taken as they are, case kept, since every vocabulary here is case-sensitive (reference a.1).
"""

import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from gensim.models import Word2Vec
from gensim.models.callbacks import CallbackAny2Vec

from model.training.recipes import option
from model.words.files import WordVectors

ARCHITECTURES = ("cbow", "sg")


@dataclass(frozen=True)
class WordsRecipe:
    family: ClassVar[str] = "words"
    dim: int = option(300, "vector size")
    window: int = option(5, "words on each side of a word that are its context")
    min_count: int = option(3, "words seen fewer times get no vector")
    epochs: int = option(5, "passes over the token lists")
    architecture: str = option("cbow", "cbow: predict a word from the mean of its context (faster); sg: skip-gram, "
                               "predict each context word from the word", ARCHITECTURES)
    negative: int = option(10, "negative samples per context")
    sample: float = option(1e-4, "words more frequent than this share of all tokens are randomly down-sampled "
                           "(0: never)")
    seed: int = option(1234, "seeds the initial vectors and every random draw of training")
    # gensim's threads take sentences in the order the OS schedules them, so more than one worker is
    # faster but not bit-reproducible; with 1 worker and the same seed and input, the vectors repeat exactly.
    workers: int = option(2, "training threads; only 1 gives the same vectors on every run")

    def __post_init__(self) -> None:
        if min(self.dim, self.window, self.min_count, self.epochs, self.negative, self.workers) < 1:
            raise ValueError("--dim, --window, --min-count, --epochs, --negative and --workers must be at least 1")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"--architecture must be one of {', '.join(ARCHITECTURES)}, not {self.architecture!r}")
        if not 0 <= self.sample < 1:
            raise ValueError(f"--sample must be in [0, 1), not {self.sample}")


class _Progress(CallbackAny2Vec):
    """One progress line per epoch on stderr, as the other trainers print."""

    def __init__(self, epochs: int):
        self.epochs, self.epoch, self.started = epochs, 0, time.monotonic()

    def on_epoch_end(self, model: Word2Vec) -> None:
        self.epoch += 1
        print(f"word2vec epoch {self.epoch}/{self.epochs} done after {time.monotonic() - self.started:.1f}s",
              file=sys.stderr, flush=True)


def train_word_vectors(token_lists: Iterable[list[str]], recipe: WordsRecipe) -> WordVectors:
    """Vectors for every word seen at least `recipe.min_count` times, commonest first. `token_lists` is
    read once to count and `recipe.epochs` times to train, so it must be re-iterable (a list, or an
    object whose `__iter__` starts over), not a generator."""
    if iter(token_lists) is token_lists:
        raise TypeError("token_lists is a one-pass iterator; word2vec reads it once per epoch: pass a list or a "
                        "re-iterable object")
    model = Word2Vec(vector_size=recipe.dim, window=recipe.window, min_count=recipe.min_count,
                     sg=int(recipe.architecture == "sg"), negative=recipe.negative, sample=recipe.sample,
                     seed=recipe.seed, workers=recipe.workers)
    model.build_vocab(token_lists)
    if not len(model.wv):
        raise ValueError(f"no word occurs --min-count {recipe.min_count} times in {model.corpus_total_words} "
                         "tokens: lower --min-count or add corpora")
    model.train(token_lists, total_examples=model.corpus_count, epochs=recipe.epochs,
                callbacks=[_Progress(recipe.epochs)])
    return WordVectors(list(model.wv.index_to_key), np.array(model.wv.vectors, dtype=np.float32))
