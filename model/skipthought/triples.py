"""(previous, current, next) sentence triples within each book, as id lists ending in <eos>,
in length-bucketed batches (reference g: triples with a sentence of maxlen tokens or more are
dropped, batches are grouped by source length)."""

import hashlib
import random
from dataclasses import dataclass

import pyarrow as pa
import torch

from data_schemas import text as col
from model.skipthought.files import Vocabulary


@dataclass(frozen=True)
class Triples:
    sentences: list[list[int]]  # every kept sentence's ids, <eos> appended
    index: list[tuple[int, int, int]]  # (previous, current, next) rows of `sentences`
    too_long: int = 0  # triples left out for a sentence of max_len tokens or more


def held_out(book_id: str, fraction: float) -> bool:
    """A stable choice of validation books: the same books whatever else is in the corpus."""
    return int(hashlib.sha256(book_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def build_triples(sentences: pa.Table, vocab: Vocabulary, max_len: int, books: set[str]) -> Triples:
    """Triples of consecutive sentences of the given books (ordered by book, ordinal)."""
    eos = vocab.eos
    if eos is None:
        raise ValueError("the training vocabulary needs an <eos> entry")
    table = sentences.sort_by([(col.BOOK_ID, "ascending"), (col.ORDINAL, "ascending")])
    book_ids = table.column(col.BOOK_ID).to_pylist()
    tokens = table.column(col.TOKENS).to_pylist()
    ids, index, too_long = [], [], 0
    for row in range(1, len(tokens) - 1):
        book = book_ids[row]
        if book not in books or book_ids[row - 1] != book or book_ids[row + 1] != book:
            continue
        if any(not tokens[r] for r in (row - 1, row, row + 1)):
            continue
        if any(len(tokens[r]) >= max_len for r in (row - 1, row, row + 1)):
            too_long += 1
            continue
        start = len(ids)
        for r in (row - 1, row, row + 1):
            ids.append([*vocab.ids(tokens[r]), eos])
        index.append((start, start + 1, start + 2))
    return Triples(ids, index, too_long)


def _pad(lists: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(x) for x in lists])
    ids = torch.zeros((len(lists), int(lengths.max())), dtype=torch.int64)
    for row, x in enumerate(lists):
        ids[row, : len(x)] = torch.tensor(x)
    mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).float()
    return ids, lengths, mask


def batches(triples: Triples, batch_size: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    """Batches of triples with equal-ish source length, in a seeded random order."""
    order = sorted(range(len(triples.index)), key=lambda i: len(triples.sentences[triples.index[i][1]]))
    groups = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    random.Random(seed).shuffle(groups)
    out = []
    for group in groups:
        prev, cur, nxt = zip(*(triples.index[i] for i in group), strict=True)
        source, source_lengths, _ = _pad([triples.sentences[i] for i in cur])
        next_ids, _, next_mask = _pad([triples.sentences[i] for i in nxt])
        prev_ids, _, prev_mask = _pad([triples.sentences[i] for i in prev])
        out.append((source, source_lengths, next_ids, next_mask, prev_ids, prev_mask))
    return out
