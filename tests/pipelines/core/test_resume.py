"""A novels job killed with SIGKILL mid-run completes on rerun with no duplicate or missing rows."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pyarrow.compute as pc

from data_schemas import SENTENCES
from data_schemas.shards import read_artifact
from pipelines.core.manifest import META_FILE, RUN_FILE
from tests.conftest import NOVELS

BOOKS = sorted(NOVELS.glob("*/*.txt.gz"))[:12]


def storyteller(inputs, workspace, name):
    return [
        sys.executable,
        "-m",
        "flows.cli.main",
        "corpus",
        "novels",
        "--input",
        str(inputs / "*"),
        "--name",
        name,
        "--workspace",
        str(workspace),
    ]


def test_killed_run_resumes_without_duplicates(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for book in BOOKS:
        shutil.copy(book, inputs)
    sentences = tmp_path / "ws" / "corpora" / "books" / "sentences"
    job = subprocess.Popen(
        storyteller(inputs, tmp_path / "ws", "books"),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list(sentences.glob("part-*.parquet")):
        time.sleep(0.01)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    landed = len(list(sentences.glob("part-*.parquet")))
    assert 0 < landed < len(BOOKS), f"kill came too late or too early: {landed} shards"
    assert (sentences / RUN_FILE).exists() and not (sentences / META_FILE).exists()

    rerun = subprocess.run(storyteller(inputs, tmp_path / "ws", "books"), capture_output=True, text=True, check=True)
    assert "resume" in rerun.stderr and f"{len(BOOKS) - landed} of {len(BOOKS)} shards" in rerun.stderr
    clean = subprocess.run(storyteller(inputs, tmp_path / "clean", "books"), capture_output=True, text=True, check=True)
    assert "balance" in clean.stdout
    resumed = read_artifact(sentences, SENTENCES)
    reference = read_artifact(tmp_path / "clean" / "corpora" / "books" / "sentences", SENTENCES)
    assert resumed.num_rows == reference.num_rows
    assert len(pc.unique(resumed.column("id"))) == resumed.num_rows
    assert resumed.column("id").to_pylist() == reference.column("id").to_pylist()
    assert resumed.column("tokens").to_pylist() == reference.column("tokens").to_pylist()
    assert not list(sentences.glob(".tmp-*")) and (sentences / META_FILE).exists()
    clean_shards = sorted((tmp_path / "clean" / "corpora" / "books" / "sentences").glob("part-*"))
    assert [p.read_bytes() for p in sorted(sentences.glob("part-*"))] == [p.read_bytes() for p in clean_shards]
