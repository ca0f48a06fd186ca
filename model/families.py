"""The family of a model folder (skip-thought encoder, VSE, decoder), written into its config.json, so a
folder passed where another kind is expected fails at once, naming it."""

import json
from pathlib import Path

from data_schemas.atomic import write_text_atomic
from model.skipthought.files import CONFIG_FILE

# config.json key naming the model family; skip-thought directories written before it existed lack it.
FAMILY_KEY = "family"
SKIPTHOUGHT, VSE = "skipthought", "vse"


def read_family_config(model_dir: str | Path, family: str, label: str, hint: str = "") -> dict:
    """config.json's fields without the family key, after checking the family: a wrong folder (an
    encoder passed as decoder) fails here, naming it, not deep in a load_state_dict."""
    path = Path(model_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: {model_dir} is not a {label} model directory")
    fields = json.loads(path.read_text())
    found = fields.pop(FAMILY_KEY, None)
    if found != family:
        raise ValueError(f"{path} says family {found!r}, not {family!r}: {model_dir} is not a {label} model "
                         f"directory{hint}")
    return fields


def write_family_config(model_dir: str | Path, family: str, fields: dict) -> None:
    """config.json with the family key, written atomically."""
    write_text_atomic(Path(model_dir) / CONFIG_FILE, json.dumps({FAMILY_KEY: family, **fields}, indent=2) + "\n")


def model_family(model_dir: str | Path) -> str:
    path = Path(model_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: {model_dir} is not a model directory")
    return json.loads(path.read_text()).get(FAMILY_KEY, SKIPTHOUGHT)
