"""The decoder model directory: config.json (`"family": "decoder"` and the DecoderConfig fields),
weights.pt (state dict) and vocab.txt (line i = the word of softmax row i; 0 `<eos>`, 1 `UNK`)."""

from pathlib import Path

import torch

from data_schemas.atomic import atomic_path
from data_schemas.storage import Location, local_copy, location
from model.decoder.conditional_gru import EOS_ID, UNK_ID, DecoderConfig, StoryDecoder
from model.families import build_config, read_family_config, write_family_config
from model.skipthought.files import EOS, UNK, VOCAB_FILE, read_vocabulary, write_vocabulary
from model.weights_file import CONFIG_FILE, SAFETENSORS_FILE, WEIGHTS_FILE, load_weights

DECODER = "decoder"


def read_decoder_config(model_dir: str | Location) -> DecoderConfig:
    fields = read_family_config(model_dir, DECODER, "decoder",
                                " (train one with `storyteller train decoder` or `storyteller convert decoder`)")
    return build_config(DecoderConfig, fields, location(model_dir) / CONFIG_FILE)


def check_context_size(dim: int, what: str, decoder_dir: Path, dim_ctx: int) -> None:
    """Vectors the decoder is to read must have its dim_ctx, the size of the vectors of its encoder."""
    if dim != dim_ctx:
        raise ValueError(f"{what} has {dim}-d vectors, but the decoder {decoder_dir} reads {dim_ctx}-d vectors (its "
                         "dim_ctx): were they made with another encoder?")


def _check_words(words: list[str], n_words: int, where: str) -> None:
    if len(words) != n_words:
        raise ValueError(f"{where} has {len(words)} words but the decoder's softmax has n_words = {n_words}")
    if words[EOS_ID] != EOS or words[UNK_ID] != UNK:
        raise ValueError(f"{where} must start with {EOS!r} and {UNK!r} (reference a.2), not {words[:2]}")


def load_decoder(model_dir: str | Location, device: str | torch.device = "cpu") -> StoryDecoder:
    """The decoder with its weights, on `device`, in eval mode with gradients off (for decoding); a folder on a
    store is read from its local copy."""
    model_dir = local_copy(location(model_dir))
    config = read_decoder_config(model_dir)
    _check_words(read_vocabulary(model_dir).words, config.n_words, str(model_dir / VOCAB_FILE))
    model = load_weights(StoryDecoder(config), model_dir)
    model.requires_grad_(False)
    return model.to(device).eval()


def save_decoder(model_dir: str | Location, model: StoryDecoder, words: list[str]) -> None:
    """Write a complete model directory, on disk or on a store; config.json last, so its presence means the
    rest is there."""
    model_dir = location(model_dir)
    _check_words(words, model.config.n_words, "the vocabulary")
    model_dir.mkdir(parents=True, exist_ok=True)
    write_vocabulary(model_dir, words)
    with atomic_path(model_dir / WEIGHTS_FILE) as temp:
        torch.save({name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}, temp)
    (model_dir / SAFETENSORS_FILE).unlink(missing_ok=True)  # it would be read first: never leave an older one
    write_family_config(model_dir, DECODER, model.config.to_json())
