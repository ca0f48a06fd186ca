"""The word-vector model folder: config.json (`"family": "words"`, the vector size, the word count, the
recipe and where the vectors came from), vectors.npy (float32 (words, dim), memory-mapped on read) and
vocab.txt (line i names row i). Plain arrays and text only: reading a folder can never run code, which
gensim's own pickle-based save format could."""

from dataclasses import dataclass

import numpy as np

from data_schemas.atomic import atomic_path
from data_schemas.storage import Location, local_copy, location
from model.families import read_family_config, write_family_config
from model.weights_file import CONFIG_FILE, read_npy

WORDS = "words"
VECTORS_FILE = "vectors.npy"
VOCAB_FILE = "vocab.txt"
_LINE_BREAKS = ("\n", "\r")


@dataclass(frozen=True)
class WordVectors:
    """One vector per word: row i of `vectors` is `words[i]`'s. `source` names the folder, for errors."""

    words: list[str]
    vectors: np.ndarray  # float32 (len(words), dim), memory-mapped when read from a folder
    source: str = ""

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def index(self) -> dict[str, int]:
        return {word: row for row, word in enumerate(self.words)}


def read_word_vectors(model_dir: str | Location) -> WordVectors:
    """The vectors of a words model folder (one on a store is read from its local copy); every error names
    the file and what to do."""
    model_dir = local_copy(location(model_dir))
    config = read_family_config(model_dir, WORDS, "word-vector", " (train one with `storyteller train words`)")
    dim = config.get("dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise ValueError(f"{model_dir / CONFIG_FILE}: field 'dim' is {dim!r}, not the vectors' size (a positive int)")
    vocab_path, vectors_path = model_dir / VOCAB_FILE, model_dir / VECTORS_FILE
    for path in (vocab_path, vectors_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: {model_dir} is not a complete words model folder")
    # newline="" keeps every character of a line; only "\n" separates words.
    with open(vocab_path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    if text and not text.endswith("\n"):
        raise ValueError(f"{vocab_path} does not end with a line break: the file is truncated")
    words = text.split("\n")[:-1]
    vectors = read_npy(vectors_path)
    if vectors.dtype != np.float32 or vectors.ndim != 2:
        raise ValueError(f"{vectors_path} holds {vectors.dtype} of shape {vectors.shape}, expected float32 "
                         "(words, dim)")
    if vectors.shape != (len(words), dim):
        raise ValueError(f"{vectors_path} has shape {vectors.shape}, but {vocab_path} names {len(words)} words "
                         f"and {CONFIG_FILE} says dim {dim}")
    if len(set(words)) != len(words):
        raise ValueError(f"{vocab_path} names a word twice: each word has one row")
    return WordVectors(words, vectors, str(model_dir))


def save_word_vectors(model_dir: str | Location, vectors: WordVectors, fields: dict) -> None:
    """Write the folder `model_dir` in one rename (on a store, one upload per file, config.json last; an
    earlier folder there is replaced whole); `fields` go into config.json beside the family, dim and word
    count (the recipe, provenance, metrics)."""
    words = vectors.words
    bad = [word for word in words if not word or any(mark in word for mark in _LINE_BREAKS)]
    if bad:
        raise ValueError(f"words must be non-empty and hold no line break, not {bad[:3]}")
    if len(set(words)) != len(words):
        raise ValueError("a word occurs twice among the word vectors: each word has one row")
    if vectors.vectors.shape[0] != len(words):
        raise ValueError(f"{vectors.vectors.shape[0]} vectors for {len(words)} words")
    with atomic_path(location(model_dir)) as staging:
        staging.mkdir()
        (staging / VOCAB_FILE).write_text("".join(f"{word}\n" for word in words), encoding="utf-8", newline="")
        np.save(staging / VECTORS_FILE, np.ascontiguousarray(vectors.vectors, dtype=np.float32))
        write_family_config(staging, WORDS, {"dim": vectors.dim, "words": len(words), **fields})
