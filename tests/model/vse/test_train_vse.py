"""Training the VSE end to end on small synthetic features and captions: it learns (recall well above
chance on held-out images), counts what it could not join, resumes exactly, and exports a model
directory the API loads."""

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from data_schemas import CAPTIONS
from data_schemas import text as col
from data_schemas.features import features_table
from data_schemas.shards import write_table_atomic
from flows.cli.main import main
from model.skipthought.files import read_vocabulary
from model.vse.api import VSEEncoder
from model.words.files import WordVectors, save_word_vectors

COLORS = ["red", "blue", "green", "black", "white", "brown"]
ANIMALS = ["dog", "cat", "horse", "bird", "cow", "sheep"]
TRAIN = ["--dim-word", "12", "--dim", "24", "--batch-size", "16", "--lr", "0.01", "--test-images", "6",
         "--val-images", "6", "--log-every", "4", "--margin", "0.2"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """36 images, one per (colour, animal): features are the two one-hots plus noise; 4 captions each."""
    workspace = tmp_path_factory.mktemp("ws")
    rng = np.random.default_rng(0)
    image_ids, features, rows = [], [], []
    for c, color in enumerate(COLORS):
        for a, animal in enumerate(ANIMALS):
            image = f"{color}_{animal}.jpg"
            image_ids.append(image)
            features.append(np.concatenate([np.eye(6)[c], np.eye(6)[a], rng.normal(0, 0.1, 4)]) + 0.05)
            for n, text in enumerate([f"a {color} {animal} .", f"the {animal} is {color} .",
                                      f"{color} {animal} standing", f"one {animal} , {color}"]):
                rows.append({col.ID: f"{image}#{n}", col.IMAGE_ID: image, col.SPLIT: None, col.SOURCE: "synthetic",
                             col.TEXT: text, col.TOKENS: text.split(), col.N_TOKENS: len(text.split())})
    rows.append({**rows[0], col.ID: "lost#0", col.IMAGE_ID: "not_featurised.jpg"})
    write_table_atomic(features_table(image_ids, image_ids, np.array(features, dtype=np.float32)),
                       workspace / "features" / "efficientnet-lite0" / "synth" / "part-00000-of-00001.parquet")
    write_table_atomic(pa.Table.from_pylist(rows, schema=CAPTIONS),
                       workspace / "corpora" / "synth" / "captions" / "part-00000-of-00001.parquet")
    return workspace


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train fastest on one thread; two contend badly on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train(workspace: Path, name: str, *extra: str) -> int:
    return main(["train", "vse", "--features", "synth", "--captions", "synth", "--workspace", str(workspace),
                 "--name", name, *TRAIN, *extra])


def test_training_learns_and_exports_a_model(workspace, capsys):
    assert train(workspace, "sum", "--epochs", "12", "--loss", "sum") == 0
    out, err = capsys.readouterr()
    assert "1 without image features" in out and "loss/pair" in err and "pairs/s" in err and "(best)" in err
    model = workspace / "models" / "sum"
    metrics = json.loads((model / "metrics.json").read_text())
    config = json.loads((model / "config.json").read_text())
    assert config["family"] == "vse" and config["provenance"]["metrics"] == metrics
    assert config["provenance"]["recipe"]["loss"] == "sum"
    assert metrics["data"]["captions_without_features"] == 1 and metrics["data"]["train_images"] == 24
    test = metrics["test"]
    assert (test["images"], test["captions"]) == (6, 24)
    # Chance would be about 17 % at R@1 for 6 images; the words name the features' two one-hots.
    assert test["t2i"]["r1"] > 50 and test["i2t"]["r1"] > 50, test
    encoder = VSEEncoder(model)
    texts, images = encoder.embed_texts(["a red dog ."]), encoder.embed_features(np.eye(16, dtype=np.float32)[:2])
    assert texts.shape == (1, 24) and images.shape == (2, 24)


def test_resumed_run_equals_an_uninterrupted_one(workspace, capsys):
    # A tiny time budget stops the first run after one batch; the second resumes mid-epoch and
    # finishes epoch 1; the third raises --epochs and trains on.
    assert train(workspace, "resumed", "--epochs", "3", "--loss", "max", "--max-minutes", "1e-6") == 0
    metrics = json.loads((workspace / "models" / "resumed" / "metrics.json").read_text())
    assert metrics["stopped_by_time_budget"] and metrics["steps"] == 1
    assert train(workspace, "resumed", "--epochs", "1", "--loss", "max") == 0
    assert train(workspace, "resumed", "--epochs", "3", "--loss", "max") == 0
    assert capsys.readouterr().err.count("resuming from") == 2
    assert train(workspace, "straight", "--epochs", "3", "--loss", "max") == 0
    resumed, straight = (torch.load(workspace / "models" / name / "weights.pt") for name in ("resumed", "straight"))
    torch.testing.assert_close(resumed, straight, atol=1e-6, rtol=0)
    history = json.loads((workspace / "models" / "resumed" / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [0.17, 1, 2, 3]  # 6 batches an epoch
    assert not list((workspace / "models" / "resumed").glob(".tmp-*"))


def test_word_vector_vocabulary_frozen_and_no_held_out_images(workspace, capsys):
    """Every word of the word vectors is a row, frozen at its vector, so "purple" (in no training caption)
    means what its vector says; with no validation or test images the last epoch is exported."""
    words = [*COLORS, *ANIMALS, "a", "the", "is", "standing", "one", ",", ".", "purple"]
    vectors = np.random.default_rng(3).normal(size=(len(words), 12)).astype(np.float32)
    save_word_vectors(workspace / "models" / "words", WordVectors(words, vectors), {})
    assert train(workspace, "all-images", "--epochs", "2", "--vocabulary", "word-vectors", "--word-vectors", "words",
                 "--val-images", "0", "--test-images", "0") == 0
    assert "no test split" in capsys.readouterr().out
    model = workspace / "models" / "all-images"
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["test"] is None and metrics["data"]["train_images"] == 36 and metrics["epochs_completed"] == 2
    assert read_vocabulary(model).words == ["<eos>", "UNK", *words]
    embedding = torch.load(model / "weights.pt")["embedding.weight"].numpy()
    np.testing.assert_array_equal(embedding[2:], vectors)
    encoder = VSEEncoder(model)
    purple, unknown = encoder.embed_token_lists([["a", "purple", "dog"], ["a", "UNK", "dog"]])
    assert float(purple @ unknown) < 0.999


def test_word_vector_vocabulary_needs_word_vectors(workspace, capsys):
    assert train(workspace, "no-vectors", "--vocabulary", "word-vectors") == 1
    assert "needs --word-vectors" in capsys.readouterr().err
