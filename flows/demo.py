"""`storyteller demo`: the end-to-end flow on the shared data with the models the repository ships
(trained/), on embedded defaults (Beam in process, Prefect without a server).

It trains nothing: corpora, the romance and caption styles, image features for a sample of the Flickr8k
photos, the caption index and their stories all come from the shipped encoder, VSE and decoder.
"""

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAINED = REPO / "trained"
ENCODER, VSE, DECODER = "skipthought-uni-novels", "vse-flickr8k-1000", "decoder-romance"


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add `demo` to the top-level commands."""
    p = commands.add_parser("demo", help="the end-to-end flow on ../shared/data with the shipped models",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="folder holding data/ (../shared)")
    p.add_argument("--workspace", type=Path, default=REPO / "workspace" / "demo", help="root folder of all artifacts")
    p.add_argument("--photos", type=int, default=96, help="Flickr8k photos to tell stories for")
    p.add_argument("--models", type=Path, default=TRAINED, help="folder of the encoder, VSE and decoder to use")
    p.add_argument("--beam-width", type=int, default=50)
    p.set_defaults(run=run_demo)


def sample_list(images: Path, count: int, out: Path) -> Path:
    """The first COUNT photos by path, as a list file (the story job's input)."""
    from pipelines.images import list_images

    photos = list_images(str(images))[:count]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{Path(path).resolve()}\n" for path in photos), encoding="utf-8")
    return out


def run_demo(args: argparse.Namespace, beam_args: list[str]) -> None:
    from flows.flow_commands import prefect_defaults, print_result

    data, workspace = args.shared / "data", args.workspace.resolve()
    for folder in (data / "novels" / "romance", data / "captions" / "flickr8k", args.models / DECODER):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing: the demo needs ../shared beside the repository and "
                                    "the shipped models in trained/")
    prefect_defaults(workspace)
    from flows.demo_flow import demo_parameters
    from flows.pipeline_flow import pipeline_flow

    photos = sample_list(data / "images" / "flickr8k_1000" / "images", args.photos, workspace / "demo-photos.txt")
    parameters = demo_parameters(data, workspace, photos, args.models, args.beam_width)
    print_result(pipeline_flow(**parameters, beam_args=beam_args))
