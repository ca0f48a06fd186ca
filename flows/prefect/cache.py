"""What every stage task shares: the summary it returns, the Prefect cache key made from its inputs'
fingerprints and its parameters, and which failures are worth a retry.

Each stage already skips work whose `_meta.json` matches its inputs; Prefect's cache is a faster path
over that, so an unchanged flow completes without listing shards or loading models. Two rules keep
the fast path honest:
- the key holds the inputs' fingerprints (content or, for big files, size and mtime), every parameter
  but the Beam flags (a runner does not change results), and the code version;
- a cached result names the output files it saw (their sha256); when one changed or vanished since
  (outputs deleted, or rebuilt by hand with other parameters), the task runs again and the stage's
  own check decides what to do.
The key holds paths as given, the workspace's among them, on purpose: a cached summary names the
absolute output files it saw, so a copied or moved workspace must not answer from the original's
cache. There the tasks run and each stage's own key, made of content and workspace-relative paths,
finds its outputs done in a moment.
For a workspace on an object store the results and cache records are kept on the store too (WS/.prefect/
results, see `flows.prefect.workspace`), so every host that reaches the store shares one cache.
`cached_summary` reads that cache without starting a task run, so the end-to-end flow can see that
nothing changed before it starts a single subflow.
"""

import dataclasses
import hashlib
import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prefect import Task
from prefect.client.schemas.objects import TaskRun
from prefect.context import TaskRunContext
from prefect.results import get_result_store
from prefect.states import State
from prefect.utilities.callables import get_call_parameters
from pydantic_core import to_jsonable_python

from data_schemas.storage import Location, location
from flows.prefect.workspace import bound_to
from pipelines.core.all_rejected import check_some_kept
from pipelines.core.dry_run import dry_run_enabled
from pipelines.core.manifest import META_FILE, StageStart, code_version, file_fingerprint
from pipelines.core.stage_run import StageReport
from pipelines.style.files import UNCHANGED

CACHED, TRAINED = "cached", "trained"  # summary actions of a Prefect cache hit and of a training task
UP_TO_DATE = (CACHED, StageStart.DONE.value, UNCHANGED)  # actions that mean nothing was recomputed
BIG_FILE = 64 << 20  # bytes; bigger inputs are fingerprinted by size and mtime, as make and rsync do
UNKEYED = ("beam_args",)  # parameters that choose where a job runs, not what it writes


@dataclass(frozen=True)
class StageSummary:
    """What a stage task did, small enough to be a cached Prefect result and a row of a report."""

    stage: str
    action: str  # the stage's own verdict: done (skipped), fresh, resume, unchanged, incremental, full, trained
    rows_in: int = 0
    rows_out: int = 0
    rejected: int = 0
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)  # output file -> sha256 when the task finished
    details: dict[str, Any] = field(default_factory=dict)
    balanced: bool = True  # rows in = rows out + rejected must hold (not for counts of words or training)


def sha256_of_files(paths: Iterable[str | Location]) -> dict[str, str]:
    return {str(path): file_fingerprint(path)["sha256"] for path in paths if location(path).is_file()}


def summarize(report: StageReport, outputs: dict[str, Location], stage: str | None = None) -> StageSummary:
    """A sharded stage's report; `outputs` are its output folders (their `_meta.json` mark completion). A stage
    that rejected every record fails the task here (AllRejectedError), and with it the flow."""
    stats = report.stats
    check_some_kept(stage or report.stage, stats, outputs.get("rejects"))
    return StageSummary(stage or report.stage, report.start.value, stats.get("records_in", 0),
                        stats.get("records_out", 0), stats.get("records_rejected", 0), round(report.seconds, 2),
                        sha256_of_files(location(folder) / META_FILE for folder in outputs.values()),
                        {"shards": report.shards, "shards_run": report.shards_run, "rows": report.rows})


def still_current(summary: StageSummary) -> bool:
    """Whether the output files a (cached) summary recorded are there (on disk or the store) unchanged."""
    return all(location(path).is_file() and file_fingerprint(path)["sha256"] == digest
               for path, digest in summary.outputs.items())


