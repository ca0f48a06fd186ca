"""What a workspace holds, read from the files the stages leave: one row per artifact with its rows, the
model it was made with, whether it is still current and its size on disk (`storyteller status`).

Freshness, from the stage bookkeeping alone (nothing is rebuilt or loaded):
- incomplete: a `_run.json` without `_meta.json`, a run that was interrupted (rerun it to resume);
- stale: an input changed since it was made: a file whose sha256 no longer matches its `_meta.json`,
  or an upstream artifact (corpus, vectors) rebuilt under another key;
- current: otherwise. Inputs no longer on disk are noted, not counted as changes.
Input paths recorded under the workspace the artifact was made in are looked up in this one, so a
moved workspace is read the same. A workspace on an object store is read the same way, over the store;
its artifacts' sizes are the sizes of their objects.
"""

import json
import os
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from data_schemas.storage import Location, is_remote, location
from data_schemas.workspace import CORPORA, FEATURES, INDEX, MODEL_CONFIG, STYLES, VECTORS, Workspace
from pipelines.core.manifest import META_FILE, RUN_FILE, file_fingerprint

CURRENT, STALE, INCOMPLETE = "current", "stale", "incomplete"


@dataclass(frozen=True)
class ArtifactStatus:
    kind: str  # corpus, vocab, vectors, features, style, model, index, stories
    name: str  # its path in the workspace
    rows: int | None
    model: str  # the model it was made with ('' where none)
    state: str  # CURRENT, STALE or INCOMPLETE
    note: str  # why it is stale or incomplete, or what could not be checked
    bytes: int


def _read_json(path: Location) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _size(*paths: Location) -> int:
    total = 0
    for path in paths:
        if is_remote(path):  # every object under the prefix, or the object itself
            total += sum(entry.get("size") or 0 for entry in path.fs.find(path.path, detail=True).values())
            continue
        if path.is_file():
            total += path.stat().st_size
        for folder, _, files in os.walk(path):
            total += sum(os.path.getsize(os.path.join(folder, name)) for name in files)
    return total


class _Checker:
    """Compares recorded inputs with the files and artifacts on disk now; hashes each file once."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.hashes: dict[Location, str] = {}

    @staticmethod
    def here(path: str, folder: Location, meta: dict) -> Location:
        """A recorded path; one under the stage's root then is found where that root is now, from the
        artifact folder's place under it (the root and folder as they were are in the `_meta.json`)."""
        made_in, made_at = meta.get("root"), meta.get("folder")
        if is_remote(folder):
            return _here_on_store(path, folder, made_in, made_at)
        if made_in and made_at and (path == made_in or path.startswith(made_in.rstrip(os.sep) + os.sep)):
            return Path(os.path.normpath(folder / os.path.relpath(made_in, made_at) / os.path.relpath(path, made_in)))
        return location(path)

    def inside(self, path: Location) -> bool:
        root = self.workspace.root
        if is_remote(root) or is_remote(path):
            return is_remote(path) and str(path).startswith(str(root).rstrip("/") + "/")
        return path.resolve().is_relative_to(root.resolve())

    def files(self, folder: Location, meta: dict) -> tuple[list[str], list[str]]:
        """(changed, gone) among the file fingerprints of a `_meta.json`'s inputs and model files; `gone`
    holds source files no longer on disk (a workspace file gone counts as changed)."""
        prints = [item for item in meta.get("inputs", []) if isinstance(item, dict) and "sha256" in item]
        model = meta.get("params", {}).get("model")
        prints += [item for item in model if isinstance(item, dict)] if isinstance(model, list) else []
        changed, gone = [], []
        for item in prints:
            if "path" not in item:
                continue
            path = self.here(item["path"], folder, meta)
            if not path.is_file():
                # A workspace file gone was rebuilt or removed; a source file gone is only noted.
                inside = self.inside(path)
                (changed if inside else gone).append(f"{path} (gone)" if inside else str(path))
                continue
            if path not in self.hashes:
                self.hashes[path] = file_fingerprint(path)["sha256"]
            if self.hashes[path] != item["sha256"]:
                changed.append(str(path))
        return changed, gone

    def upstream(self, recorded: dict[str, str]) -> list[str]:
        """Upstream artifact folders (workspace-relative) whose `_meta.json` key is no longer the recorded one."""
        return [name for name, key in recorded.items()
                if (_read_json(self.workspace.root / name / META_FILE) or {}).get("key") != key]


def _below(path: str, root: str) -> str | None:
    """PATH relative to ROOT (URLs or posix paths), or None when it is not under it."""
    root = root.rstrip("/")
    return path[len(root):].lstrip("/") if path == root or path.startswith(root + "/") else None


def _here_on_store(path: str, folder: Location, made_in: str | None, made_at: str | None) -> Location:
    """`_Checker.here` for a stored artifact folder: URLs have no `..` to normalize, so the root now is
    FOLDER less as many parts as the folder was below the root then."""
    inner, depth = _below(path, made_in or ""), _below(made_at or "", made_in or "")
    if not made_in or inner is None or depth is None:
        return location(path)
    root = folder
    for _ in posixpath.normpath(depth).split("/") if depth else []:
        root = root.parent
    return root / inner if inner else root


def _state(changed: list[str], gone: list[str]) -> tuple[str, str]:
    if changed:
        return STALE, f"changed since: {changed[0]}" + (f" and {len(changed) - 1} more" if len(changed) > 1 else "")
    return CURRENT, f"{len(gone)} input(s) no longer on disk, e.g. {gone[0]}" if gone else ""


def _stage_folders(root: Location, pattern: str) -> Iterator[Location]:
    """Artifact folders matching `pattern` that a stage finished or started."""
    found = {path.parent for marker in (META_FILE, RUN_FILE) for path in root.glob(f"{pattern}/{marker}")}
    return iter(sorted(found))


