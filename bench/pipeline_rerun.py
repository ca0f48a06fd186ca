"""Benchmark: an unchanged rerun of the end-to-end pipeline flow vs its first run.

Builds the workspace of the flow tests (two novels, 200 captions of 40 photos, tiny models trained by
the flow, stories for 4 photos), runs `pipeline_flow` on it, then runs it again with nothing changed:
what a scheduled user pays every time a run finds nothing to do. Prefect keeps its state in WS/.prefect,
as `storyteller flow` does, on its own temporary API. Prints both runs' seconds, their ratio, and what
each stage of the rerun did.
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_HOME,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    temporary_settings,
)

from flows.prefect.cache import UP_TO_DATE
from flows.prefect.pipeline import Images, Models, Styles, Telling, pipeline_flow
from flows.prefect.stage_flows import CorpusSource
from model.decoder.beam_search import SearchOptions
from model.decoder.train import DecoderRecipe
from model.skipthought.train import EncoderRecipe
from model.vse.train import VSERecipe
from pipelines.corpus.captions import CaptionParams
from pipelines.stories import job as stories
from pipelines.stories.batch import StoryParams

BOOKS = ["adventure/london_call_of_the_wild_pg215.txt.gz", "romance/walpole_castle_of_otranto.txt.gz"]
IN_PROCESS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def pipeline_arguments(data: Path, root: Path) -> dict:
    """The inputs and tiny training budgets of tests/flows/prefect/test_flows.py, copied under ROOT."""
    photos_dir = data / "images" / "flickr8k_1000"
    books = root / "books"
    books.mkdir()
    for book in BOOKS:
        shutil.copy(data / "novels" / book, books)
    lines = (photos_dir / "captions.txt").read_text().splitlines()[:201]
    (root / "captions.csv").write_text("\n".join(lines) + "\n")
    photos = sorted({line.split(",")[0] for line in lines[1:]})
    (root / "photos.txt").write_text("".join(f"{photos_dir / 'images' / p}\n" for p in photos))
    (root / "told.txt").write_text("".join(f"{photos_dir / 'images' / p}\n" for p in photos[:4]))
    models = Models(encoder_recipe=EncoderRecipe(dim_word=16, dim=24, vocab_size=3000, epochs=1, log_every=10_000),
                    vse_recipe=VSERecipe(dim_word=16, dim=32, epochs=1, batch_size=32, test_images=5, val_images=5),
                    decoder_recipe=DecoderRecipe(dim_word=16, dim=32, vocab_size=2000, epochs=1, val_books=1,
                                                 batch_size=32, log_every=10_000))
    story = StoryParams("book", k=5, search=SearchOptions(beam_width=2, max_len=8))
    job = stories.JobParams(shard_size=2, image_batch=4, story_batch=4, device="cpu")
    return {"workspace": root / "ws", "novels": [CorpusSource("books", str(books))],
            "captions": CorpusSource("caps", str(root / "captions.csv"), CaptionParams("csv")),
            "photos": Images(str(root / "photos.txt"), "photos", story_images=str(root / "told.txt")),
            "telling": Telling(root / "told", story, job), "models": models, "styles": Styles(),
            "device": "cpu", "beam_args": IN_PROCESS}


def timed(arguments: dict) -> tuple[list, float]:
    started = time.perf_counter()
    summaries = pipeline_flow(**arguments)
    return summaries, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"), help="the shared data folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        arguments = pipeline_arguments(args.shared.resolve(), Path(temp))
        home = Path(temp) / "ws" / ".prefect"
        home.mkdir(parents=True)
        settings = {PREFECT_HOME: home, PREFECT_API_URL: None, PREFECT_SERVER_ANALYTICS_ENABLED: False,
                    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 120}
        with temporary_settings(updates=settings):
            with get_client(sync_client=True) as client:
                client.hello()  # starts Prefect's temporary API before the clock does
            first, first_seconds = timed(arguments)
            rerun, rerun_seconds = timed(arguments)
    computed = sum(s.action not in UP_TO_DATE for s in first)
    up_to_date = sum(s.action in UP_TO_DATE for s in rerun)
    print(f"pipeline: {len(first)} stages; the first run computed {computed}, the rerun found {up_to_date} up to date")
    print(f"first run       : {first_seconds:7.2f} s")
    print(f"unchanged rerun : {rerun_seconds:7.2f} s")
    print(f"ratio rerun/first: {rerun_seconds / first_seconds:.3f}")
    print("rerun, stage by stage:")
    for summary in rerun:
        print(f"  {summary.stage:40s} {summary.action}")


if __name__ == "__main__":
    from pipelines.core.logs import configure_logging

    configure_logging()
    main()
