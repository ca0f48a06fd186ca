"""The `storyteller` command line: summary tables, Beam flags passed through, clear errors."""

import subprocess
import sys

from tests.conftest import CAPTIONS


def storyteller(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli.main", *args], capture_output=True, text=True)


def test_captions_command_prints_rows_that_add_up(tmp_path):
    (tmp_path / "caps.csv").write_text("image,caption\n1.jpg,A dog runs .\n2.jpg,   \n3.jpg,Two cats sleep .\n")
    result = storyteller(
        "corpus",
        "captions",
        "--input",
        str(tmp_path / "caps.csv"),
        "--format",
        "csv",
        "--name",
        "c",
        "--workspace",
        str(tmp_path / "ws"),
        "--direct_running_mode=in_memory",
        "--direct_num_workers=1",
    )
    assert result.returncode == 0, result.stderr
    records = next(line for line in result.stdout.splitlines() if line.startswith("records"))
    assert records.split() == ["records", "3", "2", "1", "ok"]


def test_vocab_command_over_flickr8k(tmp_path):
    workspace = str(tmp_path / "ws")
    built = storyteller(
        "corpus",
        "captions",
        "--input",
        str(CAPTIONS / "flickr8k" / "Flickr8k.token.txt.gz"),
        "--format",
        "flickr8k",
        "--name",
        "f8k",
        "--workspace",
        workspace,
    )
    assert built.returncode == 0, built.stderr
    result = storyteller("vocab", "--corpus", "f8k", "--size", "5000", "--workspace", workspace)
    assert result.returncode == 0, result.stderr
    words, tokens, sequences = result.stdout.splitlines()[-1].split()
    assert (int(words), int(sequences)) == (5000, 40_460) and int(tokens) > 400_000
    again = storyteller("vocab", "--corpus", "f8k", "--size", "5000", "--workspace", workspace)
    assert "unchanged, skipped" in again.stdout


def test_missing_input_is_a_one_line_error(tmp_path):
    result = storyteller(
        "corpus", "novels", "--input", str(tmp_path / "nothing*.txt"), "--name", "x", "--workspace", str(tmp_path)
    )
    assert result.returncode == 1
    assert "no .txt or .txt.gz files match" in result.stderr and "Traceback" not in result.stderr


def test_encode_texts_command_and_convert_errors(tmp_path):
    from tests.tiny_models import random_encoder

    model = random_encoder(tmp_path / "model", ["<eos>", "UNK", "a", "dog", "."], kind="uni")
    (tmp_path / "texts.txt").write_text("a dog .\n\nthe cat .\n")
    result = storyteller("encode", "--encoder", str(model), "--texts", str(tmp_path / "texts.txt"),
                         "--out", str(tmp_path / "v.parquet"), "--direct_running_mode=in_memory",
                         "--direct_num_workers=1")
    assert result.returncode == 0, result.stderr
    records = next(line for line in result.stdout.splitlines() if line.startswith("records"))
    assert records.split() == ["records", "3", "2", "1", "ok"]
    missing = storyteller("convert", "skipthoughts", "--models", str(tmp_path / "none"), "--tables",
                          str(tmp_path / "none"), "--out", str(tmp_path / "converted"))
    assert missing.returncode == 1 and "uni_skip.npz.pkl is missing" in missing.stderr
