"""A run that rejected every record says so and exits 3 (ALL_REJECTED_EXIT), as a stage command, as
`decode` and as a flow; a run that kept some records exits 0 with its rejects counted."""

import json
from pathlib import Path

import numpy as np
import pytest

from data_schemas import REJECTS
from data_schemas.shards import read_artifact
from flows.cli.main import main
from model.decoder.conditional_gru import DecoderConfig, StoryDecoder
from model.decoder.files import save_decoder
from pipelines.core.all_rejected import ALL_REJECTED_EXIT
from tests.conftest import IN_PROCESS

BAD_ROWS = "image,caption\n1.jpg,   \n2.jpg,\n"


def captions(tmp_path, text: str) -> int:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "caps.csv").write_text(text)
    return main(["corpus", "captions", "--input", str(tmp_path / "caps.csv"), "--format", "csv", "--name", "c",
                 "--workspace", str(tmp_path / "ws"), *IN_PROCESS])


def test_captions_of_only_bad_rows_exit_3_and_some_good_exit_0(tmp_path, capsys):
    assert captions(tmp_path, BAD_ROWS) == ALL_REJECTED_EXIT == 3
    out, err = capsys.readouterr()
    assert ["records", "2", "0", "2", "ok"] in [line.split() for line in out.splitlines()]  # the summary prints
    rejects = err.split("storyteller: error: corpus-captions: all 2 records were rejected; see ")[1].strip()
    assert len(read_artifact(Path(rejects), REJECTS)) == 2
    assert captions(tmp_path, BAD_ROWS) == 3  # and again when the stage is done and skipped
    assert captions(tmp_path / "mixed", BAD_ROWS + "3.jpg,A dog runs .\n") == 0


def test_features_of_only_non_images_exit_3(tmp_path, capsys):
    for name in ("a.jpg", "b.png"):
        (tmp_path / name).write_bytes(b"not an image\n")
    argv = ["features", "--images", str(tmp_path), "--name", "junk", "--workspace", str(tmp_path / "ws")]
    assert main([*argv, *IN_PROCESS]) == 3
    assert "features: all 2 records were rejected; see " in capsys.readouterr().err


def test_decode_of_only_non_finite_rows_exits_3(tmp_path, capsys):
    words = ["<eos>", "UNK", "a"]
    save_decoder(tmp_path / "decoder", StoryDecoder(DecoderConfig(n_words=3, dim_word=4, dim=6, dim_ctx=5)), words)
    np.save(tmp_path / "v.npy", np.full((2, 5), np.nan, np.float32))
    out = tmp_path / "texts.jsonl"
    argv = ["decode", "--decoder", str(tmp_path / "decoder"), "--vectors", str(tmp_path / "v.npy"), "--out", str(out)]
    assert main(argv) == 3
    assert f"decode: all 2 records were rejected; see {out}" in capsys.readouterr().err


@pytest.mark.usefixtures("prefect_server")
def test_a_flow_whose_stage_rejected_everything_fails(tmp_path, capsys):
    (tmp_path / "caps.csv").write_text(BAD_ROWS)
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"source": str(tmp_path / "caps.csv"), "name": "c", "workspace": str(tmp_path / "ws"),
                                  "params": {"format": "csv"}}))
    assert main(["flow", "corpus-captions", "--params", str(params), *IN_PROCESS]) == 3
    assert "storyteller: error: corpus c: all 2 records were rejected; see " in capsys.readouterr().err
