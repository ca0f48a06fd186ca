"""The VSE model directory: config.json (`"family": "vse"` and the VSEConfig fields), weights.pt
(state dict) and vocab.txt (line i = the word of embedding row i; 0 `<eos>`, 1 `UNK`)."""

from pathlib import Path

import torch

from data_schemas.atomic import atomic_path
from model.families import VSE, read_family_config, write_family_config
from model.skipthought.files import CONFIG_FILE, VOCAB_FILE, WEIGHTS_FILE, read_vocabulary, write_vocabulary
from model.vse.embedding import VisualSemanticEmbedding, VSEConfig


def read_vse_config(model_dir: Path) -> VSEConfig:
    return VSEConfig(**read_family_config(model_dir, VSE, "VSE"))


def write_vse_config(model_dir: Path, config: VSEConfig) -> None:
    write_family_config(model_dir, VSE, config.to_json())


def vse_for_inference(model_dir: Path) -> VisualSemanticEmbedding:
    """The model with untrained weights: Beam RunInference's model factory loads weights.pt into it."""
    config = read_vse_config(model_dir)
    words = read_vocabulary(Path(model_dir)).words
    if len(words) != config.n_words:
        raise ValueError(f"{Path(model_dir) / VOCAB_FILE} has {len(words)} lines but {CONFIG_FILE} says "
                         f"n_words = {config.n_words}")
    return VisualSemanticEmbedding(config)


def load_vse(model_dir: Path, device: str | torch.device = "cpu") -> VisualSemanticEmbedding:
    """The model with its weights, on `device`, in eval mode."""
    model = vse_for_inference(model_dir)
    model.load_state_dict(torch.load(Path(model_dir) / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    return model.to(device).eval()


def save_vse(model_dir: Path, model: VisualSemanticEmbedding, words: list[str]) -> None:
    """Write a complete model directory; config.json last, so its presence means the rest is there."""
    model_dir = Path(model_dir)
    if len(words) != model.config.n_words:
        raise ValueError(f"{len(words)} vocabulary words for an embedding of {model.config.n_words} rows")
    model_dir.mkdir(parents=True, exist_ok=True)
    write_vocabulary(model_dir, words)
    with atomic_path(model_dir / WEIGHTS_FILE) as temp:
        torch.save({name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}, temp)
    write_vse_config(model_dir, model.config)
