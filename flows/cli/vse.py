"""`storyteller convert vse`, `storyteller embed`, `storyteller train vse` and `storyteller build
zero-shot|fused` (joint spaces made without training, or from two others)."""

import argparse
from pathlib import Path

from flows.cli.parser import add_dry_run, later, runs_beam
from flows.cli.report import print_stage, table


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add this stage's subcommands to the top level, to `train` and to `convert`."""
    _add_convert(converts)
    _add_embed(commands, epilog)
    _add_train(trains)
    builds = commands.add_parser("build", help="make a joint space without training").add_subparsers(
        dest="what", required=True)
    _add_build_zero_shot(builds)
    _add_build_fused(builds)


def _add_build_zero_shot(builds: argparse._SubParsersAction) -> None:
    p = builds.add_parser(
        "zero-shot", help="a VSE-like model from word vectors and the CNN's ImageNet classifier (ConSE)",
        description="Image side: the probability-weighted mean of the word vectors of the CNN's likeliest class "
                    "names; caption side: the SIF mean of the caption's word vectors. No image-caption pairs are "
                    "needed, so it holds on photos unlike any a trained VSE saw. Writes WS/models/NAME.")
    later(p, _add_zero_shot_options)


def _add_zero_shot_options(p: argparse.ArgumentParser) -> None:
    from model.cnn.registry import DEFAULT_CNN

    p.add_argument("--words", required=True, help="words model id or folder (made by `storyteller train words`)")
    p.add_argument("--captions", required=True,
                   help="caption corpus name(s), comma-separated: their texts give SIF's common component")
    p.add_argument("--labels", type=Path, required=True,
                   help="class names, one line per class (ImageNet: ../shared/data/weights/imagenet_labels/"
                        "imagenet_labels.txt, whose first line is `background`)")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    p.add_argument("--cnn", default=DEFAULT_CNN, help="the CNN whose classifier and features it reads")
    p.add_argument("--cnn-weights", help="the CNN's state dict (default: the installed package's)")
    p.add_argument("--top-classes", type=int, default=10, help="classes mixed into an image's vector")
    p.add_argument("--name", help="model id (default: zero-shot-<cnn>)")
    add_dry_run(p)
    p.set_defaults(run=run_build_zero_shot)


def run_build_zero_shot(args: argparse.Namespace, beam_args: list[str]) -> None:
    from pipelines.training import build_zero_shot_in_workspace

    built = build_zero_shot_in_workspace(args.workspace, args.words, args.captions.split(","), args.labels,
                                         args.cnn, args.cnn_weights, args.top_classes, args.name)
    metrics = built.metrics
    print(f"wrote {built.model_dir}: zero-shot, {metrics['words']:,} words, {metrics['classes_with_vectors']} of "
          f"{metrics['classes']} classes with a vector")


def _add_build_fused(builds: argparse._SubParsersAction) -> None:
    p = builds.add_parser(
        "fused", help="a trained VSE and a zero-shot model as one (score = w cos_vse + (1 - w) cos_zero_shot)",
        description="Both models must read the same CNN features and vocabulary (train the VSE with "
                    "--vocabulary word-vectors and the zero-shot model's words model). Writes WS/models/NAME.")
    later(p, _add_fused_options)


def _add_fused_options(p: argparse.ArgumentParser) -> None:
    from model.vse.fused import FUSION_WEIGHT

    p.add_argument("--vse", required=True, help="VSE model id or folder (weight w)")
    p.add_argument("--zero-shot", required=True, help="zero-shot model id or folder (weight 1 - w)")
    p.add_argument("--weight", type=float, default=FUSION_WEIGHT,
                   help="w, the VSE's share of the score (default: the weight bench/retrieval.py chose)")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    p.add_argument("--name", help="model id (default: fused-<vse>)")
    add_dry_run(p)
    p.set_defaults(run=run_build_fused)


def run_build_fused(args: argparse.Namespace, beam_args: list[str]) -> None:
    from pipelines.training import fuse_in_workspace

    built = fuse_in_workspace(args.workspace, args.vse, args.zero_shot, args.weight, args.name)
    print(f"wrote {built.model_dir}: fused, weight {built.metrics['weight']} on {args.vse}, "
          f"{built.metrics['dim']}-d")


def _add_convert(converts: argparse._SubParsersAction) -> None:
    p = converts.add_parser("vse", help="the released visual-semantic embedding (coco_embedding.npz + pickles)")
    p.add_argument("--model", type=Path, required=True,
                   help="coco_embedding.npz; its .npz.pkl and .npz.dictionary.pkl must sit beside it")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    add_dry_run(p)
    p.set_defaults(run=run_convert)


