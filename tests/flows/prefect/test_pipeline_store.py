"""Prefect flows with the workspace on the object store (a moto S3 server): a stage flow's task results and
cache records land under WS/.prefect/results on the store and a second run answers from them; the
end-to-end flow on the store, with the models a run on disk trained (uploaded under WS/models), tells the
stories that run told, and a rerun answers every stage from the store's cache."""

import json

import pytest

from data_schemas.storage import location, remove_tree, upload_folder
from flows.cli.main import main
from flows.prefect.cache import UP_TO_DATE
from flows.prefect.pipeline import Images, Models, Styles, Telling, pipeline_flow
from flows.prefect.stage_flows import CorpusSource
from flows.prefect.workspace import RESULTS
from model.decoder.train import DecoderRecipe
from model.skipthought.train import EncoderRecipe
from model.vse.train import VSERecipe
from pipelines.corpus.captions import CaptionParams
from tests.conftest import IN_PROCESS, NOVELS, SHARED_DATA
from tests.flows.prefect.test_flows import JOB, STORY, one_thread, task_runs_of  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("prefect_server")
PHOTOS = SHARED_DATA / "images" / "flickr8k_1000"


def test_stage_results_live_on_the_store_and_answer_a_rerun(s3_workspace, tmp_path, capsys):
    (tmp_path / "caps.csv").write_text(f"image,caption\n1.jpg,A dog runs .\n2.jpg,{tmp_path.name} sleeps .\n")
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"source": str(tmp_path / "caps.csv"), "name": "c", "workspace": s3_workspace,
                                  "params": {"format": "csv"}}))

    def action() -> str:
        assert main(["flow", "corpus-captions", "--params", str(params), *IN_PROCESS]) == 0
        return next(line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("corpus c"))[2]

    results = location(s3_workspace) / RESULTS
    assert action() == "fresh"
    records = sorted(path.name for path in results.iterdir())
    assert records and action() == "cached" and sorted(path.name for path in results.iterdir()) == records
    remove_tree(results)  # without the store's records the task runs; the stage finds its outputs done
    assert action() == "done" and list(results.iterdir())


def tell(workspace, root, models: Models, out: str):
    """The end-to-end flow over two novels, 120 captions of their photos and stories for 3 of them."""
    corpora = [CorpusSource("books", str(root / "books")), CorpusSource("caps", str(root / "captions.csv"),
                                                                        CaptionParams("csv"))]
    return pipeline_flow(workspace, corpora[:1], corpora[1],
                         Images(str(root / "photos.txt"), "photos", story_images=str(root / "told.txt")),
                         Telling(root / out, STORY, JOB),
                         models, Styles(), device="cpu", beam_args=IN_PROCESS, return_state=True)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    (root / "books").mkdir()
    for book in ["adventure/london_call_of_the_wild_pg215.txt.gz", "romance/walpole_castle_of_otranto.txt.gz"]:
        (root / "books" / book.split("/")[1]).write_bytes((NOVELS / book).read_bytes())
    header, *rows = (PHOTOS / "captions.txt").read_text().splitlines()[:121]
    (root / "captions.csv").write_text("\n".join([header, *rows]) + "\n")
    photos = sorted({line.split(",")[0] for line in rows})
    (root / "photos.txt").write_text("".join(f"{PHOTOS / 'images' / p}\n" for p in photos))
    (root / "told.txt").write_text("".join(f"{PHOTOS / 'images' / p}\n" for p in photos[:3]))
    return root


def stories_of(state) -> list[tuple[str, str]]:
    jsonl = location(state.result()[-1].details["jsonl"])
    return [(row["image_id"], row["story"]) for row in map(json.loads, jsonl.read_text().splitlines())]


def test_the_pipeline_on_the_store_tells_the_stories_told_on_disk(inputs, s3_workspace, one_thread):  # noqa: F811
    trained = Models(
        encoder_recipe=EncoderRecipe(dim_word=16, dim=24, vocab_size=3000, epochs=1, log_every=10_000),
        vse_recipe=VSERecipe(dim_word=16, dim=32, epochs=1, batch_size=32, test_images=4, val_images=4),
        decoder_recipe=DecoderRecipe(dim_word=16, dim=32, vocab_size=2000, epochs=1, val_books=1, batch_size=32,
                                     log_every=10_000))
    on_disk = tell(inputs / "ws", inputs, trained, "told-on-disk")
    assert on_disk.is_completed(), on_disk
    models = {s.stage.split()[1]: s.details["model"] for s in on_disk.result() if s.stage.startswith("train")}
    for name in models.values():
        upload_folder(inputs / "ws" / "models" / name, location(s3_workspace) / "models" / name)
    given = Models(encoder=models["encoder"], vse=models["vse"], decoder=models["decoder"])

    on_store = tell(s3_workspace, inputs, given, "told-from-store")
    assert on_store.is_completed(), on_store
    assert stories_of(on_store) == stories_of(on_disk) and len(stories_of(on_store)) == 3
    assert list((location(s3_workspace) / RESULTS).iterdir())
    again = tell(s3_workspace, inputs, given, "told-from-store")
    assert all(s.action in UP_TO_DATE for s in again.result()), [(s.stage, s.action) for s in again.result()]
    assert task_runs_of(again) == []
