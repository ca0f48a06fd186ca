"""Converting a released VSE (real Python 2 formats, random weights) and checking it against an
independent NumPy implementation of reference d.1, including the n_words quirk of reference a.2."""

import numpy as np
import pytest

from model.original_files import OriginalFileError
from model.vse.api import VSEEncoder
from model.vse.original import convert_vse
from tests.py2_files import write_options, write_worddict

DIM_WORD, DIM, DIM_IMAGE = 6, 5, 7
# Indices from 2 by frequency; n_words = len = 10, so "giraffe" (10) and "zebra" (11) become UNK.
DICTIONARY = ["a", ".", "dog", "café", "A", "runs", "n't", "on", "giraffe", "zebra"]
N_WORDS = len(DICTIONARY)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("released")
    shapes = {"Wemb": (N_WORDS, DIM_WORD), "encoder_W": (DIM_WORD, 2 * DIM), "encoder_b": (2 * DIM,),
              "encoder_U": (DIM, 2 * DIM), "encoder_Wx": (DIM_WORD, DIM), "encoder_Ux": (DIM, DIM),
              "encoder_bx": (DIM,), "ff_image_W": (DIM_IMAGE, DIM), "ff_image_b": (DIM,)}
    params = {name: rng.normal(0, 0.5, shape).astype(np.float32) for name, shape in shapes.items()}
    np.savez(folder / "coco_embedding.npz", **params)
    write_options(folder / "coco_embedding.npz.pkl", {
        "data": "coco", "margin": 0.2, "dim": DIM, "dim_image": DIM_IMAGE, "dim_word": DIM_WORD, "encoder": "gru",
        "max_epochs": 15, "grad_clip": 2.0, "maxlen_w": 100, "optimizer": "adam", "batch_size": 128,
        "lrate": 0.0002, "reload_": False, "n_words": N_WORDS}, protocol=0)
    worddict = {word: index + 2 for index, word in enumerate(DICTIONARY)}
    write_worddict(folder / "coco_embedding.npz.dictionary.pkl", dict(reversed(worddict.items())), protocol=2)
    return folder, params, worddict


def reference_caption(tokens, p, worddict):
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    ids = [worddict.get(t, 1) for t in tokens]
    ids = [i if i < N_WORDS else 1 for i in ids] + [0]  # k + 1 steps, the last on Wemb row 0
    h = np.zeros(DIM)
    for x in p["Wemb"].astype(np.float64)[ids]:
        a = x @ p["encoder_W"] + p["encoder_b"] + h @ p["encoder_U"]
        r, u = sigmoid(a[:DIM]), sigmoid(a[DIM:])
        h = u * h + (1 - u) * np.tanh(x @ p["encoder_Wx"] + p["encoder_bx"] + r * (h @ p["encoder_Ux"]))
    return h / np.linalg.norm(h)


def reference_image(feature, p):
    v = (feature / np.linalg.norm(feature)) @ p["ff_image_W"] + p["ff_image_b"]
    return v / np.linalg.norm(v)


def test_converted_vse_matches_numpy_reference(released, tmp_path):
    folder, params, worddict = released
    config = convert_vse(folder / "coco_embedding.npz", tmp_path / "vse")
    assert (config.n_words, config.dim_word, config.dim, config.dim_image) == (N_WORDS, DIM_WORD, DIM, DIM_IMAGE)
    assert config.provenance["words_beyond_n_words_as_unk"] == ["giraffe", "zebra"]
    encoder = VSEEncoder(tmp_path / "vse")
    captions = [["a", "dog", "runs", "on", "."], ["A", "café"], ["a", "zebra", "and", "a", "giraffe", "do",
                                                                  "n't", "."], ["dog"]]
    vectors = encoder.embed_token_lists(captions)  # one padded batch of lengths 6, 3, 9, 2
    for tokens, vector in zip(captions, vectors, strict=True):
        np.testing.assert_allclose(vector, reference_caption(tokens, params, worddict), atol=1e-5)
    features = np.maximum(np.random.default_rng(0).normal(size=(3, DIM_IMAGE)), 0).astype(np.float32) * 9
    expected = np.stack([reference_image(f.astype(np.float64), params) for f in features])
    np.testing.assert_allclose(encoder.embed_features(features), expected, atol=1e-5)


@pytest.mark.parametrize("broken", ["coco_embedding.npz", "coco_embedding.npz.pkl",
                                    "coco_embedding.npz.dictionary.pkl"])
def test_truncated_files_are_named(released, tmp_path, broken):
    folder, *_ = released
    for path in folder.iterdir():
        data = path.read_bytes()
        (tmp_path / path.name).write_bytes(data[: len(data) // 2] if path.name == broken else data)
    with pytest.raises(OriginalFileError, match=f"{broken} is truncated"):
        convert_vse(tmp_path / "coco_embedding.npz", tmp_path / "vse")


def test_wrong_shape_and_missing_dictionary_are_named(released, tmp_path):
    folder, params, _ = released
    np.savez(tmp_path / "coco_embedding.npz", **{**params, "ff_image_W": np.zeros((4096, DIM), np.float32)})
    (tmp_path / "coco_embedding.npz.pkl").write_bytes((folder / "coco_embedding.npz.pkl").read_bytes())
    with pytest.raises(OriginalFileError, match=r"coco_embedding\.npz\.dictionary\.pkl is missing"):
        convert_vse(tmp_path / "coco_embedding.npz", tmp_path / "vse")
    dictionary = "coco_embedding.npz.dictionary.pkl"
    (tmp_path / dictionary).write_bytes((folder / dictionary).read_bytes())
    with pytest.raises(OriginalFileError, match=r"ff_image_W has shape \(4096, 5\), expected \(7, 5\)"):
        convert_vse(tmp_path / "coco_embedding.npz", tmp_path / "vse")
