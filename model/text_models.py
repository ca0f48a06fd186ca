"""Which text model a model directory holds, so one Beam encode job serves every text encoder:
skip-thought encoders (vectors for styles and stories) and the VSE caption side (vectors for the
caption index). Both read token ids from `vocab.txt` and map (ids, lengths) to one vector per text."""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from model.encoder_files import CONFIG_FILE, encoder_for_inference, read_config

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
    """config.json with the family key, written under a temporary name and renamed into place."""
    temp = Path(model_dir) / f".tmp-{CONFIG_FILE}"
    temp.write_text(json.dumps({FAMILY_KEY: family, **fields}, indent=2) + "\n")
    os.replace(temp, Path(model_dir) / CONFIG_FILE)


@dataclass(frozen=True)
class TextModelSpec:
    family: str
    output_dim: int
    append_eos: bool  # feed <eos> as one more step (skip-thought use_eos; always for the VSE, reference d.1)


def model_family(model_dir: str | Path) -> str:
    path = Path(model_dir) / CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: {model_dir} is not a model directory")
    return json.loads(path.read_text()).get(FAMILY_KEY, SKIPTHOUGHT)


def text_model_spec(model_dir: str | Path) -> TextModelSpec:
    family = model_family(model_dir)
    if family == VSE:
        from model.vse_files import read_vse_config

        return TextModelSpec(VSE, read_vse_config(Path(model_dir)).dim, append_eos=True)
    if family == SKIPTHOUGHT:
        config = read_config(Path(model_dir))
        return TextModelSpec(SKIPTHOUGHT, config.output_dim, config.use_eos)
    raise ValueError(f"{Path(model_dir) / CONFIG_FILE}: unknown model family {family!r}; "
                     f"expected {SKIPTHOUGHT!r} or {VSE!r}")


def text_model_for_inference(model_dir: str | Path) -> nn.Module:
    """The text model with untrained weights, for RunInference to load weights.pt into."""
    if model_family(model_dir) == VSE:
        from model.vse_files import vse_for_inference

        return vse_for_inference(Path(model_dir))
    return encoder_for_inference(model_dir)
