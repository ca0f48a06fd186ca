"""The mean_words part of our encoders: the vector's last dim_word numbers are the SIF-weighted mean of the
text's word vectors (its real tokens only, padding and batch-mates changing nothing), the weights travel
with the folder and grow with vocabulary expansion, and a folder missing them is a clear error."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model.export import export_model
from model.skipthought.api import TextEncoder
from model.skipthought.encoder import SIF_A, sif_weights
from model.skipthought.files import WORD_WEIGHTS_FILE, load_encoder, read_vocabulary
from model.words.expand import expand_encoder
from model.words.files import WordVectors
from tests.tiny_models import random_encoder

WORDS = ["<eos>", "UNK", "a", "dog", "runs", "on", "the", "grass", "man", "rides", "horse"]
TEXTS = ["a dog runs on the grass", "the man rides a horse", "a horse"]


def test_sif_weights_favour_rare_words():
    weights = sif_weights(np.array([10, 990, 0]))
    np.testing.assert_allclose(weights, [SIF_A / (SIF_A + 0.01), SIF_A / (SIF_A + 0.99), 1.0], rtol=1e-6)


def test_the_vector_ends_with_the_weighted_mean_of_its_word_vectors(tmp_path):
    folder = random_encoder(tmp_path / "enc", WORDS, kind="uni", dim_word=12, dim=20, mean_words=True)
    encoder = TextEncoder(folder)
    assert encoder.dim == 20 + 12
    vectors = encoder.encode(TEXTS)
    model = load_encoder(folder)
    table, weights = np.asarray(model.tables["uni"]), np.load(folder / WORD_WEIGHTS_FILE)
    for text, vector in zip(TEXTS, vectors, strict=True):
        ids = read_vocabulary(folder).ids(text.split())
        mean = (weights[ids, None] * table[ids]).sum(axis=0) / weights[ids].sum()
        np.testing.assert_allclose(vector[20:], mean / np.linalg.norm(mean), atol=1e-5)
        # The GRU part is the encoder's final state, as without mean_words; each part has norm 1.
        ids_t = torch.tensor([ids])
        state = F.normalize(model.uni(model.embed("uni", ids_t))[1][0], dim=1)[0].detach().numpy()
        np.testing.assert_allclose(vector[:20], state, atol=1e-5)
    # Texts encoded together (padded to the longest) equal each encoded alone.
    np.testing.assert_allclose(vectors, np.vstack([encoder.encode([t]) for t in TEXTS]), atol=1e-6)


def test_weights_travel_with_export_and_expansion(tmp_path):
    folder = random_encoder(tmp_path / "enc", WORDS, kind="uni", dim_word=8, dim=10, mean_words=True)
    shipped = tmp_path / "shipped"
    export_model(folder, shipped)
    assert np.load(shipped / "uni_table.npy").dtype == np.float16  # the word table is halved too
    np.testing.assert_allclose(TextEncoder(shipped).encode(TEXTS), TextEncoder(folder).encode(TEXTS), atol=3e-3)
    rng = np.random.default_rng(1)
    extra = ["cat", "jumps"]
    vectors = WordVectors([*WORDS[2:], *extra], rng.normal(size=(len(WORDS), 4)).astype(np.float32))
    expand_encoder(folder, vectors, tmp_path / "expanded")
    own, grown = np.load(folder / WORD_WEIGHTS_FILE), np.load(tmp_path / "expanded" / WORD_WEIGHTS_FILE)
    np.testing.assert_array_equal(grown[: len(WORDS)], own)
    assert grown.shape == (len(WORDS) + 2,) and (grown[len(WORDS):] == own.max()).all()
    # Known words encode as before; a new word now counts in the mean instead of UNK.
    np.testing.assert_allclose(TextEncoder(tmp_path / "expanded").encode(TEXTS), TextEncoder(folder).encode(TEXTS),
                               atol=1e-6)
    assert not np.allclose(TextEncoder(tmp_path / "expanded").encode(["a cat"]), TextEncoder(folder).encode(["a cat"]))


def test_a_missing_or_wrong_weights_file_is_named(tmp_path):
    folder = random_encoder(tmp_path / "enc", WORDS, kind="uni", mean_words=True)
    np.save(folder / WORD_WEIGHTS_FILE, np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"word_weights\.npy holds float32 of shape \(3,\), expected floats of shape "
                                         r"\(11,\)"):
        TextEncoder(folder)
    (folder / WORD_WEIGHTS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=r"word_weights\.npy is missing: config\.json sets mean_words"):
        TextEncoder(folder)
