"""Atomic file writes: every artifact is written under a temporary name in its own folder and renamed,
so readers see the old file or the new one, never a part, and a killed writer leaves only a temporary.

On an object store (see `data_schemas.storage`) the file is built in a local temporary and uploaded in
one call, which is whole or nothing there; a folder goes file by file, its completion marks last.
Temporary names carry a random part: two writers of the same file at once never share one.
"""

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from data_schemas.storage import Location, is_remote, location, remove_tree, upload_file, upload_folder, write_bytes

TEMP_PREFIX = ".tmp-"


def temporary_name(target: Location) -> Location:
    """A fresh temporary path beside `target` that `remove_temporaries` recognises."""
    return target.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}-{target.name}")


@contextmanager
def atomic_path(target: str | Location) -> Iterator[Path]:
    """Yield a temporary local path to write `target` through; on success it replaces `target` in one rename
    (one upload on a store), on any error it is removed and `target` is left as it was. The temporary may
    be a file or a folder.

    A folder that replaces a folder takes two renames (a rename cannot replace a folder that holds
    files): the old one moves aside under a temporary name first, so a reader in between finds no
    folder, never a mix of the two."""
    target = location(target)
    if is_remote(target):
        with _uploaded(target) as temp:
            yield temp
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = temporary_name(target)
    try:
        yield temp
        if temp.is_dir() and target.is_dir() and not target.is_symlink():
            old = temporary_name(target)
            os.replace(target, old)
            os.replace(temp, target)
            _remove(old)
        else:
            os.replace(temp, target)
    finally:
        _remove(temp)


@contextmanager
def _uploaded(target: Location) -> Iterator[Path]:
    """A local staging path for a stored `target`, uploaded when the block succeeds."""
    with tempfile.TemporaryDirectory(prefix="storyteller-upload-") as staging:
        temp = Path(staging) / target.name
        yield temp
        if temp.is_dir():
            remove_tree(target)
            upload_folder(temp, target)
        else:
            upload_file(temp, target)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Location, data: bytes) -> None:
    path = location(path)
    if is_remote(path):
        write_bytes(path, data)
        return
    with atomic_path(path) as temp:
        temp.write_bytes(data)


def write_text_atomic(path: str | Location, text: str) -> None:
    """`path` holds the old text or the new, never a part: readers may look at any moment."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Location, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def remove_temporaries(folder: Location) -> None:
    """Delete leftovers of writers that were killed before their rename."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(TEMP_PREFIX):
                remove_tree(path)
