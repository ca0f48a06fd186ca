"""Where artifacts live: a folder on disk, or a prefix on an object store (`s3://bucket/prefix`, or any
protocol fsspec can open). One path type serves both: `pathlib.Path` on disk, universal_pathlib's `UPath`
on a store, so stage code joins, lists and reads paths the same way wherever the workspace is.

An object store has no rename, but a single upload is whole or nothing: an object appears complete when
its PUT (or its multipart upload) completes, never in part. Writers therefore build a file locally and
upload it in one call; that is the store's form of write-then-rename (see `data_schemas.atomic`).

Credentials and the endpoint come from the environment as every AWS tool reads them (`AWS_ENDPOINT_URL`,
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`), so Beam and Dask workers started with
the same environment see the same store without any option travelling with the job.
"""

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

Location = Path | UPath

# Protocols whose fsspec filesystem caches directory listings: other processes (Beam and Dask workers) write
# shards this process must see at once, so the cache is off.
_LISTING_CACHES = {"s3", "s3a", "gs", "gcs", "abfs", "az", "adl"}
CACHE_ENV = "STORYTELLER_CACHE"  # where copies of stored models and indexes are kept on this machine


def is_url(text: str | os.PathLike) -> bool:
    """A URL with a scheme fsspec would open (not a Windows drive letter, not `file://`)."""
    scheme = urlsplit(os.fspath(text)).scheme if isinstance(text, str) else ""
    return len(scheme) > 1 and scheme != "file"


def location(where: str | os.PathLike | Location) -> Location:
    """The path for a user's `--workspace` (or any artifact path): a Path on disk, a UPath for a URL."""
    if isinstance(where, UPath) and not isinstance(where, Path):
        return where
    if isinstance(where, str) and is_url(where):
        protocol = urlsplit(where).scheme
        options = {"use_listings_cache": False} if protocol in _LISTING_CACHES else {}
        return UPath(where, **options)
    if isinstance(where, str) and where.startswith("file://"):
        return Path(urlsplit(where).path)
    return Path(where)


def is_remote(path: Location | str) -> bool:
    """True for a path on an object store (anything but the local disk)."""
    if isinstance(path, str):
        return is_url(path)
    return isinstance(path, UPath) and not isinstance(path, Path)


def remove_tree(path: Location) -> None:
    """Delete a folder (or a file) and everything under it; nothing when it is not there."""
    if not is_remote(path):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        return
    if path.fs.exists(path.path):
        path.fs.rm(path.path, recursive=True)


def upload_file(local: Path, target: Location) -> None:
    """One upload: the object appears whole when it completes, or not at all."""
    target.fs.put_file(str(local), target.path)


def upload_folder(local: Path, target: Location) -> None:
    """Every file of a local folder, each in one upload; `_meta.json` and `config.json` (the marks that a
    folder is complete) go last, so a reader that finds them finds the rest."""
    files = sorted((p for p in local.rglob("*") if p.is_file()),
                   key=lambda p: (p.name in ("_meta.json", "config.json"), p.as_posix()))
    for file in files:
        upload_file(file, target / file.relative_to(local).as_posix())


def write_bytes(target: Location, data: bytes) -> None:
    """`target` holds `data` whole: on disk through the caller's rename, on a store in one PUT."""
    target.fs.pipe_file(target.path, data)


def write_parquet_bytes(table: pa.Table, **options) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **options)
    return sink.getvalue().to_pybytes()


@contextmanager
def arrow_source(path: Location) -> Iterator["str | IO[bytes]"]:
    """What pyarrow reads `path` from: the path itself on disk (memory-mappable), an open file on a store."""
    if not is_remote(path):
        yield str(path)
        return
    with path.open("rb") as handle:
        yield handle


def read_parquet(path: Location, columns: list[str] | None = None, schema: pa.Schema | None = None) -> pa.Table:
    with arrow_source(path) as source:
        return pq.read_table(source, columns=columns, schema=schema)


def parquet_metadata(path: Location) -> pq.FileMetaData:
    with arrow_source(path) as source:
        return pq.read_metadata(source)


def parquet_schema(path: Location) -> pa.Schema:
    with arrow_source(path) as source:
        return pq.read_schema(source)


@contextmanager
def parquet_file(path: Location) -> Iterator[pq.ParquetFile]:
    """A ParquetFile to read in batches; the store's file stays open while it is used."""
    with arrow_source(path) as source, pq.ParquetFile(source) as parquet:
        yield parquet


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "storyteller")


def _listing(path: Location, leave_out: tuple[str, ...] = ()) -> list[dict]:
    """Name, size and version of every object under `path` (a file or a folder), for the cache key; files
    named in `leave_out` are neither copied nor part of the key."""
    fs = path.fs
    info = fs.info(path.path)
    found = fs.find(path.path, detail=True) if info.get("type") == "directory" else {path.path: info}
    found = {name: entry for name, entry in found.items() if name.rsplit("/", 1)[-1] not in leave_out}
    if not found:
        raise FileNotFoundError(f"{path} holds no files")
    return [{"name": name[len(path.path):], "size": entry.get("size"), "version": object_version(entry)}
            for name, entry in sorted(found.items())]


def object_version(entry: dict) -> str:
    """What changes when a stored object is rewritten, from its fsspec listing entry: the ETag where the store
    gives one, else its modification time."""
    return str(entry.get("ETag") or entry.get("etag") or entry.get("mtime") or entry.get("LastModified"))


def local_copy(path: Location, leave_out: tuple[str, ...] = ()) -> Path:
    """A local copy of a stored file or folder (a model, an index), made once per version: the cache key
    is the URL plus every object's size and ETag, so an updated model is fetched again and an unchanged one
    never is. Memory-mapped readers (FAISS) and torch need a local file; on disk `path` is returned as is.

    The copy is `CACHE/store/KEY/PROTOCOL/BUCKET/...`: it keeps the stored name, and a worker on another
    machine handed the path can tell which object it copies (`on_this_machine`)."""
    if not is_remote(path):
        return path
    listing = _listing(path, leave_out)
    key = hashlib.sha256(json.dumps([str(path), listing]).encode()).hexdigest()[:20]
    copy = cache_root() / "store" / key / path.protocol / path.path.strip("/")
    if copy.exists():
        return copy
    staging = copy.with_name(f".tmp-{os.getpid()}-{copy.name}")
    remove_tree(staging)
    staging.parent.mkdir(parents=True, exist_ok=True)
    if len(listing) == 1 and listing[0]["name"] == "":
        path.fs.get_file(path.path, str(staging))
    else:
        for entry in listing:
            target = staging / entry["name"].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            path.fs.get_file(path.path + entry["name"], str(target))
    try:
        os.replace(staging, copy)
    except OSError:  # another process made the same copy first
        remove_tree(staging)
    return copy


_COPY = re.compile(r"/store/([0-9a-f]{20})/([a-z][a-z0-9+.-]*)/(.+)$")


def on_this_machine(path: str | os.PathLike) -> Path:
    """A model path a driver handed to a worker, usable here: itself when it exists on this machine; a
    local copy of a stored model that the driver made (and another machine lacks) is copied here too."""
    path = Path(path)
    match = None if path.exists() else _COPY.search(path.as_posix())
    if match is None:
        return path
    key, protocol, rest = match.groups()
    copy = local_copy(location(f"{protocol}://{rest}"))
    if copy.parts[-len(Path(rest).parts) - 2] != key:
        raise FileNotFoundError(f"{protocol}://{rest} changed on the store after this run started ({path} was "
                                "copied from an older version): rerun to use the new one")
    return copy

