"""Artifacts on an object store (a moto S3 server on 127.0.0.1): shards whole or absent, JSON written in one
PUT, folders uploaded with their marks last, stored models copied once per version, and a sharded Beam job
with its workspace on the store writing what it writes on disk."""

import json

import pyarrow as pa
import pytest

from data_schemas import CAPTIONS
from data_schemas.atomic import atomic_path, write_json_atomic
from data_schemas.shards import finished_shards, read_artifact, shard_paths, write_table_atomic
from data_schemas.storage import is_remote, local_copy, location, on_this_machine, read_parquet, remove_tree
from data_schemas.workspace import Workspace
from pipelines.core.manifest import META_FILE, RUN_FILE, keyed, stage_root
from pipelines.corpus import captions
from tests.conftest import IN_PROCESS, SHARED_DATA


def test_location_is_a_path_on_disk_and_a_upath_for_a_url(tmp_path):
    assert location(str(tmp_path)) == tmp_path and not is_remote(location(str(tmp_path)))
    stored = location("s3://bucket/ws")
    assert is_remote(stored) and str(stored / "corpora" / "x") == "s3://bucket/ws/corpora/x"
    assert location(f"file://{tmp_path}") == tmp_path


def test_shards_and_json_on_the_store(s3_workspace):
    folder = location(s3_workspace) / "corpora" / "c" / "captions"
    table = pa.table({"x": [1, 2, 3]})
    write_table_atomic(table, folder / "part-00000-of-00002.parquet", {"k": "v"})
    assert [p.name for p in shard_paths(folder)] == ["part-00000-of-00002.parquet"]
    assert finished_shards(folder, 2) == {0}
    assert read_parquet(folder / "part-00000-of-00002.parquet").column("x").to_pylist() == [1, 2, 3]
    write_json_atomic(folder / META_FILE, {"key": "abc"})
    assert json.loads((folder / META_FILE).read_text()) == {"key": "abc"}
    remove_tree(folder)
    assert shard_paths(folder) == [] and not (folder / META_FILE).exists()


def test_a_failed_write_leaves_nothing_on_the_store(s3_workspace):
    target = location(s3_workspace) / "styles" / "m.npz"
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        temp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert not target.exists()


def test_folders_upload_with_their_completion_marks_last(s3_workspace, tmp_path):
    target = location(s3_workspace) / "models" / "m"
    with atomic_path(target) as staging:
        staging.mkdir()
        (staging / "config.json").write_text("{}")
        (staging / "weights.pt").write_bytes(b"w" * 10)
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "weights.pt"]


