"""The features job with its workspace, its photos and its weights on an object store (a moto S3 server):
the rows it writes on disk, bad stored images as reject rows, reruns that do nothing, a killed run resumed."""

import json

import numpy as np
import pytest
from PIL import Image

from data_schemas import REJECTS
from data_schemas.atomic import write_json_atomic
from data_schemas.features import features_schema
from data_schemas.shards import read_artifact
from data_schemas.storage import location
from data_schemas.vectors import vector_matrix
from flows.cli.main import main
from model.cnn.image_loading import ImageLoadError, load_rgb
from model.cnn.registry import resolve_weights
from pipelines import features as images
from pipelines.core.manifest import META_FILE, RUN_FILE
from tests.conftest import IN_PROCESS, SHARED_DATA

PHOTOS = sorted((SHARED_DATA / "images" / "flickr8k_1000" / "images").iterdir())[:3]
PARAMS = images.FeatureParams(shard_size=2, batch_size=4)
BAD = {"broken.jpg": b"not a picture at all\n", "empty.jpg": b""}
CNN = "efficientnet-lite0"


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory):
    """Three photos and a broken file in a folder on disk, and their features in a workspace on disk."""
    folder = tmp_path_factory.mktemp("photos")
    for photo in PHOTOS:
        (folder / photo.name).write_bytes(photo.read_bytes())
    (folder / "broken.jpg").write_bytes(BAD["broken.jpg"])
    workspace = tmp_path_factory.mktemp("ws")
    report = images.run(str(folder), "four", workspace, PARAMS, IN_PROCESS)
    return folder, images.output_folders(workspace, CNN, "four"), report


def test_a_stored_workspace_gets_the_rows_of_one_on_disk_reruns_nothing_and_resumes(s3_workspace, on_disk):
    folder, disk, disk_report = on_disk
    report = images.run(str(folder), "four", s3_workspace, PARAMS, IN_PROCESS)
    assert (report.rows, report.stats, report.shards_run) == (disk_report.rows, disk_report.stats, 2)
    stored = images.output_folders(location(s3_workspace), CNN, "four")
    rows = read_artifact(stored["features"], features_schema(1280))
    assert rows.equals(read_artifact(disk["features"], features_schema(1280)))
    assert read_artifact(stored["rejects"], REJECTS).equals(read_artifact(disk["rejects"], REJECTS))
    again = images.run(str(folder), "four", s3_workspace, PARAMS, IN_PROCESS)
    assert (again.start.value, again.shards_run) == ("done", 0)
    for output in stored.values():  # as a kill before the last of two shards leaves them
        key = json.loads((output / META_FILE).read_text())["key"]
        write_json_atomic(output / RUN_FILE, {"stage": images.STAGE, "key": key})
        (output / META_FILE).unlink()
        (output / "part-00001-of-00002.parquet").unlink()
    resumed = images.run(str(folder), "four", s3_workspace, PARAMS, IN_PROCESS)
    assert (resumed.start.value, resumed.shards_run, resumed.stats) == ("resume", 1, disk_report.stats)
    resumed_rows = read_artifact(stored["features"], features_schema(1280))
    assert resumed_rows.column("path").equals(rows.column("path"))  # vectors: batched with other images now
    np.testing.assert_allclose(vector_matrix(resumed_rows), vector_matrix(rows), atol=1e-5)


def test_stored_photos_and_weights_through_the_cli_give_the_vectors_of_the_photos_on_disk(
        s3_workspace, on_disk, monkeypatch, tmp_path):
    monkeypatch.setenv("STORYTELLER_CACHE", str(tmp_path / "cache"))
    _, disk, _ = on_disk
    photos = location(s3_workspace) / "photos"
    for photo in PHOTOS:
        (photos / photo.name).write_bytes(photo.read_bytes())
    for name, content in {**BAD, "notes.txt": b"not listed"}.items():
        (photos / name).write_bytes(content)
    weights = location(s3_workspace) / "cnn.pth"
    weights.write_bytes(resolve_weights(CNN, None).read_bytes())
    assert main(["features", "--images", f"{photos}/", "--weights", str(weights), "--name", "four",
                 "--workspace", s3_workspace, "--shard-size", "2", *IN_PROCESS]) == 0
    stored = images.output_folders(location(s3_workspace), CNN, "four")
    meta = json.loads((stored["features"] / META_FILE).read_text())
    assert meta["stats"] == {"records_in": 5, "records_out": 3, "records_rejected": 2}
    rows, disk_rows = (read_artifact(folder, features_schema(1280)) for folder in (stored["features"],
                                                                                   disk["features"]))
    assert rows.column("path").to_pylist() == [str(photos / photo.name) for photo in PHOTOS]
    assert rows.column("image_id").equals(disk_rows.column("image_id"))
    np.testing.assert_allclose(vector_matrix(rows), vector_matrix(disk_rows), atol=1e-5)
    rejects = {row["source"]: row["reason"] for row in read_artifact(stored["rejects"], REJECTS).to_pylist()}
    assert rejects == {str(photos / "broken.jpg"): "not an image file Pillow can read",
                       str(photos / "empty.jpg"): "empty file (0 bytes)"}


def test_stored_globs_list_files_fingerprints_and_the_pixel_limit(s3_workspace):
    root = location(s3_workspace)
    for name in ("a/one.jpg", "a/two.PNG", "b/three.jpg"):
        with (root / name).open("wb") as handle:
            Image.new("RGB", (30, 20), (200, 10, 10)).save(handle, format="PNG" if name.endswith("PNG") else "JPEG")
    assert images.list_images(f"{root}/**/*.jpg") == [f"{root}/a/one.jpg", f"{root}/b/three.jpg"]
    (root / "b" / "list.txt").write_text(f"three.jpg\n{root}/a/two.PNG\n\n")
    assert images.list_images(f"{root}/b/list.txt") == [f"{root}/a/two.PNG", f"{root}/b/three.jpg"]
    assert load_rgb(f"{root}/a/two.PNG").shape == (20, 30, 3)
    with pytest.raises(ImageLoadError, match=r"30 x 20 = 0\.0 megapixels, over the limit"):
        load_rgb(f"{root}/a/one.jpg", max_pixels=100)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_rgb(f"{root}/a/gone.jpg")
    paths = images.list_images(str(root))
    before = images.listing_fingerprint(paths)
    assert images.listing_fingerprint(paths) == before
    (root / "a" / "one.jpg").write_bytes((root / "b" / "three.jpg").read_bytes() + b"\0")
    assert images.listing_fingerprint(paths) != before
