"""`storyteller serve`: the scheduled side of storyteller, in one process and offline.

Two deployments, served from this process by a Prefect runner (each run is a subprocess):
- `restyle/nightly-restyle` (03:00 by default): `flows.prefect.restyle.restyle_flow`;
- `bulk-stories/hourly-stories` (on the hour): `flows.prefect.bulk_stories.bulk_stories_flow` over a watched
  folder, one run at a time, so photos dropped into it get stories within the hour.

Schedules need Prefect's scheduler service, and the ephemeral API a flow starts on its own runs none
(cron schedules would be registered and never fire). Without PREFECT_API_URL this command therefore
starts `prefect server start` on 127.0.0.1 (UI included) for as long as it serves; with
PREFECT_API_URL set (a shared `prefect server start`, or Prefect Cloud) it registers there instead.

On several hosts (`deploy_to_pool`): the deployments go to a process work pool of a shared server and
this process returns; `prefect worker start --pool NAME` on any host with the same code, PREFECT_API_URL
and AWS_* environment runs them, each flow run in a subprocess of its worker. With the workspace on an
object store every worker reads and writes the same artifacts and shares one cache of stage results
(WS/.prefect/results, see flows.prefect.workspace); artifacts and logs go to the server.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import httpx
import prefect
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.exceptions import ParameterTypeError
from prefect.flows import Flow
from prefect.settings import PREFECT_API_URL, temporary_settings

from data_schemas.storage import Location
from flows.prefect.bulk_stories import bulk_stories_flow
from flows.prefect.restyle import restyle_flow

RESTYLE_CRON = "0 3 * * *"  # nightly, when nobody waits on the machine
STORIES_CRON = "0 * * * *"  # hourly
SERVER_START_SECONDS = 120  # a fresh database takes about 30 s on two cores


def checked(flow: Flow, parameters: dict[str, Any], what: str) -> dict[str, Any]:
    """The parameters, after Prefect's own validation: a bad one fails here, naming it, not at 3 a.m."""
    try:
        flow.validate_parameters(parameters)
    except ParameterTypeError as error:
        raise ValueError(f"{what}: {error}") from None
    return parameters


def deployments(workspace: Location, restyle: dict[str, Any] | None = None, stories: dict[str, Any] | None = None,
                watch: str | None = None, restyle_cron: str = RESTYLE_CRON, stories_cron: str = STORIES_CRON,
                timezone: str | None = None) -> list[RunnerDeployment]:
    """The scheduled deployments: `restyle` and `stories` are the flows' parameters (workspace and, for
    stories, the images are filled in from `workspace` and `watch`); either may be left out. Crons are
    read in `timezone` (an IANA name; default UTC)."""
    made = []
    if restyle is not None:
        parameters = checked(restyle_flow, {**restyle, "workspace": str(workspace)}, "restyle parameters")
        made.append(restyle_flow.to_deployment(
            name="nightly-restyle", schedules=[CronSchedule(cron=restyle_cron, timezone=timezone)],
            parameters=parameters, tags=["storyteller"],
            description="rebuild changed corpora, re-encode them, recompute the styles they feed",
            entrypoint_type=EntrypointType.MODULE_PATH))
    if stories is not None:
        if not watch:
            raise ValueError("hourly stories need --watch FOLDER, the folder of images to tell")
        parameters = checked(bulk_stories_flow, {**stories, "workspace": str(workspace), "images_arg": watch},
                             "stories parameters")
        made.append(bulk_stories_flow.to_deployment(
            name="hourly-stories", schedules=[CronSchedule(cron=stories_cron, timezone=timezone)],
            parameters=parameters, tags=["storyteller"],
            concurrency_limit=1, description=f"stories for new images in {watch}",
            entrypoint_type=EntrypointType.MODULE_PATH))
    if not made:
        raise ValueError("nothing to serve: give restyle parameters, stories parameters, or both")
    return made


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def prefect_api() -> Iterator[str]:
    """The API to serve against: PREFECT_API_URL when set, else a local server started here."""
    if PREFECT_API_URL.value():
        yield PREFECT_API_URL.value()
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                               "--port", str(port), "--analytics-off"], env=os.environ.copy())
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the local Prefect server did not start on port {port} within "
                                   f"{SERVER_START_SECONDS}s (exit code {server.poll()}); set PREFECT_API_URL "
                                   "to a running `prefect server start` instead")
            time.sleep(1)
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def serve(made: list[RunnerDeployment]) -> None:
    """Serve until interrupted. Schedules stay active over a restart (`pause_on_shutdown=False`)."""
    with prefect_api() as url:
        print(f"storyteller serve: {', '.join(f'{d.flow_name}/{d.name}' for d in made)} on {url} "
              f"(UI at {url.removesuffix('/api')}); Ctrl-C stops", file=sys.stderr)
        prefect.serve(*made, pause_on_shutdown=False)


def deploy_to_pool(made: list[RunnerDeployment], pool: str) -> list[UUID]:
    """Register the deployments with work pool POOL of the server PREFECT_API_URL names, for its workers
    on any host to run; nothing runs here. A temporary local server would vanish with this process, so
    PREFECT_API_URL must be set."""
    if not PREFECT_API_URL.value():
        raise ValueError(f"--work-pool {pool}: set PREFECT_API_URL to the server the pool's workers poll "
                         "(`prefect server start --host 0.0.0.0` on one host; see `storyteller serve --help`)")
    try:
        return prefect.deploy(*made, work_pool_name=pool, build=False, push=False, print_next_steps_message=False,
                              ignore_warnings=True)
    except ValueError as error:  # no such pool
        raise ValueError(f"--work-pool {pool}: {error} (`prefect work-pool create --type process {pool}`)") from None
