"""Training our own encoder on real novel sentences: the loss falls, a killed run resumes from its
checkpoint, and the exported model directory encodes text; with the adaptive softmax too, whose
encoder folder is the same as ever (only the encoder part is saved)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from data_schemas.workspace import Workspace
from flows.cli.main import main
from model.skipthought.api import TextEncoder
from model.skipthought.encoder import SkipThoughtEncoder, sif_weights
from model.skipthought.files import read_vocabulary
from model.skipthought.triples import build_triples
from pipelines.corpus import novels, vocab
from pipelines.training import read_sentences
from tests.conftest import IN_PROCESS, NOVELS

TRAIN = ["--dim-word", "16", "--dim", "32", "--vocab-size", "2000", "--epochs", "2", "--batch-size", "16",
         "--lr", "0.003", "--log-every", "5", "--checkpoint-every", "20"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    workspace, books = tmp_path_factory.mktemp("ws"), tmp_path_factory.mktemp("books")
    for book in ("carroll_alice_nltk", "london_call_of_the_wild_pg215"):  # the second is the held-out book
        shutil.copy(NOVELS / "adventure" / f"{book}.txt.gz", books)
    novels.run(str(books / "*"), "books", workspace, beam_args=IN_PROCESS)
    vocab.run(["books"], 2000, workspace, beam_args=IN_PROCESS)
    return workspace


def train(workspace: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "flows.cli.main", "train", "encoder", "--corpus", "books", "--workspace",
               str(workspace), "--name", "tiny", *TRAIN, *extra, "--direct_running_mode=in_memory",
               "--direct_num_workers=1"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def test_killed_training_resumes_and_exports_a_working_encoder(workspace):
    model = workspace / "models" / "tiny"
    first = train(workspace)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (model / "checkpoint.pt").exists():
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert (model / "checkpoint.pt").exists() and not (model / "config.json").exists()
    second = train(workspace)
    _, err = second.communicate(timeout=600)
    assert second.returncode == 0, err
    assert "resuming from" in err and "loss/token" in err and "tokens/s" in err
    metrics = TextEncoder(model).model.config.provenance["metrics"]
    history = [h["val_nll_per_token"] for h in metrics["history"]]
    assert metrics["epochs_completed"] == 2 and history[-1] < 7.6  # ln(2000) = 7.6: better than uniform
    vectors = TextEncoder(model).encode(["Alice was beginning to get very tired .", "The dog ran ."])
    assert vectors.shape == (2, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_adaptive_softmax_trains_and_saves_the_usual_encoder_folder(workspace, capsys):
    code = main(["train", "encoder", "--corpus", "books", "--workspace", str(workspace), "--name", "adaptive", *TRAIN,
                 "--batch-size", "64", "--softmax", "adaptive", "--cutoffs", "200,800",
                 "--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert code == 0, capsys.readouterr().err
    model = workspace / "models" / "adaptive"
    metrics = TextEncoder(model).model.config.provenance["metrics"]
    history = [h["val_nll_per_token"] for h in metrics["history"]]
    assert history[-1] < history[0] < 7.6, history  # ln(2000) = 7.6: better than uniform, and learning
    # Triples with a sentence of max_len (30) tokens or more are counted, not only dropped.
    everything = build_triples(read_sentences(Workspace(workspace), ["books"]), read_vocabulary(model), 10**6,
                               {"carroll_alice_nltk", "london_call_of_the_wild_pg215"})
    assert metrics["max_len"] == 30 and metrics["train_triples_too_long"] > 0
    assert (metrics["train_triples"] + metrics["train_triples_too_long"] + metrics["val_triples"]
            + metrics["val_triples_too_long"]) == len(everything.index)
    assert {"config.json", "weights.pt", "uni_table.npy", "vocab.txt"} <= {p.name for p in model.iterdir()}
    config = TextEncoder(model).model.config
    assert set(torch.load(model / "weights.pt", weights_only=True)) == set(SkipThoughtEncoder(config).state_dict())
    vectors = TextEncoder(model).encode(["Alice was beginning to get very tired .", "The dog ran ."])
    assert vectors.shape == (2, 32) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_mean_words_weights_come_from_the_vocabulary_counts(workspace, capsys):
    code = main(["train", "encoder", "--corpus", "books", "--workspace", str(workspace), "--name", "mean", *TRAIN,
                 "--epochs", "1", "--batch-size", "128", "--softmax", "adaptive", "--cutoffs", "200,800",
                 "--mean-words", "--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert code == 0, capsys.readouterr().err
    model = workspace / "models" / "mean"
    counts = pq.read_table(vocab.vocab_paths(workspace, "books")[0]).column("count").to_numpy()
    np.testing.assert_allclose(np.load(model / "word_weights.npy"), sif_weights(counts), rtol=1e-6)
    encoder = TextEncoder(model)
    assert encoder.model.config.use_eos and encoder.dim == 32 + 16  # trained with <eos> ending each source
    vectors = encoder.encode(["Alice was beginning to get very tired .", "The dog ran ."])
    np.testing.assert_allclose(np.linalg.norm(vectors[:, 32:], axis=1), 1, atol=1e-5)
