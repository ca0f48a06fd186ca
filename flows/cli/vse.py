"""`storyteller convert vse`, `storyteller embed` and `storyteller train vse`."""

import argparse
from pathlib import Path

from flows.cli.report import stage_summary, table
from model.cnn.registry import DEFAULT_CNN
from model.training.recipes import add_recipe_flags, recipe_from_args
from model.vse.api import VSEEncoder, embed_feature_file
from model.vse.original import convert_vse
from model.vse.train import VSERecipe
from pipelines import encode
from pipelines.training import train_vse_in_workspace


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add this stage's subcommands to the top level, to `train` and to `convert`."""
    _add_convert(converts)
    _add_embed(commands, epilog)
    _add_train(trains)


def _add_convert(converts: argparse._SubParsersAction) -> None:
    p = converts.add_parser("vse", help="the released visual-semantic embedding (coco_embedding.npz + pickles)")
    p.add_argument("--model", type=Path, required=True,
                   help="coco_embedding.npz; its .npz.pkl and .npz.dictionary.pkl must sit beside it")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    p.set_defaults(run=run_convert)


def run_convert(args: argparse.Namespace, beam_args: list[str]) -> None:
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
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.set_defaults(run=run_embed)


def run_embed(args: argparse.Namespace, beam_args: list[str]) -> None:
    if args.texts:
        params = encode.EncodeParams(str(args.vse), device=args.device)
        print(stage_summary(encode.run_texts(params, args.texts, args.out, beam_args)))
        return
    encoder = VSEEncoder(args.vse, args.device)
    counts = embed_feature_file(encoder, args.features, args.out)
    balance = "ok" if counts["records_in"] == counts["records_out"] + counts["records_rejected"] else "MISMATCH"
    print(f"embed: {args.features} -> {args.out}")
    print(table(["rows", "in", "out", "rejected", "balance"],
                [["records", counts["records_in"], counts["records_out"], counts["records_rejected"], balance]]))


def _add_train(trains: argparse._SubParsersAction) -> None:
    p = trains.add_parser("vse", help="train a visual-semantic embedding on image features and their captions")
    p.add_argument("--features", required=True, help="image dataset name: reads features/CNN/DATASET")
    p.add_argument("--captions", required=True, help="caption corpus name: reads corpora/NAME/captions")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    p.add_argument("--cnn", default=DEFAULT_CNN, help="which CNN's features to read")
    p.add_argument("--name", help="model id: output goes to models/NAME (default: vse-<captions>)")
    add_recipe_flags(p, VSERecipe)
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace, beam_args: list[str]) -> None:
    result = train_vse_in_workspace(args.workspace, args.features, args.captions, recipe_from_args(args, VSERecipe),
                                    args.cnn, args.name)
    metrics, test = result.metrics, result.metrics["test"]
    data = metrics["data"]
    print(f"{data['captions_in']} captions, {data['captions_without_features']} without image features (left out); "
          f"{data['images_in']} images, {data['images_without_captions']} without captions, "
          f"{data['images_nonfinite']} with NaN/inf features (left out)")
    print(f"model {result.name}: {metrics['steps']} steps, best epoch {metrics['best_epoch']}; test split of "
          f"{test['images']} images, {test['captions']} captions:")
    print(table(["direction", "R@1", "R@5", "R@10", "medr"],
                [[label, *(f"{test[key][k]:.1f}" for k in ("r1", "r5", "r10")), f"{test[key]['medr']:.0f}"]
                 for label, key in (("image->text", "i2t"), ("text->image", "t2i"))]))
