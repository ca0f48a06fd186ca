"""Progress of a sharded job, read from the shards that have landed: it works for every runner that
writes to a filesystem this process can see, without any channel back from the workers."""

import sys
import threading
import time
from pathlib import Path

from data_schemas.shards import finished_shards


class ShardProgress:
    """Prints `label: done/total shards` to stderr every `interval` seconds while a job runs."""

    def __init__(self, label: str, folder: Path, count: int, already: int, interval: float = 5.0):
        self.label, self.folder, self.count, self.already = label, folder, count, already
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._report, daemon=True)
        self._started = time.monotonic()

    def _line(self) -> str:
        done = len(finished_shards(self.folder, self.count))
        elapsed = time.monotonic() - self._started
        return f"[{self.label}] {done}/{self.count} shards ({done - self.already} this run) {elapsed:.0f}s"

    def _report(self) -> None:
        while not self._stop.wait(self.interval):
            print(self._line(), file=sys.stderr, flush=True)

    def __enter__(self) -> "ShardProgress":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        print(self._line(), file=sys.stderr, flush=True)
