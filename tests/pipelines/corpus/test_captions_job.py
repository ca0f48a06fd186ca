"""The captions Beam job on the real Flickr8k, COCO and Multi30k files and on crafted bad input."""

import json
from pathlib import Path

import pyarrow.compute as pc
import pytest

from data_schemas import CAPTIONS, REJECTS
from data_schemas.shards import read_artifact
from pipelines.corpus import captions
from pipelines.corpus.caption_formats import CaptionColumns
from tests.conftest import CAPTIONS as CAPTION_DATA
from tests.conftest import IN_PROCESS


def run(workspace, pattern, fmt, name, **params):
    return captions.run(str(pattern), name, workspace, captions.CaptionParams(fmt, **params))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("ws")


def test_flickr8k_loads_every_caption_with_its_split(workspace):
    report = run(workspace, CAPTION_DATA / "flickr8k" / "Flickr8k.token.txt.gz", "flickr8k", "flickr8k")
    assert report.rows == {"captions": 40_460, "rejects": 0}
    table = read_artifact(workspace / "corpora" / "flickr8k" / "captions", CAPTIONS)
    test_split = table.filter(pc.equal(table.column("split"), "test"))
    assert test_split.num_rows == 5_000 and len(set(test_split.column("image_id").to_pylist())) == 1_000
    first = table.slice(0, 1).to_pylist()[0]
    assert first["id"] == "1000268201_693b08cb0e.jpg#0" and first["image_id"] == "1000268201_693b08cb0e.jpg"
    assert first["tokens"][:4] == ["A", "child", "in", "a"] and first["tokens"][-1] == "."


def test_coco_and_multi30k_load(workspace):
    coco = run(workspace, CAPTION_DATA / "coco2017" / "captions_val2017.json.gz", "coco", "coco")
    assert coco.rows["captions"] + coco.rows["rejects"] == 25_014
    table = read_artifact(workspace / "corpora" / "coco" / "captions", CAPTIONS)
    assert table.column("image_id")[0].as_py().endswith(".jpg") and table.column("split")[0].as_py() == "val"
    multi = captions.run(
        str(CAPTION_DATA / "multi30k" / "task2" / "raw" / "test_2016.*.en.gz"),
        "m30k",
        workspace,
        captions.CaptionParams("multi30k"),
        IN_PROCESS,
    )
    assert multi.shards == 5 and multi.rows["captions"] == 5_000
    table = read_artifact(workspace / "corpora" / "m30k" / "captions", CAPTIONS)
    assert set(table.column("split").to_pylist()) == {"test_2016"}
    assert table.column("image_id")[0].as_py() == "1007129816.jpg"  # line 1 of test_2016_images.txt


def test_bad_lines_become_rejects_and_counts_add_up(workspace, tmp_path):
    good = [{"img": f"{i}.jpg", "txt": f"A dog number {i} runs ."} for i in range(5)]
    lines = [json.dumps(row) for row in good] + [
        "{not json",
        json.dumps({"img": "x.jpg", "txt": "   "}),
        json.dumps({"img": "y.jpg", "txt": "word " * 400}),
        json.dumps({"txt": "no image field"}),
        json.dumps([1, 2]),
    ]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "b.jsonl").write_bytes(b"\x00\x01\x02binary" * 100)
    report = captions.run(
        str(tmp_path / "*.jsonl"),
        "bad",
        workspace,
        captions.CaptionParams("jsonl", CaptionColumns(text="txt", image="img")),
        IN_PROCESS,
    )
    stats = report.stats
    assert stats["records_in"] == 11 and stats["records_out"] == 5 and stats["records_rejected"] == 6
    assert stats["records_in"] == stats["records_out"] + stats["records_rejected"]
    rejects = read_artifact(workspace / "rejects" / captions.STAGE / "bad", REJECTS).to_pylist()
    reasons = sorted(r["reason"].split(":")[0] for r in rejects)
    assert reasons == sorted(
        [
            "binary file (NUL byte at line 1), not text",
            "caption has no tokens",
            "caption of 1999 characters exceeds max_caption_chars=1000",
            "invalid JSON line",
            "no 'img' field (found ['txt'])",
            "line is not a JSON object (found list)",
        ]
    )
    assert {r["location"] for r in rejects if r["source"].endswith("a.jsonl")} == {
        "line 6",
        "line 7",
        "line 8",
        "line 9",
        "line 10",
    }


def test_every_multi30k_task1_file_finds_its_images(workspace):
    report = captions.run(str(CAPTION_DATA / "multi30k" / "task1" / "raw" / "*.en.gz"), "m30k_task1", workspace,
                          captions.CaptionParams("multi30k"), IN_PROCESS)
    assert report.shards == 5 and report.rows == {"captions": 29_000 + 1_014 + 1_000 + 1_000 + 461, "rejects": 0}


