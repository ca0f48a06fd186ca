"""Reading the numeric files of a model folder without running code, every failure a ValueError that names
the file and what is wrong with it (never torch's or numpy's advice to load it unsafely).

A folder's weights are `weights.safetensors` when present (a format that holds tensors only, written by
`storyteller export`), else `weights.pt` read with `torch.load(weights_only=True)`. Before a state dict
goes into a model, its names and shapes are checked against the model that config.json describes, so a
folder whose config and weights disagree fails here, not as a size mismatch deep in a worker.
"""

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"
SAFETENSORS_FILE = "weights.safetensors"
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive
_PICKLE_PROTOCOL = b"\x80"  # what a pickle starts with
_NPY_MAGIC = b"\x93NUMPY"
_LISTED = 5  # tensor names quoted in an error


def weights_path(model_dir: str | Path) -> Path:
    """The weights file a loader reads: weights.safetensors when present, else weights.pt."""
    safe = Path(model_dir) / SAFETENSORS_FILE
    return safe if safe.is_file() else Path(model_dir) / WEIGHTS_FILE


def read_state_dict(model_dir: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a model folder (see `weights_path`), on the CPU."""
    path = weights_path(model_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {model_dir} is not a finished model folder")
    state = _read_safetensors(path) if path.name == SAFETENSORS_FILE else _read_pt(path)
    if not isinstance(state, Mapping):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict of tensor names to tensors")
    for name, tensor in state.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise ValueError(f"{path}: entry {name!r} is a {type(tensor).__name__}, not a tensor; "
                             "a weights file holds tensors only")
    return dict(state)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{path} is not a readable safetensors file, truncated or damaged ({error})") from None


def _read_pt(path: Path) -> object:
    with open(path, "rb") as handle:
        head = handle.read(len(_ZIP_MAGIC))
    if not head:
        raise ValueError(f"{path} is empty: the weights were never written; copy or train the model again")
    try:
        with warnings.catch_warnings():  # torch warns about a pickle's protocol before it refuses it
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, KeyError, EOFError or UnpicklingError here
        if head.startswith(_PICKLE_PROTOCOL):
            raise ValueError(f"{path} is a Python pickle, not the zip archive torch.save writes; pickles are never "
                             "loaded (they could run code): save a plain state dict of tensors") from None
        if head != _ZIP_MAGIC:
            raise ValueError(f"{path} is not readable as a torch weights file (it starts with {head!r}, not the zip "
                             "archive torch.save writes)") from None
        if "weights only" in str(error).lower() or "unpickl" in type(error).__name__.lower():
            raise ValueError(f"{path} holds objects other than tensors, which are never loaded (they could run "
                             "code); save a plain state dict of tensors") from None
        raise ValueError(f"{path} is truncated or damaged: its zip archive cannot be read ({error}); "
                         "copy or export the model again") from None


def check_state_dict(state: Mapping[str, torch.Tensor], model: nn.Module, path: Path, config: Path) -> None:
    """The tensors of `state` must be exactly those of `model` (built from `config`), shape for shape."""
    expected = model.state_dict()
    missing = [name for name in expected if name not in state]
    if missing:
        raise ValueError(f"{path} lacks tensor(s) {missing[:_LISTED]} ({len(missing)} in all) that the model of "
                         f"{config} has: are config.json and the weights from the same model?")
    extra = [name for name in state if name not in expected]
    if extra:
        raise ValueError(f"{path} holds tensor(s) {extra[:_LISTED]} that the model of {config} has no place for: "
                         "are config.json and the weights from the same model?")
    for name, tensor in expected.items():
        if state[name].shape != tensor.shape:
            raise ValueError(f"{path}: tensor {name} has shape {tuple(state[name].shape)}, but {config} says "
                             f"{tuple(tensor.shape)}: are config.json and the weights from the same model?")


def load_weights(model: nn.Module, model_dir: str | Path) -> nn.Module:
    """`model` (built from the folder's config.json) with the folder's weights, after `check_state_dict`."""
    state = read_state_dict(model_dir)
    check_state_dict(state, model, weights_path(model_dir), Path(model_dir) / CONFIG_FILE)
    model.load_state_dict(state)
    return model


def read_npy(path: str | Path, mmap: bool = True) -> np.ndarray:
    """A plain .npy array (memory-mapped with `mmap`); a missing, truncated or object file fails, naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the model folder is not complete")
    with open(path, "rb") as handle:
        if handle.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
            raise ValueError(f"{path} is not a plain .npy array: it does not start as one")
        handle.seek(0)
        try:
            version = np.lib.format.read_magic(handle)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(handle)
        except ValueError as error:
            raise ValueError(f"{path} is not a plain .npy array: its header is truncated or damaged ({error})") \
                from None
        if dtype.hasobject:
            raise ValueError(f"{path} is not a plain .npy array: it holds Python objects, which are never loaded "
                             "(they could run code)")
        needed = handle.tell() + int(np.prod(shape)) * dtype.itemsize
    size = path.stat().st_size
    if size < needed:
        raise ValueError(f"{path} is truncated: {size} bytes where its header promises {needed} "
                         f"({dtype} of shape {shape})")
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
