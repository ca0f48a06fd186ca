"""The bulk story job with its workspace and its output on an object store (a moto S3 server): the photos get
the stories they get on disk, the gallery's pages and thumbnails are on the store, WS/defaults.json keeps the
workspace's folders relative there, a rerun does nothing and a killed run writes only its missing shard; photos
on the store are told and shown as local ones, and a story collection on the store merges its runs."""

import json
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from data_schemas import REJECTS
from data_schemas import stories as st
from data_schemas.atomic import write_json_atomic
from data_schemas.features import IMAGE_ID
from data_schemas.rejects import reject_row
from data_schemas.shards import read_artifact, shard_name, shard_paths, write_table_atomic
from data_schemas.storage import location, upload_file, upload_folder
from flows.cli.main import main
from pipelines.core.manifest import META_FILE, RUN_FILE, StageStart
from pipelines.stories import collection
from pipelines.stories import job as stories
from pipelines.stories.workspace_defaults import read_defaults, story_defaults, write_defaults
from tests.conftest import IN_PROCESS
from tests.pipelines.stories.test_stories_job import photos  # noqa: F401 (a fixture)
from tests.pipelines.stories.test_workspace_defaults import STORY, tiny_workspace

JOB = stories.JobParams(shard_size=4)  # 7 photos: two shards


@pytest.fixture(scope="module")
def on_disk(tmp_path_factory, photos):  # noqa: F811 (the fixture imported above)
    """The tiny workspace on disk, and the stories its photos get there."""
    workspace = tmp_path_factory.mktemp("stories-store") / "ws"
    tiny_workspace(workspace)
    models = stories.resolve_models(workspace, "dec", None, None, None, None)
    report = stories.run(str(photos[0]), workspace.parent / "told", workspace, models, STORY, JOB, IN_PROCESS)
    return workspace, report


@pytest.fixture(scope="module")
def on_store(on_disk, photos, s3_bucket):  # noqa: F811
    """The same workspace uploaded to the store, its defaults recorded there, and `storyteller stories` given
    only the photos, the workspace and the output, both on the store."""
    workspace = location(f"{s3_bucket}/stories-{uuid.uuid4().hex[:6]}")
    upload_folder(on_disk[0], workspace)
    write_defaults(workspace, story_defaults(workspace, {"decoder": workspace / "models" / "dec",
                                                         "index": workspace / "index" / "vse" / "caps"}, STORY))
    out = workspace / "told"
    assert main(["stories", "--images", str(photos[0]), "--shard-size", str(JOB.shard_size),
                 "--workspace", str(workspace), "--out", str(out), *IN_PROCESS]) == 0
    return workspace, out


def texts(folder, by: str = "path") -> dict[str, str]:
    return {row[by]: row[st.STORY_TEXT] for row in read_artifact(folder, st.STORIES).to_pylist()}


def test_defaults_on_the_store_keep_workspace_folders_relative(on_store):
    workspace, _ = on_store
    recorded = json.loads((workspace / "defaults.json").read_text())
    assert (recorded["decoder"], recorded["index"]) == ("models/dec", "index/vse/caps")
    assert read_defaults(workspace)["decoder"] == f"{workspace}/models/dec"


def test_stories_on_the_store_are_those_told_on_disk(on_disk, on_store, photos):  # noqa: F811
    _, report = on_disk
    _, out = on_store
    _, good, _ = photos
    told = texts(out / "stories")
    assert told == texts(report.out / "stories") and sorted(told) == sorted(good)
    # Every column alike, the models' names too (the store's are read from local copies named by version).
    assert read_artifact(out / "stories", st.STORIES).equals(read_artifact(report.out / "stories", st.STORIES))
    assert json.loads((out / "stories" / META_FILE).read_text())["stats"] == report.stage.stats
    lines = [json.loads(line) for line in (out / stories.JSONL_FILE).read_text().splitlines()]
    assert {line["path"]: line[st.STORY_TEXT] for line in lines} == told


def test_the_gallery_and_its_thumbnails_are_on_the_store(on_store):
    _, out = on_store
    page = (out / "gallery.html").read_text()
    assert page.count("<article>") == 6 and 'src="thumbs/' in page
    thumbs = list((out / "thumbs").glob("*.jpg"))
    assert len(thumbs) == 6 and all(thumb.read_bytes()[:3] == b"\xff\xd8\xff" for thumb in thumbs)


