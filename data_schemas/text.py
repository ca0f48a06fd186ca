"""Schemas of the text artifacts: sentences, passages, captions and vocabularies.

Column names are module constants so that writers, readers and tests never spell them twice.
"""

import pyarrow as pa

ID = "id"
BOOK_ID = "book_id"
CHAPTER = "chapter"
ORDINAL = "ordinal"
TEXT = "text"
TOKENS = "tokens"
N_TOKENS = "n_tokens"
N_SENTENCES = "n_sentences"
IMAGE_ID = "image_id"
SPLIT = "split"
SOURCE = "source"
WORD = "word"
COUNT = "count"
INDEX = "index"

_TOKENS = pa.list_(pa.string())

SENTENCES = pa.schema(
    [
        pa.field(ID, pa.string(), nullable=False),
        pa.field(BOOK_ID, pa.string(), nullable=False),
        # Chapter ordinal within the book, 0 for a book without chapter headings.
        pa.field(CHAPTER, pa.int32(), nullable=False),
        # Sentence ordinal within the book: (book_id, ordinal) gives reading order for triples.
        pa.field(ORDINAL, pa.int32(), nullable=False),
        pa.field(TEXT, pa.string(), nullable=False),
        pa.field(TOKENS, _TOKENS, nullable=False),
        pa.field(N_TOKENS, pa.int32(), nullable=False),
    ]
)

PASSAGES = pa.schema(
    [
        pa.field(ID, pa.string(), nullable=False),
        pa.field(BOOK_ID, pa.string(), nullable=False),
        pa.field(CHAPTER, pa.int32(), nullable=False),
        # Ordinal of the passage's first sentence within the book.
        pa.field(ORDINAL, pa.int32(), nullable=False),
        pa.field(N_SENTENCES, pa.int32(), nullable=False),
        pa.field(TEXT, pa.string(), nullable=False),
        pa.field(TOKENS, _TOKENS, nullable=False),
        pa.field(N_TOKENS, pa.int32(), nullable=False),
    ]
)

CAPTIONS = pa.schema(
    [
        pa.field(ID, pa.string(), nullable=False),
        pa.field(IMAGE_ID, pa.string(), nullable=False),
        # Dataset split (train/dev/val/test...) where the source says; null otherwise.
        pa.field(SPLIT, pa.string(), nullable=True),
        pa.field(SOURCE, pa.string(), nullable=False),
        pa.field(TEXT, pa.string(), nullable=False),
        pa.field(TOKENS, _TOKENS, nullable=False),
        pa.field(N_TOKENS, pa.int32(), nullable=False),
    ]
)

VOCAB = pa.schema(
    [
        pa.field(WORD, pa.string(), nullable=False),
        pa.field(COUNT, pa.int64(), nullable=False),
        # 0 = <eos>, 1 = UNK, real words from 2 by descending count (reference a.2).
        pa.field(INDEX, pa.int32(), nullable=False),
    ]
)
