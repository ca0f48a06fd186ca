"""A broken model folder stops `encode`, `stories` and `decode` before any Beam job or output exists, with one
`storyteller: error:` line naming the file and the fault (exit code 1), never a worker traceback."""

import json
import shutil

import numpy as np
import pytest
import torch

from flows.cli.main import main
from model.decoder.conditional_gru import DecoderConfig, StoryDecoder
from model.decoder.files import save_decoder
from model.skipthought.files import WEIGHTS_FILE
from tests.conftest import IN_PROCESS
from tests.tiny_models import random_encoder

WORDS = ["<eos>", "UNK", "a", "dog", "runs"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    decoder = StoryDecoder(DecoderConfig(n_words=len(WORDS), dim_word=4, dim=6, dim_ctx=5))
    save_decoder(root / "decoder", decoder, WORDS)
    encoder = random_encoder(root / "encoder", WORDS, kind="uni", dim_word=4, dim=5)
    return {"encoder": encoder, "decoder": root / "decoder"}


def broken(models, tmp_path, which: str, fault: str):
    folder = shutil.copytree(models[which], tmp_path / f"broken-{which}")
    weights = folder / WEIGHTS_FILE
    if fault == "truncated":
        weights.write_bytes(weights.read_bytes()[:300])
    else:  # a config.json hidden size that the weights do not have
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "uni_dim" if which == "encoder" else "dim": 9}))
    return folder


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and "weights_only" not in err
    return next(line for line in err.splitlines() if line.startswith("storyteller: error: "))


@pytest.mark.parametrize(("fault", "message"), [("truncated", r"weights.pt is truncated or damaged"),
                                                 ("sizes", "but {folder}/config.json says")])
def test_encode_stops_before_the_job(models, tmp_path, capsys, fault, message):
    folder = broken(models, tmp_path, "encoder", fault)
    (tmp_path / "texts.txt").write_text("a dog runs\n")
    out = tmp_path / "out" / "vectors.parquet"
    argv = ["encode", "--encoder", str(folder), "--texts", str(tmp_path / "texts.txt"), "--out", str(out)]
    assert main([*argv, *IN_PROCESS]) == 1
    assert message.format(folder=folder) in error_line(capsys)
    assert not out.parent.exists()


@pytest.mark.parametrize(("which", "fault", "message"), [
    ("decoder", "truncated", "decoder/weights.pt is truncated or damaged"),
    ("decoder", "sizes", "but {folder}/config.json says"),
    ("encoder", "truncated", "encoder/weights.pt is truncated or damaged"),
])
def test_stories_stop_before_any_output(models, tmp_path, capsys, which, fault, message):
    folders = {**models, which: broken(models, tmp_path, which, fault)}
    out = tmp_path / "stories"
    argv = ["stories", "--images", str(tmp_path), "--style", "romance", "--decoder", str(folders["decoder"]),
            "--encoder", str(folders["encoder"]), "--workspace", str(tmp_path / "ws"), "--out", str(out)]
    assert main([*argv, *IN_PROCESS]) == 1
    assert message.format(folder=folders[which]) in error_line(capsys)
    assert not out.exists() and not (tmp_path / "ws").exists()


def test_an_encoder_of_another_size_is_named(models, tmp_path, capsys):
    other = random_encoder(tmp_path / "wide", WORDS, kind="uni", dim_word=4, dim=8)
    argv = ["stories", "--images", str(tmp_path), "--style", "romance", "--decoder", str(models["decoder"]),
            "--encoder", str(other), "--workspace", str(tmp_path / "ws"), "--out", str(tmp_path / "stories")]
    assert main(argv) == 1
    assert f"the encoder {other} has 8-d vectors, but the decoder {models['decoder']} reads 5-d" in error_line(capsys)


def test_decode_names_a_decoder_whose_config_and_weights_disagree(models, tmp_path, capsys):
    folder = shutil.copytree(models["decoder"], tmp_path / "decoder")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "dim_ctx": 7}))  # the weights read 5-d vectors
    np.save(tmp_path / "v.npy", np.zeros((2, 7), np.float32))
    assert main(["decode", "--decoder", str(folder), "--vectors", str(tmp_path / "v.npy"), "--device", "cpu"]) == 1
    line = error_line(capsys)
    assert f"{folder}/weights.pt: tensor ff_state.weight has shape (6, 5), but {folder}/config.json says (6, 7)" in line
    assert torch.load(folder / WEIGHTS_FILE, weights_only=True)["ff_state.weight"].shape == (6, 5)
