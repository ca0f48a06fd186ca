"""`storyteller stories`: the bulk story job over an image dataset."""

import argparse
from pathlib import Path

from flows.cli.decode_vectors import add_search_arguments, search_options
from flows.cli.parser import add_dry_run, later, runs_beam, workspace_location
from flows.cli.report import print_stage

DEFAULT_BEAM = 50  # the original's bw, in either beam search
# Taken from WS/defaults.json when not given (so their parser defaults are None), else these.
BUILT_IN = {"caption_style": "captions", "k": 100}
NEEDED = ("style", "decoder")


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add `stories` to the top-level commands."""
    p = commands.add_parser(
        "stories", epilog=epilog, help="a story for every image of a dataset (Beam job)",
        description="image -> CNN features -> VSE -> top-k captions of the caption index -> mean of their "
                    "skip-thought vectors x -> x - c + b -> decoder beam search (or sampling, seeded by the image's "
                    "name: a rerun tells the same story) -> story. Writes OUT/stories/ "
                    "(Parquet shards), OUT/stories.jsonl and OUT/gallery.html; unreadable images go to OUT/rejects/. "
                    "A rerun skips finished shards; the captions' skip-thought vectors are encoded first if missing. "
                    "Settings not given come from WS/defaults.json when the workspace has one (the end-to-end flow "
                    "and `make demo` write it): its decoder, encoder, index, CNN, styles, k and search.")
    later(p, _add_options)


def _add_options(p: argparse.ArgumentParser) -> None:
    from model.cnn.registry import IMAGE_MODELS
    from pipelines.stories import job as stories
    from pipelines.stories.topics import TopicParams

    p.add_argument("--images", required=True, help="an image, a folder of images, a glob, or a text file of paths")
    p.add_argument("--style", help="book style b: styles/ENCODER/NAME (e.g. romance); needed unless "
                                   "WS/defaults.json names one")
    p.add_argument("--caption-style", help=f"caption style c (default: {BUILT_IN['caption_style']})")
    p.add_argument("--k", type=int, help=f"nearest captions averaged per image (default {BUILT_IN['k']})")
    topics = TopicParams()
    p.add_argument("--topic-bonus", type=float, default=topics.bonus,
                   help="nats added to the log-probability of the nearest captions' content words, times the share "
                        f"of the topic captions that hold each, until the story uses it (default {topics.bonus}; "
                        "0 = none, as the original)")
    p.add_argument("--topic-captions", type=int, default=topics.captions,
                   help=f"nearest captions whose content words are the topic (default {topics.captions})")
    p.add_argument("--topic-min-captions", type=int, default=topics.min_captions,
                   help="of those, how many must hold a word for it to be a topic word "
                        f"(default {topics.min_captions})")
    p.add_argument("--lyric", action="store_true", help="a line per ','-separated piece, as the original's lyric mode")
    p.add_argument("--decoder", help="decoder model directory, or its id under WS/models; needed unless "
                                     "WS/defaults.json names one")
    p.add_argument("--encoder", help="skip-thought encoder of the styles and caption vectors (default: the one the "
                                     "decoder was trained on, from its config)")
    p.add_argument("--index", help="caption index name or folder (default: the only index in the workspace)")
    p.add_argument("--cnn", choices=sorted(IMAGE_MODELS), help="image CNN (default: the one the index's VSE reads)")
    p.add_argument("--weights", help="CNN state dict (default: the CNN's packaged weights)")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    p.add_argument("--out", type=workspace_location, required=True,
                   help="output folder, or an object-store prefix such as s3://bucket/stories (no default)")
    add_search_arguments(p)
    p.set_defaults(search=None)  # a given --search keeps the defaults file's search settings out
    job = stories.JobParams()
    p.add_argument("--shard-size", type=int, default=job.shard_size, help="images per output shard")
    p.add_argument("--image-batch", type=int, default=job.image_batch, help="images per CNN forward pass")
    p.add_argument("--story-batch", type=int, default=job.story_batch,
                   help="images decoded together, all their beams in one tensor step")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the CNN, the VSE and the decoder run: auto = the GPU when there is one")
    p.add_argument("--max-image-pixels", type=int, default=job.max_image_pixels,
                   help="an image of more width x height pixels is rejected from its header, before decoding "
                        "(default %(default)s: the largest common camera photos; raise it for big scans)")
    p.add_argument("--no-gallery", action="store_true", help="skip gallery.html and its thumbnails")
    p.add_argument("--open", action="store_true",
                   help="open the gallery in the web browser when done (default: off; where there is no browser, "
                        "says so and prints the page's file URL)")
    add_dry_run(p)
    runs_beam(p)
    p.set_defaults(run=run_stories)


def with_workspace_defaults(args: argparse.Namespace) -> None:
    """Fill the settings not given from WS/defaults.json (saying which), then the built-in defaults; a
    setting needed and found in neither is an error that names the flags."""
    from model.decoder.beam_search import STORY_SEARCH
    from pipelines.stories.workspace_defaults import defaults_path, fill, read_defaults

    used = fill(vars(args), read_defaults(args.workspace))
    if used:
        print(f"stories: from {defaults_path(args.workspace)}: "
              + ", ".join(f"--{key.replace('_', '-')} {value}" for key, value in used.items()))
    for key, value in {**BUILT_IN, "search": STORY_SEARCH, **used}.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if missing := [f"--{key}" for key in NEEDED if getattr(args, key) is None]:
        raise ValueError(f"stories needs {' and '.join(missing)}: give them, or run the end-to-end flow first "
                         f"(`make demo` does), which records its models and styles in "
                         f"{defaults_path(args.workspace)}")


def run_stories(args: argparse.Namespace, beam_args: list[str]) -> None:
    from pipelines.stories import job as stories
    from pipelines.stories.batch import StoryParams
    from pipelines.stories.topics import TopicParams

    with_workspace_defaults(args)
    models = stories.resolve_models(args.workspace, args.decoder, args.index, args.encoder, args.cnn, args.weights)
    params = StoryParams(args.style, args.caption_style, args.k, search_options(args, DEFAULT_BEAM), args.lyric,
                         TopicParams(args.topic_bonus, args.topic_captions,
                                     args.topic_min_captions))
    job = stories.JobParams(args.shard_size, args.image_batch, args.story_batch, args.device, args.max_image_pixels)
    report = stories.run(args.images, args.out, args.workspace, models, params, job, beam_args,
                         gallery=not args.no_gallery)
    print_stage(report.stage)
    if not report.stage.dry_run:
        print(f"stories: {report.jsonl}" + (f", gallery: {report.gallery}" if report.gallery else ""))
    if args.open:
        from data_schemas.storage import is_remote
        from pipelines.stories.gallery import open_in_browser

        if report.gallery is None:
            print("stories: --open: no gallery was written (--no-gallery or --dry-run), nothing to open")
        elif is_remote(report.gallery):
            print(f"stories: --open: the gallery is on an object store ({report.gallery}); copy {report.out} to "
                  "a folder to open it, or serve it from the store as a static site")
        elif not open_in_browser(report.gallery):
            print(f"stories: --open: no web browser found; open {report.gallery.resolve().as_uri()} in one")
