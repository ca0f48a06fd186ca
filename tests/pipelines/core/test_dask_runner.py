"""Beam jobs on a real distributed engine: Beam's DaskRunner against a dask.distributed cluster (a
scheduler and two worker processes on 127.0.0.1), chosen by Beam flags alone. The corpus jobs (novels,
captions) and the encode job write the same shards there as on the local runner, with tasks on both
workers.

Two quirks of Beam 2.77's DaskRunner shape the encode job: every consumer of a multi-output ParDo gets
the whole output bag, whatever its tag (so `ReadAndBatch` has one output, split by two Filters), and
what a DoFn emits from `finish_bundle` is dropped (so RunInference takes our prepared batches with no
BatchElements, which emits a bundle's last batch there: with it, one batch per Dask partition went
missing)."""

import shutil

import pyarrow.parquet as pq
import pytest
from dask import distributed

from data_schemas import CAPTIONS
from data_schemas import text as col
from data_schemas.shards import read_artifact, shard_paths
from pipelines import encode
from pipelines.corpus import captions, novels
from tests.conftest import IN_PROCESS, NOVELS, SHARED_DATA
from tests.tiny_models import random_encoder

DASK_RUNNER = "--runner=apache_beam.runners.dask.dask_runner.DaskRunner"
BOOKS = ["adventure/carroll_alice_nltk.txt.gz", "adventure/london_call_of_the_wild_pg215.txt.gz"]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(host="127.0.0.1", processes=True, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        client = distributed.Client(cluster)  # not `with`: that would make it the current client for good
        yield cluster, client
        client.close()


@pytest.fixture(scope="module")
def caption_files(tmp_path_factory):
    """Three caption files of 40 captions each: three shards."""
    folder = tmp_path_factory.mktemp("captions")
    header, *lines = (SHARED_DATA / "images" / "flickr8k_1000" / "captions.txt").read_text().splitlines()
    for number in range(3):
        (folder / f"part{number}.csv").write_text("\n".join([header, *lines[number * 40:(number + 1) * 40]]) + "\n")
    return str(folder / "*.csv")


def on_dask(cluster, run):
    """Run a job with the DaskRunner flags; returns its report and the workers that ran its tasks."""
    cluster, client = cluster
    # One Dask partition per shard: by default Beam's Create puts up to 128 elements in one partition.
    flags = [DASK_RUNNER, f"--dask_client_address={cluster.scheduler_address}", "--dask_npartitions=3"]
    with distributed.get_task_stream(client) as tasks:
        report = run(flags)
    # The runner opens a client of its own (the newest, so the default) and leaves it open: close it
    # before the cluster goes, or it spends 30 s trying to reconnect.
    beam_client = distributed.default_client()
    if beam_client is not client:
        beam_client.close()
    return report, {task["worker"] for task in tasks.data}


def assert_same_shards(local, spread):
    assert [path.name for path in shard_paths(local)] == [path.name for path in shard_paths(spread)]
    for mine, theirs in zip(shard_paths(local), shard_paths(spread), strict=True):
        assert pq.read_table(mine).equals(pq.read_table(theirs)), mine.name


def test_novels_job_on_dask_writes_the_local_runners_shards(cluster, tmp_path):
    books = tmp_path / "books"
    books.mkdir()
    for book in BOOKS:
        shutil.copy(NOVELS / book, books)
    local = novels.run(str(books), "books", tmp_path / "local", beam_args=IN_PROCESS)
    spread, workers = on_dask(cluster, lambda flags: novels.run(str(books), "books", tmp_path / "dask",
                                                                beam_args=flags))
    assert (spread.rows, spread.stats, spread.shards_run) == (local.rows, local.stats, 2)
    for artifact in ("sentences", "passages"):
        assert_same_shards(*(tmp_path / where / "corpora" / "books" / artifact for where in ("local", "dask")))
    assert len(workers) == 2, workers


def test_captions_job_on_dask_writes_the_local_runners_shards(cluster, caption_files, tmp_path):
    params = captions.CaptionParams("csv")
    local = captions.run(caption_files, "caps", tmp_path / "local", params, IN_PROCESS)
    spread, workers = on_dask(cluster, lambda flags: captions.run(caption_files, "caps", tmp_path / "dask", params,
                                                                  flags))
    assert (spread.rows, spread.stats, spread.shards_run) == (local.rows, local.stats, 3)
    assert_same_shards(*(tmp_path / where / "corpora" / "caps" / "captions" for where in ("local", "dask")))
    assert len(workers) == 2, workers


def test_encode_job_on_dask_writes_the_local_runners_vectors(cluster, caption_files, tmp_path):
    for where in ("local", "dask"):
        captions.run(caption_files, "caps", tmp_path / where, captions.CaptionParams("csv"), IN_PROCESS)
    table = read_artifact(tmp_path / "local" / "corpora" / "caps" / "captions", CAPTIONS, columns=[col.TOKENS])
    words = ["<eos>", "UNK", *sorted({t for tokens in table.column(col.TOKENS).to_pylist() for t in tokens})]
    # Small batches: several per shard, so one shard's batches meet again from both workers. One torch
    # thread on both runners: float sums split over other thread counts round differently.
    model = random_encoder(tmp_path / "tiny", words, kind="uni", dim_word=8, dim=16)
    params = encode.EncodeParams(str(model), batch_size=16, device="cpu", threads=1)
    local = encode.run(params, "caps", "captions", tmp_path / "local", IN_PROCESS)
    spread, workers = on_dask(cluster, lambda flags: encode.run(params, "caps", "captions", tmp_path / "dask", flags))
    assert (spread.rows, spread.stats, spread.shards_run) == (local.rows, local.stats, 3)
    assert local.rows["vectors"] == 120
    assert_same_shards(*(tmp_path / where / "vectors" / "tiny" / "caps" / "captions" for where in ("local", "dask")))
    assert len(workers) == 2, workers
