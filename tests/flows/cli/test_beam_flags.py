"""A Beam command's leftover flags: Beam's own (runner-specific ones included) pass, any other is refused
with argparse's error and the closest option, ours or Beam's; a bad value of a Beam option is an error too."""

import pytest

from flows.cli.beam_flags import unknown_beam_flags
from flows.cli.main import check_beam_flags, parser
from flows.cli.parser import chosen_command

RUNNER_FLAGS = ["--runner=FlinkRunner", "--flink_master", "localhost:8081", "--dask_client_address=tcp://x:8786",
                "--direct_num_workers=2", "--direct_running_mode=in_memory", "--runner", "DirectRunner",
                "--experiments=a", "--experiments=b"]


def command(*argv: str):
    root = parser()
    return chosen_command(root, root.parse_known_args(list(argv))[0])


def test_beam_knows_the_runner_flags():
    unknown, options = unknown_beam_flags([*RUNNER_FLAGS, "--not_a_beam_flag=1", "stray"])
    assert unknown == ["--not_a_beam_flag=1", "stray"]
    assert {"--flink_master", "--dask_client_address", "--direct_num_workers", "--runner"} <= set(options)


def test_a_beam_command_takes_beam_flags_and_refuses_others(capsys):
    stories = command("stories", "--images", "i", "--workspace", "w", "--out", "o")
    check_beam_flags(stories, RUNNER_FLAGS)
    for flags, told in [(["--direct_num_worker=2"], "--direct_num_worker=2 (did you mean --direct_num_workers?)"),
                        (["--top_p=0.5"], "--top_p=0.5 (did you mean --top-p?)"),
                        (["--direct_num_workers=many"], "Beam option argument --direct_num_workers: invalid int")]:
        with pytest.raises(SystemExit) as exited:
            check_beam_flags(stories, flags)
        assert exited.value.code == 2 and told in capsys.readouterr().err


def test_a_command_without_a_beam_job_refuses_beam_flags(capsys):
    with pytest.raises(SystemExit):
        check_beam_flags(command("train", "words", "--corpus", "c", "--workspace", "w"), ["--direct_num_workers=2"])
    assert "storyteller train words: error: unrecognized arguments: --direct_num_workers=2" in capsys.readouterr().err
