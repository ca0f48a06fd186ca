"""Beam jobs on a real distributed engine: our DaskRunner (pipelines/core/dask_runner.py) against a
dask.distributed cluster (a scheduler and two worker processes on 127.0.0.1), chosen by Beam flags alone.
Every job (corpus novels and captions, vocab, encode, style, features, the index's caption embedding and
stories) writes the same rows there as on the local runner, with tasks on both workers, and with no
--dask_npartitions: the runner spreads a small job over the cluster itself. Toy pipelines pin down what
Beam 2.77's own DaskRunner got wrong: finish_bundle output, tagged outputs, independent sinks,
CombineGlobally's default, Reshuffle."""

import json
import shutil
import time
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from dask import distributed
from PIL import Image

from data_schemas import CAPTIONS, REJECTS
from data_schemas import stories as st
from data_schemas import text as col
from data_schemas.features import PATH, features_schema
from data_schemas.shards import read_artifact, shard_paths
from data_schemas.vectors import VECTOR
from model.cnn.registry import DEFAULT_CNN, image_model_spec
from model.decoder.beam_search import SearchOptions
from model.decoder.conditional_gru import DecoderConfig, StoryDecoder
from model.decoder.files import save_decoder
from model.vse.embedding import VisualSemanticEmbedding, VSEConfig
from model.vse.files import save_vse
from pipelines import encode
from pipelines import features as images
from pipelines.core.beam_options import DASK_RUNNER as OUR_RUNNER
from pipelines.core.beam_options import make_pipeline, pipeline_options
from pipelines.corpus import captions, novels, vocab
from pipelines.index import build as index
from pipelines.stories import job as stories
from pipelines.stories.batch import StoryParams
from pipelines.style import job as style
from pipelines.style.files import read_style
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
    with distributed.get_task_stream(client) as tasks:
        report = run([DASK_RUNNER, f"--dask_client_address={cluster.scheduler_address}"])
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


def save(element, path: Path) -> None:
    Path(path).write_text(json.dumps(element))


def run_toy(cluster, build, short_name=False):
    """Run a toy pipeline on the cluster, named by Beam's short runner name or its dotted one."""
    flags = ["--runner=DaskRunner" if short_name else DASK_RUNNER,
             f"--dask_client_address={cluster[0].scheduler_address}"]
    with distributed.get_task_stream(cluster[1]) as tasks, make_pipeline(flags) as pipeline:
        build(pipeline)
    return tasks.data


def test_beams_names_for_its_dask_runner_select_ours():
    for flags in (["--runner=DaskRunner"], ["--runner", "dask"], [DASK_RUNNER]):
        assert pipeline_options(flags).get_all_options()["runner"] == OUR_RUNNER
    assert pipeline_options(["--runner=FlinkRunner"]).get_all_options()["runner"] == "FlinkRunner"


def test_finish_bundle_output_is_kept(cluster, tmp_path):
    run_toy(cluster, lambda p: (p | beam.Create(range(10)) | beam.BatchElements(min_batch_size=3, max_batch_size=3)
                                | beam.Map(len) | beam.CombineGlobally(sum) | beam.Map(save, tmp_path / "n")),
            short_name=True)
    assert json.loads((tmp_path / "n").read_text()) == 10


def odd_or_even(number: int):
    yield beam.pvalue.TaggedOutput("odd", number) if number % 2 else number


def test_tagged_outputs_reach_only_their_consumers(cluster, tmp_path):
    def build(pipeline):
        split = pipeline | beam.Create(range(10)) | beam.FlatMap(odd_or_even).with_outputs("odd", main="even")
        for name, pcoll in (("odd", split.odd), ("even", split.even)):
            _ = pcoll | f"List{name}" >> beam.combiners.ToList() | f"Save{name}" >> beam.Map(save, tmp_path / name)
    run_toy(cluster, build)
    assert sorted(json.loads((tmp_path / "odd").read_text())) == [1, 3, 5, 7, 9]
    assert sorted(json.loads((tmp_path / "even").read_text())) == [0, 2, 4, 6, 8]


def test_independent_sinks_both_run(cluster, tmp_path):
    def build(pipeline):
        _ = pipeline | "A" >> beam.Create(["a"]) | "SaveA" >> beam.Map(save, tmp_path / "a")
        _ = pipeline | "B" >> beam.Create(["b"]) | "SaveB" >> beam.Map(save, tmp_path / "b")
    run_toy(cluster, build)
    assert [json.loads((tmp_path / name).read_text()) for name in "ab"] == ["a", "b"]


