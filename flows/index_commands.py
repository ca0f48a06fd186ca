"""`storyteller index` and `storyteller retrieve`."""

import argparse


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add this stage's subcommands to the top level, to `train` and to `convert`."""
