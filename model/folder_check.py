"""A model folder checked whole before a job starts: loaded once on the CPU as a worker would load it, so a
bad config.json, vocabulary, table or weights file fails in the launching process with an error naming the
file, never as a worker traceback after the job's output folders were begun."""

from functools import lru_cache
from pathlib import Path

from model.decoder.files import DECODER, load_decoder
from model.families import SKIPTHOUGHT, VSE, model_family
from model.skipthought.files import load_encoder
from model.vse.files import load_vse
from model.weights_file import CONFIG_FILE
from model.words.files import WORDS, read_word_vectors

LOADERS = {SKIPTHOUGHT: load_encoder, VSE: load_vse, DECODER: load_decoder, WORDS: read_word_vectors}


def check_model_dir(model_dir: str | Path, families: tuple[str, ...] = tuple(LOADERS)) -> str:
    """Load `model_dir` whole and drop it; its family, which must be one of `families`. A folder whose files
    are unchanged since it passed is not loaded again in this process (a flow checks the same models for
    every corpus it encodes and every stories run it starts)."""
    if not Path(model_dir).is_dir():
        raise FileNotFoundError(f"model folder {model_dir} does not exist")
    files = tuple(sorted((path.name, path.stat().st_size, path.stat().st_mtime_ns)
                         for path in Path(model_dir).iterdir() if path.is_file()))
    return _checked(str(Path(model_dir).resolve()), files, families, str(model_dir))


@lru_cache(maxsize=64)
def _checked(resolved: str, files: tuple, families: tuple[str, ...], given: str) -> str:
    """Only passes are remembered: a failing check raises, and lru_cache keeps no exceptions."""
    family = model_family(given)
    if family not in families:
        raise ValueError(f"{Path(given) / CONFIG_FILE} says family {family!r}, but a model of family "
                         f"{' or '.join(map(repr, families))} is needed here")
    LOADERS[family](Path(given))
    return family
