"""Shared fixtures: where ../shared/data is, Beam flags that keep small test jobs quick, and one
Prefect test server for the tests of flows."""

from pathlib import Path

import pytest

from tests.s3_server import s3_server

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NOVELS = SHARED_DATA / "novels"
CAPTIONS = SHARED_DATA / "captions"
# One in-process worker: small jobs finish faster without spawning worker processes.
IN_PROCESS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory):
    """A Prefect API on a temporary SQLite database, with PREFECT_HOME (results, caches) in a temporary
    folder and analytics off. Session-wide: each start costs about 30 s; tests that need one ask."""
    home = tmp_path_factory.mktemp("prefect-home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PREFECT_HOME", str(home))  # for processes Prefect starts (served flow runs)
        env.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        from prefect.settings import PREFECT_HOME, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings
        from prefect.testing.utilities import prefect_test_harness

        with temporary_settings(updates={PREFECT_HOME: home, PREFECT_SERVER_ANALYTICS_ENABLED: False}), \
                prefect_test_harness(server_startup_timeout=120):
            yield home


@pytest.fixture(scope="session")
def s3_bucket():
    """`s3://bucket` on a moto S3 server on 127.0.0.1 for the whole session (AWS_* variables set)."""
    with s3_server() as bucket:
        yield bucket


@pytest.fixture
def s3_workspace(s3_bucket, request):
    """A fresh `s3://bucket/<test>` prefix: a workspace on the store, as `--workspace` takes it."""
    import uuid

    return f"{s3_bucket}/{request.node.name[:40]}-{uuid.uuid4().hex[:6]}"
