"""`storyteller embed`: captions through the Beam encode job and image features through the VSE's
image side give the API's vectors; empty lines and non-finite rows become rejects; a feature file
of the wrong size is a one-line error."""

import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq

from data_schemas.vectors import vector_matrix
from flows.cli.main import main
from model.vse.api import VSEEncoder
from tests.tiny_models import random_vse


def storyteller(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli.main", *args], capture_output=True, text=True)


def records(result: subprocess.CompletedProcess) -> list[str]:
    return next(line for line in result.stdout.splitlines() if line.startswith("records")).split()


def test_embed_texts_runs_the_vse_text_side_in_the_encode_job(tmp_path):
    model = random_vse(tmp_path / "vse")
    (tmp_path / "captions.txt").write_text("A dog runs .\n\ntwo cats on a café zebra\n")
    result = storyteller("embed", "--vse", str(model), "--texts", str(tmp_path / "captions.txt"), "--out",
                         str(tmp_path / "v.parquet"), "--direct_running_mode=in_memory", "--direct_num_workers=1")
    assert result.returncode == 0, result.stderr
    assert records(result) == ["records", "3", "2", "1", "ok"]
    table = pq.read_table(tmp_path / "v.parquet")
    assert table.column("id").to_pylist() == ["1", "3"]
    expected = VSEEncoder(model).embed_texts(["A dog runs .", "two cats on a café zebra"])
    np.testing.assert_allclose(vector_matrix(table), expected, atol=1e-5)
    assert pq.read_table(tmp_path / "v.rejects.parquet").column("location").to_pylist() == ["line 2"]


def test_embed_features_rejects_non_finite_rows_and_names_a_wrong_size(tmp_path, capsys):
    model = random_vse(tmp_path / "vse")
    features = np.random.default_rng(1).random((4, 12), dtype=np.float32)
    features[2, 5] = np.nan
    np.save(tmp_path / "features.npy", features)
    result = storyteller("embed", "--vse", str(model), "--features", str(tmp_path / "features.npy"), "--out",
                         str(tmp_path / "images.parquet"))
    assert result.returncode == 0, result.stderr
    assert records(result) == ["records", "4", "3", "1", "ok"]
    table = pq.read_table(tmp_path / "images.parquet")
    assert table.column("id").to_pylist() == ["0", "1", "3"] and table.column("n_tokens").to_pylist() == [0, 0, 0]
    np.testing.assert_allclose(vector_matrix(table), VSEEncoder(model).embed_features(features[[0, 1, 3]]), atol=1e-6)
    assert pq.read_table(tmp_path / "images.rejects.parquet").column("location").to_pylist() == ["row 2"]
    np.save(tmp_path / "wide.npy", np.zeros((2, 1280), np.float32))
    # In-process: the same main() the subprocess runs, without paying for its imports again.
    assert main(["embed", "--vse", str(model), "--features", str(tmp_path / "wide.npy"), "--out",
                 str(tmp_path / "wide.parquet")]) == 1
    error = capsys.readouterr().err
    assert "wide.npy has feature dimension 1280, but the VSE reads 12-d features" in error
    assert len(error.strip().splitlines()) == 1 and "Traceback" not in error
