"""A model folder checked whole before a job starts: loaded once on the CPU as a worker would load it, so a
bad config.json, vocabulary, table or weights file fails in the launching process with an error naming the
file, never as a worker traceback after the job's output folders were begun."""

from pathlib import Path

from model.decoder.files import DECODER, load_decoder
from model.families import SKIPTHOUGHT, VSE, model_family
from model.skipthought.files import load_encoder
from model.vse.files import load_vse
from model.weights_file import CONFIG_FILE
from model.words.files import WORDS, read_word_vectors

LOADERS = {SKIPTHOUGHT: load_encoder, VSE: load_vse, DECODER: load_decoder, WORDS: read_word_vectors}


def check_model_dir(model_dir: str | Path, families: tuple[str, ...] = tuple(LOADERS)) -> str:
    """Load `model_dir` whole and drop it; its family, which must be one of `families`."""
    if not Path(model_dir).is_dir():
        raise FileNotFoundError(f"model folder {model_dir} does not exist")
    family = model_family(model_dir)
    if family not in families:
        raise ValueError(f"{Path(model_dir) / CONFIG_FILE} says family {family!r}, but a model of family "
                         f"{' or '.join(map(repr, families))} is needed here")
    LOADERS[family](Path(model_dir))
    return family
