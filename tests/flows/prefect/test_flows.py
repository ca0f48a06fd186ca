"""The Prefect flows on a Prefect test server, with tiny models trained by the flows themselves: the
end-to-end flow completes (its index and caption style over two caption corpora), a rerun answers every
stage from cache, artifacts are written, the nightly restyle recomputes only the style whose corpus
changed, and bulk stories append only new images."""

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import torch
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId
from prefect.states import Completed, Failed

from flows.prefect.bulk_stories import bulk_stories_flow
from flows.prefect.cache import UP_TO_DATE, transient_failure
from flows.prefect.pipeline import Images, Models, Styles, Telling, _indexed, pipeline_flow
from flows.prefect.restyle import StyleSpec, restyle_flow
from flows.prefect.stage_flows import CorpusSource
from flows.prefect.tasks import StoryModelNames
from model.decoder.beam_search import SearchOptions
from model.decoder.train import DecoderRecipe
from model.skipthought.train import EncoderRecipe
from model.vse.train import VSERecipe
from pipelines.corpus.captions import CaptionParams
from pipelines.stories import job as stories
from pipelines.stories.batch import StoryParams
from pipelines.stories.collection import settled_rejects
from pipelines.stories.workspace_defaults import read_defaults
from tests.conftest import IN_PROCESS, NOVELS, SHARED_DATA

pytestmark = pytest.mark.usefixtures("prefect_server")
PHOTOS = SHARED_DATA / "images" / "flickr8k_1000"
BOOKS = ["adventure/london_call_of_the_wild_pg215.txt.gz", "romance/walpole_castle_of_otranto.txt.gz"]
STORY = StoryParams("book", k=5, search=SearchOptions(beam_width=2, max_len=8))
JOB = stories.JobParams(shard_size=2, image_batch=4, story_batch=4, device="cpu")


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for this module, which the stages may not raise: tiny models gain nothing from
    two, and two threads waiting on each other crawl (20x here) on a machine that is busy elsewhere."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "set_num_threads", lambda threads: None)
        yield
    torch.set_num_threads(previous)


def files_under(folder: Path) -> set[tuple[str, int, int]]:
    """(path, mtime_ns, size) of every file under FOLDER: a rewrite changes at least the mtime."""
    return {(str(path), path.stat().st_mtime_ns, path.stat().st_size) for path in folder.rglob("*") if path.is_file()}


def task_runs_of(state) -> list:
    """The task runs of a flow run, subflows included (each subflow runs under a task run of its parent)."""
    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))


@pytest.fixture(scope="module")
def setup(tmp_path_factory, one_thread):
    """Two novels, 200 captions of 40 photos (the VSE's) and 100 of 20 others (indexed beside them), and the
    end-to-end flow run twice; every file under the folder (workspace, inputs, stories; Prefect keeps its
    state elsewhere) is listed before and after the rerun."""
    root = tmp_path_factory.mktemp("flows")
    books = root / "books"
    books.mkdir()
    for book in BOOKS:
        shutil.copy(NOVELS / book, books)
    header, *rows = (PHOTOS / "captions.txt").read_text().splitlines()[:301]
    lines = [header, *rows[:200]]
    (root / "captions.csv").write_text("\n".join(lines) + "\n")
    (root / "more-captions.csv").write_text("\n".join([header, *rows[200:]]) + "\n")
    photos = sorted({line.split(",")[0] for line in lines[1:]})
    (root / "photos.txt").write_text("".join(f"{PHOTOS / 'images' / p}\n" for p in photos))
    (root / "told.txt").write_text("".join(f"{PHOTOS / 'images' / p}\n" for p in photos[:4]))
    corpora = [CorpusSource("books", str(books)),
               CorpusSource("caps", str(root / "captions.csv"), CaptionParams("csv")),
               CorpusSource("caps2", str(root / "more-captions.csv"), CaptionParams("csv"))]
    models = Models(encoder_recipe=EncoderRecipe(dim_word=16, dim=24, vocab_size=3000, epochs=1, log_every=10_000),
                    vse_recipe=VSERecipe(dim_word=16, dim=32, epochs=1, batch_size=32, test_images=5, val_images=5),
                    decoder_recipe=DecoderRecipe(dim_word=16, dim=32, vocab_size=2000, epochs=1, val_books=1,
                                                 batch_size=32, log_every=10_000))
    arguments = {"workspace": root / "ws", "novels": corpora[:1], "captions": corpora[1],
                 "photos": Images(str(root / "photos.txt"), "photos", story_images=str(root / "told.txt")),
                 "telling": Telling(root / "told", STORY, JOB), "models": models, "styles": Styles(),
                 "index_captions": corpora[1:], "device": "cpu", "beam_args": IN_PROCESS}
    first = pipeline_flow(**arguments, return_state=True)
    files = files_under(root)
    second = pipeline_flow(**arguments, return_state=True)
    return root, corpora, (first, second, files, files_under(root))


