"""Word vectors on one real novel: trained, saved and read back (the same vectors again with one worker),
an encoder's vocabulary expanded by them (its own rows kept, a new word encoded without UNK, the map
checked against an exact linear relation), and the rows a trainer's embedding starts from."""

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from torch import nn

from data_schemas import text as col
from data_schemas.workspace import Workspace
from model.skipthought.api import TextEncoder
from model.skipthought.encoder import SkipThoughtConfig, SkipThoughtEncoder
from model.skipthought.files import load_tables, read_config, read_vocabulary, save_encoder
from model.skipthought.train import EncoderRecipe, train_encoder
from model.words.embedding import init_embedding, start_embedding
from model.words.expand import expand_encoder
from model.words.files import VECTORS_FILE, VOCAB_FILE, WordVectors, read_word_vectors
from model.words.train import WordsRecipe, train_word_vectors
from pipelines.corpus import novels
from pipelines.training import read_sentences, read_token_lists, train_words_in_workspace
from tests.conftest import IN_PROCESS, NOVELS
from tests.tiny_models import random_encoder

TINY = WordsRecipe(dim=16, window=3, min_count=2, epochs=2, workers=1, seed=7)
NEW_WORD = "Rabbit"  # in Alice, left out of the encoder below


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    workspace, books = tmp_path_factory.mktemp("ws"), tmp_path_factory.mktemp("books")
    shutil.copy(NOVELS / "adventure" / "carroll_alice_nltk.txt.gz", books)
    novels.run(str(books / "*"), "alice", workspace, beam_args=IN_PROCESS)
    return train_words_in_workspace(workspace, ["alice"], TINY).model_dir


def test_vectors_round_trip_and_repeat_with_one_worker(trained):
    vectors = read_word_vectors(trained)
    assert isinstance(vectors.vectors, np.memmap) and vectors.vectors.dtype == np.float32
    assert vectors.vectors.shape == (len(vectors.words), 16) and {"Alice", NEW_WORD, "."} <= set(vectors.words)
    assert vectors.words[0] in (".", ",", "the")  # commonest first
    again = train_word_vectors(read_token_lists(Workspace(trained.parents[1]), ["alice"]).lists, TINY)
    assert again.words == vectors.words and np.array_equal(again.vectors, vectors.vectors)


