"""Checks parse_captions on each caption format: records, rejects, and the real Flickr8k/COCO files."""

import json
from collections import Counter

import pytest

from pipelines.corpus.caption_formats import BadRecord, CaptionColumns, CaptionRecord, parse_captions
from pipelines.text.encodings import UnreadableTextError
from tests.conftest import CAPTIONS

DEFAULT_COLUMNS = CaptionColumns()


def _parse(path, fmt, columns=DEFAULT_COLUMNS, split=None, image_splits=None):
    return list(parse_captions(str(path), fmt, columns, split, image_splits))


def test_flickr8k_lines_and_malformed_line(tmp_path):
    (tmp_path / "Flickr_8k.testImages.txt").write_text("a.jpg\n")
    path = tmp_path / "Flickr8k.token.txt"
    path.write_text("a.jpg#0\tA dog .\nb.jpg#1\tA cat sits .\n\nno tab here\n")
    assert _parse(path, "flickr8k") == [
        CaptionRecord("a.jpg#0", "a.jpg", "test", "A dog .", "line 1"),
        CaptionRecord("b.jpg#1", "b.jpg", None, "A cat sits .", "line 2"),
        BadRecord("line 4", "expected '<image>#<n><TAB><caption>'", "no tab here"),
    ]


def test_coco_missing_caption_and_file_names(tmp_path):
    data = {
        "images": [{"id": 7, "file_name": "000007.jpg"}],
        "annotations": [{"id": 1, "image_id": 7, "caption": "A red bus."}, {"id": 2, "image_id": 9}],
    }
    path = tmp_path / "captions_train2017.json"
    path.write_text(json.dumps(data))
    records = _parse(path, "coco")
    assert records[0] == CaptionRecord("1", "000007.jpg", "train", "A red bus.", "annotation 0")
    assert isinstance(records[1], BadRecord) and records[1].location == "annotation 1"
    assert records[1].reason == "caption is not a string (no 'caption' key)" and len(records) == 2


def test_jsonl_invalid_line(tmp_path):
    path = tmp_path / "caps.jsonl"
    path.write_text('{"caption": "A boat.", "image": "x.jpg"}\n{not json\n')
    good, bad = _parse(path, "jsonl", split="val")
    assert good == CaptionRecord("caps#1", "x.jpg", "val", "A boat.", "line 1")
    assert isinstance(bad, BadRecord) and "invalid JSON" in bad.reason and bad.sample == "{not json"


def test_csv_custom_columns_and_missing_column(tmp_path):
    path = tmp_path / "caps.csv"
    path.write_text('img,txt\nx.jpg,"A dog, running."\n')
    columns = CaptionColumns(text="txt", image="img")
    assert _parse(path, "csv", columns) == [CaptionRecord("caps#2", "x.jpg", None, "A dog, running.", "line 2")]
    with pytest.raises(UnreadableTextError, match="caption"):
        _parse(path, "csv")


def test_multi30k_more_lines_than_images(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "image_splits").mkdir()
    (tmp_path / "image_splits" / "train_images.txt").write_text("1.jpg\n2.jpg\n")
    path = tmp_path / "raw" / "train.1.en"
    path.write_text("One dog.\nTwo dogs.\nThree dogs.\n")
    records = _parse(path, "multi30k")
    assert records[:2] == [
        CaptionRecord("train.1#1", "1.jpg", "train", "One dog.", "line 1"),
        CaptionRecord("train.1#2", "2.jpg", "train", "Two dogs.", "line 2"),
    ]
    assert len(records) == 3 and isinstance(records[2], BadRecord) and records[2].sample == "Three dogs."


def test_real_flickr8k_token_file():
    records = _parse(CAPTIONS / "flickr8k" / "Flickr8k.token.txt.gz", "flickr8k")
    assert len(records) == 40_460 and all(isinstance(r, CaptionRecord) for r in records)
    splits = Counter(r.split for r in records)
    assert set(splits) <= {"train", "dev", "test", None}
    assert splits["test"] == 1_000 * 5


def test_real_coco_val2017():
    records = _parse(CAPTIONS / "coco2017" / "captions_val2017.json.gz", "coco")
    assert len(records) == 25_014 and {r.split for r in records} == {"val"}


def test_binary_split_list_is_named_in_the_error(tmp_path):
    (tmp_path / "Flickr_8k.trainImages.txt").write_bytes(b"a.jpg\n\x00\x01\x02")
    path = tmp_path / "Flickr8k.token.txt"
    path.write_text("a.jpg#0\tA dog .\n")
    with pytest.raises(UnreadableTextError, match=r"trainImages.txt: binary file \(NUL byte at line 2"):
        _parse(path, "flickr8k")


def test_coco_shapes_that_are_not_captions(tmp_path):
    path = tmp_path / "captions_val2017.json"
    path.write_text(json.dumps([{"annotations": []}]))
    with pytest.raises(UnreadableTextError, match="needs an object with an 'annotations' list"):
        _parse(path, "coco")
    annotations = [{"image_id": [1], "caption": "A dog."}, {"id": {"a": 1}, "image_id": 1, "caption": "A cat."}, 7]
    path.write_text(json.dumps({"annotations": annotations}))
    assert [(r.location, r.reason) for r in _parse(path, "coco")] == [
        ("annotation 0", "'image_id' is not a string or integer (found list)"),
        ("annotation 1", "'id' is not a string or integer (found dict)"),
        ("annotation 2", "annotation is not an object (found int)"),
    ]
