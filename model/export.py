"""A trained model folder as shipped: its config, vocabulary, tables and weights, without the training
checkpoint (optimizer state and all, several times the weights), weights optionally in fp16.

The weights are written twice, the same tensors in the same dtype: `weights.safetensors`, which every
loader reads first (the format holds tensors only, so reading it can never run code), and `weights.pt`
for tools that know only torch's format.

fp16 halves what the repository carries; every loader casts a state dict into the model's own float32
parameters (`load_state_dict` copies with a cast), and the encoder casts the rows it gathers from its
word tables (`*_table.npy`, stored float16 too), so a shipped model loads and runs as before, with
weights rounded to 11 significant bits.
"""

import json
import shutil

import numpy as np
import torch
from safetensors.torch import save_file

from data_schemas.atomic import atomic_path
from data_schemas.storage import Location, local_copy, location
from model.folder_check import check_model_dir
from model.training.loop import CHECKPOINT
from model.weights_file import CONFIG_FILE, SAFETENSORS_FILE, WEIGHTS_FILE, read_state_dict, weights_path

LEFT_OUT = (CHECKPOINT,)  # training state: resumes a run, never read by a loader
EXPORT_NOTE = "export.json"
TABLES = "*_table.npy"  # skip-thought word tables (model/skipthought/files.py)


def export_model(model_dir: str | Location, out: str | Location, fp16: bool = True) -> dict[str, int]:
    """Copy MODEL_DIR to OUT (a new folder, written beside it and renamed into place, or uploaded to a store
    file by file, config.json last); returns bytes per file. A MODEL_DIR on a store is read from its local
    copy."""
    named, out = location(model_dir), location(out)
    source = local_copy(named) if (named / CONFIG_FILE).is_file() else named
    if not (source / CONFIG_FILE).is_file() or not weights_path(source).is_file():
        raise FileNotFoundError(f"{source}: no {CONFIG_FILE} and {WEIGHTS_FILE}; is it a finished model folder?")
    if out.exists():
        raise ValueError(f"{out} exists: remove it or name another folder")
    check_model_dir(source)  # a broken folder fails here, naming the file, before anything is written
    state = read_state_dict(source)
    if fp16:
        state = {name: tensor.half() if tensor.is_floating_point() else tensor for name, tensor in state.items()}
    # Own contiguous copies: safetensors refuses tensors that share memory or are strided views.
    state = {name: tensor.detach().contiguous().clone() for name, tensor in state.items()}
    with atomic_path(out) as staging:
        staging.mkdir()
        for path in sorted(source.iterdir()):
            if path.is_file() and path.name not in LEFT_OUT and not path.name.startswith("."):
                shutil.copy2(path, staging / path.name)
        if fp16:
            for table in sorted(staging.glob(TABLES)):
                half_table = np.load(table, mmap_mode="r", allow_pickle=False)
                if half_table.dtype == np.float32:
                    np.save(table, np.asarray(half_table, dtype=np.float16))
        torch.save(state, staging / WEIGHTS_FILE)
        save_file(state, staging / SAFETENSORS_FILE)
        note = {"exported_from": str(named), "weights_dtype": "float16" if fp16 else "as trained",
                "left_out": [name for name in LEFT_OUT if (source / name).exists()]}
        (staging / EXPORT_NOTE).write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    return {path.name: path.stat().st_size for path in sorted(out.iterdir(), key=lambda path: path.name)}
