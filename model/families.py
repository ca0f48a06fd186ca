"""The family of a model folder (skip-thought encoder, VSE, decoder, words), written into its config.json, so a
folder passed where another kind is expected fails at once, naming it; and config.json read into a config
dataclass with an error naming the file and the field for bad JSON, a missing or unknown field, or a
value of the wrong type."""

import dataclasses
import json
import typing
from pathlib import Path

from data_schemas.atomic import write_text_atomic
from data_schemas.storage import Location, location
from model.weights_file import CONFIG_FILE

# config.json key naming the model family; skip-thought directories written before it existed lack it.
FAMILY_KEY = "family"
SKIPTHOUGHT, VSE = "skipthought", "vse"
C = typing.TypeVar("C")
# Plain field types: the JSON values each takes and how an error names them.
_TYPES = {int: ((int,), "an integer"), float: ((int, float), "a number"), bool: ((bool,), "true or false"),
          str: ((str,), "a string"), list: ((list,), "a list"), dict: ((dict,), "an object")}


def read_config_json(model_dir: str | Location, label: str = "") -> dict:
    """config.json's JSON object (a folder on disk or on a store); a missing file, text that is not JSON or
    not an object fails naming it."""
    path = location(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {model_dir} is not a {label + ' ' if label else ''}model "
                                "directory")
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not JSON ({error}): the model folder is damaged; copy or export it "
                         "again") from None
    if not isinstance(fields, dict):
        raise ValueError(f"{path} holds a JSON {type(fields).__name__}, not an object of config fields")
    return fields


def build_config(cls: type[C], fields: dict, source: Path | str) -> C:
    """`cls(**fields)` for a config dataclass, after checking that every field without a default is there,
    that none is unknown, that plain-typed ones (int, float, bool, str, list, dict) have that type and that
    no int (all of them sizes or counts) is negative."""
    known = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ValueError(f"{source}: unknown field(s) {unknown} for a {cls.__name__}")
    missing = [name for name, field in known.items() if name not in fields
               and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING]
    if missing:
        raise ValueError(f"{source} lacks the field(s) {missing} of a {cls.__name__}")
    hints = typing.get_type_hints(cls)
    for name, value in fields.items():
        allowed, described = _TYPES.get(hints.get(name), (None, ""))
        if allowed and (not isinstance(value, allowed) or (bool not in allowed and isinstance(value, bool))):
            raise ValueError(f"{source}: field {name!r} is {json.dumps(value)}, not {described}")
        if hints.get(name) is int and value < 0:
            raise ValueError(f"{source}: field {name!r} is {value}, but a size cannot be negative")
    try:
        return cls(**fields)
    except ValueError as error:  # the config's own checks (__post_init__)
        raise ValueError(f"{source}: {error}") from None


def read_family_config(model_dir: str | Location, family: str, label: str, hint: str = "") -> dict:
    """config.json's fields without the family key, after checking the family: a wrong folder (an
    encoder passed as decoder) fails here, naming it, not deep in a load_state_dict."""
    fields = read_config_json(model_dir, label)
    found = fields.pop(FAMILY_KEY, None)
    if found != family:
        raise ValueError(f"{location(model_dir) / CONFIG_FILE} says family {found!r}, not {family!r}: {model_dir} is "
                         f"not a {label} model directory{hint}")
    return fields


def write_family_config(model_dir: str | Location, family: str, fields: dict) -> None:
    """config.json with the family key, written atomically (one upload on a store)."""
    write_text_atomic(location(model_dir) / CONFIG_FILE, json.dumps({FAMILY_KEY: family, **fields}, indent=2) + "\n")


def model_family(model_dir: str | Location) -> str:
    return read_config_json(model_dir).get(FAMILY_KEY, SKIPTHOUGHT)
