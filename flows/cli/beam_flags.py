"""Which of a Beam command's leftover flags Beam knows: every PipelineOptions class's flags (the runners'
own, --flink_master, --spark_master_url, --dask_client_address..., included), parsed as Beam parses them.
Beam is imported here, when a Beam command was given flags, never for `--help`."""

import argparse
import importlib

# Runner option classes that live outside apache_beam.options.pipeline_options: import them so that
# PipelineOptions knows their flags.
RUNNER_OPTION_MODULES = ("apache_beam.runners.dask.dask_runner",)


def beam_parser() -> argparse.ArgumentParser:
    """A parser of every Beam pipeline option, built the way PipelineOptions.get_all_options builds its own."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    for module in RUNNER_OPTION_MODULES:
        importlib.import_module(module)
    parser = _BeamArgumentParser(prog="Beam options", allow_abbrev=False, add_help=False, exit_on_error=False)
    for options in {str(cls): cls for cls in PipelineOptions.__subclasses__()}.values():
        options._add_argparse_args(parser)
    return parser


def unknown_beam_flags(flags: list[str]) -> tuple[list[str], list[str]]:
    """The flags (and stray values) no Beam option takes, and every Beam option string (for suggestions).
    A Beam option given a bad value raises argparse.ArgumentError."""
    parser = beam_parser()
    _, unknown = parser.parse_known_args(flags)
    return unknown, [s for action in parser._actions for s in action.option_strings]
