"""Style vectors in a workspace (on disk or on an object store): `styles/<encoder>/<name>.npy` (float32
(D,)), `<name>.json` (what made it) and, for styles computed from vector shards, `<name>.sum.npy` (the
float64 sum, so that new shards can be added without reading the old ones again). Also the rule that
decides, from the stored json, whether a rerun has nothing to do, can add new shards to the stored sum, or
must start over.

The json is written last and records the sha256 of the `.npy` files beside it, so a run killed
between two writes leaves files that do not match their json: readers refuse them and the next run
recomputes them.
"""

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_schemas.atomic import atomic_path, write_json_atomic
from data_schemas.storage import Location, is_remote, local_copy, location, remove_tree
from data_schemas.workspace import MODEL_CONFIG, Workspace, check_name

UNCHANGED, INCREMENTAL, FULL = "unchanged", "incremental", "full"
# What must match for a stored sum to be reused; the shards are compared separately, by content id.
SUM_PARAMS = ("kind", "filter", "encoder", "dim", "code_version")


@dataclass(frozen=True)
class Style:
    name: str
    encoder: str
    vector: np.ndarray  # float32 (D,)
    meta: dict


@dataclass(frozen=True)
class StylePaths:
    vector: Location
    sum: Location
    meta: Location


@dataclass(frozen=True)
class UpdatePlan:
    action: str  # UNCHANGED, INCREMENTAL or FULL
    reason: str
    read: tuple[int, ...]  # positions of the shards to read
    carried: dict[int, dict]  # position -> the stored record of a shard whose rows are already in the sum


def style_paths(workspace: str | Location, encoder: str, name: str) -> StylePaths:
    folder, name = Workspace(workspace).styles(encoder), check_name("style", name)
    return StylePaths(folder / f"{name}.npy", folder / f"{name}.sum.npy", folder / f"{name}.json")


def resolve_encoder(workspace: str | Location, encoder: str | Location) -> tuple[str, Path | None]:
    """The encoder id (its directory name) and its model directory when there is one: `encoder` is a path
    or URL of a model directory or the name of one under `WS/models`. The directory returned is local: a
    stored one is copied once into the cache (`data_schemas.storage.local_copy`)."""
    path = location(encoder)
    if (path / MODEL_CONFIG).is_file():
        return (path if is_remote(path) else path.resolve()).name, local_copy(path)
    if is_remote(path) or path.name != str(encoder):
        raise ValueError(f"--encoder {encoder}: not a model directory (no {MODEL_CONFIG} in it)")
    under_models = Workspace(workspace).model(str(encoder))  # styles imported from the release need no model folder
    return str(encoder), local_copy(under_models) if (under_models / MODEL_CONFIG).is_file() else None


