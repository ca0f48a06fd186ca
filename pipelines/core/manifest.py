"""Stage bookkeeping: fingerprints of inputs, the `_meta.json` of finished artifacts, and the
`_run.json` that lets a killed stage resume only when its inputs and parameters are unchanged."""

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

from data_schemas.atomic import remove_temporaries, write_json_atomic

META_FILE = "_meta.json"
RUN_FILE = "_run.json"
_SOURCE_PACKAGES = ("pipelines", "data_schemas", "model")


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """Path, size and content hash: a changed file changes the stage key even with the same name."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "bytes": os.path.getsize(path), "sha256": digest.hexdigest()}


@cache
def code_version() -> str:
    """Hash of the stage code itself, so a fixed bug invalidates artifacts the old code wrote."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in _SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def stage_key(stage: str, inputs: list[dict], params: dict) -> str:
    payload = json.dumps({"stage": stage, "inputs": inputs, "params": params, "code": code_version()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class StageStart(Enum):
    DONE = "done"  # every output already matches: nothing to do
    RESUME = "resume"  # an interrupted run with the same key: keep its finished shards
    FRESH = "fresh"  # no outputs, or outputs of other inputs/parameters: start over


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@dataclass(frozen=True)
class Stage:
    """One run of a stage over its output folders."""

    name: str
    key: str
    outputs: tuple[Path, ...]

    def start(self) -> StageStart:
        """Decide what to do with existing outputs, and prepare the folders for it."""
        metas = [_read_json(folder / META_FILE) for folder in self.outputs]
        if all(meta and meta.get("key") == self.key for meta in metas):
            return StageStart.DONE
        runs = [_read_json(folder / RUN_FILE) for folder in self.outputs]
        if all(run and run.get("key") == self.key for run in runs):
            for folder in self.outputs:
                remove_temporaries(folder)
            return StageStart.RESUME
        for folder in self.outputs:
            if folder.exists():
                shutil.rmtree(folder)
            write_json_atomic(folder / RUN_FILE, {"stage": self.name, "key": self.key})
        return StageStart.FRESH

    def finish(self, metas: dict[Path, dict]) -> None:
        """Record each output's `_meta.json` (the mark of completion) and drop the run marker."""
        for folder in self.outputs:
            write_json_atomic(
                folder / META_FILE,
                {"stage": self.name, "key": self.key, "code_version": code_version(), **metas[folder]},
            )
            (folder / RUN_FILE).unlink(missing_ok=True)


def read_meta(folder: Path) -> dict:
    meta = _read_json(folder / META_FILE)
    if meta is None:
        raise FileNotFoundError(f"{folder / META_FILE} is missing: the stage that writes {folder} has not finished.")
    return meta
