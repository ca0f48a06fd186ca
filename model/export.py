"""A trained model folder as shipped: its config, vocabulary, tables and weights, without the training
checkpoint (optimizer state and all, several times the weights), weights optionally in fp16.

fp16 halves what the repository carries; every loader casts a state dict into the model's own float32
parameters (`load_state_dict` copies with a cast), and the encoder casts the rows it gathers from its
word tables (`*_table.npy`, stored float16 too), so a shipped model loads and runs as before, with
weights rounded to 11 significant bits.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from data_schemas.atomic import atomic_path
from model.skipthought.files import CONFIG_FILE, WEIGHTS_FILE
from model.training.loop import CHECKPOINT

LEFT_OUT = (CHECKPOINT,)  # training state: resumes a run, never read by a loader
EXPORT_NOTE = "export.json"
TABLES = "*_table.npy"  # skip-thought word tables (model/skipthought/files.py)


def export_model(model_dir: str | Path, out: str | Path, fp16: bool = True) -> dict[str, int]:
    """Copy MODEL_DIR to OUT (a new folder, written beside it and renamed into place); returns bytes per file."""
    source, out = Path(model_dir), Path(out)
    if not (source / CONFIG_FILE).is_file() or not (source / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{source}: no {CONFIG_FILE} and {WEIGHTS_FILE}; is it a finished model folder?")
    if out.exists():
        raise ValueError(f"{out} exists: remove it or name another folder")
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
            state = torch.load(source / WEIGHTS_FILE, map_location="cpu", weights_only=True)
            half = {name: tensor.half() if tensor.is_floating_point() else tensor for name, tensor in state.items()}
            torch.save(half, staging / WEIGHTS_FILE)
        note = {"exported_from": str(source), "weights_dtype": "float16" if fp16 else "as trained",
                "left_out": [name for name in LEFT_OUT if (source / name).exists()]}
        (staging / EXPORT_NOTE).write_text(json.dumps(note, indent=2) + "\n", encoding="utf-8")
    return {path.name: path.stat().st_size for path in sorted(out.iterdir())}
