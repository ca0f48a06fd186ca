"""`storyteller --version` and `storyteller completion bash|zsh|tcsh`: a static completion script made by
shtab from the whole command tree (its options are built first, so this command loads every stage)."""

import argparse
import tomllib
from importlib import metadata
from pathlib import Path

from flows.cli.parser import build_all

SHELLS = ("bash", "zsh", "tcsh")
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def version() -> str:
    """The installed package's version; from a checkout that was never installed, pyproject.toml's."""
    try:
        return metadata.version("storyteller")
    except metadata.PackageNotFoundError:
        return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]


def add_completion(commands: argparse._SubParsersAction, root: argparse.ArgumentParser) -> None:
    """Add `completion SHELL`, which prints the script of ROOT's whole tree."""
    p = commands.add_parser(
        "completion", help="print a shell completion script",
        description="Prints a completion script for the shell, e.g. `storyteller completion bash > "
                    "~/.local/share/bash-completion/completions/storyteller`, or `eval \"$(storyteller completion "
                    "bash)\"` in ~/.bashrc; zsh: write it as _storyteller to a folder of your $fpath.")
    p.add_argument("shell", choices=SHELLS, help="the shell the script is for")
    p.set_defaults(run=lambda args, beam_args: print(completion_script(root, args.shell)))


def completion_script(root: argparse.ArgumentParser, shell: str) -> str:
    import shtab

    build_all(root)
    return shtab.complete(root, shell=shell)
