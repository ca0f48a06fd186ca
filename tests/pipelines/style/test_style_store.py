"""Styles with the workspace on an object store (a moto S3 server on 127.0.0.1): the combine job writes the
vector, sum and json it writes on disk, a rerun reads nothing, a new corpus is added to the stored sum, and
the `style` and `convert styles` commands run with --workspace s3://."""

import numpy as np
import pytest

from data_schemas import CAPTIONS
from data_schemas.shards import read_artifact
from data_schemas.storage import location, upload_folder
from data_schemas.workspace import Workspace
from flows.cli.main import main
from pipelines import encode
from pipelines.corpus import captions
from pipelines.style import job as style
from pipelines.style.files import FULL, INCREMENTAL, UNCHANGED, list_styles, read_style, style_paths
from tests.conftest import IN_PROCESS, SHARED_DATA
from tests.tiny_models import random_encoder

DIM = 8


@pytest.fixture(scope="module")
def disk_workspace(tmp_path_factory):
    """Two small caption corpora encoded by a tiny encoder under models/tiny, on disk."""
    workspace, files = tmp_path_factory.mktemp("ws"), tmp_path_factory.mktemp("captions")
    header, *lines = (SHARED_DATA / "images" / "flickr8k_1000" / "captions.txt").read_text().splitlines()
    for number, corpus in enumerate(("c1", "c2")):
        (files / f"{corpus}.csv").write_text("\n".join([header, *lines[number * 25:(number + 1) * 25]]) + "\n")
        captions.run(str(files / f"{corpus}.csv"), corpus, workspace, captions.CaptionParams("csv"), IN_PROCESS)
    words = {t for c in ("c1", "c2") for ts in read_artifact(Workspace(workspace).corpus_part(c, "captions"),
                                                                CAPTIONS).column("tokens").to_pylist() for t in ts}
    model = random_encoder(Workspace(workspace).model("tiny"), ["<eos>", "UNK", *sorted(words)], kind="uni",
                           dim_word=4, dim=DIM)
    for corpus in ("c1", "c2"):
        encode.run(encode.EncodeParams(str(model)), corpus, "captions", workspace, IN_PROCESS)
    return workspace


@pytest.fixture
def stored_workspace(disk_workspace, s3_workspace, tmp_path, monkeypatch):
    """The same workspace moved to the store (stage keys are workspace-relative, so it stays current)."""
    monkeypatch.setenv("STORYTELLER_CACHE", str(tmp_path / "cache"))
    for folder in ("corpora", "vectors", "models"):
        upload_folder(disk_workspace / folder, location(s3_workspace) / folder)
    return location(s3_workspace)


def test_style_on_the_store_equals_disk_reruns_read_nothing_and_new_corpora_add(disk_workspace, stored_workspace):
    on_disk = style.run("both", ["c1", "c2"], "captions", "tiny", disk_workspace, beam_args=IN_PROCESS)
    first = style.run("both", ["c1"], "captions", "tiny", stored_workspace, beam_args=IN_PROCESS)
    assert (first.action, first.shards_read) == (FULL, 1)
    again = style.run("both", ["c1"], "captions", "tiny", stored_workspace, beam_args=IN_PROCESS)
    assert (again.action, again.shards_read, again.count) == (UNCHANGED, 0, first.count)
    added = style.run("both", ["c1", "c2"], "captions", "tiny", stored_workspace, beam_args=IN_PROCESS)
    assert (added.action, added.shards_read, added.count, added.dim) == (INCREMENTAL, 1, on_disk.count, DIM)
    stored, local = read_style(stored_workspace, "tiny", "both"), read_style(disk_workspace, "tiny", "both")
    np.testing.assert_allclose(stored.vector, local.vector, atol=1e-7)
    assert {k: v for k, v in stored.meta.items() if k != "files"} == {k: v for k, v in local.meta.items()
                                                                     if k != "files"}
    paths = style_paths(stored_workspace, "tiny", "both")
    assert sorted(p.name for p in paths.meta.parent.iterdir()) == ["both.json", "both.npy", "both.sum.npy"]
    # Starting over on the store (another filter) writes what a first run on disk writes, bit for bit.
    full = style.run("both", ["c1", "c2"], "captions", "tiny", stored_workspace, 5, IN_PROCESS)
    disk_full = style.run("full", ["c1", "c2"], "captions", "tiny", disk_workspace, 5, IN_PROCESS)
    assert (full.action, full.shards_read, full.count) == (FULL, 2, disk_full.count)
    assert paths.vector.read_bytes() == style_paths(disk_workspace, "tiny", "full").vector.read_bytes()


def test_style_and_convert_commands_on_a_stored_workspace(stored_workspace, capsys):
    release = stored_workspace / "release"
    vector = np.random.default_rng(0).normal(size=DIM).astype(np.float32)
    with (release / "caption_style.npy").open("wb") as handle:
        np.save(handle, vector)
    workspace = str(stored_workspace)
    assert main(["convert", "styles", "--dir", str(release), "--encoder", "tiny", "--workspace", workspace]) == 0
    np.testing.assert_array_equal(read_style(workspace, "tiny", "captions").vector, vector)
    assert read_style(workspace, "tiny", "captions").meta["original"]["path"] == str(release / "caption_style.npy")
    args = ["style", "--name", "c", "--corpus", "c1", "--kind", "captions", "--encoder", "tiny",
            "--workspace", workspace, *IN_PROCESS]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "style c (tiny): full" in out and "cos(style, other)" in out and "captions" in out
    assert list_styles(workspace, "tiny") == ["c", "captions"]
