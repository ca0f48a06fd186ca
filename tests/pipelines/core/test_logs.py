"""The command line's log: a real Beam job with two worker processes prints only timestamped lines of
ours, none of Beam's start-up noise from the main process or the workers."""

import re
import subprocess
import sys

TIMESTAMPED = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} \| (INFO |WARNING|ERROR) +\| \S+ - ")
NOISE = ("apitools", "semi_persistent_directory", "Logging handler created", "INFO:", "WARNING:")


def test_multiprocess_job_logs_only_timestamped_lines(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.csv").write_text("image,caption\n1.jpg,A dog runs .\n2.jpg,Two cats sleep .\n")
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli.main", "corpus", "captions", "--input", str(tmp_path / "*.csv"),
         "--format", "csv", "--name", "c", "--workspace", str(tmp_path / "ws"),
         "--direct_running_mode=multi_processing", "--direct_num_workers=2"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert not [line for line in lines if any(noise in line for noise in NOISE)], result.stderr
    assert all(TIMESTAMPED.match(line) for line in lines), result.stderr
    assert any("storyteller.progress - [corpus-captions] 4 records" in line for line in lines), result.stderr


def test_the_console_writes_to_the_stderr_of_the_moment(capsys):
    import contextlib
    import io
    import logging

    from pipelines.core.logs import configure_logging, logger

    configure_logging()
    with contextlib.redirect_stderr(io.StringIO()) as first:
        logger("test").info("into the first stream")
    first.close()  # a stream swapped in and closed since must not break later lines
    logger("test").info("into the current stream")
    assert "storyteller.test - into the current stream" in capsys.readouterr().err
    logging.getLogger().handlers.clear()
