"""`storyteller export`: a trained model folder as the repository ships it."""

import argparse

from flows.cli.parser import add_dry_run, workspace_location
from flows.cli.report import table


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add `export` to the top-level commands."""
    p = commands.add_parser("export", help="copy a trained model without its checkpoint, weights in fp16",
                            description="Checks a model folder (encoder, VSE or decoder) and copies its config, "
                                        "vocabulary, tables and weights to a new folder, leaving out the training "
                                        "checkpoint. The weights are written as weights.safetensors, which every "
                                        "loader reads first (it cannot run code), and as weights.pt.")
    p.add_argument("--model", type=workspace_location, required=True,
                   help="trained model folder, on disk or on an object store (s3://bucket/ws/models/NAME)")
    p.add_argument("--out", type=workspace_location, required=True,
                   help="new folder to write, on disk or on an object store")
    p.add_argument("--keep-fp32", action="store_true", help="keep the weights as trained (default: fp16)")
    add_dry_run(p)
    p.set_defaults(run=run_export)


def run_export(args: argparse.Namespace, beam_args: list[str]) -> None:
    from model.export import export_model

    sizes = export_model(args.model, args.out, fp16=not args.keep_fp32)
    print(table(["file", "bytes"], [[name, f"{size:,}"] for name, size in sizes.items()]))
    print(f"exported {args.model} -> {args.out} ({sum(sizes.values()) / 2**20:.1f} MiB)")
