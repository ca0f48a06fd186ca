"""Stage bookkeeping: fingerprints of inputs, the `_meta.json` of finished artifacts, and the
`_run.json` that lets a killed stage resume only when its inputs and parameters are unchanged.

Keys are made of content and workspace-relative paths: a path under the stage's root (the workspace)
enters the key relative to it, so a copied or moved workspace keeps its keys and is reused. The
`_meta.json` still records the paths as given, for people to read.
"""

import ast
import hashlib
import json
import os
from dataclasses import dataclass
from enum import Enum
from functools import cache
from itertools import takewhile
from pathlib import Path
from typing import Any

from data_schemas.atomic import remove_temporaries, write_json_atomic
from data_schemas.storage import Location, cache_root, is_remote, is_url, location, remove_tree

META_FILE = "_meta.json"
RUN_FILE = "_run.json"
_SOURCE_PACKAGES = ("pipelines", "data_schemas", "model")
IN_ROOT = "<root>/"  # how a path under the stage's root appears in its key
IN_CACHE = "<store-cache>/"  # ... and a local copy of a stored model, whose name holds its URL and version


def file_fingerprint(path: str | Location) -> dict[str, Any]:
    """Path, size and content hash: a changed file changes the stage key even with the same name. The path is
    absolute (or a URL), so provenance read from another folder (`storyteller status`) still finds the file,
    and two spellings of one file give one key; `keyed` makes paths under the workspace relative."""
    digest, size = hashlib.sha256(), 0
    where = location(path)
    with where.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"path": str(where) if is_remote(where) else os.path.abspath(where), "bytes": size,
            "sha256": digest.hexdigest()}


def _without_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _code_text(path: Path) -> bytes:
    """What of a source file can change results: a module's syntax tree without docstrings (comments,
    docstrings and layout do not count); the bytes of a JSON file or of a module that does not parse."""
    data = path.read_bytes()
    if path.suffix != ".py":
        return data
    try:
        return ast.dump(_without_docstrings(ast.parse(data, str(path)))).encode()
    except SyntaxError:
        return data


@cache
def code_version() -> str:
    """Hash of the stage code itself, so a fixed bug invalidates artifacts the old code wrote; an edit
    of comments or docstrings alone keeps every artifact."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in _SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(_code_text(path))
    return digest.hexdigest()[:16]


def _under(text: str, roots: tuple[str, ...]) -> str | None:
    """`text` relative to the first root it lies under, if it names a path (absolute, with a separator, or
    a URL under a stored workspace)."""
    if is_url(text):
        form = text.rstrip("/")
        for root in roots:
            if form == root or form.startswith(root + "/"):
                return form[len(root) + 1:] or "."
        return None
    if not (os.path.isabs(text) or os.sep in text):
        return None
    for form in dict.fromkeys((os.path.abspath(text), os.path.realpath(text))):
        for root in roots:
            if is_url(root):
                continue
            if form == root or form.startswith(root.rstrip(os.sep) + os.sep):
                return Path(os.path.relpath(form, root)).as_posix()
    return None


def keyed(value: Any, root: str | Location | None) -> Any:
    """`value` as it enters a stage key: every string naming a path under `root` made relative to it."""
    if root is None:
        return value
    if is_remote(location(root)):
        roots: tuple[str, ...] = (str(location(root)).rstrip("/"),)
    else:
        roots = tuple(dict.fromkeys((os.path.abspath(root), os.path.realpath(root))))
    cache = (os.path.abspath(cache_root() / "store"),)

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {key: walk(inner) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(inner) for inner in item]
        if isinstance(item, str):
            relative = _under(item, roots)
            if relative is None and (copy := _under(item, cache)) is not None:
                # CACHE/store/VERSION/PROTOCOL/PATH copies PROTOCOL://PATH: under a stored workspace it is
                # keyed as that path (a model's content enters keys through its file fingerprints).
                _, protocol, rest = [*copy.split("/", 2), "", ""][:3]
                stored = _under(f"{protocol}://{rest}", roots) if rest else None
                return IN_ROOT + stored if stored is not None else IN_CACHE + copy
            return item if relative is None else IN_ROOT + relative
        return item

    return walk(value)


def stage_key(stage: str, inputs: list[dict], params: dict, root: str | Location | None = None) -> str:
    """The key of a stage run: its inputs and parameters, with paths under `root` (the workspace) relative
    to it, and the code version."""
    payload = json.dumps({"stage": stage, "inputs": keyed(inputs, root), "params": keyed(params, root),
                          "code": code_version()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def stage_root(outputs: list[Location]) -> Location:
    """The folder a stage's paths are keyed relative to: where its output folders meet. For a workspace
    stage that is the workspace root, since its data folder and its `rejects/` folder meet only there."""
    if any(is_remote(folder) for folder in outputs):
        parts = [str(folder).rstrip("/").split("/") for folder in outputs]
        shared = len(list(takewhile(lambda names: len(set(names)) == 1, zip(*parts, strict=False))))
        return location("/".join(parts[0][:shared]))
    return Path(os.path.commonpath([os.path.abspath(folder) for folder in outputs]))


class StageStart(Enum):
    DONE = "done"  # every output already matches: nothing to do
    RESUME = "resume"  # an interrupted run with the same key: keep its finished shards
    FRESH = "fresh"  # no outputs, or outputs of other inputs/parameters: start over


def read_json(path: Location) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@dataclass(frozen=True)
class Stage:
    """One run of a stage over its output folders."""

    name: str
    key: str
    outputs: tuple[Location, ...]
    root: Location | None = None  # the folder its key's paths are relative to

    def plan(self) -> StageStart:
        """What a run would do with the existing outputs; looks, never writes."""
        metas = [read_json(folder / META_FILE) for folder in self.outputs]
        if all(meta and meta.get("key") == self.key for meta in metas):
            return StageStart.DONE
        runs = [read_json(folder / RUN_FILE) for folder in self.outputs]
        if all(run and run.get("key") == self.key for run in runs):
            return StageStart.RESUME
        return StageStart.FRESH

    def prepare(self, start: StageStart) -> None:
        """Ready the folders for `start`: drop a resumed run's temporaries, or clear them for a fresh one."""
        for folder in self.outputs:
            if start is StageStart.RESUME:
                remove_temporaries(folder)
            elif start is StageStart.FRESH:
                remove_tree(folder)
                write_json_atomic(folder / RUN_FILE, {"stage": self.name, "key": self.key})

    def finish(self, metas: dict[Location, dict]) -> None:
        """Record each output's `_meta.json` (the mark of completion) and drop the run marker. The root and
        folder as they were let `storyteller status` find input paths of a workspace moved since."""
        for folder in self.outputs:
            write_json_atomic(
                folder / META_FILE,
                {"stage": self.name, "key": self.key, "code_version": code_version(),
                 **({"root": str(self.root), "folder": str(folder)} if self.root else {}), **metas[folder]},
            )
            (folder / RUN_FILE).unlink(missing_ok=True)


def read_meta(folder: Location) -> dict:
    meta = read_json(folder / META_FILE)
    if meta is None:
        raise FileNotFoundError(f"{folder / META_FILE} is missing: the stage that writes {folder} has not finished.")
    return meta
