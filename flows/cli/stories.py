"""`storyteller stories`: the bulk story job over an image dataset."""

import argparse
from pathlib import Path

from flows.cli.decode_vectors import add_search_arguments, search_options
from flows.cli.report import stage_summary
from model.cnn.registry import IMAGE_MODELS
from pipelines.stories import job as stories
from pipelines.stories.batch import StoryParams
from pipelines.stories.topics import TopicParams

DEFAULT_BEAM = 50  # the original's bw, in either beam search


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add `stories` to the top-level commands."""
    p = commands.add_parser(
        "stories", epilog=epilog, help="a story for every image of a dataset (Beam job)",
        description="image -> CNN features -> VSE -> top-k captions of the caption index -> mean of their "
                    "skip-thought vectors x -> x - c + b -> decoder beam search (or sampling, seeded by the image's "
                    "name: a rerun tells the same story) -> story. Writes OUT/stories/ "
                    "(Parquet shards), OUT/stories.jsonl and OUT/gallery.html; unreadable images go to OUT/rejects/. "
                    "A rerun skips finished shards; the captions' skip-thought vectors are encoded first if missing.")
    p.add_argument("--images", required=True, help="an image, a folder of images, a glob, or a text file of paths")
    p.add_argument("--style", required=True, help="book style b: styles/ENCODER/NAME (e.g. romance)")
    p.add_argument("--caption-style", default="captions", help="caption style c (default: captions)")
    p.add_argument("--k", type=int, default=100, help="nearest captions averaged per image (default 100)")
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
    p.add_argument("--decoder", required=True, help="decoder model directory, or its id under WS/models")
    p.add_argument("--encoder", help="skip-thought encoder of the styles and caption vectors (default: the one the "
                                     "decoder was trained on, from its config)")
    p.add_argument("--index", help="caption index name or folder (default: the only index in the workspace)")
    p.add_argument("--cnn", choices=sorted(IMAGE_MODELS), help="image CNN (default: the one the index's VSE reads)")
    p.add_argument("--weights", help="CNN state dict (default: the CNN's packaged weights)")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    add_search_arguments(p)
    job = stories.JobParams()
    p.add_argument("--shard-size", type=int, default=job.shard_size, help="images per output shard")
    p.add_argument("--image-batch", type=int, default=job.image_batch, help="images per CNN forward pass")
    p.add_argument("--story-batch", type=int, default=job.story_batch,
                   help="images decoded together, all their beams in one tensor step")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--no-gallery", action="store_true", help="skip gallery.html and its thumbnails")
    p.set_defaults(run=run_stories)


def run_stories(args: argparse.Namespace, beam_args: list[str]) -> None:
    models = stories.resolve_models(args.workspace, args.decoder, args.index, args.encoder, args.cnn, args.weights)
    params = StoryParams(args.style, args.caption_style, args.k, search_options(args, DEFAULT_BEAM), args.lyric,
                         TopicParams(args.topic_bonus, args.topic_captions,
                                     args.topic_min_captions))
    job = stories.JobParams(args.shard_size, args.image_batch, args.story_batch, args.device)
    report = stories.run(args.images, args.out, args.workspace, models, params, job, beam_args,
                         gallery=not args.no_gallery)
    print(stage_summary(report.stage))
    print(f"stories: {report.jsonl}" + (f", gallery: {report.gallery}" if report.gallery else ""))