def test_a_rerun_on_the_store_does_nothing_and_a_killed_run_resumes(on_disk, on_store, photos):  # noqa: F811
    workspace, out = on_store
    models = stories.resolve_models(workspace, "dec", None, None, None, None)
    again = stories.run(str(photos[0]), out, workspace, models, STORY, JOB, IN_PROCESS)
    assert (again.stage.start, again.stage.shards_run) == (StageStart.DONE, 0)
    before = texts(out / "stories")
    # A run killed after its first shard: the run marks still there, no _meta.json, the second shard missing.
    for folder in (out / "stories", out / "rejects"):
        key = json.loads((folder / META_FILE).read_text())["key"]
        write_json_atomic(folder / RUN_FILE, {"stage": stories.STAGE, "key": key})
        (folder / META_FILE).unlink()
        (folder / "part-00001-of-00002.parquet").unlink()
    resumed = stories.run(str(photos[0]), out, workspace, models, STORY, JOB, IN_PROCESS)
    assert (resumed.stage.start, resumed.stage.shards_run) == (StageStart.RESUME, 1)
    assert resumed.stage.stats == on_disk[1].stage.stats and texts(out / "stories") == before


def test_photos_on_the_store_are_told_and_shown(on_disk, on_store, photos):  # noqa: F811
    workspace, _ = on_store
    _, good, broken = photos
    stored = workspace / "photos"
    for path in [*good[:2], broken]:
        upload_file(Path(path), stored / Path(path).name)
    out = workspace / "told-stored"
    models = stories.resolve_models(workspace, "dec", None, None, None, None)
    report = stories.run(str(stored), out, workspace, models, STORY, JOB, IN_PROCESS)
    assert report.stage.stats == {"records_in": 3, "records_out": 2, "records_rejected": 1}
    on_disk_texts = texts(on_disk[1].out / "stories", IMAGE_ID)
    assert texts(out / "stories", IMAGE_ID) == {Path(path).name: on_disk_texts[Path(path).name] for path in good[:2]}
    assert len(list((out / "thumbs").glob("*.jpg"))) == 2 and (out / "gallery.html").read_text().count("<article>") == 2


def test_a_collection_on_the_store_merges_its_runs_and_settles_old_rejects(on_store, photos):  # noqa: F811
    workspace, told = on_store
    _, good, _ = photos
    out = workspace / "collection"
    run = out / collection.RUNS / "run-00001"
    for shard in shard_paths(told / "stories"):
        shard.fs.copy(shard.path, (run / "stories" / shard.name).path)
    assert collection.told_images(out) == set(good)
    jsonl, page, count = collection.merge_runs(out, gallery=True)
    assert count == 6 and texts(out / "stories") == texts(told / "stories")
    assert len(jsonl.read_text().splitlines()) == 6 and page.read_text().count("<article>") == 6
    photo = workspace / "late" / "cut.jpg"  # a stored photo its run rejected
    photo.write_bytes(b"half a photo")
    write_table_atomic(pa.Table.from_pylist([reject_row(stories.STAGE, str(photo), "", "cut")], schema=REJECTS),
                       run / "rejects" / shard_name(0, 1))
    uploaded = int(photo.stat().st_mtime * 1e9)
    for began, settled in ((uploaded + 10**10, {str(photo)}), (uploaded - 10**10, set())):
        write_json_atomic(run / collection.STARTED_FILE, {"began_ns": began, "images": 7})
        assert collection.settled_rejects(out) == settled  # retried only when written since its run began


def test_shipped_models_on_the_store_are_found_together(on_disk, s3_bucket):
    """A decoder given by URL, outside the workspace, finds its encoder beside it on the store (as shipped
    models sit together in one folder), each copied into the local cache."""
    workspace, _ = on_disk
    shipped = location(f"{s3_bucket}/shipped-{uuid.uuid4().hex[:6]}")
    models = sorted(path.name for path in (workspace / "models").iterdir())
    for name in models:
        upload_folder(workspace / "models" / name, shipped / name)
    bare = location(f"{s3_bucket}/bare-{uuid.uuid4().hex[:6]}")  # a workspace with no models of its own
    for folder in ("index", "styles"):
        upload_folder(workspace / folder, bare / folder)
    found = stories.resolve_models(bare, str(shipped / "dec"), None, None, None, None)
    assert found.encoder_dir.name in models and found.encoder_dir.is_dir()
    assert str(found.encoder_dir) != str(workspace / "models" / found.encoder_dir.name)  # a cached copy
