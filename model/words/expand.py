"""Vocabulary expansion as the original did it (reference a.3): an ordinary least-squares linear map with
intercept from the word-vector space to an encoder's word space, fitted on the words both know, gives
every word of the word vectors a row in each of the encoder's word tables. The encoder's own rows win:
they keep their values and their row numbers, and the new words are appended after them (the original
wrote the word2vec words first; keeping the encoder's row numbers leaves its token ids unchanged).

The GRU weights are untouched, so a sentence of words the encoder knew encodes exactly as before."""

import math
import shutil
from pathlib import Path

import numpy as np

from data_schemas.atomic import atomic_path
from data_schemas.storage import Location, local_copy, location
from model.families import SKIPTHOUGHT, model_family
from model.skipthought.files import (
    CONFIG_FILE,
    EOS,
    UNK,
    VOCAB_FILE,
    WORD_WEIGHTS_FILE,
    load_tables,
    load_word_weights,
    read_config,
    read_vocabulary,
    table_file,
    write_config,
    write_vocabulary,
)
from model.words.files import WordVectors

CHUNK_ROWS = 65_536  # rows mapped at a time, so a 930 k-word table never sits in memory whole
LEFT_OUT = ("checkpoint.pt",)  # training state of the unexpanded encoder: it would resume the wrong model


def fit_linear_map(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, dict]:
    """W (dim_source + 1, dim_target), the last row the intercept, minimising |[X 1] W - Y|^2 (float64),
    and how well it fits: R^2 over all target components and the root-mean-square residual."""
    inputs = np.hstack([np.asarray(source, dtype=np.float64), np.ones((len(source), 1))])
    target = np.asarray(target, dtype=np.float64)
    weights, *_ = np.linalg.lstsq(inputs, target, rcond=None)
    residual = float(((target - inputs @ weights) ** 2).sum())
    spread = float(((target - target.mean(axis=0)) ** 2).sum())
    fit = {"r2": round(1.0 - residual / spread, 4) if spread else None,
           "rmse": round(math.sqrt(residual / target.size), 6)}
    return weights, fit


def _write_table(path: Path, own: np.ndarray, vectors: np.ndarray, new_rows: list[int], weights: np.ndarray) -> None:
    """The encoder's rows, then the map of `vectors[new_rows]`, written chunk by chunk."""
    table = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                      shape=(len(own) + len(new_rows), own.shape[1]))
    for start in range(0, len(own), CHUNK_ROWS):
        chunk = own[start:start + CHUNK_ROWS]
        table[start:start + len(chunk)] = chunk
    for start in range(0, len(new_rows), CHUNK_ROWS):
        chunk = np.asarray(vectors[new_rows[start:start + CHUNK_ROWS]], dtype=np.float64)
        table[len(own) + start:len(own) + start + len(chunk)] = chunk @ weights[:-1] + weights[-1]
    table.flush()
    del table


def expand_encoder(encoder_dir: str | Location, word_vectors: WordVectors, out_dir: str | Location) -> dict:
    """Write OUT_DIR, a new encoder model folder: ENCODER_DIR's config and weights, its vocabulary with every
    word of `word_vectors` it lacked appended, and each word table (uni, bi) grown by the mapped rows. The
    config's provenance records the expansion (words before and after, the fit per table), which is returned."""
    encoder_dir, out_dir = local_copy(location(encoder_dir)), location(out_dir)  # OUT_DIR may be on a store
    family = model_family(encoder_dir)
    if family != SKIPTHOUGHT:
        raise ValueError(f"{encoder_dir} is a {family} model, not a skip-thought encoder: --encoder must name an "
                         "encoder folder")
    if out_dir.exists():
        raise ValueError(f"{out_dir} exists: remove it or name another folder (expansion writes a new encoder)")
    config = read_config(encoder_dir)
    words = read_vocabulary(encoder_dir).words
    own_row = {word: row for row, word in enumerate(words)}  # a repeated word: its last row, as the loader
    tables = load_tables(encoder_dir, config, len(words))
    vector_row = word_vectors.index()
    shared = [w for w in word_vectors.words if w in own_row and w not in (EOS, UNK)]
    if len(shared) <= word_vectors.dim + 1:
        raise ValueError(f"{encoder_dir} and the word vectors {word_vectors.source or ''} share {len(shared)} words; "
                         f"a least-squares map from {word_vectors.dim}-d vectors needs more than "
                         f"{word_vectors.dim + 1}: train the word vectors on the encoder's corpora too")
    new = [w for w in word_vectors.words if w not in own_row]
    shared_vectors = word_vectors.vectors[[vector_row[w] for w in shared]]
    fits = {}
    with atomic_path(out_dir) as staging:
        staging.mkdir()
        for path in sorted(encoder_dir.iterdir()):
            kept = path.name not in (CONFIG_FILE, VOCAB_FILE, WORD_WEIGHTS_FILE, *LEFT_OUT,
                                     *(table_file(p) for p in config.parts))
            if path.is_file() and kept and not path.name.startswith("."):
                shutil.copy2(path, staging / path.name)
        for part, table in tables.items():
            weights, fits[part] = fit_linear_map(shared_vectors, table[[own_row[w] for w in shared]])
            _write_table(staging / table_file(part), table, word_vectors.vectors, [vector_row[w] for w in new],
                         weights)
        own_weights = load_word_weights(encoder_dir, config, len(words))
        if own_weights is not None:
            # A new word was rarer than every word of the encoder's vocabulary: it weighs as much as the
            # rarest of them (a / (a + p) is close to 1 for all of them).
            grown = np.concatenate([own_weights, np.full(len(new), own_weights.max(), dtype=np.float32)])
            np.save(staging / WORD_WEIGHTS_FILE, grown)
        write_vocabulary(staging, [*words, *new])
        record = {"encoder": str(encoder_dir), "word_vectors": word_vectors.source, "words_before": len(words),
                  "words_after": len(words) + len(new), "shared_words": len(shared), "fit": fits,
                  "map": "least squares with intercept, fitted on the shared words but <eos> and UNK; the "
                         "encoder's own rows kept"}
        config.provenance = {**config.provenance, "vocabulary_expansion": record}
        write_config(staging, config)
    return record
