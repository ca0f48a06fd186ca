"""The local runner's worker process: Beam's SDK harness, started with our worker logging.

Beam's own entry (`python -m apache_beam.runners.worker.sdk_worker_main`) lets the first warning of an
import set up a console, so every worker printed its start-up ("apitools not found", "Logging handler
created", "No semi_persistent_directory found") straight to the terminal; `make_pipeline` starts the
workers through this module instead."""

import sys

from pipelines.core.logs import configure_worker_logging


def main() -> None:
    configure_worker_logging()
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
