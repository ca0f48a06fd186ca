"""Beam pipeline options: every Beam flag passes through, with a local default that works offline."""

import os

from apache_beam.options.pipeline_options import PipelineOptions

# The DirectRunner first tries to download the Prism binary; FnApiRunner runs in process, offline.
DEFAULT_RUNNER = "FnApiRunner"


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """Options from the command line's Beam flags; without `--runner`, FnApiRunner on all cores."""
    args = list(beam_args)
    if not any(arg == "--runner" or arg.startswith("--runner=") for arg in args):
        args.append(f"--runner={DEFAULT_RUNNER}")
        if not any(arg.startswith("--direct_num_workers") for arg in args):
            args.append(f"--direct_num_workers={os.cpu_count() or 1}")
        if not any(arg.startswith("--direct_running_mode") for arg in args):
            args.append("--direct_running_mode=multi_processing")
    if not any(arg.startswith("--default_sdk_harness_log_level") for arg in args):
        # Worker processes log every gRPC channel at INFO; progress lines are ours to print.
        args.append("--default_sdk_harness_log_level=WARNING")
    return PipelineOptions(args, save_main_session=False)