def run_convert(args: argparse.Namespace, beam_args: list[str]) -> None:
    from model.vse.original import convert_vse

    config = convert_vse(args.model, args.out)
    print(f"wrote {args.out}: VSE, {config.n_words} words, {config.dim_image}-d image features "
          f"-> {config.dim}-d joint space")


def _add_embed(commands: argparse._SubParsersAction, epilog: str) -> None:
    p = commands.add_parser(
        "embed", epilog=epilog,
        help="captions or image features to joint-space vectors of a VSE model",
        description="Texts (one per line, id = line number from 1, through the Beam encode job) or an (N, dim_image) "
                    ".npy of CNN features (id = row number from 0, n_tokens = 0) to one vector per row in a Parquet "
                    "file. Empty lines and feature rows with NaN/inf go to <out stem>.rejects.parquet. Beam options "
                    "apply to --texts.")
    p.add_argument("--vse", type=Path, required=True, help="VSE model directory")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--texts", type=Path, help="plain text file, one caption per line")
    source.add_argument("--features", type=Path, help="(N, dim_image) float .npy of CNN features")
    p.add_argument("--out", type=Path, required=True, help="output Parquet file")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the VSE runs: auto = the GPU when there is one")
    add_dry_run(p)
    runs_beam(p)  # with --texts
    p.set_defaults(run=run_embed)


def run_embed(args: argparse.Namespace, beam_args: list[str]) -> None:
    from model.vse.api import VSEEncoder, embed_feature_file
    from pipelines import encode

    if args.texts:
        params = encode.EncodeParams(str(args.vse), device=args.device)
        print_stage(encode.run_texts(params, args.texts, args.out, beam_args))
        return
    if beam_args:
        raise ValueError(f"embed --features runs no Beam job: Beam flags ({' '.join(beam_args)}) apply to --texts")
    encoder = VSEEncoder(args.vse, args.device)
    counts = embed_feature_file(encoder, args.features, args.out)
    balance = "ok" if counts["records_in"] == counts["records_out"] + counts["records_rejected"] else "MISMATCH"
    print(f"embed: {args.features} -> {args.out}")
    print(table(["rows", "in", "out", "rejected", "balance"],
                [["records", counts["records_in"], counts["records_out"], counts["records_rejected"], balance]]))
    from pipelines.core.all_rejected import check_some_kept

    check_some_kept("embed", counts, args.out.with_name(f"{args.out.stem}.rejects.parquet"))


def _add_train(trains: argparse._SubParsersAction) -> None:
    p = trains.add_parser("vse", help="train a visual-semantic embedding on image features and their captions")
    later(p, _add_train_options)


def _add_train_options(p: argparse.ArgumentParser) -> None:
    from model.cnn.registry import DEFAULT_CNN
    from model.training.recipes import add_recipe_flags
    from model.vse.train import VSERecipe

    p.add_argument("--features", required=True, help="image dataset name: reads features/CNN/DATASET")
    p.add_argument("--captions", required=True, help="caption corpus name: reads corpora/NAME/captions")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    p.add_argument("--cnn", default=DEFAULT_CNN, help="which CNN's features to read")
    p.add_argument("--name", help="model id: output goes to models/NAME (default: vse-<captions>)")
    add_recipe_flags(p, VSERecipe)
    add_dry_run(p)
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace, beam_args: list[str]) -> None:
    from model.training.recipes import recipe_from_args
    from model.vse.train import VSERecipe
    from pipelines.training import train_vse_in_workspace

    result = train_vse_in_workspace(args.workspace, args.features, args.captions, recipe_from_args(args, VSERecipe),
                                    args.cnn, args.name)
    metrics, test = result.metrics, result.metrics["test"]
    data = metrics["data"]
    print(f"{data['captions_in']} captions, {data['captions_without_features']} without image features (left out); "
          f"{data['images_in']} images, {data['images_without_captions']} without captions, "
          f"{data['images_nonfinite']} with NaN/inf features (left out)")
    if test is None:
        print(f"model {result.name}: {metrics['steps']} steps, {metrics['epochs_completed']} epochs on every image "
              "(no test split)")
        return
    print(f"model {result.name}: {metrics['steps']} steps, best epoch {metrics['best_epoch']}; test split of "
          f"{test['images']} images, {test['captions']} captions:")
    print(table(["direction", "R@1", "R@5", "R@10", "medr"],
                [[label, *(f"{test[key][k]:.1f}" for k in ("r1", "r5", "r10")), f"{test[key]['medr']:.0f}"]
                 for label, key in (("image->text", "i2t"), ("text->image", "t2i"))]))
