"""A broken model folder is a ValueError naming the file and what is wrong, for every family and every way a
weights file, a table or config.json goes bad; torch's advice to load with weights_only=False never shows."""

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from model.decoder.conditional_gru import DecoderConfig, StoryDecoder
from model.decoder.files import save_decoder
from model.folder_check import check_model_dir
from model.skipthought.files import WEIGHTS_FILE
from model.words.files import WordVectors, save_word_vectors
from tests.tiny_models import VSE_WORDS, random_encoder, random_vse

WORDS = ["<eos>", "UNK", "a", "dog", "runs"]
TRAINED = Path(__file__).resolve().parents[2] / "trained"


def folders(tmp_path):
    decoder = tmp_path / "decoder"
    save_decoder(decoder, StoryDecoder(DecoderConfig(n_words=len(WORDS), dim_word=4, dim=6, dim_ctx=5)), WORDS)
    words = tmp_path / "words"
    save_word_vectors(words, WordVectors(WORDS, np.ones((len(WORDS), 3), np.float32)), {})
    return {"encoder": random_encoder(tmp_path / "encoder", WORDS, kind="uni", dim_word=4, dim=6),
            "vse": random_vse(tmp_path / "vse", VSE_WORDS), "decoder": decoder, "words": words}


WEIGHTED = ("encoder", "vse", "decoder")  # the words folder holds vectors.npy, no weights file
BREAKAGES = {  # name: (how to break a folder, the folders it applies to, the message expected)
    "garbage": (lambda p: (p / WEIGHTS_FILE).write_bytes(b"not a model\n" * 9), WEIGHTED,
                r"weights\.pt is not readable as a torch weights file"),
    "truncated": (lambda p: (p / WEIGHTS_FILE).write_bytes((p / WEIGHTS_FILE).read_bytes()[:200]), WEIGHTED,
                  r"weights\.pt is truncated or damaged"),
    "empty": (lambda p: (p / WEIGHTS_FILE).write_bytes(b""), WEIGHTED, r"weights\.pt is empty"),
    "pickle": (lambda p: (p / WEIGHTS_FILE).write_bytes(pickle.dumps({"gru.weight": [1.0]})), WEIGHTED,
               r"weights\.pt is a Python pickle"),
    "objects": (lambda p: torch.save({"gru.weight": Path("x")}, p / WEIGHTS_FILE), WEIGHTED,
                r"weights\.pt holds objects other than tensors"),
    "missing tensors": (lambda p: torch.save({}, p / WEIGHTS_FILE), WEIGHTED, r"weights\.pt lacks tensor\(s\)"),
    "wrong size": (lambda p: _edit_config(p, dim=7), ("decoder", "vse"),
                   r"weights\.pt: tensor \S+ has shape \(.*\), but .*config\.json says \(.*\)"),
    "not JSON": (lambda p: (p / "config.json").write_text("{dim: 3"), (*WEIGHTED, "words"),
                 r"config\.json is not JSON"),
    "missing field": (lambda p: _edit_config(p, n_words=None), ("vse", "decoder"),
                      r"config\.json lacks the field\(s\) \['n_words'\]"),
    "wrong type": (lambda p: _edit_config(p, **{"dim" if p.name == "words" else "uni_dim": "six"}),
                   ("encoder", "words"), r"field '(uni_)?dim' is [\"']six[\"'], not"),
    "truncated table": (lambda p: (p / "uni_table.npy").write_bytes((p / "uni_table.npy").read_bytes()[:150]),
                        ("encoder",), r"uni_table\.npy is truncated: \d+ bytes where its header promises"),
    "truncated vectors": (lambda p: (p / "vectors.npy").write_bytes((p / "vectors.npy").read_bytes()[:140]),
                          ("words",), r"vectors\.npy is truncated"),
}


def _edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps({k: v for k, v in config.items() if v is not None}))


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_every_broken_folder_names_the_file_and_the_fault(tmp_path, breakage):
    fault, applies_to, message = BREAKAGES[breakage]
    for name, folder in folders(tmp_path).items():
        if name not in applies_to:
            continue
        fault(folder)
        with pytest.raises(ValueError) as error:
            check_model_dir(folder)
        assert re.search(message, str(error.value)), (name, str(error.value))
        assert str(folder) in str(error.value) and "weights_only" not in str(error.value)


def test_the_intact_folders_and_the_shipped_models_load(tmp_path):
    assert [check_model_dir(folder) for folder in folders(tmp_path).values()] == ["skipthought", "vse", "decoder",
                                                                                  "words"]
    shipped = sorted(path.parent for path in TRAINED.glob("*/config.json"))
    assert len(shipped) == 4 and {check_model_dir(folder) for folder in shipped} == {"skipthought", "vse", "decoder"}
