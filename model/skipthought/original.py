"""Loader for the released skip-thought files (reference a.3, b.4): uni_skip.npz(.pkl),
bi_skip.npz(.pkl), utable.npy, btable.npy and dictionary.txt, into an encoder model directory.

The files are Python 2 artefacts: option pickles with byte-string keys, and tables that are
pickled object arrays whose rows are (620,) or (1, 620) float32 vectors, all read through
model.original_files. Each table is 2.3 GB, so rows are copied one by one into a memory-mapped float32
.npy; the loaded object array is freed before the next table is read. Every failure names the file and
what is wrong with it, since truncated downloads are the most common problem users hit.
"""

from pathlib import Path

import numpy as np
import torch

from data_schemas.atomic import atomic_path
from model.original_files import OriginalFileError, int_option, read_arrays, read_options, read_table
from model.skipthought.encoder import SkipThoughtConfig, SkipThoughtEncoder
from model.skipthought.files import table_file, write_config, write_vocabulary

GRU_KEYS = ("W", "b", "U", "Wx", "Ux", "bx")
OPTIONS_FILE = "the .npz.pkl options file"


def read_gru(npz_path: Path, prefix: str, dim_word: int, dim: int) -> dict[str, np.ndarray]:
    """The six GRU arrays `<prefix>_{W,b,U,Wx,Ux,bx}`, shape-checked, keyed without the prefix."""
    shapes = {"W": (dim_word, 2 * dim), "b": (2 * dim,), "U": (dim, 2 * dim),
              "Wx": (dim_word, dim), "Ux": (dim, dim), "bx": (dim,)}
    arrays = read_arrays(npz_path, {f"{prefix}_{key}": shapes[key] for key in GRU_KEYS})
    return {key: arrays[f"{prefix}_{key}"] for key in GRU_KEYS}


def gru_state(arrays: dict[str, np.ndarray], suffix: str = "") -> dict[str, torch.Tensor]:
    """Theano GRU arrays to nn.GRU parameters (reference b.1): row blocks (reset, update, candidate)."""
    dim = arrays["Ux"].shape[0]
    return {
        f"weight_ih_l0{suffix}": torch.from_numpy(np.concatenate([arrays["W"].T, arrays["Wx"].T])),
        f"weight_hh_l0{suffix}": torch.from_numpy(np.concatenate([arrays["U"].T, arrays["Ux"].T])),
        f"bias_ih_l0{suffix}": torch.from_numpy(np.concatenate([arrays["b"], arrays["bx"]])),
        f"bias_hh_l0{suffix}": torch.zeros(3 * dim),
    }


def read_dictionary(path: Path) -> list[str]:
    """dictionary.txt: line i (stripped) names row i of both tables."""
    try:
        with open(path, encoding="utf-8") as handle:
            words = [line.strip() for line in handle]
    except FileNotFoundError:
        raise OriginalFileError(f"{path} is missing") from None
    except UnicodeDecodeError as error:
        raise OriginalFileError(f"{path} is not UTF-8 text ({error})") from error
    if "UNK" not in words:
        raise OriginalFileError(f"{path} has no 'UNK' line: is it the skip-thoughts dictionary.txt?")
    return words


def convert_table(path: Path, out_path: Path, rows: int, dim_word: int) -> None:
    """Copy a released table row by row into a float32 .npy, written atomically."""
    table = read_table(path)
    found = len(table) if table.ndim else 0
    if found != rows:
        raise OriginalFileError(f"{path} has {found} rows but dictionary.txt has {rows} lines")
    with atomic_path(out_path) as temp:
        out = np.lib.format.open_memmap(temp, mode="w+", dtype=np.float32, shape=(rows, dim_word))
        for row in range(rows):
            vector = table[row]
            # An array, not any sequence: nested lists that share one list would convert for ever.
            if not isinstance(vector, np.ndarray) or vector.dtype.kind not in "biuf":
                raise OriginalFileError(f"{path}: row {row} is a {type(vector).__name__}, not a vector of numbers")
            vector = vector.reshape(-1)
            if vector.size != dim_word:
                raise OriginalFileError(f"{path}: row {row} has {vector.size} values, expected {dim_word}")
            out[row] = vector  # cast to float32
        out.flush()
        del out


def convert_skipthoughts(models_dir: Path, tables_dir: Path, out_dir: Path) -> SkipThoughtConfig:
    """Write a combine-skip model directory from the released uni- and bi-skip files."""
    models_dir, tables_dir, out_dir = Path(models_dir), Path(tables_dir), Path(out_dir)
    uni_path, bi_path = models_dir / "uni_skip.npz.pkl", models_dir / "bi_skip.npz.pkl"
    uni_options = read_options(uni_path, ("dim_word", "dim"), OPTIONS_FILE)
    bi_options = read_options(bi_path, ("dim_word", "dim"), OPTIONS_FILE)
    dim_word, uni_dim = int_option(uni_path, uni_options, "dim_word"), int_option(uni_path, uni_options, "dim")
    bi_dim = int_option(bi_path, bi_options, "dim")
    if int_option(bi_path, bi_options, "dim_word") != dim_word:
        raise OriginalFileError(f"{uni_path} and {bi_path} disagree on dim_word: are they from the same release?")
    uni = read_gru(models_dir / "uni_skip.npz", "encoder", dim_word, uni_dim)
    bi_forward = read_gru(models_dir / "bi_skip.npz", "encoder", dim_word, bi_dim)
    bi_backward = read_gru(models_dir / "bi_skip.npz", "encoder_r", dim_word, bi_dim)
    words = read_dictionary(tables_dir / "dictionary.txt")
    config = SkipThoughtConfig(
        kind="combine", dim_word=dim_word, uni_dim=uni_dim, bi_dim=bi_dim,
        provenance={"source": "released skip-thoughts (Kiros et al. 2015)", "models_dir": str(models_dir),
                    "tables_dir": str(tables_dir), "dictionary_lines": len(words),
                    "uni_options": uni_options, "bi_options": bi_options},
    )
    encoder = SkipThoughtEncoder(config)
    encoder.uni.load_state_dict(gru_state(uni))
    encoder.bi.load_state_dict({**gru_state(bi_forward), **gru_state(bi_backward, "_reverse")})
    out_dir.mkdir(parents=True, exist_ok=True)
    for part, name in (("uni", "utable.npy"), ("bi", "btable.npy")):
        convert_table(tables_dir / name, out_dir / table_file(part), len(words), dim_word)
    write_vocabulary(out_dir, words)
    torch.save(encoder.state_dict(), out_dir / "weights.pt")
    write_config(out_dir, config)
    return config
