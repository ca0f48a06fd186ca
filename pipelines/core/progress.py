"""Progress of a stage, record by record, through files: each worker process keeps a counter file in a folder
under the stage's output, rewritten at most every `WRITE_EVERY` seconds, and the main process sums them.
It works for every runner whose workers write to a filesystem this process can see (worker processes,
other machines on a shared disk or the workspace's object store), without any channel back from the workers.

The sum is shown as a tqdm bar on a terminal and as timestamped log lines otherwise, and handed to any
registered sink (the Prefect progress artifact of a served run)."""

import contextvars
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from tqdm import tqdm

from data_schemas.atomic import TEMP_PREFIX, write_text_atomic
from data_schemas.storage import Location, is_remote, location, remove_tree
from pipelines.core.logs import logger

WRITE_EVERY = 2.0  # seconds between a worker's counter writes: the cost per record stays one addition
BAR_EVERY = 0.5  # seconds between reads of the counters while a bar is shown
STORE_EVERY = 2.0  # ... and on an object store, where each read is a listing and a GET per worker
LINE_EVERY = 10.0  # seconds between log lines (only when the count moved)
LOG = logger("progress")


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_line(label: str, done: int, total: int | None, seconds: float, eta_rate: float | None = None) -> str:
    """`[encode] 12,800/40,460 records (31%) 210 rec/s, ETA 2m12s`; without a total, count and rate only.
    The rate shown is the mean over `seconds`; the ETA uses `eta_rate` (records/s) when given, 0 for unknown."""
    rate = done / seconds if seconds > 0 else 0.0
    eta_rate = rate if eta_rate is None else eta_rate
    if total is None:
        return f"[{label}] {done:,} records, {rate:,.0f} rec/s, {format_duration(seconds)}"
    percent = 100 * done // total if total else 100
    if done >= total:
        tail = f"in {format_duration(seconds)}"
    else:
        tail = f"ETA {format_duration((total - done) / eta_rate)}" if eta_rate > 0 else "ETA ?"
    return f"[{label}] {done:,}/{total:,} records ({percent}%) {rate:,.0f} rec/s, {tail}"


class _Counter:
    """One process's count for one stage run, and when its file was last written."""

    def __init__(self, folder: str):
        self.path = location(folder) / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.count, self.written, self.dirty = 0, 0.0, False

    def write(self) -> None:
        write_text_atomic(self.path, str(self.count))
        self.written, self.dirty = time.monotonic(), False


_counters: dict[str, _Counter] = {}
_lock = threading.Lock()  # the harness runs bundles on several threads of one process


def count_records(folder: str, records: int) -> None:
    """Worker side: add `records` done to this process's counter under `folder` ("" counts nothing)."""
    if not folder or not records:
        return
    with _lock:
        counter = _counters.get(folder) or _counters.setdefault(folder, _Counter(folder))
        counter.count += records
        counter.dirty = True
        if time.monotonic() - counter.written >= WRITE_EVERY:
            counter.write()


def flush_counts() -> None:
    """Write every counter that moved since its last write (at the end of a bundle)."""
    with _lock:
        for counter in _counters.values():
            if counter.dirty:
                counter.write()


def counted(folder: Location) -> int:
    """Main side: the records every worker has reported under `folder`."""
    total = 0
    for path in folder.glob("*") if folder.is_dir() else ():
        if path.name.startswith(TEMP_PREFIX):
            continue
        try:
            total += int(path.read_text())
        except (OSError, ValueError):  # a counter being replaced: the next read has it
            continue
    return total


class ProgressSink(Protocol):
    def update(self, done: int, total: int | None) -> None: ...

    def close(self, done: int, total: int | None) -> None: ...


# Each is asked once per stage run, on the thread that runs the stage, for a sink (or None).
_sink_factories: list[Callable[[str], ProgressSink | None]] = []


def add_progress_sink(factory: Callable[[str], ProgressSink | None]) -> None:
    if factory not in _sink_factories:
        _sink_factories.append(factory)


class StageProgress:
    """While a stage's job runs, reads the workers' counters under `output` and reports them."""

    def __init__(self, label: str, output: Location, total: int | None):
        self.label, self.total = label, total
        output = location(output)
        base = output if is_remote(output) else output.absolute()
        self.folder = base / f"{TEMP_PREFIX}progress-{uuid.uuid4().hex[:12]}"
        self._every = STORE_EVERY if is_remote(output) else BAR_EVERY
        self._stop = threading.Event()
        self._bar: tqdm | None = None
        self._sinks: list[ProgressSink] = []
        self._shown = 0  # the count of the last log line
        self._started = time.monotonic()
        self._first: tuple[float, int] | None = None  # (time, count) when records were first counted

    def _rate(self, done: int) -> float | None:
        """Records/s since the first records were counted, once more came: the minute a job spends loading
        its models before the first batch would otherwise make the first ETAs hours long."""
        now = time.monotonic()
        if self._first is None:
            if done:
                self._first = (now, done)
            return None
        seconds, first = now - self._first[0], self._first[1]
        return (done - first) / seconds if done > first and seconds > 0 else None

    def _done(self) -> int:
        return counted(self.folder)

    def _line(self, done: int) -> None:
        eta_rate = None
        if self.total is not None and done < self.total:
            eta_rate = self._rate(done) or 0.0  # 0 until a steady rate is known: "ETA ?"
        LOG.info(progress_line(self.label, done, self.total, time.monotonic() - self._started, eta_rate))
        self._shown = done

    def _report(self) -> None:
        last_line = time.monotonic()
        while not self._stop.wait(self._every):
            done = self._done()
            if self._first is None:
                self._rate(done)
            if self._bar is not None:
                self._bar.update(done - self._bar.n)
            elif done != self._shown and time.monotonic() - last_line >= LINE_EVERY:
                self._line(done)
                last_line = time.monotonic()
            self._to_sinks(done, final=False)

    def _to_sinks(self, done: int, final: bool) -> None:
        for sink in list(self._sinks):
            try:
                (sink.close if final else sink.update)(done, self.total)
            except Exception as error:  # a view of the job (an API that is down, say) never fails the job
                LOG.warning("[%s] progress no longer sent to %s: %s", self.label, type(sink).__name__, error)
                self._sinks.remove(sink)

    def __enter__(self) -> "StageProgress":
        self.folder.mkdir(parents=True, exist_ok=True)
        if sys.stderr.isatty():
            self._bar = tqdm(total=self.total, desc=self.label, unit=" records",
                             file=sys.stderr, dynamic_ncols=True)
        self._sinks = [sink for factory in _sink_factories if (sink := factory(self.label)) is not None]
        # The thread sees this thread's context: Prefect's client and settings live in context variables.
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._report,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        done = self._done()
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
            self._bar.close()
        elif done != self._shown or not done:
            self._line(done)
        self._to_sinks(done, final=exc_type is None)
        try:
            remove_tree(self.folder)
        except OSError as error:  # counters left behind are skipped by readers and removed by the next run
            LOG.warning("[%s] could not remove %s: %s", self.label, self.folder, error)
