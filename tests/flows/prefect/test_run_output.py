"""What a person watching a flow run sees: a stage inside a task run mirrors its progress to a Prefect
progress artifact that ends at 100, and the flow's log lines keep Prefect's timestamped format."""

import json
import os
import re
import subprocess
import sys

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.settings import PREFECT_API_URL

from flows.prefect.stage_flows import corpus_captions_flow
from pipelines.corpus.captions import CaptionParams
from tests.conftest import IN_PROCESS

pytestmark = pytest.mark.usefixtures("prefect_server")
KEY = "corpus-captions-progress"
TIMESTAMPED = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} \| INFO +\| Flow run '[^']+' - ")


def progress_artifacts() -> list:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[KEY])))


def captions_file(tmp_path) -> str:
    # The folder's name in a caption makes the file new to Prefect's cache, so the task really runs.
    (tmp_path / "caps.csv").write_text(f"image,caption\n1.jpg,A dog runs .\n2.jpg,{tmp_path.name} sleeps .\n")
    return str(tmp_path / "caps.csv")


def test_a_stage_in_a_task_run_reports_progress_up_to_100(tmp_path):
    before = len(progress_artifacts())
    corpus_captions_flow(captions_file(tmp_path), "c", tmp_path / "ws", CaptionParams("csv"), IN_PROCESS)
    found = progress_artifacts()
    assert len(found) == before + 1
    assert float(max(found, key=lambda artifact: artifact.created).data) == 100


def test_flow_log_lines_carry_a_time(tmp_path):
    params = {"source": captions_file(tmp_path), "name": "c", "workspace": str(tmp_path / "ws"),
              "params": {"format": "csv"}}
    (tmp_path / "params.json").write_text(json.dumps(params))
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli.main", "flow", "corpus-captions", "--params", str(tmp_path / "params.json"),
         *IN_PROCESS], capture_output=True, text=True, env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()})
    assert result.returncode == 0, result.stderr
    flow_lines = [line for line in result.stderr.splitlines() if "Flow run '" in line]
    assert flow_lines and all(TIMESTAMPED.match(line) for line in flow_lines), result.stderr
    assert "INFO:prefect" not in result.stderr and "Prefect home" not in result.stderr