def test_pipeline_completes_then_reruns_from_cache(setup):
    root, _, (first_run, second_run, files_before_rerun, files_after_rerun) = setup
    first, second = first_run.result(), second_run.result()
    assert [s.action for s in first if s.action in ("cached", "done")] == []
    assert {s.stage.split()[0] for s in first} >= {"corpus", "train", "encode", "style", "features", "index",
                                                    "stories"}
    told = [json.loads(line) for line in (root / "told" / "stories.jsonl").read_text().splitlines()]
    assert len(told) == 4 and all(row["story"] and row["style"] == "book" for row in told)
    assert (root / "told" / "gallery.html").is_file()
    assert [s.stage for s in second] == [s.stage for s in first]
    assert all(s.action in UP_TO_DATE for s in second), [(s.stage, s.action) for s in second]
    assert second[-1].details["new_images"] == 0 and second[-1].details["stories_total"] == 4
    # Nothing ran: no subflow or task started (the first run's show the query sees them), no file was written.
    assert task_runs_of(first_run) and task_runs_of(second_run) == []
    assert files_after_rerun == files_before_rerun


def test_index_and_caption_style_cover_every_index_corpus(setup):
    root, _, (first_run, _, _, _) = setup
    summaries = {s.stage: s for s in first_run.result()}
    meta = json.loads((Path(summaries["index caps+caps2"].details["folder"]) / "_meta.json").read_text())
    assert meta["corpora"] == ["caps", "caps2"]
    style = json.loads((root / "ws" / "styles" / "skipthought-uni-books" / "captions.json").read_text())
    encoded = [summaries[f"encode {name}/captions"].rows_out for name in ("caps", "caps2")]
    assert style["corpora"] == ["caps", "caps2"] and style["count"] == sum(encoded) and min(encoded) > 0
    assert summaries["stories told"].rows_out == 4


def test_the_run_records_its_story_settings_for_the_stories_command(setup):
    root, _, (first_run, _, _, _) = setup
    index_folder = {s.stage: s for s in first_run.result()}["index caps+caps2"].details["folder"]
    recorded = read_defaults(root / "ws")
    assert {key: recorded[key] for key in ("style", "caption_style", "k", "search", "beam_width", "max_len")} == \
        {"style": "book", "caption_style": "captions", "k": 5, "search": "normalized", "beam_width": 2, "max_len": 8}
    assert Path(recorded["index"]).resolve() == Path(index_folder).resolve()
    assert Path(recorded["decoder"]).resolve() == (root / "ws" / "models" / "decoder-books").resolve()
    assert json.loads((root / "ws" / "defaults.json").read_text())["decoder"] == "models/decoder-books"


def test_index_sources_are_checked_before_any_work(tmp_path):
    caps, more = (CorpusSource(name, f"{name}.csv", CaptionParams("csv")) for name in ("caps", "more"))
    assert _indexed(caps, None) == [caps] and _indexed(caps, [more, caps]) == [caps, more]
    photos = Images(str(tmp_path / "photos.txt"), "photos")
    for given, error in [([CorpusSource("novels", "novels/")], "'novels' .*give `caption_params`"),
                         ([more, more], r"\['more'\] named more than once"),
                         ([CorpusSource("caps", "other.csv", CaptionParams("csv"))], "name of `captions`")]:
        with pytest.raises(ValueError, match=error):
            pipeline_flow(tmp_path / "ws", [], caps, photos, Telling(tmp_path / "told", STORY), index_captions=given)
    assert not (tmp_path / "ws").exists()


