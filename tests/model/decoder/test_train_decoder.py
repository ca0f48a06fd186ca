"""Training the decoder on real passages and their vector shards (three short novels, a random tiny
encoder): it learns (held-out perplexity well below the untrained one, on a book it never saw),
counts what it skips, resumes exactly, and names the `storyteller encode` command when vectors
are missing; the options (the vector at every step, adaptive softmax, passages cut to a length) train
too, and both held-out perplexities are reported, with each passage's own vector and shuffled ones."""

import argparse
import io
import json
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import torch

from data_schemas import PASSAGES
from data_schemas.shards import read_artifact
from flows.cli.main import main
from model.decoder.beam_search import SearchOptions, beam_search
from model.decoder.files import load_decoder
from model.decoder.train import DecoderRecipe, Split, cut_passage, shuffled_vectors
from model.skipthought.files import read_vocabulary
from model.training.recipes import add_recipe_flags, recipe_from_args
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
    assert "vectors shuffled among passages" in err
    model_dir = workspace / "models" / "straight"
    metrics = json.loads((model_dir / "metrics.json").read_text())
    config = json.loads((model_dir / "config.json").read_text())
    assert config["family"] == "decoder" and config["provenance"]["metrics"] == metrics
    assert config["provenance"]["encoder"] == "tiny" and config["provenance"]["recipe"]["max_len"] == MAX_LEN
    initial = metrics["history"][0]["held_out_perplexity"]
    assert 200 < initial < 600 and metrics["held_out_perplexity"] < initial / 3, metrics["history"]
    best = min(metrics["history"], key=lambda h: h["held_out_perplexity"])
    assert metrics["held_out_perplexity_shuffled"] == best["held_out_perplexity_shuffled"] > 1
    assert data_cut(metrics) == (0, 0)  # no --max-tokens: whole passages
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


def data_cut(metrics: dict) -> tuple[int, int]:
    return metrics["data"]["train_passages_cut"], metrics["data"]["held_out_passages_cut"]


def test_a_decoder_fed_its_vector_at_every_step_with_adaptive_softmax_trains(workspace, capsys):
    workspace, _ = workspace
    assert train(workspace, "listening", "--epochs", "2", "--ctx-every-step", "--softmax", "adaptive",
                 "--cutoffs", "50,150", "--max-tokens", "40") == 0
    assert "vectors shuffled among passages" in capsys.readouterr().err
    model_dir = workspace / "models" / "listening"
    metrics = json.loads((model_dir / "metrics.json").read_text())
    initial = metrics["history"][0]
    assert initial["held_out_perplexity_shuffled"] > 1 and metrics["held_out_perplexity"] < initial[
        "held_out_perplexity"] / 3, metrics["history"]
    # Every passage has 100-150 tokens, so --max-tokens 40 cuts each one.
    assert data_cut(metrics) == (metrics["data"]["train_passages"], metrics["data"]["held_out_passages"])
    decoder = load_decoder(model_dir)
    config = decoder.config
    assert (config.ctx_every_step, config.softmax, config.cutoffs, config.n_words) == (True, "adaptive", [50, 150], 300)
    ctx = torch.randn(2, config.dim_ctx)
    for result in beam_search(decoder.step, decoder.initial_state(ctx), SearchOptions(beam_width=3, max_len=45)):
        assert result.best.tokens and 1 not in result.best.tokens  # UNK is banned


def test_a_long_passage_is_cut_after_its_last_sentence_end_within_max_tokens():
    tokens = ["She", "wept", ".", "He", "said", ",", "``", "Go", ".", "''", "And", "she", "went"]
    assert cut_passage(tokens, 0) == cut_passage(tokens, 13) == tokens
    assert cut_passage(tokens, 12) == tokens[:10]  # the closing quote stays with its sentence
    assert cut_passage(tokens, 9) == tokens[:9] and cut_passage(tokens, 8) == tokens[:3]
    assert cut_passage(tokens, 2) == ["She", "wept"]  # no sentence ends within: cut at max_tokens


def test_shuffled_vectors_give_every_passage_another_ones_vector():
    split = Split(np.arange(100, 110), [[i, 0] for i in range(10)], too_long=3, cut=2)
    shuffled = shuffled_vectors(split, seed=7)
    assert sorted(shuffled.rows) == list(split.rows) and not (shuffled.rows == split.rows).any()
    assert shuffled.targets == split.targets and (shuffled.too_long, shuffled.cut) == (3, 2)
    assert list(shuffled_vectors(split, seed=7).rows) == list(shuffled.rows)


def test_the_options_are_flags_and_bad_values_name_them():
    parser = argparse.ArgumentParser()
    add_recipe_flags(parser, DecoderRecipe)
    assert recipe_from_args(parser.parse_args(["--ctx-every-step"]), DecoderRecipe).ctx_every_step
    assert not recipe_from_args(parser.parse_args(["--no-ctx-every-step"]), DecoderRecipe).ctx_every_step
    assert DecoderRecipe() == recipe_from_args(parser.parse_args([]), DecoderRecipe)
    assert (DecoderRecipe().ctx_every_step, DecoderRecipe().softmax, DecoderRecipe().max_tokens) == (False, "full", 0)
    for values, error in (({"softmax": "adaptive"}, "--softmax adaptive needs --cutoffs"),
                          ({"cutoffs": "2000"}, "belong to --softmax adaptive"),
                          ({"softmax": "adaptive", "cutoffs": "2000,x"}, "must be comma-separated word ranks"),
                          ({"softmax": "adaptive", "cutoffs": "5000,2000"}, "must rise"),
                          ({"softmax": "adaptive", "cutoffs": "20000"}, "below the 20000 words of --vocab-size"),
                          ({"max_tokens": -1}, "--max-tokens at least 0")):
        with pytest.raises(ValueError, match=error):
            DecoderRecipe(**values)
