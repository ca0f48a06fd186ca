"""Schemas of the caption index's id map and of retrieval results.

A FAISS id is the row number of the id map, which leads back to the caption (id, image, text)
and to where its vectors live: `vectors/<model>/<corpus>/captions/<shard>` at `row`, for the
VSE model and for any skip-thought encoder alike, since every text encoder keeps the same rows
of a corpus shard (only texts without tokens are rejected, and those have no tokens for any model).
"""

import pyarrow as pa

FAISS_ID = "faiss_id"
CORPUS = "corpus"
SHARD = "shard"
ROW = "row"
CAPTION_ID = "caption_id"
IMAGE_ID = "image_id"
TEXT = "text"
IMAGE = "image"
RANK = "rank"
SCORE = "score"

INDEX_CAPTIONS = pa.schema(
    [
        pa.field(FAISS_ID, pa.int64(), nullable=False),
        pa.field(CORPUS, pa.string(), nullable=False),
        # Shard file name (part-SSSSS-of-NNNNN.parquet) shared by the corpus and its vector folders.
        pa.field(SHARD, pa.string(), nullable=False),
        # The caption's row in that shard; with duplicates merged, rows of dropped captions are skipped.
        pa.field(ROW, pa.int32(), nullable=False),
        pa.field(CAPTION_ID, pa.string(), nullable=False),
        # The image the caption was written for (not the image it is retrieved for).
        pa.field(IMAGE_ID, pa.string(), nullable=False),
        pa.field(TEXT, pa.string(), nullable=False),
    ]
)

RETRIEVALS = pa.schema(
    [
        # The query image as given (its path).
        pa.field(IMAGE, pa.string(), nullable=False),
        pa.field(RANK, pa.int32(), nullable=False),
        pa.field(FAISS_ID, pa.int64(), nullable=False),
        pa.field(CORPUS, pa.string(), nullable=False),
        pa.field(CAPTION_ID, pa.string(), nullable=False),
        pa.field(TEXT, pa.string(), nullable=False),
        # Cosine similarity in the joint space.
        pa.field(SCORE, pa.float32(), nullable=False),
    ]
)
