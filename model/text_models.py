"""Which text model a model directory holds, so one Beam encode job serves every text encoder:
skip-thought encoders (vectors for styles and stories) and the VSE caption side (vectors for the
caption index). Both read token ids from `vocab.txt` and map (ids, lengths) to one vector per text."""

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from model.families import SKIPTHOUGHT, VSE, model_family
from model.skipthought.files import CONFIG_FILE, encoder_for_inference, read_config
from model.vse.files import read_vse_config, vse_for_inference


@dataclass(frozen=True)
class TextModelSpec:
    family: str
    output_dim: int
    append_eos: bool  # feed <eos> as one more step (skip-thought use_eos; always for the VSE, reference d.1)


def text_model_spec(model_dir: str | Path) -> TextModelSpec:
    family = model_family(model_dir)
    if family == VSE:
        return TextModelSpec(VSE, read_vse_config(Path(model_dir)).dim, append_eos=True)
    if family == SKIPTHOUGHT:
        config = read_config(Path(model_dir))
        return TextModelSpec(SKIPTHOUGHT, config.output_dim, config.use_eos)
    raise ValueError(f"{Path(model_dir) / CONFIG_FILE}: unknown model family {family!r}; "
                     f"expected {SKIPTHOUGHT!r} or {VSE!r}")


def text_model_for_inference(model_dir: str | Path) -> nn.Module:
    """The text model with untrained weights, for RunInference to load weights.pt into."""
    if model_family(model_dir) == VSE:
        return vse_for_inference(Path(model_dir))
    return encoder_for_inference(model_dir)
