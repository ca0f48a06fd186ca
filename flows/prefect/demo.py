"""The parameters of the demo's run of the end-to-end flow: what `make demo` builds and from what."""

from pathlib import Path
from typing import Any

from data_schemas.storage import Location
from flows.prefect.pipeline import Images, Models, Styles, Telling
from flows.prefect.stage_flows import CorpusSource
from model.decoder.beam_search import SearchOptions
from model.vse.files import RETRIEVAL_MODES
from pipelines.corpus.captions import CaptionParams
from pipelines.stories.batch import StoryParams

BOOK_STYLE, CAPTION_STYLE = "romance", "captions"
ENCODER, VSE, DECODER = "skipthought-uni-novels", "vse-flickr8k-1000", "decoder-novels"
ZERO_SHOT = "zero-shot-efficientnet-lite0"


def retrieval_models(models: Path, retrieval: str) -> dict[str, str | None]:
    """The `Models` fields of a retrieval mode: the trained VSE, the zero-shot space, or the two fused."""
    if retrieval not in RETRIEVAL_MODES:
        raise ValueError(f"--retrieval must be one of {RETRIEVAL_MODES}, got {retrieval!r}")
    if retrieval == "zero-shot":
        return {"vse": str(models / ZERO_SHOT), "zero_shot": None}
    return {"vse": str(models / VSE), "zero_shot": str(models / ZERO_SHOT) if retrieval == "fused" else None}


def demo_parameters(data: Path, workspace: Location, photos: Location, models: Path, search: str,
                    beam_width: int, retrieval: str = RETRIEVAL_MODES[0]) -> dict[str, Any]:
    """The romance novels and the Flickr8k, COCO val2017 and Multi30k captions (the caption style and the
    index over the three caption sets, 183 k distinct captions) with the shipped models; the photos of the
    list file PHOTOS get features and stories, told by SEARCH (the beam searches at BEAM_WIDTH), from the
    captions RETRIEVAL picks (default: the VSE fused with the zero-shot space)."""
    captions = data / "captions"
    for folder in (data / "novels" / "romance", captions / "flickr8k", captions / "coco2017",
                   captions / "multi30k" / "task2" / "raw", models / DECODER, models / VSE, models / ZERO_SHOT):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing: the demo needs ../shared beside the repository and "
                                    "the shipped models in trained/")
    flickr8k = CorpusSource("flickr8k", str(captions / "flickr8k" / "Flickr8k.token.txt.gz"),
                            caption_params=CaptionParams("flickr8k"))
    # Named as `make models` names them; `make bench` reads the index flickr8k+coco+multi30k.
    coco = CorpusSource("coco", str(captions / "coco2017" / "captions_val2017.json.gz"),
                        caption_params=CaptionParams("coco"))
    multi30k = CorpusSource("multi30k", str(captions / "multi30k" / "task2" / "raw" / "*.en.gz"),
                            caption_params=CaptionParams("multi30k"))
    options = SearchOptions.for_mode(search, beam_width=None if search == "sample" else beam_width)
    return {
        "workspace": workspace,
        "novels": [CorpusSource("romance", str(data / "novels" / "romance" / "*.txt.gz"))],
        "captions": flickr8k,
        "photos": Images(str(photos), "demo-photos"),
        "telling": Telling(workspace / "stories", StoryParams(BOOK_STYLE, CAPTION_STYLE, k=100, search=options)),
        "models": Models(encoder=str(models / ENCODER), decoder=str(models / DECODER),
                         **retrieval_models(models, retrieval)),
        "styles": Styles(book=BOOK_STYLE, book_min_tokens=100, caption=CAPTION_STYLE),
        "index_captions": [flickr8k, coco, multi30k],
    }
