"""Parsers of caption files into records, one per caption format. Malformed entries become rejects.

Formats: COCO captions JSON, Flickr8k `Flickr8k.token.txt`, Multi30k line files beside their
`image_splits`, and generic CSV / JSONL with configurable column names.
"""

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from data_schemas import storage
from data_schemas.storage import Location
from pipelines.corpus.inputs import input_name
from pipelines.text.encodings import UnreadableTextError, decode_text, read_bytes, read_text

FORMATS = ("coco", "flickr8k", "multi30k", "jsonl", "csv")


@dataclass(frozen=True)
class CaptionColumns:
    """Column (CSV) or field (JSONL) names of the generic formats."""

    text: str = "caption"
    image: str = "image"
    id: str | None = None  # without it, ids are <file>#<row>


@dataclass(frozen=True)
class CaptionRecord:
    id: str
    image_id: str
    split: str | None
    text: str
    location: str


@dataclass(frozen=True)
class BadRecord:
    location: str
    reason: str
    sample: str


Parsed = CaptionRecord | BadRecord


def source_stem(path: str) -> str:
    name = input_name(path)
    return re.sub(r"(\.(txt|json|jsonl|csv|en|tsv))*(\.gz)?$", "", name)


def parse_captions(
    path: str, fmt: str, columns: CaptionColumns, split: str | None, image_splits: str | None
) -> Iterator[Parsed]:
    """Records of one caption file; raises UnreadableTextError when the file as a whole is unusable."""
    text = read_text(path).text
    if fmt == "coco":
        yield from _coco(text, path, split)
    elif fmt == "flickr8k":
        yield from _flickr8k(text, path, split)
    elif fmt == "multi30k":
        yield from _multi30k(text, path, split, image_splits)
    elif fmt == "jsonl":
        yield from _jsonl(text, path, columns, split)
    elif fmt == "csv":
        yield from _csv(text, path, columns, split)
    else:
        raise ValueError(f"unknown caption format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _is_key(value: object) -> bool:
    """An id JSON may give: a string or an integer (bool is an int to Python, not to a dataset)."""
    return isinstance(value, str | int) and not isinstance(value, bool)


def _coco_file_names(data: dict) -> dict:
    """Image id -> file name; an annotation whose image is not listed keeps its image id."""
    images = data.get("images", [])
    if not isinstance(images, list):
        raise UnreadableTextError(f"COCO 'images' is not a list of objects (found {_kind(images)})")
    return {
        image["id"]: image["file_name"]
        for image in images
        if isinstance(image, dict) and _is_key(image.get("id")) and isinstance(image.get("file_name"), str)
    }


def _found(annotation: dict, key: str) -> str:
    return f"found {_kind(annotation[key])}" if key in annotation else f"no '{key}' key"


def _coco_problem(annotation: object) -> str | None:
    if not isinstance(annotation, dict):
        return f"annotation is not an object (found {_kind(annotation)})"
    if not isinstance(annotation.get("caption"), str):
        return f"caption is not a string ({_found(annotation, 'caption')})"
    if not _is_key(annotation.get("image_id")):
        return f"'image_id' is not a string or integer ({_found(annotation, 'image_id')})"
    if "id" in annotation and not _is_key(annotation["id"]):
        return f"'id' is not a string or integer ({_found(annotation, 'id')})"
    return None


def _coco(text: str, path: str, split: str | None) -> Iterator[Parsed]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UnreadableTextError(f"not a COCO captions JSON: {error}") from error
    if not isinstance(data, dict) or "annotations" not in data:
        raise UnreadableTextError("not a COCO captions JSON: needs an object with an 'annotations' list")
    annotations = data["annotations"]
    if not isinstance(annotations, list):
        raise UnreadableTextError(f"COCO 'annotations' is not a list of objects (found {_kind(annotations)})")
    file_names = _coco_file_names(data)
    if split is None:
        match = re.search(r"(train|val|test)\d*", input_name(path))
        split = match.group(1) if match else None
    for number, annotation in enumerate(annotations):
        location = f"annotation {number}"
        problem = _coco_problem(annotation)
        if problem:
            yield BadRecord(location, problem, json.dumps(annotation)[:200])
            continue
        image = annotation["image_id"]
        caption_id = annotation.get("id", f"{source_stem(path)}#{number}")
        yield CaptionRecord(
            str(caption_id), str(file_names.get(image) or image), split, annotation["caption"], location
        )


def _read_list(path: Location) -> list[str]:
    """The non-blank lines of an image list beside the captions (on disk or on a store), decoded as any text
    input is."""
    data = read_bytes(path)
    if not data.strip():
        return []
    try:
        lines = decode_text(data).text.split("\n")
    except UnreadableTextError as error:
        raise UnreadableTextError(f"image list {path}: {error}") from error
    return [line.strip() for line in lines if line.strip()]


def _flickr8k_splits(path: str) -> dict[str, str]:
    """Image name -> split, from the official Flickr_8k.{train,dev,test}Images.txt beside the file."""
    splits = {}
    for name in ("train", "dev", "test"):
        list_file = storage.location(path).parent / f"Flickr_8k.{name}Images.txt"
        if list_file.exists():
            for image in _read_list(list_file):
                splits[image] = name
    return splits


def _flickr8k(text: str, path: str, split: str | None) -> Iterator[Parsed]:
    splits = _flickr8k_splits(path)
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        location = f"line {number}"
        key, tab, caption = line.partition("\t")
        image, hash_sign, _ = key.partition("#")
        if not tab or not hash_sign or not image:
            yield BadRecord(location, "expected '<image>#<n><TAB><caption>'", line)
            continue
        yield CaptionRecord(key.strip(), image.strip(), split or splits.get(image.strip()), caption, location)


def find_image_splits(path: str) -> Location:
    """The Multi30k image list for a caption file: task1 `raw/train.en` -> `image_splits/train.txt`,
    task2 `raw/train.3.en` -> `image_splits/train_images.txt`."""
    stem = re.sub(r"\.\d+$", "", source_stem(path))
    folder = storage.location(path).parent.parent / "image_splits"
    for candidate in (folder / f"{stem}.txt", folder / f"{stem}_images.txt", folder / f"{stem}_flickr.txt"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"no image_splits file for {path} (looked for {stem}.txt, {stem}_images.txt in {folder}); "
        "pass --image-splits FILE"
    )


def _multi30k(text: str, path: str, split: str | None, image_splits: str | None) -> Iterator[Parsed]:
    images = _read_list(storage.location(image_splits) if image_splits else find_image_splits(path))
    stem = source_stem(path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    split = split or re.sub(r"\.\d+$", "", stem)
    for number, line in enumerate(lines, start=1):
        location = f"line {number}"
        if number > len(images):
            yield BadRecord(location, f"line {number} has no image: the image_splits file lists {len(images)}", line)
            continue
        yield CaptionRecord(f"{stem}#{number}", images[number - 1], split, line, location)


def _field(row: dict, name: str, text: bool = False) -> str:
    """A field's value as a string; the caption must be a JSON string, an id a string or integer."""
    if name not in row:
        raise ValueError(f"no '{name}' field (found {sorted(row)})")
    value = row[name]
    if text and not isinstance(value, str):
        raise ValueError(f"caption is not a string (found {_kind(value)} in '{name}')")
    if not text and not _is_key(value):
        raise ValueError(f"'{name}' is not a string or integer (found {_kind(value)})")
    return str(value)


def _jsonl(text: str, path: str, columns: CaptionColumns, split: str | None) -> Iterator[Parsed]:
    stem = source_stem(path)
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        location = f"line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            yield BadRecord(location, f"invalid JSON line: {error}", line)
            continue
        try:
            if not isinstance(row, dict):
                raise ValueError(f"line is not a JSON object (found {_kind(row)})")
            record_id = _field(row, columns.id) if columns.id else f"{stem}#{number}"
            yield CaptionRecord(
                record_id, _field(row, columns.image), split, _field(row, columns.text, text=True), location
            )
        except ValueError as error:
            yield BadRecord(location, str(error), line)


def _csv(text: str, path: str, columns: CaptionColumns, split: str | None) -> Iterator[Parsed]:
    stem = source_stem(path)
    # No field can be longer than the file; the default limit (131,072) would fail the whole file on one
    # long caption, which max_caption_chars should reject as a row.
    csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    reader = csv.DictReader(io.StringIO(text))
    missing = [
        name for name in (columns.text, columns.image, columns.id) if name and name not in (reader.fieldnames or [])
    ]
    if missing:
        raise UnreadableTextError(
            f"CSV header {reader.fieldnames} lacks column(s) {missing}; see --text-column/--image-column"
        )
    for number, row in enumerate(reader, start=2):
        location = f"line {number}"
        if None in row or any(row.get(name) is None for name in reader.fieldnames or []):
            yield BadRecord(
                location, f"row's field count differs from the header's {len(reader.fieldnames or [])}", str(row)
            )
            continue
        record_id = row[columns.id] if columns.id else f"{stem}#{number}"
        yield CaptionRecord(record_id, row[columns.image], split, row[columns.text], location)