def _stage_artifact(checker: _Checker, kind: str, folder: Location, model: str,
                    upstream: Callable[[dict], dict[str, str]] | None = None) -> ArtifactStatus:
    name = folder.relative_to(checker.workspace.root).as_posix()
    meta = _read_json(folder / META_FILE)
    if meta is None:
        return ArtifactStatus(kind, name, None, model, INCOMPLETE, "interrupted run: rerun its command to resume",
                              _size(folder))
    changed, gone = checker.files(folder, meta)
    if upstream is not None:
        changed += [f"{other} (rebuilt)" for other in checker.upstream(upstream(meta))]
    state, note = _state(changed, gone)
    rows = meta.get("rows", meta.get("captions"))
    return ArtifactStatus(kind, name, rows, model or meta.get("params", {}).get("encoder", ""), state, note,
                          _size(folder))


def _index_vectors(workspace: Workspace, vse: str) -> Callable[[dict], dict[str, str]]:
    """The caption vector folders an index was built from, and their keys then."""
    return lambda meta: {workspace.vectors(vse, item["corpus"], "captions").relative_to(workspace.root).as_posix():
                         item["vectors_key"] for item in meta.get("inputs", []) if "vectors_key" in item}


def _vocabularies(checker: _Checker) -> Iterator[ArtifactStatus]:
    ws = checker.workspace
    for meta_path in sorted(ws.vocab_folder().glob("*.meta.json")):
        meta, table = _read_json(meta_path) or {}, meta_path.with_name(meta_path.name.replace(".meta.json", ".parquet"))
        recorded = {ws.corpus_part(item["corpus"], item["artifact"]).relative_to(ws.root).as_posix(): item["key"]
                    for item in meta.get("inputs", [])}
        changed = [f"{other} (rebuilt)" for other in checker.upstream(recorded)]
        state, note = _state(changed, [])
        if not table.is_file():
            state, note = INCOMPLETE, f"{table.name} is missing: rerun `storyteller vocab`"
        yield ArtifactStatus("vocab", table.relative_to(ws.root).as_posix(), meta.get("words"), "", state, note,
                             _size(table, meta_path))


def _styles(checker: _Checker) -> Iterator[ArtifactStatus]:
    """Computed styles are stale when their corpora's vector shards are no longer the ones summed."""
    from pipelines.style.job import shard_ids  # the content ids the style job matches shards by

    ws = checker.workspace
    for meta_path in sorted(ws.root.glob(f"{STYLES}/*/*.json")):
        meta, encoder = _read_json(meta_path) or {}, meta_path.parent.name
        vector = meta_path.with_suffix(".npy")
        state, note = CURRENT, ""
        if "inputs" in meta:
            now = []
            for corpus in meta.get("corpora", []):
                vectors = _read_json(ws.vectors(encoder, corpus, meta["kind"]) / META_FILE)
                now += shard_ids(vectors) if vectors else []
            if sorted(now) != sorted(item["content_id"] for item in meta["inputs"]):
                state, note = STALE, f"the {meta['kind']} vectors of {', '.join(meta['corpora'])} changed since"
        if not vector.is_file():
            state, note = INCOMPLETE, f"{vector.name} is missing: rerun the command that made the style"
        yield ArtifactStatus("style", meta_path.with_suffix("").relative_to(ws.root).as_posix(), meta.get("count"),
                             encoder, state, note, _size(vector, meta_path, meta_path.with_suffix(".sum.npy")))


def _models(checker: _Checker) -> Iterator[ArtifactStatus]:
    ws = checker.workspace
    for config_path in sorted(ws.models().glob(f"*/{MODEL_CONFIG}")):
        config = _read_json(config_path) or {}
        provenance = config.get("provenance") or {}
        made_with = provenance.get("encoder") or provenance.get("cnn") or ""
        family = config.get("family") or config.get("kind") or "model"
        yield ArtifactStatus(f"model ({family})", config_path.parent.relative_to(ws.root).as_posix(), None,
                             str(made_with), CURRENT, "", _size(config_path.parent))


def workspace_status(workspace: str | Location) -> list[ArtifactStatus]:
    """Every artifact of the workspace, in layout order (corpora, vocab, vectors, features, styles, models,
    indexes, stories)."""
    ws = Workspace(workspace)
    if not ws.root.is_dir():
        raise FileNotFoundError(f"--workspace {ws.root} " + (
            "holds no objects: check the URL and the AWS_* settings of the store" if is_remote(ws.root)
            else "is not a folder"))
    checker = _Checker(ws)
    found = [_stage_artifact(checker, "corpus", folder, "") for folder in _stage_folders(ws.root, f"{CORPORA}/*/*")]
    found += _vocabularies(checker)
    found += [_stage_artifact(checker, "vectors", folder, folder.parts[-3])
              for folder in _stage_folders(ws.root, f"{VECTORS}/*/*/*")]
    found += [_stage_artifact(checker, "features", folder, folder.parts[-2])
              for folder in _stage_folders(ws.root, f"{FEATURES}/*/*")]
    found += _styles(checker)
    found += _models(checker)
    found += [_stage_artifact(checker, "index", folder, folder.parts[-2], _index_vectors(ws, folder.parts[-2]))
              for folder in _stage_folders(ws.root, f"{INDEX}/*/*")]
    stories = {path.parent for marker in (META_FILE, RUN_FILE) for path in ws.stories_root().rglob(marker)
               if path.parent.name == "stories"}
    found += [_stage_artifact(checker, "stories", folder, "") for folder in sorted(stories)]
    return found


def as_json(statuses: list[ArtifactStatus]) -> str:
    return json.dumps([asdict(status) for status in statuses], indent=2)
