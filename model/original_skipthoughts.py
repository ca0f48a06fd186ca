"""Loader for the released skip-thought files (reference a.3, b.4): uni_skip.npz(.pkl),
bi_skip.npz(.pkl), utable.npy, btable.npy and dictionary.txt, into an encoder model directory.

The files are Python 2 artefacts: option pickles with byte-string keys, and tables that are
pickled object arrays whose rows are (620,) or (1, 620) float32 vectors. Each table is 2.3 GB, so
rows are copied one by one into a memory-mapped float32 .npy; the loaded object array is freed
before the next table is read. Every failure names the file and what is wrong with it, since
truncated downloads are the most common problem users hit.
"""

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from model.encoder_files import table_file, write_config, write_vocabulary
from model.skipthought import SkipThoughtConfig, SkipThoughtEncoder

GRU_KEYS = ("W", "b", "U", "Wx", "Ux", "bx")


class OriginalFileError(ValueError):
    """A released file is missing, truncated or not what its name says."""


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict):
        return {_decode(k): _decode(v) for k, v in value.items()}
    return value


def read_py2_pickle(path: Path) -> dict:
    """A Python 2 pickle (protocol 0 or 2) whose byte strings are UTF-8 text."""
    try:
        with open(path, "rb") as handle:
            return _decode(pickle.load(handle, encoding="bytes"))
    except FileNotFoundError:
        raise OriginalFileError(f"{path} is missing") from None
    except (EOFError, pickle.UnpicklingError, UnicodeDecodeError, ValueError) as error:
        raise OriginalFileError(f"{path} is truncated or not a pickle ({error!r}); download it again") from error


def read_options(path: Path) -> dict:
    options = read_py2_pickle(path)
    missing = [key for key in ("dim_word", "dim") if key not in options]
    if not isinstance(options, dict) or missing:
        raise OriginalFileError(f"{path} lacks option(s) {missing}: is it the .npz.pkl options file?")
    return options


def read_arrays(npz_path: Path, expected: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Named float32 arrays of an npz, each shape-checked against `expected`; other keys are ignored.
    A missing, truncated or foreign file is an OriginalFileError that says to download it again."""
    try:
        with np.load(npz_path) as archive:
            arrays = {}
            for name, shape in expected.items():
                if name not in archive.files:
                    raise OriginalFileError(f"{npz_path} has no array {name!r} (found {sorted(archive.files)[:12]})")
                arrays[name] = np.asarray(archive[name], dtype=np.float32)
                if arrays[name].shape != shape:
                    raise OriginalFileError(f"{npz_path}: {name} has shape {arrays[name].shape}, expected {shape} "
                                            f"from the options")
            return arrays
    except FileNotFoundError:
        raise OriginalFileError(f"{npz_path} is missing") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        if isinstance(error, OriginalFileError):
            raise
        raise OriginalFileError(f"{npz_path} is truncated or not an npz archive ({error!r}); "
                                f"download it again") from error


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
    """Copy a pickled object-array table row by row into a float32 .npy, written atomically."""
    try:
        table = np.load(path, allow_pickle=True, encoding="latin1")
    except FileNotFoundError:
        raise OriginalFileError(f"{path} is missing") from None
    except (EOFError, ValueError, OSError, pickle.UnpicklingError) as error:
        raise OriginalFileError(f"{path} is truncated or not a .npy table ({error!r}); download it again") from error
    if len(table) != rows:
        raise OriginalFileError(f"{path} has {len(table)} rows but dictionary.txt has {rows} lines")
    temp = out_path.with_name(f".tmp-{out_path.name}")
    out = np.lib.format.open_memmap(temp, mode="w+", dtype=np.float32, shape=(rows, dim_word))
    for row in range(rows):
        vector = np.asarray(table[row], dtype=np.float32).reshape(-1)
        if vector.size != dim_word:
            raise OriginalFileError(f"{path}: row {row} has {vector.size} values, expected {dim_word}")
        out[row] = vector
    out.flush()
    del out, table
    os.replace(temp, out_path)


def convert_skipthoughts(models_dir: Path, tables_dir: Path, out_dir: Path) -> SkipThoughtConfig:
    """Write a combine-skip model directory from the released uni- and bi-skip files."""
    models_dir, tables_dir, out_dir = Path(models_dir), Path(tables_dir), Path(out_dir)
    uni_options = read_options(models_dir / "uni_skip.npz.pkl")
    bi_options = read_options(models_dir / "bi_skip.npz.pkl")
    if uni_options["dim_word"] != bi_options["dim_word"]:
        raise OriginalFileError("uni_skip and bi_skip options disagree on dim_word")
    dim_word = int(uni_options["dim_word"])
    uni = read_gru(models_dir / "uni_skip.npz", "encoder", dim_word, int(uni_options["dim"]))
    bi_forward = read_gru(models_dir / "bi_skip.npz", "encoder", dim_word, int(bi_options["dim"]))
    bi_backward = read_gru(models_dir / "bi_skip.npz", "encoder_r", dim_word, int(bi_options["dim"]))
    words = read_dictionary(tables_dir / "dictionary.txt")
    config = SkipThoughtConfig(
        kind="combine", dim_word=dim_word, uni_dim=int(uni_options["dim"]), bi_dim=int(bi_options["dim"]),
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
