"""One readable log: every line `HH:MM:SS.mmm | LEVEL   | logger - message`, the format of Prefect's console,
and the lines Beam prints on every import and worker start dropped.

Importing Beam used to set the format by accident: its first `logging.warning` ("apitools not found") calls
`logging.basicConfig`, and Prefect, finding a handler already on the root logger, kept it instead of its
own, so its lines lost their time (`INFO:prefect.flow_runs:...`).
"""

import logging
import sys

FORMAT = "%(asctime)s.%(msecs)03d | %(levelname)-7s | %(name)s - %(message)s"
DATE_FORMAT = "%H:%M:%S"
# Our loggers report at INFO wherever a handler listens: the console set up here, or Prefect's console on
# the root logger when Prefect runs a flow in a process of its own (a served run).
logging.getLogger("storyteller").setLevel(logging.INFO)

# Warnings Beam logs on the root logger as it imports modules we never use (BigQuery clients).
ROOT_NOISE = ("apitools not found",)
# The worker harness logs its start-up ("Logging handler created", "No semi_persistent_directory found",
# the latter about a main session we do not save) from this logger; its errors still pass.
WORKER_HARNESS = "apache_beam.runners.worker.sdk_worker_main"


def logger(name: str) -> logging.Logger:
    """A logger of ours, `storyteller.NAME`."""
    return logging.getLogger(f"storyteller.{name}")


def _not_noise(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(ROOT_NOISE)


class _Console(logging.StreamHandler):
    """Stderr in our format. The leading underscore is what Prefect's `setup_logging` reads as "not a user's
    handler": when Prefect loads, it puts its own console (same format, run names added) in this one's place."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))

    # Whatever sys.stderr is when a line is written, as logging's own last-resort handler does: a handler
    # holding the stream of its creation writes into a closed file once that stream was swapped and closed
    # (pytest's capture, a caller's redirect_stderr).
    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging() -> None:
    """The command line's log: our format on stderr, libraries at WARNING, ours at INFO, Beam's noise off.

    Call it before Beam or Prefect is imported; a handler an earlier import added is replaced."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_Console())
    root.setLevel(logging.WARNING)
    # A logger's filter sees the records made on that logger: Beam's noise is logged on the root itself.
    root.addFilter(_not_noise)


def configure_worker_logging() -> None:
    """A Beam worker process's log: the harness forwards records to the runner, which prints them in the
    main process; the root logger gets a handler that prints nothing, so that no import's first warning
    sets up a console of its own, and the harness's start-up lines are off."""
    root = logging.getLogger()
    root.addHandler(logging.NullHandler())
    root.addFilter(_not_noise)
    logging.getLogger(WORKER_HARNESS).setLevel(logging.ERROR)
