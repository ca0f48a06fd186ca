"""`storyteller demo`: the end-to-end flow on the shared data with the models the repository ships
(trained/), on embedded defaults (Beam in process, Prefect without a server).

It trains nothing: the corpora (the romance novels; the Flickr8k, COCO val2017 and Multi30k captions), the
romance and caption styles, image features for a sample of the Flickr8k photos, the caption index over the
three caption sets and their stories all come from the shipped encoder, VSE and decoder.
"""

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from flows.cli.flow import prefect_defaults, print_result
from flows.cli.parser import add_dry_run, later, runs_beam

if TYPE_CHECKING:
    from data_schemas.storage import Location

REPO = Path(__file__).resolve().parents[2]
TRAINED = REPO / "trained"


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add `demo` to the top-level commands."""
    p = commands.add_parser("demo", help="the end-to-end flow on ../shared/data with the shipped models",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    later(p, _add_demo_options)


def _add_demo_options(p: argparse.ArgumentParser) -> None:
    from model.decoder.beam_search import MODES, STORY_SEARCH
    from model.vse.files import RETRIEVAL_MODES

    p.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="folder holding data/ (../shared)")
    p.add_argument("--workspace", type=Path, default=REPO / "workspace" / "demo", help="root folder of all artifacts")
    p.add_argument("--photos", type=int, default=96, help="Flickr8k photos to tell stories for")
    p.add_argument("--models", type=Path, default=TRAINED, help="folder of the encoder, VSE and decoder to use")
    p.add_argument("--search", choices=MODES, default=STORY_SEARCH,
                   help="how stories are decoded (see `storyteller stories --help`)")
    p.add_argument("--beam-width", type=int, default=50, help="the beam searches' width (not used by sample)")
    p.add_argument("--retrieval", choices=RETRIEVAL_MODES, default=RETRIEVAL_MODES[0],
                   help="which joint space picks each photo's captions: the VSE fused with the zero-shot space "
                        "(default), the trained VSE alone, or the zero-shot space alone")
    add_dry_run(p)
    runs_beam(p)
    p.set_defaults(run=run_demo)


def sample_list(images: Path, count: int, out: "Location") -> "Location":
    """The first COUNT photos by path, as a list file (the story job's input), in a folder or on a store."""
    from pipelines.features import list_images

    photos = list_images(str(images))[:count]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{Path(path).resolve()}\n" for path in photos), encoding="utf-8")
    return out


def run_demo(args: argparse.Namespace, beam_args: list[str]) -> None:
    from data_schemas.storage import is_remote

    data = args.shared / "data"
    workspace = args.workspace if is_remote(args.workspace) else args.workspace.resolve()
    prefect_defaults(workspace)  # Prefect reads its settings when it loads: set them first
    from flows.prefect.demo import demo_parameters
    from flows.prefect.pipeline import pipeline_flow

    photos = workspace / "demo-photos.txt"
    # demo_parameters checks the inputs first.
    parameters = demo_parameters(data, workspace, photos, args.models, args.search, args.beam_width, args.retrieval)
    sample_list(data / "images" / "flickr8k_1000" / "images", args.photos, photos)
    print_result(pipeline_flow(**parameters, beam_args=beam_args))
