"""Captions for images: image files -> CNN features -> VSE joint space -> top-k from a caption index.

The VSE that embeds the images is the one whose caption vectors the index holds: it is found where
the index was built from and checked against the weights' hash stored in the index's `_meta.json`,
since images embedded by any other model would be compared with captions in a different space.
Images are processed in chunks, with a progress line per chunk; an image that cannot be read is a
reject row (`<out stem>.rejects.parquet`), and images in = images answered + images rejected. The index,
the workspace and `out` may be on an object store; the VSE is used from a local copy.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from data_schemas import REJECTS
from data_schemas import index as ix
from data_schemas.rejects import reject_row
from data_schemas.shards import write_table_atomic
from data_schemas.storage import Location, local_copy, location
from data_schemas.workspace import MODEL_CHECKPOINT, Workspace
from model.cnn.registry import IMAGE_MODELS, image_model_spec
from model.device import torch_device
from model.vse.api import VSEEncoder
from model.vse.files import read_vse_config
from pipelines.core.logs import logger
from pipelines.core.manifest import file_fingerprint
from pipelines.features import image_features, list_images
from pipelines.index.caption_index import CaptionIndex, find_index

LOG = logger("index")

STAGE = "retrieve"


@dataclass(frozen=True)
class RetrieveParams:
    k: int = 5
    cnn: str | None = None  # None: the CNN the VSE was trained on (its provenance), else by feature size
    weights: str | None = None  # CNN state dict; None = the CNN's default
    device: str = "auto"
    batch_size: int = 32  # images per CNN forward pass
    chunk_size: int = 1024  # images per progress step (features, embedding and search)


@dataclass(frozen=True)
class RetrieveReport:
    index: Location
    vse: Path
    cnn: str
    images_in: int
    images_out: int
    images_rejected: int
    rows: int
    seconds: float


def rejects_path(out: Location) -> Location:
    return out.with_name(f"{out.stem}.rejects.parquet")


def find_vse(index: CaptionIndex, workspace: str | Location | None) -> Path:
    """The VSE model directory whose weights built the index (same file name and sha256), wherever it is now;
    a local copy when it is on an object store."""
    built_with = index.meta["vse_weights"]
    weights_file = location(built_with["path"])
    candidates = [weights_file.parent]
    if workspace is not None:
        candidates.append(Workspace(workspace).model(index.vse))
    for folder in candidates:
        if not (folder / weights_file.name).is_file():
            continue
        copy = local_copy(folder, leave_out=(MODEL_CHECKPOINT,))
        if file_fingerprint(copy / weights_file.name)["sha256"] == built_with["sha256"]:
            return copy
    raise FileNotFoundError(f"the VSE model that built {index.folder} ({built_with['path']}, sha256 "
                            f"{built_with['sha256'][:12]}...) is not at {[str(c) for c in candidates]} or has changed "
                            f"since: rebuild the index with `storyteller index`")


def choose_cnn(vse_dir: Path, cnn: str | None) -> str:
    """`cnn` if given and of the VSE's input size; else the VSE's own (provenance), else by feature size."""
    config = read_vse_config(vse_dir)
    if cnn is None:
        cnn = config.provenance.get("cnn")
    if cnn is None:
        matching = [name for name, spec in IMAGE_MODELS.items() if spec.feature_dim == config.dim_image]
        if len(matching) != 1:
            raise ValueError(f"{vse_dir} reads {config.dim_image}-d image features and does not say from which CNN: "
                             f"pass --cnn ({sorted(IMAGE_MODELS)})")
        cnn = matching[0]
    dim = image_model_spec(cnn).feature_dim
    if dim != config.dim_image:
        raise ValueError(f"--cnn {cnn} gives {dim}-d features, but {vse_dir} reads {config.dim_image}-d ones")
    return cnn


def retrieval_rows(paths: list[str], scores: np.ndarray, ids: np.ndarray, index: CaptionIndex) -> pa.Table:
    """One row per (image, rank); FAISS pads with id -1 when it finds fewer than k, and those are dropped."""
    keep = ids >= 0
    image_rows, ranks = np.nonzero(keep)
    captions = index.captions(ids[keep])
    return pa.table({
        ix.IMAGE: pa.array([paths[r] for r in image_rows], pa.string()),
        ix.RANK: pa.array(ranks + 1, pa.int32()),
        ix.FAISS_ID: captions.column(ix.FAISS_ID),
        ix.CORPUS: captions.column(ix.CORPUS),
        ix.CAPTION_ID: captions.column(ix.CAPTION_ID),
        ix.TEXT: captions.column(ix.TEXT),
        ix.SCORE: pa.array(scores[keep], pa.float32()),
    }, schema=ix.RETRIEVALS)


def run(index_name: str | Location, images: str | list[str], out: str | Location,
        workspace: str | Location | None = None, params: RetrieveParams | None = None) -> RetrieveReport:
    """Top-k captions of the index for every image of `images` (see `pipelines.features.list_images`)."""
    params = params or RetrieveParams()
    if params.k < 1:
        raise ValueError(f"--k must be at least 1, got {params.k}")
    if params.chunk_size < 1 or params.batch_size < 1:
        raise ValueError("--batch-size and the chunk size must be at least 1")
    started = time.monotonic()
    out = location(out)
    folder = find_index(location(workspace) if workspace else Path("."), index_name)
    index = CaptionIndex(folder)
    vse_dir = find_vse(index, workspace)
    cnn = choose_cnn(vse_dir, params.cnn)
    paths = list_images(images)
    device = str(torch_device(params.device))
    encoder = VSEEncoder(vse_dir, device)
    tables, rejects, answered = [], [], 0
    for start in range(0, len(paths), params.chunk_size):
        chunk = paths[start : start + params.chunk_size]
        features, failed = image_features(chunk, cnn, params.weights, params.device, params.batch_size)
        bad = {reject.index for reject in failed}
        rejects += [reject_row(STAGE, reject.path, "", reject.reason) for reject in failed]
        loaded = [path for position, path in enumerate(chunk) if position not in bad]
        if loaded:
            scores, ids = index.search(encoder.embed_features(features), params.k)
            tables.append(retrieval_rows(loaded, scores, ids, index))
        answered += len(loaded)
        done = start + len(chunk)
        LOG.info("[%s] %d/%d images (%d rejected) %.0fs", STAGE, done, len(paths), len(rejects),
                 time.monotonic() - started)
    table = pa.concat_tables(tables) if tables else ix.RETRIEVALS.empty_table()
    write_table_atomic(pa.Table.from_pylist(rejects, schema=REJECTS), rejects_path(out))
    write_table_atomic(table, out)
    return RetrieveReport(folder, vse_dir, cnn, len(paths), answered, len(rejects), table.num_rows,
                          time.monotonic() - started)