def sha256_of(path: Location) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _save_npy_atomic(path: Location, array: np.ndarray) -> str:
    """Write through a local temporary, hashed before it is renamed (uploaded): no read back from a store."""
    with atomic_path(path) as temp:
        with open(temp, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        digest = sha256_of(temp)
    return digest


def load_npy(path: Location) -> np.ndarray:
    """A `.npy` array (never pickles), read through an open file so that a stored one needs no local copy."""
    with path.open("rb") as handle:
        return np.load(handle, allow_pickle=False)


def write_style(workspace: str | Location, encoder: str, name: str, vector: np.ndarray, meta: dict,
                total: np.ndarray | None = None) -> Location:
    """Write the vector (and the float64 sum when given), then the json naming their hashes."""
    paths = style_paths(workspace, encoder, name)
    files = {"vector": {"file": paths.vector.name, "sha256": _save_npy_atomic(paths.vector, vector.astype(np.float32))}}
    if total is not None:
        files["sum"] = {"file": paths.sum.name, "sha256": _save_npy_atomic(paths.sum, total.astype(np.float64))}
    else:
        remove_tree(paths.sum)
    write_json_atomic(paths.meta, {**meta, "name": name, "files": files})
    return paths.vector


def _intact(paths: StylePaths, meta: dict, part: str) -> bool:
    record = meta.get("files", {}).get(part)
    path = paths.vector if part == "vector" else paths.sum
    return record is not None and path.is_file() and sha256_of(path) == record["sha256"]


def read_meta(workspace: str | Location, encoder: str, name: str) -> dict | None:
    try:
        return json.loads(style_paths(workspace, encoder, name).meta.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_stored_sum(workspace: str | Location, encoder: str, name: str) -> tuple[dict, np.ndarray] | None:
    """The json and float64 sum of a computed style whose files are complete, else None."""
    paths = style_paths(workspace, encoder, name)
    meta = read_meta(workspace, encoder, name)
    if meta is None or not (_intact(paths, meta, "vector") and _intact(paths, meta, "sum")):
        return None
    return meta, load_npy(paths.sum)


def plan_update(previous: dict | None, params: dict, inputs: list[dict]) -> UpdatePlan:
    """What to do given the stored json (None when there is no complete stored style).

    Shards are matched by content id (see `style.shard_ids`), not by path: a corpus rebuilt with
    more files renames its shards but an unchanged one keeps its id. Only new shards on top of all
    the old ones can be added to the stored sum; a shard that changed or went away means starting over.
    """
    everything = tuple(range(len(inputs)))
    if previous is None:
        return UpdatePlan(FULL, "no complete stored style", everything, {})
    if "inputs" not in previous:
        return UpdatePlan(FULL, f"the stored style came from {previous.get('source', 'elsewhere')}", everything, {})
    changed = [key for key in SUM_PARAMS if previous.get(key) != params[key]]
    if changed:
        return UpdatePlan(FULL, f"{', '.join(changed)} changed", everything, {})
    stored = defaultdict(list)
    for record in previous["inputs"]:
        stored[record["content_id"]].append(record)
    carried, read = {}, []
    for position, record in enumerate(inputs):
        if stored[record["content_id"]]:
            carried[position] = stored[record["content_id"]].pop()
        else:
            read.append(position)
    gone = [record["path"] for records in stored.values() for record in records]
    if gone:
        return UpdatePlan(FULL, f"{len(gone)} shard(s) changed or removed, e.g. {gone[0]}", everything, {})
    if not read:
        return UpdatePlan(UNCHANGED, "same shards and parameters", (), carried)
    return UpdatePlan(INCREMENTAL, f"{len(read)} new shard(s) added to the stored sum", tuple(read), carried)


def read_style(workspace: str | Location, encoder: str, name: str) -> Style:
    """A style vector and its json; errors name the missing file and the command that builds it."""
    encoder = location(encoder).name
    paths = style_paths(workspace, encoder, name)
    meta = read_meta(workspace, encoder, name)
    if meta is None or not paths.vector.is_file():
        missing = paths.meta if meta is None else paths.vector
        known = list_styles(workspace, encoder)
        raise FileNotFoundError(
            f"{missing} is missing: build it with `storyteller style --name {name} --encoder {encoder} "
            f"--corpus NAME --kind passages|captions --workspace {workspace}` (or import the original release "
            f"with `storyteller convert styles --dir DIR --encoder {encoder} --workspace {workspace}`); "
            f"styles for {encoder}: {', '.join(known) or 'none'}"
        )
    if not _intact(paths, meta, "vector"):
        raise ValueError(f"{paths.vector} does not match the sha256 in {paths.meta} (an interrupted run?): "
                         "rerun the command that built it")
    return Style(name, encoder, load_npy(paths.vector), meta)


def list_styles(workspace: str | Location, encoder: str) -> list[str]:
    """Names of the styles stored for an encoder, sorted."""
    folder = Workspace(workspace).styles(location(encoder).name)
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob("*.json") if not path.name.startswith("."))


def cosines_to_others(workspace: str | Location, encoder: str, name: str) -> dict[str, float]:
    """cos(style, other) for every other style of the encoder. The story shift x - c + b moves x only as
    far as b and c differ: a cosine near 1 means the two styles are nearly the same vector."""
    vector = read_style(workspace, encoder, name).vector.astype(np.float64)
    cosines = {}
    for other in list_styles(workspace, encoder):
        if other != name:
            found = read_style(workspace, encoder, other).vector.astype(np.float64)
            if found.shape == vector.shape:
                norms = float(np.linalg.norm(vector) * np.linalg.norm(found))
                cosines[other] = float(vector @ found / norms) if norms else 0.0
    return cosines
