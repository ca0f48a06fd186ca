"""Training with the workspace on an object store (a moto S3 server on 127.0.0.1): tiny word-vector and
encoder runs read their corpus from the store and write the model folder, checkpoint and metrics to
WS/models/NAME there; `Workspace.resolve_model` loads it back, a rerun resumes the stored checkpoint, and
`storyteller export` copies the stored folder to another prefix of the store."""

import numpy as np
import pytest

from data_schemas.storage import is_remote, location
from data_schemas.workspace import Workspace
from flows.cli.main import main
from model.skipthought.files import load_encoder, read_vocabulary
from model.words.files import read_word_vectors
from model.words.train import WordsRecipe
from pipelines.corpus import novels
from pipelines.training import train_words_in_workspace
from tests.conftest import IN_PROCESS

SENTENCES = ["The dog ran to the river .", "A cat slept by the fire .", "The old man read a book .",
             "She walked home in the rain .", "The children sang a song .", "He opened the door slowly ."]
ENCODER = ["--dim-word", "8", "--dim", "16", "--vocab-size", "40", "--batch-size", "8", "--log-every", "5",
           "--checkpoint-every", "4", "--max-len", "20"]


@pytest.fixture
def books(tmp_path) -> str:
    """Three small novels, as an input glob."""
    (tmp_path / "books").mkdir()
    for number in range(3):
        text = "\n\n".join(" ".join(SENTENCES[(number + i + j) % len(SENTENCES)] for j in range(4))
                           for i in range(12))
        (tmp_path / "books" / f"book{number}.txt").write_text(text)
    return str(tmp_path / "books" / "*.txt")


@pytest.fixture
def store(books, s3_workspace):
    """A workspace on the store holding the novel corpus `books`."""
    novels.run(books, "books", location(s3_workspace), beam_args=IN_PROCESS)
    return location(s3_workspace)


def test_word_vectors_trained_on_the_store_equal_those_on_disk(books, store, tmp_path):
    disk = tmp_path / "ws"
    novels.run(books, "books", disk, beam_args=IN_PROCESS)
    recipe = WordsRecipe(dim=8, min_count=1, epochs=1, workers=1)  # one thread: the same vectors every run
    on_disk = train_words_in_workspace(disk, ["books"], recipe, name="w")
    on_store = train_words_in_workspace(store, ["books"], recipe, name="w")
    assert on_store.model_dir == store / "models" / "w" and (on_store.model_dir / "config.json").is_file()
    assert on_store.metrics["tokens"] == on_disk.metrics["tokens"]
    copy = Workspace(store).resolve_model("w")
    assert not is_remote(copy)
    stored, local = read_word_vectors(copy), read_word_vectors(on_disk.model_dir)
    assert stored.words == local.words and np.array_equal(stored.vectors, local.vectors)


def test_the_encoder_command_trains_into_a_stored_workspace_and_resumes_there(store, capsys):
    args = ["train", "encoder", "--corpus", "books", "--workspace", str(store), "--name", "tiny", *ENCODER]
    assert main([*args, "--epochs", "1", *IN_PROCESS]) == 0, capsys.readouterr().err
    model = store / "models" / "tiny"
    assert {"config.json", "weights.pt", "uni_table.npy", "vocab.txt", "checkpoint.pt", "metrics.json"} <= {
        path.name for path in model.iterdir()}
    assert (store / "vocab" / "books.parquet").is_file()
    first = Workspace(store).resolve_model("tiny")
    encoder = load_encoder(first)
    assert encoder.config.uni_dim == 16 and len(read_vocabulary(first).words) <= 40
    capsys.readouterr()
    assert main([*args, "--epochs", "2", *IN_PROCESS]) == 0  # epochs may change: the checkpoint is taken up
    assert f"resuming from {model / 'checkpoint.pt'}: epoch 1" in capsys.readouterr().err
    second = Workspace(store).resolve_model("tiny")
    assert second != first  # a new version of the folder: copied again
    assert load_encoder(second).config.provenance["metrics"]["epochs_completed"] == 2
    shipped = store / "shipped" / "tiny"
    assert main(["export", "--model", str(model), "--out", str(shipped)]) == 0, capsys.readouterr().err
    assert "checkpoint.pt" not in {path.name for path in shipped.iterdir()}
    assert load_encoder(str(shipped)).config.uni_dim == 16
