"""Training the decoder on real passages and their vector shards (three short novels, a random tiny
encoder): it learns (held-out perplexity well below the untrained one, on a book it never saw),
counts what it skips, resumes exactly, and names the `storyteller encode` command when vectors
are missing."""

import io
import json
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import torch

from data_schemas import PASSAGES
from data_schemas.shards import read_artifact
from flows.cli.main import main
from model.decoder.files import load_decoder
from model.skipthought.files import read_vocabulary
from pipelines import encode
from pipelines.corpus import novels
from tests.conftest import IN_PROCESS, NOVELS
from tests.tiny_models import random_encoder

# Two corpora, three books: one book is held out.
CORPORA = {"adventure": ["adventure/carroll_alice_nltk.txt.gz", "adventure/london_call_of_the_wild_pg215.txt.gz"],
           "romance": ["romance/walpole_castle_of_otranto.txt.gz"]}
MAX_LEN = 110  # keeps about half of the passages (they have 100-150 tokens): 11 batches an epoch
TRAIN = ["--dim-word", "16", "--dim", "32", "--vocab-size", "300", "--max-len", str(MAX_LEN), "--batch-size", "32",
         "--lr", "0.02", "--val-books", "1", "--log-every", "5", "--device", "cpu"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("ws")
    for name, books in CORPORA.items():
        (workspace / "novels" / name).mkdir(parents=True)
        for book in books:
            (workspace / "novels" / name / Path(book).name).symlink_to(NOVELS / book)
        novels.run(str(workspace / "novels" / name), name, workspace, beam_args=IN_PROCESS)
    table = pa.concat_tables(read_artifact(workspace / "corpora" / name / "passages", PASSAGES) for name in CORPORA)
    words = sorted({t for tokens in table.column("tokens").to_pylist() for t in tokens})
    for model in ("tiny", "unencoded"):
        random_encoder(workspace / "models" / model, ["<eos>", "UNK", *words], kind="uni", dim_word=8, dim=16)
    # threads=1: the in-process encode job sets torch's thread count, which the training tests then use.
    params = encode.EncodeParams(str(workspace / "models" / "tiny"), batch_size=4096, batch_tokens=1 << 18, threads=1)
    for name in CORPORA:
        encode.run(params, name, "passages", workspace, IN_PROCESS)
    passages = {book: table.filter(pc.equal(table.column("book_id"), book)) for book in table.column("book_id").unique()
                .to_pylist()}
    return workspace, passages


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train fastest on one thread; two contend badly on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def train(workspace, name: str, *extra: str) -> int:
    return main(["train", "decoder", "--corpus", ",".join(CORPORA), "--encoder", "tiny", "--workspace", str(workspace),
                 "--name", name, *TRAIN, *extra])


@pytest.fixture(scope="module")
def straight(workspace, one_thread) -> tuple[str, str]:
    """Two epochs in one run: stdout and stderr."""
    capture = io.StringIO(), io.StringIO()
    with redirect_stdout(capture[0]), redirect_stderr(capture[1]):
        assert train(workspace[0], "straight", "--epochs", "2") == 0
    return capture[0].getvalue(), capture[1].getvalue()


def test_training_learns_on_held_out_books_and_exports(workspace, straight):
    workspace, passages = workspace
    out, err = straight
    assert "loss/token" in err and "tokens/s" in err and "(best)" in err and "held out" in out
    model_dir = workspace / "models" / "straight"
    metrics = json.loads((model_dir / "metrics.json").read_text())
    config = json.loads((model_dir / "config.json").read_text())
    assert config["family"] == "decoder" and config["provenance"]["metrics"] == metrics
    assert config["provenance"]["encoder"] == "tiny" and config["provenance"]["recipe"]["max_len"] == MAX_LEN
    initial = metrics["history"][0]["held_out_perplexity"]
    assert 200 < initial < 600 and metrics["held_out_perplexity"] < initial / 3, metrics["history"]
    [held_out] = metrics["held_out_books"]
    lengths = {book: table.column("n_tokens").to_pylist() for book, table in passages.items()}
    assert len(lengths) == 3 and held_out in lengths
    data = metrics["data"]
    assert data["held_out_passages"] == sum(n < MAX_LEN for n in lengths[held_out])
    assert data["held_out_passages_too_long"] == sum(n >= MAX_LEN for n in lengths[held_out])
    train_lengths = [n for book in lengths if book != held_out for n in lengths[book]]
    assert data["train_passages"] == sum(n < MAX_LEN for n in train_lengths)
    assert data["train_passages_too_long"] == sum(n >= MAX_LEN for n in train_lengths) > 0
    assert data["passages_in"] == sum(map(len, lengths.values())) and data["passages_without_vectors"] == 0
    # The vocabulary: <eos>, UNK, then the commonest words of the training books' kept passages.
    counts = Counter(t for book in lengths if book != held_out for tokens, n in
                     zip(passages[book].column("tokens").to_pylist(), lengths[book], strict=True)
                     if n < MAX_LEN for t in tokens)
    words = read_vocabulary(model_dir).words
    assert len(words) == 300 and words[:2] == ["<eos>", "UNK"]
    assert words[2:] == sorted(counts, key=lambda w: (-counts[w], w))[:298]
    decoder = load_decoder(model_dir)
    assert decoder.config.dim_ctx == 16 and decoder.config.n_words == 300


def test_resumed_run_equals_an_uninterrupted_one(workspace, straight, capsys):
    workspace, _ = workspace
    # A tiny time budget stops the first run after one batch; the second resumes mid-epoch and
    # finishes epoch 1; the third raises --epochs and trains on.
    assert train(workspace, "resumed", "--epochs", "2", "--max-minutes", "1e-6") == 0
    metrics = json.loads((workspace / "models" / "resumed" / "metrics.json").read_text())
    assert metrics["stopped_by_time_budget"] and metrics["steps"] == 1
    assert train(workspace, "resumed", "--epochs", "1") == 0
    assert train(workspace, "resumed", "--epochs", "2", "--log-every", "7") == 0
    assert capsys.readouterr().err.count("resuming from") == 2
    resumed, straight = (torch.load(workspace / "models" / name / "checkpoint.pt", weights_only=False)
                         for name in ("resumed", "straight"))
    torch.testing.assert_close(resumed["model"], straight["model"], atol=1e-6, rtol=0)
    history = json.loads((workspace / "models" / "resumed" / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [0, 0.09, 1, 2]  # 1 step of 11, then epochs 1 and 2
    assert not list((workspace / "models" / "resumed").glob(".tmp-*"))
    assert train(workspace, "resumed", "--epochs", "2", "--lr", "0.01", "--max-minutes", "1e-6") == 0
    assert "from other data or another recipe: starting afresh" in capsys.readouterr().err


def test_missing_vectors_name_the_encode_command(workspace, capsys):
    workspace, _ = workspace
    code = main(["train", "decoder", "--corpus", "romance", "--encoder", "unencoded", "--workspace", str(workspace)])
    err = capsys.readouterr().err
    assert code == 1 and "holds no finished skip-thought vectors of 'romance'" in err
    assert (f"run `storyteller encode --encoder {workspace / 'models' / 'unencoded'} --corpus romance --kind passages "
            f"--workspace {workspace}` first") in err