def test_a_broken_folder_is_an_error_naming_the_file(trained, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(trained, broken)
    (broken / VOCAB_FILE).write_text("the\nAlice\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{VECTORS_FILE} has shape .* names 2 words"):
        read_word_vectors(broken)
    np.save(broken / VECTORS_FILE, np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=f"{VECTORS_FILE} is not a plain .npy array"):
        read_word_vectors(broken)
    with pytest.raises(ValueError, match=r"says family None, not 'words'.*is not a word-vector model"):
        read_word_vectors(random_encoder(tmp_path / "enc", ["<eos>", "UNK", "a"], kind="uni"))


def test_expansion_keeps_the_encoders_rows_and_maps_new_words(trained, tmp_path):
    vectors = read_word_vectors(trained)
    words = ["<eos>", "UNK", *[w for w in vectors.words[:300] if w != NEW_WORD]]
    encoder = random_encoder(tmp_path / "enc", words, kind="combine", dim_word=8, dim=12)
    record = expand_encoder(encoder, vectors, tmp_path / "expanded")
    expanded = tmp_path / "expanded"
    new_words = read_vocabulary(expanded).words
    assert new_words[:len(words)] == words and NEW_WORD in new_words and len(new_words) == len(vectors.words) + 2
    assert record["words_before"] == len(words) and record["shared_words"] == len(words) - 2
    assert read_config(expanded).provenance["vocabulary_expansion"] == record
    before = load_tables(encoder, read_config(encoder), len(words))
    after = load_tables(expanded, read_config(expanded), len(new_words))
    for part in ("uni", "bi"):
        assert np.array_equal(after[part][:len(words)], before[part]) and 0 < record["fit"][part]["r2"] < 1
    old, new = TextEncoder(encoder), TextEncoder(expanded)
    assert new.vocab.unk not in new.token_ids(["the", NEW_WORD, "."])
    known, unknown = "Alice said the Queen .", f"the {NEW_WORD} said ."
    assert np.allclose(old.encode([known]), new.encode([known]), atol=1e-6)
    assert not np.allclose(old.encode([unknown]), new.encode([unknown]), atol=1e-3)
    with pytest.raises(ValueError, match="exists: remove it or name another folder"):
        expand_encoder(encoder, vectors, expanded)


def test_the_map_recovers_an_exact_affine_relation(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    vectors = WordVectors(words, rng.normal(size=(40, 5)).astype(np.float32))
    config = SkipThoughtConfig(kind="combine", dim_word=3, uni_dim=4, bi_dim=2)
    maps = {part: (rng.normal(size=(5, 3)), rng.normal(size=3)) for part in config.parts}
    own = words[:30]  # the last 10 words are new to the encoder
    tables = {part: np.vstack([rng.normal(size=(2, 3)), vectors.vectors[:30] @ a + b]).astype(np.float32)
              for part, (a, b) in maps.items()}
    save_encoder(tmp_path / "enc", SkipThoughtEncoder(config), ["<eos>", "UNK", *own], tables)
    record = expand_encoder(tmp_path / "enc", vectors, tmp_path / "out")
    grown = load_tables(tmp_path / "out", read_config(tmp_path / "out"), 42)
    for part, (a, b) in maps.items():
        assert record["fit"][part]["r2"] == pytest.approx(1.0, abs=1e-4)
        assert np.allclose(grown[part][32:], vectors.vectors[30:] @ a + b, atol=1e-4)


def test_embedding_rows_start_from_the_vectors(trained):
    vectors = read_word_vectors(trained)
    words = ["<eos>", "UNK", "Alice", "no-such-word-here"]
    matrix, covered = init_embedding(words, vectors, 16)
    assert covered.tolist() == [False, False, True, False]
    assert np.array_equal(matrix[2], vectors.vectors[vectors.words.index("Alice")]) and not matrix[3].any()
    torch.manual_seed(0)
    embedding = nn.Embedding(4, 16)
    record = start_embedding(embedding, words, "words-alice", vectors)
    assert record["word_vectors"]["covered"] == 1 and record["word_vectors"]["words"] == 4
    weight = embedding.weight.detach().numpy()
    assert np.array_equal(weight[2], matrix[2])
    assert np.allclose(np.linalg.norm(weight[[0, 1, 3]], axis=1).mean(), np.linalg.norm(matrix[2]), rtol=1e-4)
    assert start_embedding(nn.Embedding(4, 16), words, "", None) == {}
    with pytest.raises(ValueError, match=r"16-d but the recipe's dim_word is 32: set dim_word to 16 \(--dim-word 16\)"):
        init_embedding(words, vectors, 32)
    with pytest.raises(ValueError, match="word_vectors is 'words-alice' but the trainer was given no vectors"):
        start_embedding(nn.Embedding(4, 16), words, "words-alice", None)


def test_the_encoder_trainer_starts_from_the_vectors(trained, tmp_path):
    vectors = read_word_vectors(trained)
    sentences = read_sentences(Workspace(trained.parents[1]), ["alice"])
    half = sentences.num_rows // 2  # two "books", so one is held out and one trains
    sentences = sentences.set_column(0, col.BOOK_ID, pa.array(["a"] * half + ["b"] * (sentences.num_rows - half)))
    words = ["<eos>", "UNK", *vectors.words[:298]]
    recipe = EncoderRecipe(dim_word=16, dim=16, vocab_size=300, epochs=1, log_every=1000, device="cpu",
                           word_vectors="words-alice")
    train_encoder(sentences, words, tmp_path / "enc", recipe, {}, vectors)
    record = read_config(tmp_path / "enc").provenance["word_vectors"]
    assert record == {"model": str(trained), "ref": "words-alice", "covered": 298, "words": 300}