def test_artifacts_hold_the_summary_styles_and_stories(setup):
    root, _, _ = setup
    with get_client(sync_client=True) as client:
        def latest(key):
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
            assert found, f"no artifact {key}"
            return max(found, key=lambda artifact: artifact.created).data

        summary = latest("storyteller-pipeline-summary")
        assert "| stage | action | rows in |" in summary and "| style book |" in summary
        assert "| ok |" in summary and "MISMATCH" not in summary  # rows in = rows out + rejected, per stage
        styles = json.loads(latest("styles-skipthought-uni-books"))
        assert {row["style"] for row in styles} == {"book", "captions"} and styles[0]["dim"] == 24
        sample = latest("stories-told")
        assert "4 stories" in sample and str(root / "told" / "gallery.html") in sample


def test_restyle_recomputes_only_the_style_whose_corpus_changed(setup):
    root, corpora, _ = setup
    encoder = str(root / "ws" / "models" / "skipthought-uni-books")
    specs = [StyleSpec("book", ["books"]), StyleSpec("captions", ["caps", "caps2"], "captions")]
    unchanged = restyle_flow(root / "ws", encoder, corpora, specs, "cpu", IN_PROCESS)
    assert (unchanged.changed_corpora, unchanged.recomputed_styles) == ([], [])
    shutil.copy(NOVELS / "adventure" / "carroll_alice_nltk.txt.gz", root / "books")
    report = restyle_flow(root / "ws", encoder, corpora, specs, "cpu", IN_PROCESS)
    assert (report.changed_corpora, report.recomputed_styles) == (["books"], ["book"])
    actions = {s.stage: s.action for s in report.summaries}
    assert actions["style book"] == "incremental" and actions["style captions"] == "cached"
    assert actions["corpus caps"] == actions["encode caps/captions"] == "cached"


def test_bulk_stories_append_only_new_images(setup):
    root, _, _ = setup
    out = root / "told"
    before = (out / "stories.jsonl").read_text().splitlines()
    photos = (root / "photos.txt").read_text().splitlines()
    broken = root / "broken.jpg"
    broken.write_bytes(b"half a jpeg")
    (root / "more.txt").write_text("\n".join([*photos[:6], str(broken)]) + "\n")
    models = StoryModelNames("decoder-books", encoder=str(root / "ws" / "models" / "skipthought-uni-books"))

    def tell():
        return bulk_stories_flow(str(root / "more.txt"), out, root / "ws", models, STORY, JOB, beam_args=IN_PROCESS)

    added = tell()
    assert added.details["new_images"] == 3 and (added.rows_in, added.rows_out, added.rejected) == (3, 2, 1)
    after = (out / "stories.jsonl").read_text().splitlines()
    assert len(after) == 6 and after[:4] == before and added.details["stories_total"] == 6
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["run-00001", "run-00002"]
    again = tell()  # the broken file was not written to since its run began: not retried
    assert again.details["new_images"] == 0 and len(list((out / "runs").iterdir())) == 2
    assert (out / "stories.jsonl").read_text().splitlines() == after
    os.utime(broken, ns=(time.time_ns(), time.time_ns()))  # copied again: tried by the next run
    assert settled_rejects(out) == set()
    with pytest.raises(ValueError, match="other settings"):
        bulk_stories_flow(str(root / "more.txt"), out, root / "ws", models, StoryParams("captions", k=5), JOB)


def test_only_transient_failures_are_retried():
    assert transient_failure(None, None, Failed(data=ConnectionResetError("peer went away")))
    assert transient_failure(None, None, Failed(data=TimeoutError("slow disk")))
    assert not transient_failure(None, None, Failed(data=FileNotFoundError("no such corpus")))
    assert not transient_failure(None, None, Failed(data=ValueError("--k must be at least 1")))
    assert not transient_failure(None, None, Completed())
