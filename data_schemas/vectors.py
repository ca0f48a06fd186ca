"""Schema of vector shards: one row per text, the vector as fixed_size_list<float32|float16>[D]."""

import numpy as np
import pyarrow as pa

ID = "id"
N_TOKENS = "n_tokens"
VECTOR = "vector"
DTYPES = {"float32": pa.float32(), "float16": pa.float16()}


def vectors_schema(dim: int, dtype: str = "float32") -> pa.Schema:
    if dtype not in DTYPES:
        raise ValueError(f"vector dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return pa.schema(
        [
            pa.field(ID, pa.string(), nullable=False),
            pa.field(N_TOKENS, pa.int32(), nullable=False),
            pa.field(VECTOR, pa.list_(DTYPES[dtype], dim), nullable=False),
        ]
    )


def vectors_table(ids: list[str], n_tokens: list[int], vectors: np.ndarray, dtype: str = "float32") -> pa.Table:
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.dtype(dtype)).reshape(-1))
    column = pa.FixedSizeListArray.from_arrays(flat, dim)
    return pa.table({ID: ids, N_TOKENS: pa.array(n_tokens, pa.int32()), VECTOR: column},
                    schema=vectors_schema(dim, dtype))


def vector_matrix(table: pa.Table) -> np.ndarray:
    """The vector column as an (N, D) float32 array without a Python loop."""
    column = table.column(VECTOR).combine_chunks()
    dim = column.type.list_size
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
