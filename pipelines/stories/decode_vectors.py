"""Conditioning vectors (the rows of a .npy) to texts with a decoder and batched beam search or sampling, in
row order: rows in = texts out + rows rejected (a non-finite vector is a reject record, never a crash).
Sampling seeds each row by its row number, so a rerun (with any batch size) writes the same texts."""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from data_schemas.atomic import atomic_path
from data_schemas.storage import Location, local_copy
from model.decoder.beam_search import SearchOptions
from model.decoder.conditional_gru import StoryDecoder
from model.decoder.files import check_context_size
from model.decoder.sampling import text_seed
from pipelines.core.logs import logger
from pipelines.stories.batch import decode_texts

LOG = logger("stories")

NOT_FINITE = "vector has NaN or infinite values"


def read_vectors(path: Location, dim: int, decoder_dir: Path) -> np.ndarray:
    """The (N, dim) array of `path`, memory-mapped (a stored file from its local copy); a clear error for
    anything else."""
    if not path.is_file():
        raise FileNotFoundError(f"--vectors {path} is not a file")
    try:
        vectors = np.load(local_copy(path), mmap_mode="r", allow_pickle=False)
    except (ValueError, EOFError) as error:  # not .npy (numpy then tries pickle), or empty
        raise ValueError(f"{path} is not a .npy array ({error})") from None
    if not isinstance(vectors, np.ndarray) or vectors.dtype.kind not in "fiu":
        raise ValueError(f"{path} does not hold one numeric .npy array")
    if vectors.ndim != 2:
        raise ValueError(f"{path} holds an array of shape {vectors.shape}, but decode reads one vector per row, "
                         f"(N, {dim}); save a single vector v as v[None]")
    check_context_size(vectors.shape[1], str(path), decoder_dir, dim)
    return vectors


def decode_rows(decoder: StoryDecoder, words: list[str], vectors: np.ndarray, options: SearchOptions,
                batch_size: int, lyric: bool = False) -> Iterator[dict]:
    """One record per row in row order: {"row", "text"}, or {"row", "error"} for a non-finite vector.
    Reports progress on stderr after each batch."""
    start = time.monotonic()
    for first in range(0, len(vectors), batch_size):
        chunk = np.asarray(vectors[first:first + batch_size], dtype=np.float32)
        finite = np.isfinite(chunk).all(axis=1)
        seeds = [text_seed(str(row)) for row in np.flatnonzero(finite) + first]
        texts = iter(decode_texts(decoder, words, chunk[finite], options, lyric, seeds) if finite.any() else ())
        for row, ok in enumerate(finite, start=first):
            if ok:
                yield {"row": row, "text": next(texts)}
            else:
                yield {"row": row, "error": NOT_FINITE}
        done = min(first + batch_size, len(vectors))
        elapsed = time.monotonic() - start
        LOG.info("decode: %d/%d rows, %.1f s (%.1f rows/s)", done, len(vectors), elapsed, done / max(elapsed, 1e-9))


def write_jsonl(records: Iterator[dict], out: Location) -> dict[str, int]:
    """Written to a temporary file beside `out`, then renamed (uploaded once to a store): `out` is complete or
    absent."""
    counts = {"texts": 0, "rejected": 0}
    with atomic_path(out) as temp, open(temp, "w", encoding="utf-8") as handle:
        for record in records:
            counts["texts" if "text" in record else "rejected"] += 1
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return counts
