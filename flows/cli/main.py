"""The `storyteller` command line. A command that runs a Beam job passes the flags it does not know to Beam
when Beam knows them (`--runner`, `--direct_num_workers`, Flink/Spark/Dask/Dataflow flags); any other unknown
flag is an error. Only argparse and the stage modules' light registration load before a command runs."""

import argparse
import sys

from flows.cli import (
    corpus,
    decode_vectors,
    decoder,
    demo,
    encode,
    export,
    features,
    flow,
    index,
    status,
    stories,
    style,
    vse,
    words,
)
from flows.cli.completion import add_completion, version
from flows.cli.encoder import add_train_encoder
from flows.cli.parser import Parser, chosen_command, reject_unknown

BEAM_EPILOG = (
    "Flags this command does not know must be Beam pipeline options, e.g. --runner=FnApiRunner (default, all cores), "
    "--direct_num_workers=N, --runner=FlinkRunner --flink_master=HOST:PORT."
)


def parser() -> argparse.ArgumentParser:
    root = Parser(prog="storyteller", description="Image datasets to little stories, at corpus scale.")
    root.add_argument("--version", action="version", version=f"storyteller {version()}",
                      help="print the version and exit")
    commands = root.add_subparsers(dest="command", required=True)
    converts = commands.add_parser("convert", help="import the original released weights").add_subparsers(
        dest="what", required=True)
    trains = commands.add_parser("train", help="train models").add_subparsers(dest="model", required=True)
    add_train_encoder(trains)
    # Each stage's commands register themselves: top-level commands, `train <model>`, `convert <what>`.
    for stage in (corpus, encode, style, features, vse, index, decoder, decode_vectors, stories, flow, export, demo,
                  words, status):
        stage.register(commands, trains, converts, BEAM_EPILOG)
    add_completion(commands, root)
    return root


def main(argv: list[str] | None = None) -> int:
    root = parser()
    args, beam_args = root.parse_known_args(argv)
    command = chosen_command(root, args)
    if beam_args:
        check_beam_flags(command, beam_args)
    from pipelines.core.dry_run import set_dry_run
    from pipelines.core.logs import configure_logging

    configure_logging()  # before the command loads Beam or Prefect: see pipelines.core.logs
    set_dry_run(getattr(args, "dry_run", False))
    try:
        args.run(args, beam_args)
    except (FileNotFoundError, ValueError) as error:  # includes schema and original-file errors
        print(f"storyteller: error: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 1)  # 3 when a stage rejected every record (AllRejectedError)
    return 0


def check_beam_flags(command: argparse.ArgumentParser, flags: list[str]) -> None:
    """Exit with argparse's error (and a "did you mean") unless every flag is a Beam option of a Beam command."""
    if not command.beam_job:
        reject_unknown(command, flags)
    from flows.cli.beam_flags import unknown_beam_flags

    try:
        unknown, beam_options = unknown_beam_flags(flags)
    except argparse.ArgumentError as error:
        command.error(f"Beam option {error}")
    if unknown:
        reject_unknown(command, unknown, beam_options)


if __name__ == "__main__":
    sys.exit(main())
