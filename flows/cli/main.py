"""The `storyteller` command line. Flags it does not know are Beam pipeline options and pass through
unchanged (`--runner`, `--direct_num_workers`, Flink/Spark/Dataflow flags)."""

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
    stories,
    style,
    vse,
    words,
)
from flows.cli.encoder import add_train_encoder

BEAM_EPILOG = (
    "Any other --flag is a Beam pipeline option, e.g. --runner=FnApiRunner (default, all cores), "
    "--direct_num_workers=N, --runner=FlinkRunner --flink_master=HOST:PORT."
)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="storyteller", description="Image datasets to little stories, at corpus scale.")
    commands = root.add_subparsers(dest="command", required=True)
    converts = commands.add_parser("convert", help="import the original released weights").add_subparsers(
        dest="what", required=True)
    trains = commands.add_parser("train", help="train models").add_subparsers(dest="model", required=True)
    add_train_encoder(trains)
    # Each stage's commands register themselves: top-level commands, `train <model>`, `convert <what>`.
    for stage in (corpus, encode, style, features, vse, index, decoder, decode_vectors, stories, flow, export, demo,
                  words):
        stage.register(commands, trains, converts, BEAM_EPILOG)
    return root


def main(argv: list[str] | None = None) -> int:
    args, beam_args = parser().parse_known_args(argv)
    unknown = [a for a in beam_args if not a.startswith("--")]
    if unknown:
        print(f"storyteller: unexpected argument(s) {unknown}", file=sys.stderr)
        return 2
    try:
        args.run(args, beam_args)
    except (FileNotFoundError, ValueError) as error:  # includes schema and original-file errors
        print(f"storyteller: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
