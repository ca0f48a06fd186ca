"""Shared fixtures: where ../shared/data is, and Beam flags that keep small test jobs quick."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NOVELS = SHARED_DATA / "novels"
CAPTIONS = SHARED_DATA / "captions"
# One in-process worker: small jobs finish faster without spawning worker processes.
IN_PROCESS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"{SHARED_DATA} is missing: the tests need ../shared/data beside the repository")
    return SHARED_DATA
