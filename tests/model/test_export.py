"""`storyteller export`: a shipped model is the trained one without its checkpoint, in fp16, and
encodes (after the loader's cast back to float32) what the trained one encodes, to fp16 rounding; its
weights.safetensors holds the same tensors as weights.pt and is what the loaders read."""

import json

import numpy as np
import pyarrow.parquet as pq
import torch
from safetensors.torch import load_file

from data_schemas.vectors import vector_matrix
from flows.cli.main import main
from model.skipthought.api import TextEncoder
from model.weights_file import SAFETENSORS_FILE, WEIGHTS_FILE, weights_path
from tests.conftest import IN_PROCESS
from tests.tiny_models import random_encoder

WORDS = ["<eos>", "UNK", "a", "dog", "runs", "on", "the", "grass", "man", "rides", "horse"]
TEXTS = ["a dog runs on the grass", "the man rides a horse", "a horse on the grass"]


def test_export_drops_the_checkpoint_and_halves_the_weights(tmp_path):
    trained = random_encoder(tmp_path / "trained", WORDS, kind="uni", dim_word=32, dim=48)
    (trained / "checkpoint.pt").write_bytes(b"optimizer state")
    assert main(["export", "--model", str(trained), "--out", str(tmp_path / "shipped")]) == 0
    shipped = tmp_path / "shipped"
    assert not (shipped / "checkpoint.pt").exists()
    assert json.loads((shipped / "export.json").read_text())["left_out"] == ["checkpoint.pt"]
    state = torch.load(shipped / WEIGHTS_FILE, weights_only=True)
    assert {tensor.dtype for tensor in state.values()} == {torch.float16}
    assert (shipped / WEIGHTS_FILE).stat().st_size < 0.6 * (trained / WEIGHTS_FILE).stat().st_size
    before, after = TextEncoder(trained).encode(TEXTS), TextEncoder(shipped).encode(TEXTS)
    assert after.dtype == np.float32
    np.testing.assert_allclose(after, before, atol=2e-3)
    assert not np.array_equal(after, before)  # the weights really were rounded


def test_export_refuses_an_existing_folder_and_a_non_model(tmp_path, capsys):
    trained = random_encoder(tmp_path / "trained", WORDS, kind="uni")
    (tmp_path / "taken").mkdir()
    assert main(["export", "--model", str(trained), "--out", str(tmp_path / "taken")]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["export", "--model", str(tmp_path), "--out", str(tmp_path / "x")]) == 1
    assert "finished model folder" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_export_keeps_fp32_on_request(tmp_path):
    trained = random_encoder(tmp_path / "trained", WORDS, kind="uni")
    assert main(["export", "--model", str(trained), "--out", str(tmp_path / "shipped"), "--keep-fp32"]) == 0
    state = torch.load(tmp_path / "shipped" / WEIGHTS_FILE, weights_only=True)
    assert {tensor.dtype for tensor in state.values()} == {torch.float32}
    np.testing.assert_array_equal(TextEncoder(tmp_path / "shipped").encode(TEXTS), TextEncoder(trained).encode(TEXTS))


def test_export_writes_safetensors_that_every_loader_reads_first(tmp_path):
    trained = random_encoder(tmp_path / "trained", WORDS, kind="uni")
    for flags, dtype in (([], torch.float16), (["--keep-fp32"], torch.float32)):
        shipped = tmp_path / f"shipped-{dtype}"
        assert main(["export", "--model", str(trained), "--out", str(shipped), *flags]) == 0
        safe, pt = load_file(shipped / SAFETENSORS_FILE), torch.load(shipped / WEIGHTS_FILE, weights_only=True)
        assert safe.keys() == pt.keys() and all(torch.equal(safe[name], pt[name]) for name in pt)
        assert {tensor.dtype for tensor in safe.values()} == {dtype}
    (shipped / WEIGHTS_FILE).write_bytes(b"not read: the safetensors file is")
    assert weights_path(shipped) == shipped / SAFETENSORS_FILE
    expected = TextEncoder(trained).encode(TEXTS)
    np.testing.assert_array_equal(TextEncoder(shipped).encode(TEXTS), expected)
    (tmp_path / "texts.txt").write_text("\n".join(TEXTS) + "\n")  # the Beam job's model handler too
    texts, out = str(tmp_path / "texts.txt"), str(tmp_path / "v.pq")
    argv = ["encode", "--encoder", str(shipped), "--texts", texts, "--out", out]
    assert main([*argv, *IN_PROCESS]) == 0
    np.testing.assert_array_equal(vector_matrix(pq.read_table(tmp_path / "v.pq")), expected)
    assert main(["export", "--model", str(shipped), "--out", str(tmp_path / "again")]) == 0  # from safetensors


def test_export_refuses_a_broken_folder_before_writing(tmp_path, capsys):
    trained = random_encoder(tmp_path / "trained", WORDS, kind="uni")
    (trained / WEIGHTS_FILE).write_bytes((trained / WEIGHTS_FILE).read_bytes()[:100])
    assert main(["export", "--model", str(trained), "--out", str(tmp_path / "shipped")]) == 1
    assert f"{trained / WEIGHTS_FILE} is truncated or damaged" in capsys.readouterr().err
    assert not (tmp_path / "shipped").exists()
