"""Workspace names: one safe path segment or a clear error; every artifact path stays inside the root."""

from pathlib import Path

import pytest

from data_schemas.workspace import Workspace, check_name

BAD_NAMES = ["", ".", "..", "../escape", "../../../escape2", "/some/dir", "a/b", "a\\b", ".hidden", "tab\tname",
             "x" * 129, "name with space", "nul\0byte", "~user"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_refused_naming_the_kind(name):
    with pytest.raises(ValueError, match="corpus name"):
        check_name("corpus", name)


@pytest.mark.parametrize("name", ["novels", "flickr8k+coco+multi30k", "vse-flickr8k_1000", "st-uni.v2", "A1"])
def test_good_names_pass(name):
    assert check_name("model", name) == name


def test_every_artifact_path_is_inside_the_root(tmp_path):
    ws = Workspace(tmp_path)
    paths = [ws.corpus_part("c", "passages"), ws.vocab("v"), ws.vectors("m", "c", "captions"),
             ws.features("efficientnet-lite0", "d"), ws.model("m"), ws.styles("m"), ws.index("vse", "i"),
             ws.rejects("corpus", "c")]
    assert all(path.resolve().is_relative_to(tmp_path.resolve()) for path in paths)
    for make in (lambda: ws.corpus(".."), lambda: ws.vectors("m", "../..", "captions"), lambda: ws.vocab("/etc/x"),
                 lambda: ws.index("vse", "a/b"), lambda: ws.rejects("corpus", "..")):
        with pytest.raises(ValueError, match=r"not allowed|must not be empty"):
            make()


def test_resolve_model_takes_a_folder_or_an_id_under_models(tmp_path):
    ws = Workspace(tmp_path / "ws")
    (ws.model("m")).mkdir(parents=True)
    (ws.model("m") / "config.json").write_text("{}")
    elsewhere = tmp_path / "shipped" / "e"
    elsewhere.mkdir(parents=True)
    (elsewhere / "config.json").write_text("{}")
    assert ws.resolve_model("m") == ws.model("m")
    assert ws.resolve_model(elsewhere) == elsewhere
    with pytest.raises(FileNotFoundError, match="--decoder 'nothing' is neither"):
        ws.resolve_model("nothing", "decoder")
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        ws.resolve_model(Path("no/such/folder"))
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        ws.resolve_model("..")