def test_combine_globally_of_nothing_is_its_default(cluster, tmp_path):
    def build(pipeline):
        for name, values in (("none", []), ("some", [1, 2, 3])):
            _ = (pipeline | f"Create{name}" >> beam.Create(values) | f"Sum{name}" >> beam.CombineGlobally(sum)
                 | f"Save{name}" >> beam.Map(save, tmp_path / name))
    run_toy(cluster, build)
    assert [json.loads((tmp_path / name).read_text()) for name in ("none", "some")] == [0, 6]


def where_it_ran(_) -> str:
    # Long enough that the idle worker steals some: the dealt partitions start where their data is.
    time.sleep(1.0)
    return distributed.get_worker().address


def test_reshuffle_spreads_one_elements_fan_out_over_both_workers(cluster, tmp_path):
    run_toy(cluster, lambda p: (p | beam.Create([8]) | beam.FlatMap(lambda n: range(n)) | beam.Reshuffle()
                                | beam.Map(where_it_ran) | beam.combiners.ToList() | beam.Map(save, tmp_path / "at")))
    workers = json.loads((tmp_path / "at").read_text())
    assert len(workers) == 8 and len(set(workers)) == 2


@pytest.fixture(scope="module")
def workspaces(caption_files, tmp_path_factory):
    """Two workspaces, "local" and "dask", with the 120 captions, a VSE and a skip-thought encoder, and the
    captions encoded (the encode job's defaults, as the stories job asks for them)."""
    root = tmp_path_factory.mktemp("ws")
    for where in ("local", "dask"):
        captions.run(caption_files, "caps", root / where, captions.CaptionParams("csv"), IN_PROCESS)
    table = read_artifact(root / "local" / "corpora" / "caps" / "captions", CAPTIONS, columns=[col.TOKENS])
    words = ["<eos>", "UNK", *sorted({t for tokens in table.column(col.TOKENS).to_pylist() for t in tokens})]
    for where in ("local", "dask"):
        torch.manual_seed(0)
        config = VSEConfig(n_words=len(words), dim_image=image_model_spec(DEFAULT_CNN).feature_dim, dim_word=8,
                           dim=16, provenance={"cnn": DEFAULT_CNN})
        save_vse(root / where / "models" / "tiny-vse", VisualSemanticEmbedding(config), words)
        encoder = random_encoder(root / where / "models" / "tiny-st", words, kind="uni", dim_word=8, dim=16)
        encode.run(encode.EncodeParams(str(encoder)), "caps", "captions", root / where, IN_PROCESS)
    return root, words


@pytest.fixture(scope="module")
def local_style(workspaces):
    root, _ = workspaces
    return style.run("captions", ["caps"], "captions", "tiny-st", root / "local", beam_args=IN_PROCESS)


@pytest.fixture(scope="module")
def local_index(workspaces):
    root, _ = workspaces
    return index.run("tiny-vse", ["caps"], root / "local", index.IndexParams(recall_queries=50), name="caps",
                     beam_args=IN_PROCESS)


def test_vocab_job_on_dask_writes_the_local_runners_vocabulary(cluster, workspaces):
    root, _ = workspaces
    local = vocab.run(["caps"], 50, root / "local", beam_args=IN_PROCESS)
    spread, workers = on_dask(cluster, lambda flags: vocab.run(["caps"], 50, root / "dask", beam_args=flags))
    assert (spread.words, spread.tokens, spread.sequences) == (local.words, local.tokens, 120) and not spread.skipped
    assert pq.read_table(spread.path).equals(pq.read_table(local.path))
    assert len(workers) == 2, workers


def test_style_job_on_dask_writes_the_local_runners_mean(cluster, workspaces, local_style):
    root, _ = workspaces
    spread, workers = on_dask(cluster, lambda flags: style.run("captions", ["caps"], "captions", "tiny-st",
                                                               root / "dask", beam_args=flags))
    assert (spread.action, spread.shards, spread.rows_used, spread.count) == (
        local_style.action, 3, local_style.rows_used, local_style.count)
    mine, theirs = (read_style(root / where, "tiny-st", "captions").vector for where in ("local", "dask"))
    np.testing.assert_allclose(theirs, mine, rtol=1e-6)
    assert len(workers) == 2, workers


def test_index_embedding_on_dask_writes_the_local_runners_vectors_and_index(cluster, workspaces, local_index):
    """The index embeds its captions with the encode job (the VSE's text side): the Beam part of the stage."""
    root, _ = workspaces
    spread, workers = on_dask(cluster, lambda flags: index.run("tiny-vse", ["caps"], root / "dask",
                                                               index.IndexParams(recall_queries=50), name="caps",
                                                               beam_args=flags))
    assert [(r.rows, r.stats, r.shards_run) for r in spread.embedded] == [(r.rows, r.stats, 3)
                                                                         for r in local_index.embedded]
    assert spread.captions == local_index.captions
    assert_same_shards(*(root / where / "vectors" / "tiny-vse" / "caps" / "captions" for where in ("local", "dask")))
    id_maps = [pq.read_table(folder / index.ID_MAP_FILE) for folder in (local_index.folder, spread.folder)]
    assert id_maps[0].equals(id_maps[1])
    assert len(workers) == 2, workers


