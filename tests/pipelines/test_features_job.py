"""The Beam features job on real photos plus broken files: features equal the in-process path, every
input is a row or a reject, reruns skip, a killed run resumes by shard, and CLI errors are one line."""

import os

import numpy as np
import pytest

from data_schemas import REJECTS
from data_schemas.atomic import write_json_atomic
from data_schemas.features import features_schema
from data_schemas.shards import read_artifact, shard_name
from data_schemas.vectors import vector_matrix
from flows.cli.main import main
from flows.cli.report import stage_summary
from pipelines import features as images
from pipelines.core.manifest import META_FILE, RUN_FILE, StageStart, read_meta
from tests.conftest import IN_PROCESS, SHARED_DATA
from tests.model.cnn.awkward_images import LIMIT, REASONS, awkward_folder

PHOTOS = SHARED_DATA / "images" / "flickr8k_1000" / "images"
PARAMS = images.FeatureParams(shard_size=16, batch_size=8)
BAD = {"broken.jpg": b"not a picture at all\n", "empty.jpg": b""}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for name, content in BAD.items():
        (folder / name).write_bytes(content)
    (folder / "cut.jpg").write_bytes((PHOTOS / "1000268201_693b08cb0e.jpg").read_bytes()[:5000])
    photos = sorted(PHOTOS.iterdir())[1:41]
    # A list file: absolute paths, and paths relative to the list file's folder.
    (folder / "list.txt").write_text("\n".join([*map(str, photos), "broken.jpg", "empty.jpg", "cut.jpg", ""]) + "\n")
    workspace = tmp_path_factory.mktemp("ws")
    report = images.run(str(folder / "list.txt"), "f40", workspace, PARAMS, IN_PROCESS)
    return folder, workspace, report


def test_features_equal_the_in_process_path_and_rows_balance(job):
    folder, workspace, report = job
    stats = report.stats
    assert (stats["records_in"], stats["records_out"], stats["records_rejected"]) == (43, 40, 3)
    assert report.rows == {"features": 40, "rejects": 3} and report.shards == 3
    assert stage_summary(report).splitlines()[3].split() == ["records", "43", "40", "3", "ok"]
    table = read_artifact(workspace / "features" / "efficientnet-lite0" / "f40", features_schema(1280))
    paths = table.column("path").to_pylist()
    assert paths == sorted(paths) and table.column("image_id").to_pylist() == [os.path.basename(p) for p in paths]
    rejects = read_artifact(workspace / "rejects" / "features" / "efficientnet-lite0" / "f40", REJECTS).to_pylist()
    assert sorted(os.path.basename(r["source"]) for r in rejects) == ["broken.jpg", "cut.jpg", "empty.jpg"]
    sample = [str(folder / "broken.jpg"), *paths[:6]]
    vectors, rejected = images.image_features(sample)
    assert [(r.index, r.path) for r in rejected] == [(0, sample[0])]
    np.testing.assert_allclose(vector_matrix(table)[:6], vectors, atol=1e-5)


def test_rerun_skips_and_a_killed_run_resumes_the_missing_shard(job):
    folder, workspace, _ = job
    again = images.run(str(folder / "list.txt"), "f40", workspace, PARAMS, IN_PROCESS)
    assert again.start is StageStart.DONE and again.shards_run == 0
    outputs = images.output_folders(workspace, "efficientnet-lite0", "f40")
    before = read_artifact(outputs["features"], features_schema(1280))
    key = read_meta(outputs["features"])["key"]
    for output in outputs.values():  # as a kill after two of three shards leaves them
        (output / META_FILE).unlink()
        (output / shard_name(1, 3)).unlink()
        write_json_atomic(output / RUN_FILE, {"stage": images.STAGE, "key": key})
    resumed = images.run(str(folder / "list.txt"), "f40", workspace, PARAMS, IN_PROCESS)
    assert resumed.start is StageStart.RESUME and resumed.shards_run == 1
    assert resumed.stats == again.stats
    assert read_artifact(outputs["features"], features_schema(1280)).equals(before)


def test_inputs_folder_glob_and_changed_files(tmp_path):
    for name in ("b.jpg", "a.PNG", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert images.list_images(str(tmp_path)) == [str(tmp_path / "a.PNG"), str(tmp_path / "b.jpg")]
    assert images.list_images(str(tmp_path / "*.txt")) == [str(tmp_path / "notes.txt")]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jpg").write_bytes(b"y")
    with pytest.raises(ValueError, match=r"'b\.jpg'"):
        images.list_images(str(tmp_path))
    paths = [str(tmp_path / "a.PNG")]
    before = images.listing_fingerprint(paths)
    os.utime(paths[0], ns=(0, 10**18))
    assert images.listing_fingerprint(paths) != before


def test_links_and_oversized_images_in_a_folder_are_rejects_with_reasons(tmp_path):
    """Every entry of a folder is a feature row or a reject (10 = 3 + 7); a link to a photo elsewhere is read."""
    good = awkward_folder(tmp_path / "images", sorted(PHOTOS.iterdir())[:3])
    assert main(["features", "--images", str(tmp_path / "images"), "--name", "odd", "--workspace", str(tmp_path / "ws"),
                 "--max-image-pixels", str(LIMIT), *IN_PROCESS]) == 0
    outputs = images.output_folders(tmp_path / "ws", "efficientnet-lite0", "odd")
    assert read_meta(outputs["features"])["stats"] == {"records_in": 10, "records_out": 3, "records_rejected": 7}
    assert read_artifact(outputs["features"], features_schema(1280)).column("path").to_pylist() == good
    rejects = {os.path.basename(row["source"]): row["reason"] for row in read_artifact(outputs["rejects"], REJECTS)
               .to_pylist()}
    assert rejects.keys() == REASONS.keys() and all(REASONS[name] in rejects[name] for name in REASONS)
    assert str(LIMIT / 1e6) in rejects["big.jpg"]  # the limit is named with the size
    assert images.list_images(str(tmp_path / "images" / "*o*.jpg")) == [str(tmp_path / "images" / name) for name in
                                                                      ("gone.jpg", "outside.jpg")]


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["features", "--images", str(tmp_path / "none*.jpg"), "--name", "x", "--workspace", str(tmp_path)]) == 1
    assert main(["features", "--images", str(tmp_path), "--cnn", "vgg19", "--name", "x",
                 "--workspace", str(tmp_path)]) == 1
    assert main(["features", "--images", str(tmp_path), "--max-image-pixels", "0", "--name", "x",
                 "--workspace", str(tmp_path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("storyteller: error: ") for line in lines)
    assert "no images found" in lines[0] and "--weights" in lines[1] and "--max-image-pixels" in lines[2]
