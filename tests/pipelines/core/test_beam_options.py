"""Beam flags pass through unchanged; without --runner the local FnApiRunner uses every core."""

import os

from pipelines.core.beam_options import make_pipeline, pipeline_options


def test_defaults_are_local_multiprocess_fnapirunner():
    options = pipeline_options([]).get_all_options()
    assert options["runner"] == "FnApiRunner"
    assert options["direct_num_workers"] == (os.cpu_count() or 1)
    assert options["direct_running_mode"] == "multi_processing"


def test_user_flags_win_and_foreign_flags_pass_through():
    options = pipeline_options(["--direct_num_workers=1", "--direct_running_mode=in_memory"]).get_all_options()
    assert (options["direct_num_workers"], options["direct_running_mode"]) == (1, "in_memory")
    flink = pipeline_options(["--runner=FlinkRunner", "--flink_master=host:8081", "--parallelism=4"])
    flink_options = flink.get_all_options()
    assert flink_options["runner"] == "FlinkRunner"
    assert (flink_options["flink_master"], flink_options["parallelism"]) == ("host:8081", 4)
    assert flink_options["direct_running_mode"] != "multi_processing"  # no local defaults forced on other runners


def test_non_default_runner_is_not_replaced():
    pipeline = make_pipeline(["--runner=FlinkRunner", "--flink_master=host:8081"])
    assert type(pipeline.runner).__name__ == "FlinkRunner"
