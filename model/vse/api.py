"""`VSEEncoder(model_dir)`: the visual-semantic embedding as a Python API, for the caption index
and the story job. Captions go in as token lists or raw texts, images as CNN feature rows; both
come out as unit vectors of the joint space, so a score is a dot product."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from data_schemas import REJECTS
from data_schemas.rejects import reject_row
from data_schemas.shards import write_table_atomic
from data_schemas.vectors import vectors_table
from model.device import torch_device
from model.skipthought.api import pad_batch, text_tokens
from model.skipthought.files import read_vocabulary
from model.text.batching import plan_batches
from model.vse.files import load_vse

STAGE = "embed"


class VSEEncoder:
    def __init__(self, model_dir: str | Path, device: str = "cpu"):  # device: auto, cpu or cuda, as --device
        self.device = torch_device(device)
        self.model = load_vse(Path(model_dir), self.device)
        self.vocab = read_vocabulary(Path(model_dir))

    @property
    def dim(self) -> int:
        return self.model.config.dim

    @property
    def dim_image(self) -> int:
        return self.model.config.dim_image

    def token_ids(self, tokens: list[str]) -> list[int]:
        """Word ids ending with <eos>; words outside the vocabulary become UNK (reference a.2, d.1)."""
        return [*self.vocab.ids(tokens), self.vocab.eos]

    @torch.inference_mode()
    def embed_token_lists(self, token_lists: list[list[str]], batch_size: int = 256,
                          batch_tokens: int = 8192) -> np.ndarray:
        """One (dim,) unit vector per token list, in input order; an empty list is a ValueError."""
        empty = [row for row, tokens in enumerate(token_lists) if not tokens]
        if empty:
            raise ValueError(f"captions at positions {empty[:10]} have no tokens; the VSE needs at least one")
        ids = [self.token_ids(tokens) for tokens in token_lists]
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        for rows in plan_batches([len(x) for x in ids], batch_size, batch_tokens):
            batch, lengths = pad_batch([ids[row] for row in rows])
            out[rows] = self.model(batch.to(self.device), lengths).float().cpu().numpy()
        return out

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Raw texts, tokenised like the corpus stage (Treebank tokens, case kept; reference a.4)."""
        return self.embed_token_lists([text_tokens(text) for text in texts])

    @torch.inference_mode()
    def embed_features(self, features: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """CNN feature rows (N, dim_image) to (N, dim) unit vectors."""
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.dim_image:
            raise ValueError(f"image features have shape {features.shape}; this VSE reads (N, {self.dim_image})")
        out = np.zeros((len(features), self.dim), dtype=np.float32)
        for start in range(0, len(features), batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(features[start:start + batch_size], dtype=np.float32))
            out[start:start + batch_size] = self.model.embed_images(chunk.to(self.device)).float().cpu().numpy()
        return out


def embed_feature_file(encoder: VSEEncoder, features_path: Path, out: Path) -> dict[str, int]:
    """An (N, dim_image) .npy of CNN features to a vectors Parquet file (id = row number from 0,
    n_tokens = 0); rows with NaN or infinite values go to `<out>.rejects.parquet`."""
    features_path, out = Path(features_path), Path(out)
    if not features_path.is_file():
        raise FileNotFoundError(f"--features {features_path} is not a file")
    try:
        features = np.load(features_path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise ValueError(f"{features_path} is not a numeric .npy array ({error})") from None
    if features.ndim != 2 or features.shape[1] != encoder.dim_image:
        found = features.shape[1] if features.ndim == 2 else f"shape {features.shape}"
        raise ValueError(f"{features_path} has feature dimension {found}, but the VSE reads {encoder.dim_image}-d "
                         f"features: were they made with another CNN?")
    finite = np.isfinite(features).all(axis=1)
    rows = np.flatnonzero(finite)
    vectors = encoder.embed_features(features[rows]) if len(rows) else np.zeros((0, encoder.dim), np.float32)
    write_table_atomic(vectors_table([str(r) for r in rows], [0] * len(rows), vectors), out)
    rejects = [reject_row(STAGE, str(features_path), f"row {r}", "feature has NaN or infinite values")
               for r in np.flatnonzero(~finite)]
    write_table_atomic(pa.Table.from_pylist(rejects, schema=REJECTS), out.with_name(f"{out.stem}.rejects.parquet"))
    return {"records_in": len(features), "records_out": len(rows), "records_rejected": len(rejects)}
