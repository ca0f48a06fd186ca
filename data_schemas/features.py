"""Schema of image feature shards: one row per image, the CNN feature as fixed_size_list<float32>[D]."""

import numpy as np
import pyarrow as pa

from data_schemas.vectors import VECTOR

# The image's file name (e.g. `1000268201_693b08cb0e.jpg`): the key captions use for their image.
IMAGE_ID = "image_id"
# The path the image was read from, as given or found by the glob.
PATH = "path"


def features_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field(IMAGE_ID, pa.string(), nullable=False),
            pa.field(PATH, pa.string(), nullable=False),
            pa.field(VECTOR, pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


def features_table(image_ids: list[str], paths: list[str], vectors: np.ndarray) -> pa.Table:
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    column = pa.FixedSizeListArray.from_arrays(flat, dim)
    return pa.table({IMAGE_ID: image_ids, PATH: paths, VECTOR: column}, schema=features_schema(dim))
