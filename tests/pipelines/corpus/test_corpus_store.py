"""Corpus inputs on an object store (a moto S3 server on 127.0.0.1): novels and captions read from the store,
with the split and image lists found beside them there, give the rows the same files give on disk; the
vocabulary on a stored workspace equals the one on disk; reruns do nothing."""

import gzip

import pytest

from data_schemas import CAPTIONS, PASSAGES, SENTENCES
from data_schemas.shards import read_artifact
from data_schemas.storage import location, read_parquet, upload_file
from data_schemas.workspace import Workspace
from flows.cli.main import main
from pipelines.corpus import captions, novels, vocab
from tests.conftest import IN_PROCESS

PROSE = "She walked home. It was late, and the lamps were lit. Mr. Bell said nothing at all. "


@pytest.fixture
def inputs(tmp_path, s3_workspace):
    """The same input files in a local folder and under `<s3_workspace>/inputs` (the folder, the URL)."""
    local = tmp_path / "inputs"
    for number in range(2):
        book = "\n\n".join(f"{PROSE * (paragraph + 1)}Book {number}." for paragraph in range(4))
        (local / "books").mkdir(parents=True, exist_ok=True)
        (local / "books" / f"book{number}.txt.gz").write_bytes(gzip.compress(book.encode()))
    (local / "books" / "notes.md").write_text("not a novel")
    (local / "flickr").mkdir()
    (local / "flickr" / "Flickr8k.token.txt").write_text(
        "a.jpg#0\tA dog runs .\na.jpg#1\tThe dog is brown .\nb.jpg#0\tTwo cats sleep .\nbad line\n")
    (local / "flickr" / "Flickr_8k.trainImages.txt").write_text("a.jpg\n")
    (local / "flickr" / "Flickr_8k.testImages.txt").write_text("b.jpg\n")
    (local / "multi30k" / "raw").mkdir(parents=True)
    (local / "multi30k" / "image_splits").mkdir()
    (local / "multi30k" / "raw" / "train.en").write_text("A man rides a horse .\nA girl reads .\nNo image .\n")
    (local / "multi30k" / "image_splits" / "train.txt").write_text("1.jpg\n2.jpg\n")
    stored = f"{s3_workspace}/inputs"
    for path in local.rglob("*"):
        if path.is_file():
            upload_file(path, location(stored) / path.relative_to(local).as_posix())
    return local, stored


def test_novels_and_vocab_from_the_store_equal_those_from_disk(inputs, tmp_path, s3_workspace):
    local, stored = inputs
    assert novels.list_novels(f"{stored}/books") == novels.list_novels(f"{stored}/books/*") == [
        f"{stored}/books/book0.txt.gz", f"{stored}/books/book1.txt.gz"]
    disk, store = tmp_path / "ws", f"{s3_workspace}/ws"
    on_disk = novels.run(str(local / "books" / "*.txt.gz"), "books", disk, beam_args=IN_PROCESS)
    on_store = novels.run(f"{stored}/books/*.txt.gz", "books", location(store), beam_args=IN_PROCESS)
    assert (on_store.rows, on_store.stats, on_store.shards_run) == (on_disk.rows, on_disk.stats, 2)
    for kind, schema in (("sentences", SENTENCES), ("passages", PASSAGES)):
        assert read_artifact(Workspace(store).corpus_part("books", kind), schema).equals(
            read_artifact(Workspace(disk).corpus_part("books", kind), schema))
    again = novels.run(f"{stored}/books/*.txt.gz", "books", location(store), beam_args=IN_PROCESS)
    assert (again.start.value, again.shards_run) == ("done", 0)

    disk_vocab = vocab.run(["books"], 10, disk, beam_args=IN_PROCESS)
    store_vocab = vocab.run(["books"], 10, location(store), beam_args=IN_PROCESS)
    assert str(store_vocab.path) == f"{store}/vocab/books.parquet" and not store_vocab.skipped
    assert read_parquet(store_vocab.path).equals(read_parquet(disk_vocab.path))
    assert (store_vocab.words, store_vocab.tokens) == (disk_vocab.words, disk_vocab.tokens)
    assert location(f"{store}/vocab/books.meta.json").is_file()
    assert vocab.run(["books"], 10, location(store), beam_args=IN_PROCESS).skipped


def test_captions_and_the_lists_beside_them_are_read_from_the_store(inputs, tmp_path, s3_workspace):
    local, stored = inputs
    store = location(f"{s3_workspace}/ws")
    for fmt, pattern in (("flickr8k", "flickr/Flickr8k.token.txt"), ("multi30k", "multi30k/raw/*.en")):
        params = captions.CaptionParams(fmt)
        on_disk = captions.run(str(local / pattern), fmt, tmp_path / "ws", params, IN_PROCESS)
        on_store = captions.run(f"{stored}/{pattern}", fmt, store, params, IN_PROCESS)
        assert (on_store.rows, on_store.stats) == (on_disk.rows, on_disk.stats)
        rows = read_artifact(Workspace(store).corpus_part(fmt, "captions"), CAPTIONS)
        assert rows.equals(read_artifact(Workspace(tmp_path / "ws").corpus_part(fmt, "captions"), CAPTIONS))
        assert captions.run(f"{stored}/{pattern}", fmt, store, params, IN_PROCESS).shards_run == 0
    flickr = read_artifact(Workspace(store).corpus_part("flickr8k", "captions"), CAPTIONS).to_pylist()
    assert [(row["image_id"], row["split"]) for row in flickr] == [("a.jpg", "train"), ("a.jpg", "train"),
                                                                   ("b.jpg", "test")]
    multi = read_artifact(Workspace(store).corpus_part("multi30k", "captions"), CAPTIONS).to_pylist()
    assert [row["image_id"] for row in multi] == ["1.jpg", "2.jpg"]  # the third line has no image: a reject


def test_the_corpus_command_reads_a_stored_glob_into_a_stored_workspace(inputs, s3_workspace, capsys):
    _, stored = inputs
    code = main(["corpus", "novels", "--input", f"{stored}/books/*.txt.gz", "--name", "cli", "--workspace",
                 f"{s3_workspace}/ws", *IN_PROCESS])
    assert code == 0, capsys.readouterr().err
    sentences = read_artifact(Workspace(f"{s3_workspace}/ws").corpus_part("cli", "sentences"), SENTENCES)
    assert sentences.num_rows > 0 and set(sentences.column("book_id").to_pylist()) == {"book0", "book1"}
