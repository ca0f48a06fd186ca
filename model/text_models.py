"""Which text model a model directory holds, so one Beam encode job serves every text encoder:
skip-thought encoders (vectors for styles and stories) and the VSE caption side (vectors for the
caption index). Both read token ids from `vocab.txt` and map (ids, lengths) to one vector per text."""

import json
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from model.encoder_files import CONFIG_FILE, encoder_for_inference, read_config

# config.json key naming the model family; skip-thought directories written before it existed lack it.
FAMILY_KEY = "family"
SKIPTHOUGHT, VSE = "skipthought", "vse"


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