def make_images(folder: Path, count: int) -> Path:
    """`count` small noise pictures and one broken file, listed in a list file."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for number in range(count):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(folder / f"img{number}.png")
    (folder / "broken.png").write_bytes(b"not a picture")
    (folder / "list.txt").write_text("".join(f"{path}\n" for path in sorted(folder.glob("*.png"))))
    return folder / "list.txt"


def assert_same_features(local: Path, spread: Path) -> None:
    """Paths equal and vectors to float32 rounding: the cluster's batches and torch threads differ."""
    mine, theirs = (read_artifact(folder, features_schema(image_model_spec(DEFAULT_CNN).feature_dim))
                    for folder in (local, spread))
    assert mine.drop_columns([VECTOR]).equals(theirs.drop_columns([VECTOR]))
    np.testing.assert_allclose(np.array(theirs.column(VECTOR).to_pylist()), np.array(mine.column(VECTOR).to_pylist()),
                               atol=1e-5)


def test_features_job_on_dask_writes_the_local_runners_features(cluster, tmp_path):
    listing = make_images(tmp_path / "images", 5)
    params = images.FeatureParams(shard_size=2, batch_size=2)
    local = images.run(str(listing), "noise", tmp_path / "local", params, IN_PROCESS)
    spread, workers = on_dask(cluster, lambda flags: images.run(str(listing), "noise", tmp_path / "dask", params,
                                                                flags))
    assert (spread.rows, spread.stats, spread.shards_run) == (local.rows, local.stats, 3)
    assert local.rows == {"features": 5, "rejects": 1}
    folders = [images.output_folders(tmp_path / where, DEFAULT_CNN, "noise") for where in ("local", "dask")]
    assert_same_features(folders[0]["features"], folders[1]["features"])
    assert read_artifact(folders[0]["rejects"], REJECTS).equals(read_artifact(folders[1]["rejects"], REJECTS))
    assert len(workers) == 2, workers


def story_rows(folder: Path) -> dict[str, dict]:
    return {row[PATH]: row for row in read_artifact(folder, st.STORIES).to_pylist()}


def test_stories_job_on_dask_tells_the_local_runners_stories(cluster, workspaces, local_style, local_index, tmp_path):
    root, words = workspaces
    workspace = root / "local"  # its models, index and style; the two runs write to two outputs
    decoder = StoryDecoder(DecoderConfig(n_words=len(words), dim_word=8, dim=16,
                                         dim_ctx=read_style(workspace, "tiny-st", "captions").vector.shape[0],
                                         provenance={"encoder": "tiny-st"}))
    save_decoder(workspace / "models" / "tiny-dec", decoder, words)
    listing = make_images(tmp_path / "images", 4)
    models = stories.resolve_models(workspace, "tiny-dec", None, None, None, None)
    params = StoryParams("captions", k=5, search=SearchOptions(beam_width=2, max_len=8))
    job = stories.JobParams(shard_size=2, image_batch=2, story_batch=2)
    local = stories.run(str(listing), tmp_path / "local", workspace, models, params, job, IN_PROCESS, gallery=False)
    spread, workers = on_dask(cluster, lambda flags: stories.run(str(listing), tmp_path / "dask", workspace, models,
                                                                 params, job, flags, gallery=False))
    assert (spread.stage.rows, spread.stage.stats, spread.stage.shards_run) == (local.stage.rows, local.stage.stats, 3)
    assert local.stage.rows == {"stories": 4, "rejects": 1}
    mine, theirs = story_rows(tmp_path / "local" / "stories"), story_rows(tmp_path / "dask" / "stories")
    assert mine.keys() == theirs.keys()
    for path, row in mine.items():
        other = theirs[path]
        assert {**row, st.CAPTIONS: None} == {**other, st.CAPTIONS: None}
        assert [c[st.CAPTION_ID] for c in row[st.CAPTIONS]] == [c[st.CAPTION_ID] for c in other[st.CAPTIONS]]
        np.testing.assert_allclose([c[st.SCORE] for c in row[st.CAPTIONS]], [c[st.SCORE] for c in other[st.CAPTIONS]],
                                   atol=1e-5)
    assert read_artifact(tmp_path / "local" / "rejects", REJECTS).equals(read_artifact(tmp_path / "dask" / "rejects",
                                                                                       REJECTS))
    assert len(workers) == 2, workers
