"""The argparse parser class of every `storyteller` command: help that states defaults, options built only
when their command runs (their choices and defaults live in modules that import torch, Beam or Prefect, which
`storyteller --help` must not pay for), `--workspace` from STORYTELLER_WORKSPACE, and unknown flags refused
with a "did you mean"."""

import argparse
import difflib
import os
from collections.abc import Callable, Iterable, Iterator

WORKSPACE_ENV = "STORYTELLER_WORKSPACE"
_REQUIRED = "the following arguments are required"


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless the help already speaks of its default, the default
    is None or suppressed, or the option is a switch (a switch is off unless given)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (not action.option_strings or action.nargs == 0 or action.default in (None, argparse.SUPPRESS)
                or "default" in text.lower()):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose subcommands (made by `add_parser`) are Parsers too, see the module docstring."""

    def __init__(self, *args, formatter_class: type[argparse.HelpFormatter] = DefaultsHelpFormatter,
                 **kwargs) -> None:
        if not issubclass(formatter_class, DefaultsHelpFormatter):  # e.g. RawDescriptionHelpFormatter
            formatter_class = type(f"Defaults{formatter_class.__name__}", (DefaultsHelpFormatter, formatter_class),
                                   {})
        super().__init__(*args, formatter_class=formatter_class, **kwargs)
        self.pending: list[Callable[[argparse.ArgumentParser], None]] = []
        self.beam_job = False

    def build(self) -> None:
        """Add the options whose adding was put off (`later`)."""
        while self.pending:
            self.pending.pop(0)(self)

    def parse_known_args(self, args=None, namespace=None):
        self.build()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self.build()
        return super().format_usage()

    def format_help(self) -> str:
        self.build()
        return super().format_help()

    def add_argument(self, *names, **kwargs) -> argparse.Action:
        """--workspace falls back on $STORYTELLER_WORKSPACE, read when the parser is made; the flag wins. It
        takes a folder or an object-store URL (s3://bucket/prefix): see data_schemas.storage."""
        if "--workspace" in names:
            kwargs["type"] = workspace_location
            kwargs["help"] = (f"{kwargs.get('help', 'root folder of all artifacts')}: a folder, or an object-store "
                              f"prefix such as s3://bucket/prefix (or ${WORKSPACE_ENV})")
            if os.environ.get(WORKSPACE_ENV):
                kwargs.update(required=False, default=os.environ[WORKSPACE_ENV])
        return super().add_argument(*names, **kwargs)

    def error(self, message: str):
        if message.startswith(_REQUIRED) and "--workspace" in message:
            message += f" (or set ${WORKSPACE_ENV} for --workspace)"
        super().error(message)


def workspace_location(text: str):
    """A workspace folder on disk (a Path), or a prefix on an object store (a UPath) for a URL."""
    from data_schemas.storage import location

    return location(text)


def later(parser: argparse.ArgumentParser, add_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Run `add_options(parser)` only when the command is parsed or its help shown."""
    parser.pending.append(add_options)


def runs_beam(parser: argparse.ArgumentParser) -> None:
    """Mark a command as one that runs a Beam job: flags it does not know may be Beam pipeline options."""
    parser.beam_job = True


def add_dry_run(parser: argparse.ArgumentParser) -> None:
    """--dry-run, for every command that writes artifacts (main turns the switch on)."""
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be written and what is current; write nothing")


def subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def walk(parser: argparse.ArgumentParser) -> Iterator[tuple[list[str], argparse.ArgumentParser]]:
    """Every parser of the tree with its command path, options built (for completion and tests)."""
    stack = [([], parser)]
    while stack:
        path, current = stack.pop()
        current.build()
        yield path, current
        if sub := subcommands(current):
            stack.extend(([*path, name], child) for name, child in sub.choices.items())


def build_all(parser: argparse.ArgumentParser) -> None:
    for _ in walk(parser):
        pass


def chosen_command(root: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the command the arguments chose (`storyteller train vse` -> the `vse` parser)."""
    parser = root
    while sub := subcommands(parser):
        parser = sub.choices[getattr(args, sub.dest)]
    return parser


def reject_unknown(command: argparse.ArgumentParser, unknown: list[str], known: Iterable[str] = ()) -> None:
    """argparse's error for unrecognised arguments, each with the closest option (of the command, or KNOWN)
    as a suggestion when there is one. Exits 2."""
    options = [s for action in command._actions for s in action.option_strings if s.startswith("--")]
    candidates = [*options, *known]
    told = []
    for arg in unknown:
        close = difflib.get_close_matches(arg.split("=", 1)[0], candidates, n=1) if arg.startswith("-") else []
        told.append(f"{arg} (did you mean {close[0]}?)" if close else arg)
    command.error(f"unrecognized arguments: {' '.join(told)}")
