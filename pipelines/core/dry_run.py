"""Dry runs: `--dry-run` on any stage command prints what the stage would write and what is already
current, and writes nothing. The CLI turns it on once; every stage runner asks before it writes."""

from collections.abc import Iterator
from contextlib import contextmanager

_enabled = False


def dry_run_enabled() -> bool:
    return _enabled


def set_dry_run(enabled: bool) -> None:
    global _enabled
    _enabled = enabled


@contextmanager
def dry_run(enabled: bool = True) -> Iterator[None]:
    """Dry-run mode for the duration of a block (tests, and flows that plan before they run)."""
    previous = _enabled
    set_dry_run(enabled)
    try:
        yield
    finally:
        set_dry_run(previous)


def print_plan(stage: str, action: str, details: list[str]) -> None:
    """A stage's plan under a dry run, on stdout: what it would do, then one line per output."""
    print(f"[dry run] {stage}: {action}")
    for line in details:
        print(f"    {line}")
