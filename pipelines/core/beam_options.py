"""Beam pipelines from command-line flags: every Beam flag passes through, with a local default
that works offline (FnApiRunner, one worker process per core)."""

import os
import sys

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.runners.portability.fn_api_runner.fn_runner import ExtendedProvisionInfo, FnApiRunner
from apache_beam.transforms.environments import Environment, SubprocessSDKEnvironment
from google.protobuf import struct_pb2

# The DirectRunner first tries to download the Prism binary; FnApiRunner runs in process, offline.
DEFAULT_RUNNER = "FnApiRunner"
_LOG_LEVEL = "default_sdk_harness_log_level"
WORKER_COMMAND = f"{sys.executable} -m pipelines.core.beam_worker"
# Beam's names for its DaskRunner (any case, as Beam reads them) run ours, which fixes it for our jobs.
DASK_RUNNER = "pipelines.core.dask_runner.DaskRunner"
_BEAM_DASK_NAMES = {"dask", "daskrunner", "apache_beam.runners.dask.dask_runner.daskrunner"}


class LocalRunner(FnApiRunner):
    """FnApiRunner whose worker processes start through `pipelines.core.beam_worker` (quiet start-up).

    FnApiRunner picks Beam's own worker command in `run_pipeline` when --direct_running_mode is
    multi_processing, by assigning its default environment: that assignment is where ours goes in."""

    @property
    def _default_environment(self) -> Environment:
        return self._environment

    @_default_environment.setter
    def _default_environment(self, environment: Environment) -> None:
        if isinstance(environment, SubprocessSDKEnvironment):
            environment = SubprocessSDKEnvironment.from_command_string(WORKER_COMMAND)
        self._environment = environment


def _runner_name(arg: str, before: str) -> str:
    """`arg` with Beam's DaskRunner named as ours, when it names the runner (`--runner=X`, or X after `--runner`)."""
    flag, name = ("--runner=", arg[len("--runner="):]) if arg.startswith("--runner=") else ("", arg)
    if (flag or before == "--runner") and name.lower() in _BEAM_DASK_NAMES:
        return flag + DASK_RUNNER
    return arg


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """Options from the command line's Beam flags; without `--runner`, FnApiRunner on all cores."""
    args = [_runner_name(arg, before) for arg, before in zip(beam_args, ["", *beam_args], strict=False)]
    if not any(arg == "--runner" or arg.startswith("--runner=") for arg in args):
        args.append(f"--runner={DEFAULT_RUNNER}")
        if not any(arg.startswith("--direct_num_workers") for arg in args):
            args.append(f"--direct_num_workers={os.cpu_count() or 1}")
        if not any(arg.startswith("--direct_running_mode") for arg in args):
            args.append("--direct_running_mode=multi_processing")
    if any(arg.endswith(DASK_RUNNER) for arg in args):
        # Registers the --dask_* options before they are parsed: otherwise Beam warns it discards them.
        import apache_beam.runners.dask.dask_runner  # noqa: F401
    return PipelineOptions(args, save_main_session=False)


def local_defaults(beam_args: list[str]) -> list[str]:
    """Without runner flags, one in-process worker: torch already spreads a batch over every core,
    and worker processes would split the cores and pay for moving tensors between them."""
    if any(arg.startswith(("--runner", "--direct_num_workers", "--direct_running_mode")) for arg in beam_args):
        return beam_args
    return [*beam_args, "--direct_running_mode=in_memory", "--direct_num_workers=1"]


def worker_count(beam_args: list[str]) -> int:
    """The local runner's worker processes for these flags, to share the cores' torch threads among."""
    for arg in beam_args:
        if arg.startswith("--direct_num_workers="):
            return int(arg.split("=", 1)[1])
    return os.cpu_count() or 1


def make_pipeline(beam_args: list[str]) -> beam.Pipeline:
    """A pipeline for the given Beam flags.

    FnApiRunner's worker processes receive only the options in its provision info, which is empty
    by default, so they log every gRPC channel at INFO; the local runner is built here with the
    harness log level in it (WARNING unless --default_sdk_harness_log_level says otherwise), and its
    worker processes start through `LocalRunner`'s command.
    """
    options = pipeline_options(beam_args)
    if options.get_all_options().get("runner") != DEFAULT_RUNNER:
        return beam.Pipeline(options=options)
    worker_options = struct_pb2.Struct()
    worker_options.update({f"beam:option:{_LOG_LEVEL}:v1": options.get_all_options().get(_LOG_LEVEL) or "WARNING"})
    provision = beam_provision_api_pb2.ProvisionInfo(retrieval_token="unused-retrieval-token",
                                                     pipeline_options=worker_options)
    return beam.Pipeline(runner=LocalRunner(provision_info=ExtendedProvisionInfo(provision)), options=options)
