"""The encoder model directory: config.json, weights.pt (GRU state dict), <part>_table.npy (word
vectors, memory-mapped on load; float32, or float16 as exported), vocab.txt (line i names row i of
every table) and, for an encoder with mean_words, word_weights.npy (one SIF weight per row)."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data_schemas.atomic import atomic_path, write_text_atomic
from data_schemas.storage import Location, local_copy, location
from model.families import FAMILY_KEY, SKIPTHOUGHT, build_config, read_config_json
from model.skipthought.encoder import SkipThoughtConfig, SkipThoughtEncoder
from model.weights_file import CONFIG_FILE, SAFETENSORS_FILE, WEIGHTS_FILE, load_weights, read_npy

VOCAB_FILE = "vocab.txt"
WORD_WEIGHTS_FILE = "word_weights.npy"
EOS, UNK = "<eos>", "UNK"


def table_file(part: str) -> str:
    return f"{part}_table.npy"


@dataclass
class Vocabulary:
    """Word -> table row. Where a word occurs twice, the last row wins (the original's dict did so)."""

    words: list[str]
    index: dict[str, int]

    @classmethod
    def from_words(cls, words: list[str]) -> "Vocabulary":
        index = {word: row for row, word in enumerate(words)}
        for special in (UNK,):
            if special not in index:
                raise ValueError(f"vocabulary has no {special!r} entry: unknown words would have no vector")
        return cls(words, index)

    @property
    def unk(self) -> int:
        return self.index[UNK]

    @property
    def eos(self) -> int | None:
        return self.index.get(EOS)

    def ids(self, tokens: list[str]) -> list[int]:
        unk = self.unk
        return [self.index.get(token, unk) for token in tokens]


def read_vocabulary(model_dir: str | Location) -> Vocabulary:
    with (location(model_dir) / VOCAB_FILE).open(encoding="utf-8") as handle:
        return Vocabulary.from_words(handle.read().split("\n")[:-1])


def write_vocabulary(model_dir: str | Location, words: list[str]) -> None:
    bad = [w for w in words if "\n" in w]
    if bad:
        raise ValueError(f"vocabulary words may not contain newlines: {bad[:3]}")
    write_text_atomic(location(model_dir) / VOCAB_FILE, "".join(f"{w}\n" for w in words))


def read_config(model_dir: str | Location) -> SkipThoughtConfig:
    fields = read_config_json(model_dir, "skip-thought encoder")
    family = fields.pop(FAMILY_KEY, SKIPTHOUGHT)
    if family != SKIPTHOUGHT:
        raise ValueError(f"{location(model_dir) / CONFIG_FILE} says family {family!r}: {model_dir} is not a "
                         "skip-thought encoder model directory")
    return build_config(SkipThoughtConfig, fields, location(model_dir) / CONFIG_FILE)


def write_config(model_dir: str | Location, config: SkipThoughtConfig) -> None:
    write_text_atomic(location(model_dir) / CONFIG_FILE, json.dumps(config.to_json(), indent=2) + "\n")


def save_npy(path: Location, array: np.ndarray) -> None:
    """A plain .npy file written whole (renamed into place, or one upload to a store)."""
    with atomic_path(path) as temp, open(temp, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def load_tables(model_dir: Path, config: SkipThoughtConfig, vocab_size: int) -> dict[str, np.ndarray]:
    tables = {}
    for part in config.parts:
        path = Path(model_dir) / table_file(part)
        table = read_npy(path)
        if table.shape != (vocab_size, config.dim_word):
            raise ValueError(f"{path} has shape {table.shape}, expected ({vocab_size}, {config.dim_word}) "
                             f"from {VOCAB_FILE} and {CONFIG_FILE}")
        tables[part] = table
    return tables


def load_word_weights(model_dir: Path, config: SkipThoughtConfig, vocab_size: int) -> np.ndarray | None:
    """The SIF weights of a mean_words encoder (None for one without)."""
    if not config.mean_words:
        return None
    path = Path(model_dir) / WORD_WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {CONFIG_FILE} sets mean_words, which needs one weight per word")
    weights = read_npy(path, mmap=False)
    if weights.shape != (vocab_size,) or not np.issubdtype(weights.dtype, np.floating):
        raise ValueError(f"{path} holds {weights.dtype} of shape {weights.shape}, expected floats of shape "
                         f"({vocab_size},) from {VOCAB_FILE}")
    return weights.astype(np.float32)


def encoder_for_inference(model_dir: str | Location) -> SkipThoughtEncoder:
    """The encoder with memory-mapped tables and untrained GRUs: Beam RunInference's model factory,
    which loads weights.pt into it afterwards. A folder on a store is read from its local copy."""
    model_dir = local_copy(location(model_dir))
    config = read_config(model_dir)
    with open(model_dir / VOCAB_FILE, encoding="utf-8") as handle:
        vocab_size = sum(1 for _ in handle)
    return SkipThoughtEncoder(config, load_tables(model_dir, config, vocab_size),
                              load_word_weights(model_dir, config, vocab_size))


def load_encoder(model_dir: str | Location, device: str | torch.device = "cpu") -> SkipThoughtEncoder:
    """The encoder with memory-mapped tables, weights on `device`, in eval mode (a folder on a store is read
    from its local copy)."""
    model_dir = local_copy(location(model_dir))
    encoder = load_weights(encoder_for_inference(model_dir), model_dir)
    return encoder.to(device).eval()


def save_encoder(model_dir: str | Location, encoder: SkipThoughtEncoder, words: list[str],
                 tables: dict[str, np.ndarray]) -> None:
    """Write a complete model directory (tables as float32 .npy so they can be memory-mapped), on disk or on
    a store, file by file, config.json last, so its presence means the rest is there."""
    model_dir = location(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    write_vocabulary(model_dir, words)
    for part, table in tables.items():
        save_npy(model_dir / table_file(part), np.ascontiguousarray(table, dtype=np.float32))
    if encoder.word_weights is not None:
        save_npy(model_dir / WORD_WEIGHTS_FILE, np.ascontiguousarray(encoder.word_weights, dtype=np.float32))
    with atomic_path(model_dir / WEIGHTS_FILE) as temp:
        torch.save(encoder.state_dict(), temp)
    (model_dir / SAFETENSORS_FILE).unlink(missing_ok=True)  # it would be read first: never leave an older one
    write_config(model_dir, encoder.config)
