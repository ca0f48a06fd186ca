"""Import the style vectors of the neural-storyteller release (reference e, f): `caption_style.npy` (c,
the mean combine-skip vector of the COCO training captions), `romance_style.npy` (b, romance
passages of more than 100 tokens) and `swift_style.npy` (b for lyrics), as styles `captions`,
`romance` and `swift` in the same layout as computed styles, with the source file as provenance.

The release's files are 4800-d; whether they are (4800,) or (1, 4800), float32 or float64 is not
documented (the Theano code wants float32), so both shapes and both precisions are accepted.
"""

from dataclasses import dataclass

import numpy as np

from data_schemas.storage import Location, is_remote, location
from model.original_files import OriginalFileError
from model.skipthought.files import CONFIG_FILE, WEIGHTS_FILE
from model.text_models import text_model_spec
from pipelines.core.dry_run import dry_run_enabled, print_plan
from pipelines.core.manifest import file_fingerprint
from pipelines.style.files import load_npy, resolve_encoder, style_paths, write_style

ORIGINAL_STYLES = {  # released file -> style name, and what the vector is
    "caption_style.npy": ("captions", "c: mean combine-skip vector of the COCO training captions"),
    "romance_style.npy": ("romance", "b: mean combine-skip vector of romance passages of more than 100 tokens"),
    "swift_style.npy": ("swift", "b for lyric mode: mean combine-skip vector of Taylor Swift lyrics"),
}
ORIGINAL_DIM = 4800  # combine-skip: uni-skip 2400 + bi-skip 2 x 1200


@dataclass(frozen=True)
class ConvertedStyle:
    name: str
    source: Location
    path: Location
    dim: int


def read_original_style(path: Location, dim: int, dim_from: str = "the release's combine-skip") -> np.ndarray:
    """The vector of one released style file as float32 (dim,); errors name the file."""
    try:
        array = load_npy(path)
    except (OSError, EOFError, ValueError) as error:
        raise OriginalFileError(f"{path} is truncated or not a .npy array ({error}); download it again") from error
    if array.dtype.kind != "f" or array.dtype.itemsize not in (4, 8):
        raise OriginalFileError(f"{path} holds {array.dtype} values; expected float32 or float64")
    if array.shape not in ((dim,), (1, dim)):
        raise OriginalFileError(f"{path} has shape {array.shape}; expected ({dim},) or (1, {dim}) ({dim_from} dim)")
    bad = int((~np.isfinite(array)).sum())
    if bad:
        raise OriginalFileError(f"{path} holds {bad} NaN or infinite value(s)")
    return array.reshape(dim).astype(np.float32)


def convert_styles(folder: str | Location, encoder: str, workspace: str | Location) -> list[ConvertedStyle]:
    """Write every released style file found in `folder` (on disk or on a store) to `styles/<encoder id>/`.

    The vectors must have the encoder's output dim when its model directory exists (they only mean
    something beside the combine-skip encoder they came from), else the release's 4800."""
    folder, workspace = location(folder), location(workspace)
    found = [file for file in ORIGINAL_STYLES if (folder / file).is_file()]
    if not found:
        raise FileNotFoundError(f"{folder} holds none of {', '.join(ORIGINAL_STYLES)}")
    encoder_id, model_dir = resolve_encoder(workspace, encoder)
    dim, dim_from, encoder_files = ORIGINAL_DIM, "the release's combine-skip", None
    if model_dir is not None:
        dim, dim_from = text_model_spec(model_dir).output_dim, f"encoder {model_dir}'s output"
        encoder_files = {name: file_fingerprint(model_dir / name)["sha256"] for name in (WEIGHTS_FILE, CONFIG_FILE)}
    # Every file is checked before any is written.
    vectors = {file: read_original_style(folder / file, dim, dim_from) for file in found}
    if dry_run_enabled():
        targets = {file: style_paths(workspace, encoder_id, ORIGINAL_STYLES[file][0]).vector for file in found}
        print_plan("convert styles", f"would write {len(found)} styles of {encoder_id} ({dim}-d)",
                   [f"{folder / file} -> {path}" + (" (replaced)" if path.exists() else "")
                    for file, path in targets.items()])
        return [ConvertedStyle(ORIGINAL_STYLES[file][0], folder / file, path, dim) for file, path in targets.items()]
    converted = []
    for file, vector in vectors.items():
        name, description = ORIGINAL_STYLES[file]
        released = folder / file
        source = file_fingerprint(released if is_remote(released) else released.resolve())
        meta = {"source": "original release", "description": description, "original": source, "dim": dim,
                "encoder": {"id": encoder_id, "files": encoder_files}, "count": None}
        path = write_style(workspace, encoder_id, name, vector, meta)
        converted.append(ConvertedStyle(name, folder / file, path, dim))
    return converted
