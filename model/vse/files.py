"""The VSE model directory: config.json (`"family": "vse"`, the joint space's `kind` and its config
fields), weights.pt (state dict) and vocab.txt (line i = the word of embedding row i; 0 `<eos>`, 1 `UNK`).

Three kinds share the format, so the caption index, retrieval and the story job take any of them:
`gru` (the trained VSE, model/vse/embedding.py; a config without `kind` is one), `zero-shot` (ConSE over
word vectors, model/vse/zero_shot.py) and `fused` (a weighted pair of the two, model/vse/fused.py).
"""

from pathlib import Path

import torch
from torch import nn

from data_schemas.atomic import atomic_path
from data_schemas.storage import Location, local_copy, location
from model.families import VSE, build_config, read_family_config, write_family_config
from model.skipthought.files import VOCAB_FILE, read_vocabulary, write_vocabulary
from model.vse.embedding import GRU, VisualSemanticEmbedding, VSEConfig
from model.vse.fused import FUSED, FusedConfig, FusedEmbedding
from model.vse.zero_shot import ZERO_SHOT, ZeroShotConfig, ZeroShotEmbedding
from model.weights_file import CONFIG_FILE, SAFETENSORS_FILE, WEIGHTS_FILE, load_weights

KINDS = (GRU, ZERO_SHOT, FUSED)
# How a run can choose captions with the shipped models: the trained VSE fused with the zero-shot space (the
# default), the trained VSE alone, the zero-shot space alone.
RETRIEVAL_MODES = ("fused", "vse", "zero-shot")
AnyVSEConfig = VSEConfig | ZeroShotConfig | FusedConfig


def config_from_fields(fields: dict, source: Path | str) -> AnyVSEConfig:
    kind = fields.get("kind", GRU)
    classes = {GRU: VSEConfig, ZERO_SHOT: ZeroShotConfig, FUSED: FusedConfig}
    if kind not in classes:
        raise ValueError(f"{source}: unknown VSE kind {kind!r}; expected one of {list(KINDS)}")
    return build_config(classes[kind], {**fields, "kind": kind}, source)


def read_vse_config(model_dir: str | Location) -> AnyVSEConfig:
    return config_from_fields(read_family_config(model_dir, VSE, "VSE"), location(model_dir) / CONFIG_FILE)


def write_vse_config(model_dir: str | Location, config: AnyVSEConfig) -> None:
    write_family_config(model_dir, VSE, config.to_json())


def module_for(config: AnyVSEConfig, source: Path | str = "") -> nn.Module:
    """The untrained module of a config; a fused one holds its two parts' modules."""
    if isinstance(config, FusedConfig):
        parts = [module_for(config_from_fields(config.parts[key], f"{source} (part {key})"), source)
                 for key in ("a", "b")]
        return FusedEmbedding(config, *parts)
    return ZeroShotEmbedding(config) if isinstance(config, ZeroShotConfig) else VisualSemanticEmbedding(config)


def vse_for_inference(model_dir: str | Location) -> nn.Module:
    """The model with untrained weights: Beam RunInference's model factory loads weights.pt into it."""
    model_dir = location(model_dir)
    config = read_vse_config(model_dir)
    words = read_vocabulary(model_dir).words
    if len(words) != config.n_words:
        raise ValueError(f"{model_dir / VOCAB_FILE} has {len(words)} lines but {CONFIG_FILE} says "
                         f"n_words = {config.n_words}")
    return module_for(config, model_dir / CONFIG_FILE)


def load_vse(model_dir: str | Location, device: str | torch.device = "cpu") -> nn.Module:
    """The model with its weights, on `device`, in eval mode; a folder on a store is read from its local copy."""
    model_dir = local_copy(location(model_dir))
    return load_weights(vse_for_inference(model_dir), model_dir).to(device).eval()


def save_vse(model_dir: str | Location, model: nn.Module, words: list[str]) -> None:
    """Write a complete model directory, on disk or on a store; config.json last, so its presence means the
    rest is there."""
    model_dir = location(model_dir)
    if len(words) != model.config.n_words:
        raise ValueError(f"{len(words)} vocabulary words for an embedding of {model.config.n_words} rows")
    model_dir.mkdir(parents=True, exist_ok=True)
    write_vocabulary(model_dir, words)
    with atomic_path(model_dir / WEIGHTS_FILE) as temp:
        torch.save({name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}, temp)
    (model_dir / SAFETENSORS_FILE).unlink(missing_ok=True)  # it would be read first: never leave an older one
    write_vse_config(model_dir, model.config)
