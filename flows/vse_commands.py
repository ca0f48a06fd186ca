"""`storyteller convert vse`, `storyteller embed` and `storyteller train vse`."""

import argparse
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from data_schemas import CAPTIONS
from data_schemas import text as col
from data_schemas.features import IMAGE_ID, features_schema
from data_schemas.vectors import VECTOR
from flows.report import stage_summary, table
from model.image_models import DEFAULT_CNN
from model.original_vse import convert_vse
from model.train_encoder import pick_device
from model.train_vse import VSERecipe, join_pairs, train_vse
from model.vse_api import VSEEncoder, embed_feature_file
from pipelines import encode
from pipelines.shards import read_artifact, shard_paths


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
    encoder = VSEEncoder(args.vse, str(pick_device(args.device)))
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
    d = VSERecipe()
    p.add_argument("--dim-word", type=int, default=d.dim_word, help="word vector size")
    p.add_argument("--dim", type=int, default=d.dim, help="joint space size (the GRU hidden size)")
    p.add_argument("--loss", choices=["sum", "max"], default=d.loss,
                   help="sum: every in-batch negative (the original); max: hardest negative only (VSE++)")
    p.add_argument("--margin", type=float, default=d.margin, help="ranking-loss margin")
    p.add_argument("--epochs", type=int, default=d.epochs, help="a rerun resumes and may raise this to train on")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="caption-image pairs per batch")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument("--grad-clip", type=float, default=d.grad_clip, help="global gradient-norm limit")
    p.add_argument("--max-len", type=int, default=d.max_len, help="leave out training captions this long or longer")
    p.add_argument("--min-count", type=int, default=d.min_count, help="rarer training words become UNK")
    p.add_argument("--test-images", type=int, default=d.test_images, help="images held out for the final test")
    p.add_argument("--val-images", type=int, default=d.val_images, help="images held out to pick the best epoch")
    p.add_argument("--max-minutes", type=float, default=d.max_minutes,
                   help="stop after this much training and export the best model so far (0 = no limit)")
    p.add_argument("--seed", type=int, default=d.seed, help="seeds the split, the initial weights and batch order")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=d.device)
    p.add_argument("--log-every", type=int, default=d.log_every, help="steps between progress lines")
    p.set_defaults(run=run_train)


def read_features(folder: Path) -> pa.Table:
    """Image features of any dimension (the schema's vector size is read from the first shard)."""
    paths = shard_paths(folder)
    if not paths:
        raise FileNotFoundError(f"{folder} holds no part-*.parquet shards: run `storyteller features` first")
    schema = pq.read_schema(paths[0])
    dim = schema.field(VECTOR).type.list_size if VECTOR in schema.names else 0
    return read_artifact(folder, features_schema(dim), columns=[IMAGE_ID, VECTOR])


def run_train(args: argparse.Namespace, beam_args: list[str]) -> None:
    features_dir = args.workspace / "features" / args.cnn / args.features
    captions_dir = args.workspace / "corpora" / args.captions / "captions"
    data = join_pairs(read_features(features_dir),
                      read_artifact(captions_dir, CAPTIONS, columns=[col.IMAGE_ID, col.TOKENS]))
    recipe = VSERecipe(
        dim_word=args.dim_word, dim=args.dim, loss=args.loss, margin=args.margin, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, grad_clip=args.grad_clip, max_len=args.max_len,
        min_count=args.min_count, test_images=args.test_images, val_images=args.val_images,
        max_minutes=args.max_minutes, seed=args.seed, device=args.device, log_every=args.log_every)
    name = args.name or f"vse-{args.captions}"
    provenance = {"features": str(features_dir), "cnn": args.cnn, "captions": str(captions_dir)}
    print(f"{data.counts['captions_in']} captions, {data.counts['captions_without_features']} without image "
          f"features (left out); {data.counts['images_in']} images, {data.counts['images_without_captions']} "
          f"without captions, {data.counts['images_nonfinite']} with NaN/inf features (left out)")
    metrics = train_vse(data, args.workspace / "models" / name, recipe, provenance)
    test = metrics["test"]
    print(f"model {name}: {metrics['steps']} steps, best epoch {metrics['best_epoch']}; test split of "
          f"{test['images']} images, {test['captions']} captions:")
    print(table(["direction", "R@1", "R@5", "R@10", "medr"],
                [[label, *(f"{test[key][k]:.1f}" for k in ("r1", "r5", "r10")), f"{test[key]['medr']:.0f}"]
                 for label, key in (("image->text", "i2t"), ("text->image", "t2i"))]))
