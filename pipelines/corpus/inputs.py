"""The input files a corpus job's `--input` names: a glob (`**` matches folders at any depth) or a folder, on
disk or on an object store (`s3://bucket/books/*.txt.gz`). Inputs are named by strings, as a shard task
carries them: a path on disk, a URL on a store (`data_schemas.storage.location` turns either into a path).
"""

import glob
from pathlib import Path

from data_schemas.storage import is_remote, is_url, location


def glob_inputs(pattern: str) -> list[str]:
    """What `glob.glob(pattern, recursive=True)` finds on disk (files and folders); on a store, the URLs of
    the files that match (a store holds no folders, only names that share a prefix)."""
    if not is_url(pattern):
        return glob.glob(pattern, recursive=True)
    fs = location(pattern).fs
    return [fs.unstrip_protocol(name) for name, info in fs.glob(pattern, detail=True).items()
            if info.get("type") == "file"]


def glob_files(pattern: str) -> list[str]:
    """The files among `glob_inputs(pattern)`."""
    return [name for name in glob_inputs(pattern) if is_url(name) or Path(name).is_file()]


def folder_inputs(pattern: str) -> list[str] | None:
    """Every file under the folder `pattern` names, at any depth; None when it names no folder."""
    folder = location(pattern)
    if not folder.is_dir():
        return None
    if is_remote(folder):  # one listing, not a request per file
        return [folder.fs.unstrip_protocol(name) for name in folder.fs.find(folder.path)]
    return [str(path) for path in folder.rglob("*") if path.is_file()]


def input_name(source: str) -> str:
    """The file name of an input (its last path segment), for ids and the `source` column."""
    return location(source).name
