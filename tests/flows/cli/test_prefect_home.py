"""`storyteller flow` in a workspace that does not exist yet: Prefect's home under it is made first (Prefect
creates only the last folder, so it warned and its temporary server could not open its database)."""

from flows.cli.flow import prefect_defaults


def test_prefect_home_of_a_new_workspace_is_created(tmp_path, monkeypatch):
    for name in ("PREFECT_HOME", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("PREFECT_SERVER_ANALYTICS_ENABLED", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"):
        monkeypatch.setenv(name, "unchanged")
    prefect_defaults(tmp_path / "new" / "ws")
    assert (tmp_path / "new" / "ws" / ".prefect").is_dir()