def _run_checked(workspace, pattern, fmt, name, **params):
    """Run the job in process; check rows in = rows out + rejected, in the report and in _meta.json."""
    report = captions.run(str(pattern), name, workspace, captions.CaptionParams(fmt, **params), IN_PROCESS)
    stats = report.stats
    rows_in, rows_out, rejected = (stats.get(key, 0) for key in ("records_in", "records_out", "records_rejected"))
    assert rows_in == rows_out + rejected and (rows_out, rejected) == (report.rows["captions"], report.rows["rejects"])
    meta = json.loads((workspace / "corpora" / name / "captions" / "_meta.json").read_text())
    assert meta["stats"] == stats
    return report, read_artifact(workspace / "rejects" / captions.STAGE / name, REJECTS).to_pylist()


def test_csv_field_over_the_csv_module_limit_is_an_overlong_caption(workspace, tmp_path):
    long_caption = "a dog runs " * 13_000  # 143,000 characters: past csv's default field limit of 131,072
    (tmp_path / "caps.csv").write_text(f'image,caption\n1.jpg,A dog .\n2.jpg,"{long_caption}"\n3.jpg,A cat .\n')
    report, rejects = _run_checked(workspace, tmp_path / "caps.csv", "csv", "csv_long")
    assert report.rows == {"captions": 2, "rejects": 1}
    assert [(r["location"], r["reason"]) for r in rejects] == [
        ("line 3", f"caption of {len(long_caption.strip())} characters exceeds max_caption_chars=1000")
    ]


def test_flickr8k_split_list_in_cp1252_and_utf16_token_file(workspace, tmp_path):
    (tmp_path / "Flickr_8k.testImages.txt").write_bytes("caf\u00e9.jpg\r\n".encode("cp1252"))
    (tmp_path / "Flickr_8k.devImages.txt").write_bytes("b.jpg\n".encode("utf-16"))
    token_file = tmp_path / "Flickr8k.token.txt"
    token_file.write_bytes("caf\u00e9.jpg#0\tA dog .\nb.jpg#0\tA cat .\nc.jpg#0\tA cow .\n".encode("utf-16"))
    report, rejects = _run_checked(workspace, token_file, "flickr8k", "flickr_encodings")
    assert report.rows == {"captions": 3, "rejects": 0} and rejects == []
    table = read_artifact(workspace / "corpora" / "flickr_encodings" / "captions", CAPTIONS)
    assert dict(zip(table.column("image_id").to_pylist(), table.column("split").to_pylist(), strict=True)) == {
        "caf\u00e9.jpg": "test",
        "b.jpg": "dev",
        "c.jpg": None,
    }


def test_coco_annotations_not_a_list_is_one_file_reject(workspace, tmp_path):
    (tmp_path / "captions_val2017.json").write_text(json.dumps({"images": [], "annotations": "a dog runs"}))
    (tmp_path / "captions_train2017.json").write_text(json.dumps({"images": "x", "annotations": []}))
    report, rejects = _run_checked(workspace, tmp_path / "captions_*.json", "coco", "coco_shapes")
    assert report.stats == {"records_in": 2, "records_rejected": 2, "files_rejected": 2}
    assert sorted((Path(r["source"]).name, r["location"], r["reason"]) for r in rejects) == [
        ("captions_train2017.json", "", "COCO 'images' is not a list of objects (found str)"),
        ("captions_val2017.json", "", "COCO 'annotations' is not a list of objects (found str)"),
    ]


def test_jsonl_caption_that_is_not_a_string_is_rejected(workspace, tmp_path):
    lines = [
        {"image": "1.jpg", "caption": "A dog ."},
        {"image": "2.jpg", "caption": 12345},
        {"image": "3.jpg", "caption": {"nested": "obj"}},
        {"image": {"id": 4}, "caption": "A cat ."},
        ["a list", "line"],
    ]
    (tmp_path / "caps.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    report, rejects = _run_checked(workspace, tmp_path / "caps.jsonl", "jsonl", "jsonl_types")
    assert report.rows == {"captions": 1, "rejects": 4}
    assert [(r["location"], r["reason"]) for r in rejects] == [
        ("line 2", "caption is not a string (found int in 'caption')"),
        ("line 3", "caption is not a string (found dict in 'caption')"),
        ("line 4", "'image' is not a string or integer (found dict)"),
        ("line 5", "line is not a JSON object (found list)"),
    ]