def test_stored_models_are_copied_once_per_version(s3_workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("STORYTELLER_CACHE", str(tmp_path / "cache"))
    model = location(s3_workspace) / "models" / "m"
    (model / "config.json").write_text('{"a": 1}')
    (model / "weights.pt").write_bytes(b"one")
    (model / "checkpoint.pt").write_bytes(b"training state, not needed to use the model")
    copy = Workspace(s3_workspace).resolve_model("m")
    assert not is_remote(copy) and (copy / "weights.pt").read_bytes() == b"one"
    assert not (copy / "checkpoint.pt").exists()
    assert Workspace(s3_workspace).resolve_model("m") == copy  # unchanged: the same copy, nothing fetched
    (model / "weights.pt").write_bytes(b"two!")
    fresh = local_copy(model)
    assert fresh != copy and (fresh / "weights.pt").read_bytes() == b"two!"
    # A copy of a model under the stored workspace is keyed as the model's place in it, as on disk.
    assert keyed({"model": str(fresh)}, s3_workspace)["model"] == "<root>/models/m"
    assert keyed({"model": str(fresh)}, "s3://elsewhere/ws")["model"].startswith("<store-cache>/")


def test_stage_paths_are_keyed_relative_to_a_stored_workspace(s3_workspace):
    ws = Workspace(s3_workspace)
    root = stage_root([ws.corpus_part("c", "captions"), ws.rejects("captions", "c")])
    assert str(root) == s3_workspace
    assert keyed([str(ws.model("m")), "s3://other/x"], root) == ["<root>/models/m", "s3://other/x"]


@pytest.fixture
def caption_files(tmp_path):
    header, *lines = (SHARED_DATA / "images" / "flickr8k_1000" / "captions.txt").read_text().splitlines()
    for number in range(2):
        (tmp_path / f"part{number}.csv").write_text("\n".join([header, *lines[number * 30:(number + 1) * 30]]) + "\n")
    (tmp_path / "bad.csv").write_text("image,caption\n")
    return str(tmp_path / "*.csv")


def test_a_corpus_job_on_a_stored_workspace_writes_what_it_writes_on_disk(s3_workspace, caption_files, tmp_path):
    params = captions.CaptionParams("csv")
    on_disk = captions.run(caption_files, "caps", tmp_path / "ws", params, IN_PROCESS)
    stored = captions.run(caption_files, "caps", location(s3_workspace), params, IN_PROCESS)
    assert (stored.rows, stored.stats, stored.shards_run) == (on_disk.rows, on_disk.stats, 3)
    disk_rows = read_artifact(Workspace(tmp_path / "ws").corpus_part("caps", "captions"), CAPTIONS)
    store_rows = read_artifact(Workspace(s3_workspace).corpus_part("caps", "captions"), CAPTIONS)
    assert store_rows.equals(disk_rows)
    again = captions.run(caption_files, "caps", location(s3_workspace), params, IN_PROCESS)
    assert (again.start.value, again.shards_run) == ("done", 0)
    # A run killed before its last shard: the run marks still there, no _meta.json, one shard missing.
    for folder in captions.output_folders(location(s3_workspace), "caps").values():
        key = json.loads((folder / META_FILE).read_text())["key"]
        write_json_atomic(folder / RUN_FILE, {"stage": captions.STAGE, "key": key})
        (folder / META_FILE).unlink()
        (folder / "part-00001-of-00003.parquet").unlink()
    resumed = captions.run(caption_files, "caps", location(s3_workspace), params, IN_PROCESS)
    assert (resumed.start.value, resumed.shards_run, resumed.rows) == ("resume", 1, on_disk.rows)
    assert read_artifact(Workspace(s3_workspace).corpus_part("caps", "captions"), CAPTIONS).equals(disk_rows)


def test_a_worker_without_the_drivers_copy_makes_its_own(s3_workspace, monkeypatch, tmp_path):
    model = location(s3_workspace) / "models" / "m"
    (model / "config.json").write_text("{}")
    monkeypatch.setenv("STORYTELLER_CACHE", str(tmp_path / "driver"))
    driver_copy = local_copy(model)
    assert driver_copy.name == "m"
    monkeypatch.setenv("STORYTELLER_CACHE", str(tmp_path / "worker"))  # another machine: another cache
    remove_tree(driver_copy)
    here = on_this_machine(str(driver_copy))
    assert here.is_relative_to(tmp_path / "worker") and (here / "config.json").read_text() == "{}"
    assert on_this_machine(here) == here


def test_a_run_does_not_mark_an_artifact_another_run_wrote_into_finished(s3_workspace):
    """Two runs with other inputs writing one stored artifact at once: the one whose shards or run marker are
    not all its own refuses to write `_meta.json`, so no mix of the two is ever marked finished."""
    from pipelines.core.manifest import Stage
    from pipelines.core.sharded_job import RUN_METADATA_KEY
    from pipelines.core.stage_run import check_owner

    root = location(s3_workspace)
    data, rejects = root / "corpora" / "c" / "captions", root / "rejects" / "captions" / "c"
    stage = Stage("corpus-captions", "mine", (data, rejects), root)
    for folder in stage.outputs:
        write_json_atomic(folder / RUN_FILE, {"key": "mine"})
    empty = pa.table({"x": pa.array([], pa.int64())})
    write_table_atomic(empty, rejects / "part-00000-of-00002.parquet", {RUN_METADATA_KEY: b"mine"})
    check_owner(stage, rejects)  # all its own: fine
    write_table_atomic(empty, rejects / "part-00001-of-00002.parquet", {RUN_METADATA_KEY: b"theirs"})
    with pytest.raises(RuntimeError, match="another run"):
        check_owner(stage, rejects)
    write_table_atomic(empty, rejects / "part-00001-of-00002.parquet", {RUN_METADATA_KEY: b"mine"})
    write_json_atomic(data / RUN_FILE, {"key": "theirs"})  # the other run started afresh meanwhile
    with pytest.raises(RuntimeError, match="another run"):
        check_owner(stage, rejects)
