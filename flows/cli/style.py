"""`storyteller style` and `storyteller convert styles`."""

import argparse
from pathlib import Path

from flows.cli.parser import add_dry_run, later, runs_beam
from flows.cli.report import table


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add this stage's subcommands to the top level, to `train` and to `convert`."""
    p = commands.add_parser("style", help="mean skip-thought vector of encoded corpora (Beam combine)", epilog=epilog)
    later(p, _add_style_options)
    c = converts.add_parser("styles", help="caption_style.npy, romance_style.npy, swift_style.npy of the release")
    c.add_argument("--dir", required=True,
                   help="folder holding the released *_style.npy files, on disk or s3://...; required")
    c.add_argument("--encoder", required=True, help="encoder model id or directory the styles belong to "
                   "(the converted combine-skip encoder)")
    c.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    add_dry_run(c)
    c.set_defaults(run=run_convert_styles)


def _add_style_options(p: argparse.ArgumentParser) -> None:
    from pipelines.style import job as style

    p.add_argument("--name", required=True, help="style name: writes styles/MODEL/NAME.npy and NAME.json")
    p.add_argument("--corpus", required=True, help="corpus name(s), comma-separated, encoded with --encoder")
    p.add_argument("--kind", choices=style.KINDS, required=True, help="which texts of the corpora")
    p.add_argument("--encoder", required=True, help="encoder model id (a directory under WS/models) or model directory")
    p.add_argument("--min-tokens", type=int, metavar="N", help="keep only texts with more than N tokens "
                   "(the original's romance style: passages over 100); default: every text")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    add_dry_run(p)
    runs_beam(p)
    p.set_defaults(run=run_style)


def run_style(args: argparse.Namespace, beam_args: list[str]) -> None:
    from pipelines.style import job as style
    from pipelines.style.files import cosines_to_others

    report = style.run(args.name, args.corpus.split(","), args.kind, args.encoder, args.workspace,
                       args.min_tokens, beam_args)
    print(f"style {report.name} ({report.encoder}): {report.action} ({report.reason}), "
          f"{report.shards_read} of {report.shards} shards read in {report.seconds:.1f}s")
    balance = "ok" if report.rows_read == report.rows_used + report.rows_filtered else "MISMATCH"
    print(table(["rows", "in", "out", "filtered", "balance"],
                [["records", report.rows_read, report.rows_used, report.rows_filtered, balance]]))
    print(f"mean of {report.count} rows, {report.dim}-d -> {report.path}")
    cosines = cosines_to_others(args.workspace, report.encoder, report.name)
    if cosines:
        print(table(["cos(style, other)", *cosines], [[report.name, *(f"{c:.3f}" for c in cosines.values())]]))


def run_convert_styles(args: argparse.Namespace, beam_args: list[str]) -> None:
    from pipelines.style.original import convert_styles

    for converted in convert_styles(args.dir, args.encoder, args.workspace):
        print(f"style {converted.name} <- {converted.source} (original release, {converted.dim}-d) -> {converted.path}")
