"""`storyteller encode` and `storyteller convert skipthoughts`."""

import argparse
from pathlib import Path

from flows.cli.parser import add_dry_run, later, runs_beam
from flows.cli.report import print_stage


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add `encode` to the top-level commands and `convert skipthoughts`."""
    _add_encode(commands, epilog)
    _add_convert_skipthoughts(converts)


def _add_encode(commands: argparse._SubParsersAction, epilog: str) -> None:
    p = commands.add_parser("encode", help="texts to skip-thought vector shards (Beam RunInference)", epilog=epilog)
    later(p, _add_encode_options)


def _add_encode_options(p: argparse.ArgumentParser) -> None:
    from pipelines import encode

    p.add_argument("--encoder", required=True,
                   help="encoder model directory, on disk or on an object store (s3://...; copied once into the "
                        "local cache); required")
    p.add_argument("--corpus", help="corpus name: encodes corpora/NAME/KIND into vectors/MODEL/NAME/KIND")
    p.add_argument("--kind", choices=sorted(encode.KIND_SCHEMAS), default="passages", help="which texts of the corpus")
    p.add_argument("--workspace", type=Path, help="root folder of all artifacts (with --corpus)")
    p.add_argument("--texts", help="plain text file, one text per line, on disk or s3://... (instead of --corpus); "
                                   "default: none")
    p.add_argument("--out", help="output Parquet file, on disk or s3://... (with --texts; rejected lines go to "
                                 "OUT.rejects.parquet beside it); default: none")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32", help="stored vector type")
    p.add_argument("--batch-size", type=int, default=256, help="texts per batch at most")
    p.add_argument("--batch-tokens", type=int, default=8192, help="padded tokens per batch at most")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the encoder runs: auto = the GPU when there is one")
    add_dry_run(p)
    runs_beam(p)
    p.set_defaults(run=run_encode)


def run_encode(args: argparse.Namespace, beam_args: list[str]) -> None:
    from pipelines import encode

    params = encode.EncodeParams(str(args.encoder), args.dtype, args.batch_size, args.batch_tokens, args.device)
    if args.texts:
        if not args.out:
            raise ValueError("--texts needs --out FILE.parquet")
        print_stage(encode.run_texts(params, args.texts, args.out, beam_args))
    elif args.corpus is not None and args.workspace:
        print_stage(encode.run(params, args.corpus, args.kind, args.workspace, beam_args))
    else:
        raise ValueError("give --corpus NAME --workspace WS, or --texts FILE --out FILE.parquet")


def _add_convert_skipthoughts(kinds: argparse._SubParsersAction) -> None:
    p = kinds.add_parser("skipthoughts", help="uni_skip/bi_skip npz+pkl, utable/btable, dictionary.txt")
    p.add_argument("--models", type=Path, required=True, help="folder with uni_skip.npz(.pkl), bi_skip.npz(.pkl)")
    p.add_argument("--tables", type=Path, required=True, help="folder with utable.npy, btable.npy, dictionary.txt")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    add_dry_run(p)
    p.set_defaults(run=run_convert_skipthoughts)


def run_convert_skipthoughts(args: argparse.Namespace, beam_args: list[str]) -> None:
    from model.skipthought.original import convert_skipthoughts

    config = convert_skipthoughts(args.models, args.tables, args.out)
    print(f"wrote {args.out}: {config.kind}-skip, {config.output_dim}-d vectors")
