"""`storyteller serve` and `storyteller flow` on a Prefect test server: the scheduled deployments are
registered with their crons and the server schedules runs from them, a served one runs to completion
when triggered, bad parameters are refused before anything is served, and a stage flow answers from
Prefect's cache until an input file changes."""

import asyncio
import contextvars
import json
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.deployments import run_deployment
from prefect.runner import Runner

from flows.cli.main import main
from flows.prefect import serve
from pipelines.core.manifest import META_FILE
from pipelines.style.files import read_style
from tests.conftest import IN_PROCESS, SHARED_DATA
from tests.tiny_models import random_encoder

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """50 captions and a tiny random encoder of their words."""
    workspace = tmp_path_factory.mktemp("ws")
    lines = (SHARED_DATA / "images" / "flickr8k_1000" / "captions.txt").read_text().splitlines()[:51]
    source = workspace / "captions.csv"
    source.write_text("\n".join(lines) + "\n")
    words = sorted({w for line in lines[1:] for w in line.split(",", 1)[1].split()} | {"."})
    random_encoder(workspace / "models" / "tiny", ["<eos>", "UNK", *words], kind="uni", dim_word=8, dim=16)
    restyle = {"encoder": "tiny", "styles": [{"name": "captions", "corpora": ["caps"], "kind": "captions"}],
               "corpora": [{"name": "caps", "source": str(source), "caption_params": {"format": "csv"}}],
               "device": "cpu", "beam_args": IN_PROCESS}
    return workspace, restyle


def run_due_flows(runner: Runner) -> None:
    """One poll of a Prefect runner: the flow runs due now run (each in a subprocess, as under
    `storyteller serve`) and are waited for. In a thread, since a runner started in the main thread
    takes over SIGTERM; the thread starts in this thread's context, whose settings name the test API."""
    thread = threading.Thread(target=contextvars.copy_context().run,
                              args=(asyncio.run, runner.start(run_once=True)))
    thread.start()
    thread.join(timeout=600)


def test_a_served_deployment_runs_when_triggered(workspace):
    workspace, restyle = workspace
    stories = {"out": str(workspace / "told"), "models": {"decoder": "decoder-books"}, "params": {"style": "book"}}
    runner = Runner(name="storyteller-test")
    for deployment in serve.deployments(workspace, restyle, stories, watch=str(workspace / "inbox"),
                                        timezone="Europe/Paris"):
        runner.add_deployment(deployment)
    triggered = run_deployment("restyle/nightly-restyle", timeout=0)
    run_due_flows(runner)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(triggered.id)
        nightly = client.read_deployment_by_name("restyle/nightly-restyle")
        hourly = client.read_deployment_by_name("bulk-stories/hourly-stories")
        # What the scheduler service does every few seconds under `prefect server start`.
        client.request("POST", "/deployments/{id}/schedule", path_params={"id": nightly.id}, json={"max_runs": 2})
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[nightly.id])))
    assert run.state.is_completed(), run.state
    paris = [r.expected_start_time.astimezone(ZoneInfo("Europe/Paris")) for r in runs if r.state.is_scheduled()]
    assert len(paris) == 2 and {(t.hour, t.minute) for t in paris} == {(3, 0)}, paris
    assert read_style(workspace, "tiny", "captions").vector.shape == (16,)
    assert [(s.schedule.cron, s.schedule.timezone) for s in nightly.schedules] == [("0 3 * * *", "Europe/Paris")]
    assert all(s.active for s in nightly.schedules)
    assert [s.schedule.cron for s in hourly.schedules] == ["0 * * * *"]
    assert hourly.parameters["images_arg"] == str(workspace / "inbox") and hourly.global_concurrency_limit.limit == 1
    assert nightly.entrypoint == "flows.prefect.restyle.restyle_flow"


def test_bad_parameters_are_refused_before_serving(workspace):
    workspace, restyle = workspace
    with pytest.raises(ValueError, match="--watch"):
        serve.deployments(workspace, None, {"out": "x", "models": {"decoder": "d"}, "params": {"style": "b"}})
    with pytest.raises(ValueError, match=r"(?s)restyle parameters.*styles\.0\.corpora: Field required"):
        serve.deployments(workspace, {**restyle, "styles": [{"name": "no corpora"}]})
    with pytest.raises(ValueError, match="nothing to serve"):
        serve.deployments(workspace)


def test_flow_command_answers_from_cache_until_an_input_changes(workspace, tmp_path, capsys):
    workspace, restyle = workspace
    source = tmp_path / "captions.csv"
    source.write_text(Path(restyle["corpora"][0]["source"]).read_text())
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"source": str(source), "name": "cli", "workspace": str(workspace),
                                  "params": {"format": "csv"}}))
    meta = workspace / "corpora" / "cli" / "captions" / META_FILE

    def run_flow(*beam_args: str) -> list[str]:
        """The flow's action and rows in, from the table the command prints."""
        assert main(["flow", "corpus-captions", "--params", str(params), *beam_args]) == 0
        row = next(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("corpus cli"))
        return row[2:4]

    assert run_flow(*IN_PROCESS) == ["fresh", "50"]
    written = meta.stat().st_mtime_ns
    assert run_flow() == ["cached", "50"]  # Beam flags choose where a job runs, not the cache key
    assert meta.stat().st_mtime_ns == written
    with source.open("a") as more:
        more.write("1000268201_693b08cb0e.jpg,A child in a pink dress climbs stairs .\n")
    assert run_flow(*IN_PROCESS) == ["fresh", "51"]
    params.write_text(json.dumps({"source": "x", "name": "cli", "workspace": str(workspace), "params": {"k": 1}}))
    assert main(["flow", "corpus-captions", "--params", str(params)]) == 1
