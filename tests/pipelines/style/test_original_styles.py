"""Importing the released caption/romance/swift style vectors: both shapes and precisions, provenance,
the encoder's dim, and errors that name the file."""

import numpy as np
import pytest

from flows.cli.main import main
from model.original_files import OriginalFileError
from pipelines.core.manifest import file_fingerprint
from pipelines.style.files import list_styles, read_style
from pipelines.style.original import convert_styles
from tests.tiny_models import random_encoder


def released(folder, **arrays):
    folder.mkdir(exist_ok=True)
    for name, array in arrays.items():
        np.save(folder / f"{name}_style.npy", array)
    return folder


def test_release_files_become_styles_with_provenance(tmp_path):
    rng = np.random.default_rng(0)
    caption, romance = rng.normal(size=4800).astype(np.float32), rng.normal(size=(1, 4800))
    folder = released(tmp_path / "release", caption=caption, romance=romance)
    converted = convert_styles(folder, "combine-skip", tmp_path / "ws")
    assert [(c.name, c.dim) for c in converted] == [("captions", 4800), ("romance", 4800)]
    assert list_styles(tmp_path / "ws", "combine-skip") == ["captions", "romance"]
    np.testing.assert_array_equal(read_style(tmp_path / "ws", "combine-skip", "captions").vector, caption)
    style = read_style(tmp_path / "ws", "combine-skip", "romance")
    assert style.vector.dtype == np.float32 and style.vector.shape == (4800,)
    np.testing.assert_array_equal(style.vector, romance[0].astype(np.float32))
    source = file_fingerprint((folder / "romance_style.npy").resolve())
    assert style.meta["source"] == "original release" and style.meta["original"] == source
    assert style.meta["encoder"] == {"id": "combine-skip", "files": None}
    before = (tmp_path / "ws" / "styles" / "combine-skip" / "romance.json").read_bytes()
    convert_styles(folder, "combine-skip", tmp_path / "ws")
    assert (tmp_path / "ws" / "styles" / "combine-skip" / "romance.json").read_bytes() == before


@pytest.mark.parametrize(("array", "message"), [
    (np.zeros(2400, np.float32), r"swift_style\.npy has shape \(2400,\); expected \(4800,\) or \(1, 4800\)"),
    (np.full(4800, np.nan), r"swift_style\.npy holds 4800 NaN or infinite value\(s\)"),
    (np.zeros(4800, np.int64), r"swift_style\.npy holds int64 values"),
])
def test_bad_files_are_named_and_nothing_is_written(tmp_path, array, message):
    folder = released(tmp_path / "release", caption=np.zeros(4800, np.float32), swift=array)
    with pytest.raises(OriginalFileError, match=message):
        convert_styles(folder, "combine-skip", tmp_path / "ws")
    assert list_styles(tmp_path / "ws", "combine-skip") == []


def test_dim_comes_from_the_encoder_model_when_present(tmp_path):
    model = random_encoder(tmp_path / "ws" / "models" / "tiny", ["<eos>", "UNK", "a"], kind="uni", dim=16)
    folder = released(tmp_path / "release", romance=np.ones(4800, np.float32))
    with pytest.raises(OriginalFileError, match=r"romance_style\.npy has shape \(4800,\); expected \(16,\)"):
        convert_styles(folder, "tiny", tmp_path / "ws")
    released(folder, romance=np.ones((1, 16), np.float64))
    convert_styles(folder, str(model), tmp_path / "ws")
    meta = read_style(tmp_path / "ws", "tiny", "romance").meta
    assert meta["encoder"]["files"]["weights.pt"] == file_fingerprint(model / "weights.pt")["sha256"]


def test_convert_command_with_no_files_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["convert", "styles", "--dir", str(tmp_path / "empty"), "--encoder", "m",
                 "--workspace", str(tmp_path / "ws")])
    error = capsys.readouterr().err
    assert code == 1 and error.count("\n") == 1
    assert "holds none of caption_style.npy, romance_style.npy, swift_style.npy" in error
