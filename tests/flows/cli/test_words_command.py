"""`storyteller train words` and `storyteller expand-vocab` from the command line, on one real novel."""

import shutil
import subprocess
import sys

from model.skipthought.files import read_vocabulary
from model.words.files import read_word_vectors
from pipelines.corpus import novels
from tests.conftest import IN_PROCESS, NOVELS
from tests.tiny_models import random_encoder


def storyteller(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli.main", *args], capture_output=True, text=True)


def test_train_words_then_expand_an_encoder(tmp_path):
    workspace, books = tmp_path / "ws", tmp_path / "books"
    books.mkdir()
    shutil.copy(NOVELS / "adventure" / "carroll_alice_nltk.txt.gz", books)
    novels.run(str(books / "*"), "alice", workspace, beam_args=IN_PROCESS)
    trained = storyteller("train", "words", "--corpus", "alice", "--workspace", str(workspace), "--recipe",
                          "words-novels-captions", "--dim", "12", "--epochs", "1", "--workers", "1")
    assert trained.returncode == 0, trained.stderr
    assert "word2vec epoch 1/1 done" in trained.stderr
    vectors = read_word_vectors(workspace / "models" / "words-alice")
    assert f"model words-alice: {len(vectors.words)} words from " in trained.stdout and vectors.dim == 12

    encoder = random_encoder(tmp_path / "enc", ["<eos>", "UNK", *vectors.words[:100]], kind="uni", dim_word=6)
    out = tmp_path / "expanded"
    expanded = storyteller("expand-vocab", "--encoder", str(encoder), "--words", "words-alice", "--workspace",
                           str(workspace), "--out", str(out))
    assert expanded.returncode == 0, expanded.stderr
    assert f"102 -> {len(vectors.words) + 2} words (100 shared words" in expanded.stdout
    assert len(read_vocabulary(out).words) == len(vectors.words) + 2
    again = storyteller("expand-vocab", "--encoder", str(encoder), "--words", "words-alice", "--workspace",
                        str(workspace), "--out", str(out))
    assert again.returncode == 1 and "exists: remove it" in again.stderr and "Traceback" not in again.stderr
    wrong = storyteller("expand-vocab", "--encoder", "words-alice", "--words", "words-alice", "--workspace",
                        str(workspace), "--out", str(tmp_path / "x"))
    assert wrong.returncode == 1 and "is a words model, not a skip-thought encoder" in wrong.stderr
    split = storyteller("train", "words", "--corpus", "alice", "--workspace", str(workspace), "--exclude-split", "test")
    assert split.returncode == 1 and "--exclude-split test: no caption" in split.stderr
