"""The encode job with its workspace (and its encoder) on an object store (a moto S3 server on 127.0.0.1): the
vectors it writes on disk, a rerun that does nothing, a killed run that resumes, and `--texts` from the store."""

import json

import pytest

from data_schemas import CAPTIONS, REJECTS
from data_schemas.atomic import write_json_atomic
from data_schemas.shards import read_artifact
from data_schemas.storage import location, read_parquet, upload_folder
from data_schemas.vectors import vectors_schema
from data_schemas.workspace import Workspace
from flows.cli.main import main
from pipelines import encode
from pipelines.core.manifest import META_FILE, RUN_FILE
from pipelines.corpus import captions
from tests.conftest import IN_PROCESS, SHARED_DATA
from tests.tiny_models import random_encoder

DIM = 8


@pytest.fixture
def corpus_files(tmp_path):
    header, *lines = (SHARED_DATA / "images" / "flickr8k_1000" / "captions.txt").read_text().splitlines()
    for number in range(2):
        (tmp_path / f"part{number}.csv").write_text("\n".join([header, *lines[number * 20:(number + 1) * 20]]) + "\n")
    return str(tmp_path / "*.csv")


@pytest.fixture
def model(tmp_path, s3_workspace, monkeypatch):
    """A tiny encoder on disk and the same folder under the stored workspace's models/ (cache in tmp_path)."""
    monkeypatch.setenv("STORYTELLER_CACHE", str(tmp_path / "cache"))
    words = ["<eos>", "UNK", "a", "dog", "the", "in", "on", "is", "man", "two", "of", "with", "."]
    folder = random_encoder(tmp_path / "tiny", words, kind="uni", dim_word=4, dim=DIM)
    upload_folder(folder, Workspace(s3_workspace).model("tiny"))
    return folder, str(Workspace(s3_workspace).model("tiny"))


def test_encode_on_a_stored_workspace_writes_what_it_writes_on_disk(s3_workspace, corpus_files, model, tmp_path):
    disk_ws, store_ws = tmp_path / "ws", location(s3_workspace)
    for workspace in (disk_ws, store_ws):
        captions.run(corpus_files, "caps", workspace, captions.CaptionParams("csv"), IN_PROCESS)
    on_disk = encode.run(encode.EncodeParams(str(model[0])), "caps", "captions", disk_ws, IN_PROCESS)
    params = encode.EncodeParams(model[1])  # the encoder read from the store, copied once into the cache
    stored = encode.run(params, "caps", "captions", store_ws, IN_PROCESS)
    assert (stored.rows, stored.stats, stored.shards_run) == (on_disk.rows, on_disk.stats, 2)
    schema = vectors_schema(DIM)
    disk_rows = read_artifact(Workspace(disk_ws).vectors("tiny", "caps", "captions"), schema)
    store_rows = read_artifact(Workspace(store_ws).vectors("tiny", "caps", "captions"), schema)
    assert store_rows.num_rows == 40 and store_rows.equals(disk_rows)
    again = encode.run(params, "caps", "captions", store_ws, IN_PROCESS)
    assert (again.start.value, again.shards_run) == ("done", 0)
    # A run killed before its last shard: the run marks still there, no _meta.json, one shard missing.
    for folder in encode.output_folders(store_ws, "tiny", "caps", "captions").values():
        key = json.loads((folder / META_FILE).read_text())["key"]
        write_json_atomic(folder / RUN_FILE, {"stage": encode.STAGE, "key": key})
        (folder / META_FILE).unlink()
        (folder / "part-00001-of-00002.parquet").unlink()
    resumed = encode.run(params, "caps", "captions", store_ws, IN_PROCESS)
    assert (resumed.start.value, resumed.shards_run, resumed.rows) == ("resume", 1, on_disk.rows)
    assert read_artifact(Workspace(store_ws).vectors("tiny", "caps", "captions"), schema).equals(disk_rows)
    assert read_artifact(Workspace(store_ws).corpus_part("caps", "captions"), CAPTIONS).num_rows == 40


def test_encode_command_reads_a_stored_text_file_and_writes_to_the_store(s3_workspace, model, tmp_path, capsys):
    text = "a dog is in the man .\n\na man with two dog .\n"
    (tmp_path / "texts.txt").write_text(text)
    stored_texts, out = location(s3_workspace) / "in" / "texts.txt", location(s3_workspace) / "out" / "v.parquet"
    stored_texts.write_text(text)
    on_disk = encode.run_texts(encode.EncodeParams(str(model[0])), tmp_path / "texts.txt", tmp_path / "v.parquet",
                               IN_PROCESS)
    assert main(["encode", "--encoder", model[1], "--texts", str(stored_texts), "--out", str(out), *IN_PROCESS]) == 0
    assert "encode: fresh, 1 of 1 shards run" in capsys.readouterr().out
    assert read_parquet(out).equals(read_parquet(tmp_path / "v.parquet"))
    rejects = read_parquet(out.with_name("v.rejects.parquet"), schema=REJECTS).to_pylist()
    assert [r["location"] for r in rejects] == ["line 2"] and on_disk.stats["records_rejected"] == 1
    assert sorted(p.name for p in out.parent.iterdir()) == ["v.parquet", "v.rejects.parquet"]
