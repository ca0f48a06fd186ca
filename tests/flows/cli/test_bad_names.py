"""Names that would escape the workspace are refused by every command that takes one, before anything is
read, written or deleted: the whole folder tree around the workspace is the same after the command."""

import shutil

import pytest

from flows.cli.main import main
from tests.conftest import CAPTIONS, NOVELS, SHARED_DATA
from tests.tiny_models import random_vse

ESCAPES = ["../../../escape2", "../..", "..", "a/b", ""]


def tree(root):
    return sorted((str(path.relative_to(root)), path.stat().st_size) for path in root.rglob("*"))


@pytest.fixture
def setup(tmp_path):
    ws = tmp_path / "deep" / "ws"
    (ws / "corpora" / "kept").mkdir(parents=True)
    (ws / "corpora" / "kept" / "data.txt").write_text("a corpus the user has built")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("must survive")
    novel = tmp_path / "book.txt.gz"
    shutil.copy(next((NOVELS / "romance").glob("*.txt.gz")), novel)
    images = tmp_path / "photos"
    images.mkdir()
    shutil.copy(next((SHARED_DATA / "images" / "flickr8k_1000" / "images").glob("*.jpg")), images)
    random_vse(tmp_path / "vse")
    return tmp_path, ws, victim


def commands(tmp_path, ws, name):
    common = ["--workspace", str(ws)]
    return [
        ["corpus", "novels", "--input", str(tmp_path / "book.txt.gz"), "--name", name, *common],
        ["corpus", "captions", "--input", str(CAPTIONS / "flickr8k" / "Flickr8k.token.txt.gz"), "--format",
         "flickr8k", "--name", name, *common],
        ["vocab", "--corpus", "kept", "--size", "10", "--name", name, *common],
        ["vocab", "--corpus", name or ",", "--size", "10", *common],
        ["features", "--images", str(tmp_path / "photos"), "--name", name, *common],
        ["style", "--name", name, "--corpus", "kept", "--kind", "passages", "--encoder", "e", *common],
        ["index", "--vse", str(tmp_path / "vse"), "--corpus", "kept", "--name", name, *common],
        ["encode", "--encoder", str(tmp_path / "vse"), "--corpus", name, "--kind", "captions", *common],
        ["train", "encoder", "--corpus", "kept", "--name", name, *common],
    ]


@pytest.mark.parametrize("escape", ESCAPES)
def test_escaping_names_are_refused_and_touch_nothing(setup, escape, capsys):
    tmp_path, ws, victim = setup
    before = tree(tmp_path)
    for name in [escape, str(victim)]:
        for argv in commands(tmp_path, ws, name):
            assert main(argv) == 1, argv
            error = capsys.readouterr().err
            assert "name" in error and ("not allowed" in error or "must not be empty" in error), (argv, error)
            assert tree(tmp_path) == before, argv
    assert (victim / "precious.txt").read_text() == "must survive"