def fingerprint(path: str | Location) -> dict[str, Any]:
    path = location(path)
    stat = path.stat()
    if stat.st_size > BIG_FILE:
        # A stored object's mtime is its upload time: an overwritten object changes it, as a rewrite does on disk.
        return {"path": str(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return file_fingerprint(path)


def model_files(model_dir: str | Location) -> list[Location]:
    """The files of a model directory (config, weights, vocabulary, tables), not its checkpoints."""
    return sorted((path for path in location(model_dir).iterdir() if path.is_file() and not path.name.startswith(".")),
                  key=str)


@dataclass(frozen=True)
class StageKey:
    """A Prefect `cache_key_fn` (see `keyed_on`) that can also be computed outside a task run."""

    inputs: Callable[[dict[str, Any]], Iterable[Any]]

    def __call__(self, context: TaskRunContext, parameters: dict[str, Any]) -> str | None:
        return self.of(context.task, parameters)

    def of(self, task: Task, parameters: dict[str, Any]) -> str | None:
        """The key of a call of `task` with `parameters` (all of them, defaults filled in); none in a dry
        run, whose summaries describe work not done and must never answer for a real run."""
        if dry_run_enabled():
            return None
        try:
            prints = [item if isinstance(item, dict) else fingerprint(item) for item in self.inputs(parameters)]
        except (OSError, ValueError):
            return None
        payload = {
            "task": task.name,
            "source": hashlib.sha256(inspect.getsource(task.fn).encode()).hexdigest(),
            "code": code_version(),
            "parameters": {k: v for k, v in parameters.items() if k not in UNKEYED},
            "inputs": prints,
        }
        text = json.dumps(to_jsonable_python(payload, fallback=str), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def keyed_on(inputs: Callable[[dict[str, Any]], Iterable[Any]]) -> StageKey:
    """A Prefect `cache_key_fn`: the task's name and source, the code version, every parameter but the
    Beam flags, and the fingerprints of the files `inputs(parameters)` names (or dicts it returns
    already made). An input that cannot be listed yet gives no key: the task runs and the stage
    reports the missing file itself."""
    return StageKey(inputs)


def cached_summary(stage_task: Task, parameters: dict[str, Any]) -> StageSummary | None:
    """What `run_stage(stage_task, **parameters)` would answer from Prefect's cache (marked `cached`), read
    without starting a task run; None where it would run the task: no key yet, nothing stored under
    the key, or outputs changed since. Call it inside a flow run (whose result store it reads)."""
    stage_task = bound_to(stage_task, parameters["workspace"])
    key = stage_task.cache_key_fn.of(stage_task, get_call_parameters(stage_task.fn, (), parameters))
    store = get_result_store().update_for_task(stage_task)
    if key is None or not store.exists(key):
        return None
    summary: StageSummary = store.read(key).result
    return dataclasses.replace(summary, action=CACHED, seconds=0.0) if still_current(summary) else None


# Errors of the user's making (a missing file, a bad parameter, a schema mismatch): retrying cannot help.
USER_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError,
               ValueError, KeyError, TypeError)


def transient_failure(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry condition: I/O and connection failures (OSError, TimeoutError) are retried; user errors are not."""
    try:
        state.result()
    except USER_ERRORS:
        return False
    except (OSError, TimeoutError):
        return True
    except BaseException:  # anything else is a bug: retrying would only repeat it
        return False
    return False


STAGE_TASK: dict[str, Any] = {
    "persist_result": True,
    # JSON, not Prefect's default pickle: a result record read back (from WS/.prefect or a shared store)
    # can never run code; a StageSummary round-trips as itself.
    "result_serializer": "json",
    "retries": 2,
    "retry_delay_seconds": [10, 60],
    "retry_condition_fn": transient_failure,
}


def run_stage(stage_task: Task, **parameters: Any) -> StageSummary:
    """Call a stage task inside a flow; a cached result whose outputs changed on disk is recomputed.
    The summary says `cached` when Prefect's cache answered; results and cache records are kept with the
    workspace when it is on a store (see flows.prefect.workspace)."""
    stage_task = bound_to(stage_task, parameters["workspace"])
    state = stage_task(**parameters, return_state=True)
    summary: StageSummary = state.result()
    if state.name == "Cached" and not still_current(summary):
        summary = stage_task.with_options(refresh_cache=True)(**parameters)
    elif state.name == "Cached":
        summary = dataclasses.replace(summary, action=CACHED, seconds=0.0)
    return summary
