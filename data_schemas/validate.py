"""Schema checks for readers: a file of the wrong shape fails loudly, naming the column."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class SchemaMismatchError(ValueError):
    """A Parquet file does not have the schema its reader expects."""


def check_schema(actual: pa.Schema, expected: pa.Schema, where: str) -> None:
    """Raise SchemaMismatchError naming the first missing, extra or mistyped column."""
    actual_names = set(actual.names)
    for field in expected:
        if field.name not in actual_names:
            raise SchemaMismatchError(
                f"{where}: column '{field.name}' is missing (expected {field.type}); "
                f"found columns {actual.names}. Was this file written by another stage?"
            )
        found = actual.field(field.name).type
        if not found.equals(field.type):
            raise SchemaMismatchError(f"{where}: column '{field.name}' has type {found}, expected {field.type}.")
    extra = [name for name in actual.names if name not in set(expected.names)]
    if extra:
        raise SchemaMismatchError(f"{where}: unexpected column(s) {extra}.")


def read_table(path: str | Path, schema: pa.Schema, columns: list[str] | None = None) -> pa.Table:
    """Read one Parquet file after checking its schema against `schema`."""
    check_schema(pq.read_schema(path), schema, str(path))
    return pq.read_table(path, columns=columns, schema=schema)
