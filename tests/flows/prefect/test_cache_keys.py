"""The Prefect cache key of a stage task: the same call keys the same, and a dry run gets no key, so a
plan can never be cached as if the work were done."""

from prefect import task

from flows.prefect.cache import keyed_on
from pipelines.core.dry_run import dry_run


@task
def noted(path: str, beam_args: list[str] | None = None) -> str:
    return path


def test_dry_runs_neither_read_nor_fill_the_cache(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("one line\n")
    key = keyed_on(lambda p: [p["path"]])
    first = key.of(noted, {"path": str(source), "beam_args": []})
    assert first and first == key.of(noted, {"path": str(source), "beam_args": ["--runner=DaskRunner"]})
    with dry_run():
        assert key.of(noted, {"path": str(source), "beam_args": []}) is None
