"""The workspace as Prefect sees it: the type of every flow's `workspace` parameter, and where the stage
tasks' results (and with them Prefect's cache records) are kept.

On disk the results stay where Prefect keeps them by default, PREFECT_HOME/storage (the CLI sets
PREFECT_HOME to WS/.prefect). For a workspace on an object store they go to WS/.prefect/results on the
same store, through Prefect's fsspec-backed `RemoteFileSystem`: cache keys hold the workspace's URL and
content fingerprints, never a host's paths, so a worker on any host that reaches the store answers from
what another host computed. Prefect's own database cannot live there (SQLite needs a local file): the CLI
keeps PREFECT_HOME on local disk, and several hosts share one Prefect server instead (flows.prefect.serve).
Our records are JSON (flows.prefect.cache), but Prefect reads a record with the serializer the record names,
so one planted by anyone who may write to the store could name pickle: grant write access to the store only
to the hosts that run the pipeline, as for a workspace folder.
"""

import hashlib
import os
from typing import Annotated, Any

from prefect import Task
from prefect.filesystems import RemoteFileSystem
from prefect.settings import PREFECT_API_URL
from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from data_schemas.storage import Location, is_remote, location

RESULTS = ".prefect/results"  # under a stored workspace: the stage tasks' results and cache records


def _location(value: Any) -> Location:
    if isinstance(value, str | os.PathLike) or is_remote(value):
        return location(value)
    raise ValueError(f"expected a folder or an object-store prefix such as s3://bucket/prefix, got {value!r}")


# A flow parameter typed `Path` would turn "s3://bucket/ws" into "s3:/bucket/ws" and refuse a UPath.
WorkspaceLocation = Annotated[Location, PlainValidator(_location), PlainSerializer(str, return_type=str),
                              WithJsonSchema({"type": "string", "title": "workspace", "description":
                                              "a folder, or an object-store prefix such as s3://bucket/prefix"})]


_SAVED: dict[tuple[str, str], RemoteFileSystem] = {}  # (API, block name) -> the block saved there


def result_storage(workspace: str | Location) -> RemoteFileSystem | None:
    """WS/.prefect/results for a workspace on a store, as a block saved on the API (a task takes only a
    saved one, and its records then name the block any host can load); None (Prefect's default) on disk.
    The block holds the URL and fsspec options only: credentials stay in each host's environment."""
    root = location(workspace)
    if not is_remote(root):
        return None
    basepath = str(root / RESULTS)
    name = f"storyteller-results-{hashlib.sha256(basepath.encode()).hexdigest()[:16]}"
    key = (str(PREFECT_API_URL.value()), name)
    if key not in _SAVED:
        block = RemoteFileSystem(basepath=basepath, settings=dict(root.storage_options))
        block.save(name, overwrite=True)
        _SAVED[key] = block
    return _SAVED[key]


def bound_to(stage_task: Task, workspace: str | Location) -> Task:
    """`stage_task` keeping its results, and so its cache, in the workspace's result storage."""
    storage = result_storage(workspace)
    return stage_task if storage is None else stage_task.with_options(result_storage=storage)
