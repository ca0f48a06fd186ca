"""The token lists word vectors learn from: novels give their sentences, caption corpora their captions,
and leaving out a split also leaves out its captions repeated word for word in another corpus."""

import pytest

from data_schemas.workspace import Workspace
from pipelines.corpus import captions
from pipelines.corpus.captions import CaptionParams
from pipelines.training import read_token_lists
from tests.conftest import IN_PROCESS


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    root, files = tmp_path_factory.mktemp("ws"), tmp_path_factory.mktemp("captions")
    (files / "bench.csv").write_text("image,caption\n1.jpg,A dog runs .\n2.jpg,Two cats sleep .\n")
    (files / "other.csv").write_text("image,caption\n3.jpg,a DOG runs .\n4.jpg,A bird flies .\n")
    captions.run(str(files / "bench.csv"), "bench", root, CaptionParams("csv", split="test"), IN_PROCESS)
    captions.run(str(files / "other.csv"), "other", root, CaptionParams("csv", split="train"), IN_PROCESS)
    return Workspace(root)


def test_a_split_and_its_repeats_are_left_out(workspace):
    every = read_token_lists(workspace, ["bench", "other"])
    assert len(every.lists) == 4 and every.counts["bench"] == {"used": 2, "left_out": 0}
    assert [i["artifact"] for i in every.inputs] == ["captions", "captions"]
    unseen = read_token_lists(workspace, ["bench", "other"], exclude_split="test")
    assert unseen.lists == [["A", "bird", "flies", "."]]
    assert unseen.counts == {"bench": {"used": 0, "left_out": 2}, "other": {"used": 1, "left_out": 1}}


def test_a_split_no_corpus_has_is_an_error_listing_theirs(workspace):
    with pytest.raises(ValueError, match=r"--exclude-split dev: no caption .* \(their splits: test, train\)"):
        read_token_lists(workspace, ["bench", "other"], exclude_split="dev")
    with pytest.raises(FileNotFoundError, match="corpus 'missing' has no finished sentences or captions"):
        read_token_lists(workspace, ["missing"])
