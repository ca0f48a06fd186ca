"""`storyteller` itself: --help loads no heavy library, --version, completion scripts, and --dry-run turning
the dry-run switch on before the command runs."""

import subprocess
import sys

from flows.cli.completion import version
from flows.cli.main import main
from pipelines.core.dry_run import dry_run_enabled, set_dry_run

HEAVY = ("torch", "apache_beam", "prefect", "faiss", "pyarrow", "pandas")


def test_building_the_parser_imports_no_heavy_library():
    code = (f"import flows.cli.main, sys; flows.cli.main.parser(); "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exited:
        assert exited.code == 0
    assert capsys.readouterr().out.strip() == f"storyteller {version()}" and version()[0].isdigit()


def test_bash_completion_names_every_command(capsys):
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    for word in ("stories", "decode", "corpus", "expand-vocab", "zero-shot", "--beam-width", "--dry-run"):
        assert word in script, word


def test_dry_run_sets_the_switch(tmp_path, capsys):
    try:
        assert main(["decode", "--decoder", str(tmp_path / "none"), "--vectors", str(tmp_path / "v.npy"),
                     "--dry-run"]) == 1  # no such decoder
        assert dry_run_enabled()
        main(["decode", "--decoder", str(tmp_path / "none"), "--vectors", str(tmp_path / "v.npy")])
        assert not dry_run_enabled()
    finally:
        set_dry_run(False)
