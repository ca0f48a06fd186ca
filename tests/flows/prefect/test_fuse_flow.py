"""The fuse-vse stage flow writes the fused model and answers a rerun from cache; a changed weight fuses
again. The demo's retrieval modes name the shipped models each one uses."""

from pathlib import Path

import pytest

from flows.prefect.cache import UP_TO_DATE
from flows.prefect.demo import ZERO_SHOT, retrieval_models
from flows.prefect.stage_flows import fuse_vse_flow
from model.vse.files import RETRIEVAL_MODES, read_vse_config
from tests.tiny_models import random_vse, random_zero_shot

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_fuse_flow_writes_the_model_and_reruns_from_cache(tmp_path):
    workspace = tmp_path / "ws"
    random_vse(workspace / "models" / "tiny-vse")
    random_zero_shot(workspace / "models" / "tiny-zs")
    first = fuse_vse_flow("tiny-vse", "tiny-zs", 0.7, workspace)
    assert first.details["model"] == "fused-tiny-vse" and first.action not in UP_TO_DATE
    assert read_vse_config(workspace / "models" / "fused-tiny-vse").weight == 0.7
    assert fuse_vse_flow("tiny-vse", "tiny-zs", 0.7, workspace).action in UP_TO_DATE
    assert fuse_vse_flow("tiny-vse", "tiny-zs", 0.5, workspace).action not in UP_TO_DATE
    assert read_vse_config(workspace / "models" / "fused-tiny-vse").weight == 0.5


def test_demo_retrieval_modes():
    models = Path("trained")
    assert RETRIEVAL_MODES[0] == "fused"
    vse = "trained/vse-flickr8k-1000"
    assert retrieval_models(models, "fused") == {"vse": vse, "zero_shot": f"trained/{ZERO_SHOT}"}
    assert retrieval_models(models, "vse") == {"vse": vse, "zero_shot": None}
    assert retrieval_models(models, "zero-shot") == {"vse": f"trained/{ZERO_SHOT}", "zero_shot": None}
    with pytest.raises(ValueError, match="--retrieval must be one of"):
        retrieval_models(models, "clip")
