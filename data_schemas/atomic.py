"""Atomic file writes: every artifact is written under a temporary name in its own folder and renamed,
so readers see the old file or the new one, never a part, and a killed writer leaves only a temporary.

Temporary names carry a random part: two writers of the same file at once never share one.
"""

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_PREFIX = ".tmp-"


def temporary_name(target: Path) -> Path:
    """A fresh temporary path beside `target` that `remove_temporaries` recognises."""
    return target.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}-{target.name}")


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write `target` through; on success it replaces `target` in one rename,
    on any error it is removed and `target` is left as it was. The temporary may be a file or a folder.

    A folder that replaces a folder takes two renames (a rename cannot replace a folder that holds
    files): the old one moves aside under a temporary name first, so a reader in between finds no
    folder, never a mix of the two."""
    target = Path(target)
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


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as temp:
        temp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """`path` holds the old text or the new, never a part: readers may look at any moment."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def remove_temporaries(folder: Path) -> None:
    """Delete leftovers of writers that were killed before their rename."""
    if folder.is_dir():
        for path in folder.iterdir():
            if path.name.startswith(TEMP_PREFIX):
                _remove(path)
