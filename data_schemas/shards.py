"""Parquet shards written atomically: a temporary name, then a rename (one upload on an object store), so a
killed job never leaves a half-written `part-*` file and a rerun can trust every shard it finds."""

import re

import pyarrow as pa
import pyarrow.parquet as pq

from data_schemas import check_schema
from data_schemas.atomic import atomic_path
from data_schemas.storage import (
    Location,
    is_remote,
    location,
    parquet_schema,
    read_parquet,
    write_bytes,
    write_parquet_bytes,
)

_SHARD = re.compile(r"^part-(\d{5})-of-(\d{5})\.parquet$")
# Row groups of about this many rows keep readers' memory small for wide vector rows too.
ROW_GROUP_ROWS = 8192


def shard_name(index: int, count: int) -> str:
    return f"part-{index:05d}-of-{count:05d}.parquet"


def write_table_atomic(table: pa.Table, path: Location, metadata: dict[str, str] | None = None) -> None:
    """Write `table` to `path` through a temporary file in the same folder and an atomic rename; on a store,
    from memory in one PUT."""
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    path = location(path)
    if is_remote(path):
        write_bytes(path, write_parquet_bytes(table, compression="zstd", row_group_size=ROW_GROUP_ROWS))
        return
    with atomic_path(path) as temp:
        pq.write_table(table, temp, compression="zstd", row_group_size=ROW_GROUP_ROWS)


def shard_paths(folder: Location) -> list[Location]:
    """Complete shards of an artifact folder, in shard order."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _SHARD.match(p.name))


def finished_shards(folder: Location, count: int) -> set[int]:
    """Indices of shards of an `count`-shard artifact already present in `folder`."""
    done = set()
    for path in shard_paths(folder):
        match = _SHARD.match(path.name)
        if match and int(match.group(2)) == count:
            done.add(int(match.group(1)))
    return done


def read_artifact(folder: Location, schema: pa.Schema, columns: list[str] | None = None) -> pa.Table:
    """All shards of an artifact as one table, each shard's schema checked first."""
    paths = shard_paths(folder)
    if not paths:
        raise FileNotFoundError(f"{folder} holds no part-*.parquet shards: has its stage run?")
    tables = []
    for path in paths:
        check_schema(parquet_schema(path), schema, str(path))
        tables.append(read_parquet(path, columns=columns, schema=schema))
    return pa.concat_tables(tables)
