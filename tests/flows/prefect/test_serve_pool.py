"""`storyteller serve --work-pool` on a Prefect test server with the workspace on the object store (a moto
S3 server): the deployments are registered with the process work pool and this command returns; a process
worker (as `prefect worker start --pool` runs on another host) picks up a triggered run and runs it, its
stage results landing on the store. Without a shared server, or without the pool, the command says what
to do."""

import asyncio
import contextvars
import json
import threading

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.workers.process import ProcessWorker

from data_schemas.storage import location, upload_folder
from flows.cli.main import main
from flows.prefect import serve
from flows.prefect.workspace import RESULTS
from pipelines.style.files import read_style
from tests.conftest import IN_PROCESS, SHARED_DATA
from tests.tiny_models import random_encoder

pytestmark = pytest.mark.usefixtures("prefect_server")
POOL = "storyteller-test-pool"


@pytest.fixture
def stored(s3_workspace, tmp_path):
    """A stored workspace with a tiny encoder under models/, 30 local captions, and restyle parameters."""
    lines = (SHARED_DATA / "images" / "flickr8k_1000" / "captions.txt").read_text().splitlines()[:31]
    source = tmp_path / "captions.csv"
    source.write_text("\n".join(lines) + "\n")
    words = sorted({w for line in lines[1:] for w in line.split(",", 1)[1].split()} | {"."})
    random_encoder(tmp_path / "tiny", ["<eos>", "UNK", *words], kind="uni", dim_word=8, dim=16)
    upload_folder(tmp_path / "tiny", location(s3_workspace) / "models" / "tiny")
    restyle = tmp_path / "restyle.json"
    restyle.write_text(json.dumps({
        "encoder": "tiny", "styles": [{"name": "captions", "corpora": ["caps"], "kind": "captions"}],
        "corpora": [{"name": "caps", "source": str(source), "caption_params": {"format": "csv"}}],
        "device": "cpu", "beam_args": IN_PROCESS}))
    return s3_workspace, restyle


def run_one_poll(worker: ProcessWorker) -> None:
    """One poll of the worker; the runs it submits are waited for. In a thread started in this context,
    whose settings name the test API (a worker in the main thread would take over its signals)."""
    thread = threading.Thread(target=contextvars.copy_context().run, args=(asyncio.run, worker.start(run_once=True)))
    thread.start()
    thread.join(timeout=600)


def test_deployments_go_to_the_work_pool_and_a_worker_runs_them(stored, capsys):
    workspace, restyle = stored
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process",
                                               base_job_template=ProcessWorker.get_default_base_job_template()))
    assert main(["serve", "--workspace", workspace, "--restyle", str(restyle), "--work-pool", POOL]) == 0
    assert f"registered with work pool {POOL}" in capsys.readouterr().out
    with get_client(sync_client=True) as client:
        nightly = client.read_deployment_by_name("restyle/nightly-restyle")
    assert (nightly.work_pool_name, nightly.entrypoint) == (POOL, "flows.prefect.restyle.restyle_flow")
    assert nightly.parameters["workspace"] == workspace and [s.schedule.cron for s in nightly.schedules] == \
        ["0 3 * * *"]

    triggered = run_deployment("restyle/nightly-restyle", timeout=0)
    run_one_poll(ProcessWorker(work_pool_name=POOL))
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(triggered.id)
    assert run.state.is_completed(), run.state
    assert read_style(workspace, "tiny", "captions").vector.shape == (16,)
    assert list((location(workspace) / RESULTS).iterdir())  # the tasks' results and cache records


def test_a_work_pool_needs_a_shared_server_and_the_pool(stored):
    workspace, restyle = stored
    made = serve.deployments(location(workspace), json.loads(restyle.read_text()))
    with pytest.raises(ValueError, match=r"no-such-pool.*prefect work-pool create --type process no-such-pool"):
        serve.deploy_to_pool(made, "no-such-pool")
    with temporary_settings(updates={PREFECT_API_URL: None}), pytest.raises(ValueError, match="set PREFECT_API_URL"):
        serve.deploy_to_pool(made, POOL)
