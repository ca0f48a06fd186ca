"""Beam job: image files to CNN feature shards through RunInference with a PyTorch model handler.

    image paths (sorted, in shards of --shard-size) -> decode + preprocess, one image at a time
    -> RunInference (batches of (3, 224, 224) tensors) -> [regroup by shard]
    -> features/<cnn>/<dataset>/part-*.parquet   (image_id = file name, path, vector)

An image that cannot be read becomes a reject row on its own, never a failed batch or worker: a broken,
truncated or oversized file (over --max-image-pixels), and a symlink in an --images folder that loops,
dangles or leads to a folder. The part
from paths to vectors is the `ExtractFeatures` transform, which the story job reuses; `image_features`
does the same in this process without Beam.

Images, weights and the workspace may each be on disk or on an object store (s3://bucket/photos/): a stored
image's path is its URL, read by every worker from the store.
"""

import glob
import hashlib
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import torch
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference
from apache_beam.ml.inference.pytorch_inference import PytorchModelHandlerTensor

from data_schemas.features import features_table
from data_schemas.rejects import reject_row
from data_schemas.storage import Location, is_url, local_copy, location, object_version, on_this_machine
from data_schemas.workspace import Workspace
from model.cnn import image_loading
from model.cnn import registry as image_models
from model.cnn.image_loading import DEFAULT_MAX_PIXELS, ImageLoadError, load_rgb
from model.cnn.registry import DEFAULT_CNN, image_model, image_model_spec, load_image_model, resolve_weights
from model.device import beam_device, torch_device
from pipelines.core.beam_options import local_defaults, worker_count
from pipelines.core.manifest import file_fingerprint
from pipelines.core.sharded_job import Chunk, ShardTask, WriteShard, WriteShards
from pipelines.core.stage_run import StageReport, run_planned_stage

STAGE = "features"
# What a folder or a single-file --images counts as an image; a glob or a list file is taken as given.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
REJECTED = "rejected"


@dataclass(frozen=True)
class FeatureParams:
    cnn: str = DEFAULT_CNN
    weights: str | None = None  # a state dict file; None = the default for the CNN (see model.cnn.registry)
    shard_size: int = 256  # images per output shard
    batch_size: int = 32  # images per forward pass
    device: str = "auto"
    max_image_pixels: int = DEFAULT_MAX_PIXELS  # larger images are rejected from their header


@dataclass(frozen=True)
class ImageShard(ShardTask):
    """A shard of consecutive images in sorted path order."""

    paths: tuple[str, ...] = ()

    def records(self) -> int:
        return len(self.paths)


class ImageReject(NamedTuple):
    index: int  # position in the paths given
    path: str
    reason: str


def folder_images(folder: str) -> list[str]:
    """The image files under `folder` (files named like an image, or links to such files), and the
    symlinks there that the job must reject rather than drop: any link to a folder, and any link that
    loops or dangles (whatever its name: what it was meant to be cannot be told).

    Links to folders are not followed: one to a parent would loop, and one elsewhere would read a tree the
    user did not name as --images. A link to a file is read wherever it points: the user linked it.
    """
    def unlisted(error: OSError) -> None:
        raise PermissionError(f"cannot list {error.filename} under --images {folder}: {error.strerror}; "
                              "fix its permissions or move it out") from None

    found = []
    for root, folders, files in os.walk(folder, onerror=unlisted):  # folder links land in `folders`, unwalked
        found += [os.path.join(root, name) for name in folders if os.path.islink(os.path.join(root, name))]
        for path in (os.path.join(root, name) for name in files):
            if unresolved_link(path) or (Path(path).suffix.lower() in IMAGE_SUFFIXES and os.path.isfile(path)):
                found.append(path)
    return found


def unresolved_link(path: str) -> bool:
    """A symlink that leads to nothing: it dangles, or loops."""
    return os.path.islink(path) and not os.path.exists(path)


def stored_images(images: str) -> list[str]:
    """The image URLs of a stored --images: the objects named like an image under a folder (a prefix,
    recursively), the objects a glob matches, one image, or a list file. A store has no symlinks."""
    where = location(images)
    fs = where.fs
    if any(char in where.path for char in "*?["):
        return [fs.unstrip_protocol(name) for name, info in fs.glob(where.path, detail=True).items()
                if info["type"] == "file"]
    if where.is_dir():
        return [fs.unstrip_protocol(name) for name in fs.find(where.path)
                if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES]
    if where.is_file():
        return [images] if where.suffix.lower() in IMAGE_SUFFIXES else listed_images(where, images)
    return []


def listed_images(list_file: Location, images: str) -> list[str]:
    """The paths of a list file, one per line: a URL as it is, any other relative to the list file."""
    try:
        lines = [line.strip() for line in list_file.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise ValueError(f"--images {images} is neither an image nor a UTF-8 list of image paths") from None
    return [line if is_url(line) else str(list_file.parent / line) for line in lines if line]


def list_images(images: str | Sequence[str]) -> list[str]:
    """Sorted image paths from a folder (see `folder_images`), a glob, an image file, a list file (one
    path per line, relative ones relative to the list file) or a sequence of paths; each on disk or on a
    store (see `stored_images`). A path that is not a readable image stays in the list: the job gives it a
    reject row with the reason."""
    if not isinstance(images, str):
        paths = [str(path) for path in images]
    elif is_url(images):
        paths = stored_images(images)
    elif Path(images).is_dir():
        paths = folder_images(images)
    elif Path(images).is_file() and Path(images).suffix.lower() in IMAGE_SUFFIXES:
        paths = [images]
    elif Path(images).is_file():
        paths = listed_images(Path(images), images)
    else:
        paths = [path for path in glob.glob(images, recursive=True) if Path(path).is_file() or unresolved_link(path)]
    if not paths:
        raise FileNotFoundError(f"no images found in --images {images!r}")
    paths = sorted(set(paths))
    seen: dict[str, str] = {}
    for path in paths:
        other = seen.setdefault(os.path.basename(path), path)
        if other != path:
            raise ValueError(f"two images have the id {os.path.basename(path)!r} (ids are file names, as caption "
                             f"files name images): {other} and {path}; make one dataset of each folder.")
    return paths


def listing_fingerprint(paths: list[str]) -> dict:
    """One digest of every image's path, size and modification time (on a store: size and ETag).

    Hashing the pixels would read a million-image dataset once more just to decide whether to skip it;
    size and mtime_ns change whenever a file is rewritten (the same quick check make and rsync use), and
    one stat per file is cheap even on network filesystems.
    """
    stored = stored_versions([path for path in paths if is_url(path)])
    digest = hashlib.sha256()
    for path in paths:
        if is_url(path):
            digest.update(f"{path}\t{stored.get(path, 'missing')}\n".encode())
            continue
        try:
            stat = os.stat(path)
            digest.update(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
        except OSError:  # a missing file is listed as such; the job rejects it
            digest.update(f"{path}\tmissing\n".encode())
    return {"images": len(paths), "first": paths[0], "last": paths[-1], "listing_sha256": digest.hexdigest()}


def stored_versions(urls: list[str]) -> dict[str, str]:
    """Size and ETag of each stored image that exists (by URL), from one listing per folder: a request per
    thousand images rather than one per image."""
    folders = defaultdict(list)
    for url in urls:
        folders[url.rsplit("/", 1)[0]].append(url)
    versions = {}
    for folder, inside in folders.items():
        where = location(folder)
        try:
            listed = {entry["name"]: entry for entry in where.fs.ls(where.path, detail=True)}
        except FileNotFoundError:
            continue
        for url in inside:
            entry = listed.get(location(url).path)
            if entry and entry.get("type") == "file":
                versions[url] = f"{entry.get('size')}\t{object_version(entry)}"
    return versions


def check_max_pixels(max_pixels: int) -> None:
    if max_pixels < 1:
        raise ValueError(f"--max-image-pixels must be at least 1, got {max_pixels}")


def model_code_version(cnn: str) -> str:
    """Hash of the model-side code that shapes the features (image loading, preprocessing, the network):
    the stage key's code version covers pipelines/ and data_schemas/ only."""
    modules = {image_loading, image_models, sys.modules[image_model_spec(cnn).build.__module__]}
    digest = hashlib.sha256()
    for module in sorted(modules, key=lambda module: module.__name__):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def plan_shards(paths: list[str], shard_size: int) -> list[ImageShard]:
    if shard_size < 1:
        raise ValueError(f"--shard-size must be at least 1, got {shard_size}")
    starts = range(0, len(paths), shard_size)
    return [ImageShard(index, len(starts), f"{paths[start]} .. {paths[min(start + shard_size, len(paths)) - 1]}",
                       paths=tuple(paths[start : start + shard_size])) for index, start in enumerate(starts)]


def forward(model: torch.nn.Module, tensors: Sequence[torch.Tensor], device: torch.device | str) -> np.ndarray:
    """Features of a batch of preprocessed images as a float32 (B, D) array."""
    with torch.inference_mode():
        return model(torch.stack(list(tensors)).to(device)).float().cpu().numpy()


def infer_batch(batch: Sequence[torch.Tensor], model: torch.nn.Module, device: torch.device,
                inference_args=None, model_id=None) -> list[PredictionResult]:
    """RunInference's inference_fn: one device round trip per batch, numpy rows out."""
    vectors = forward(model, batch, device)
    return [PredictionResult(example, vector, model_id) for example, vector in zip(batch, vectors, strict=True)]


class LoadImage(beam.DoFn):
    """(key, path) -> (key, preprocessed tensor); an unusable image goes to REJECTED as (key, path, reason)."""

    def __init__(self, cnn: str, max_pixels: int):
        self.cnn, self.max_pixels = cnn, max_pixels

    def setup(self) -> None:
        self.preprocess = image_model_spec(self.cnn).preprocess

    def process(self, element: tuple) -> Iterator:
        key, path = element
        try:
            yield key, torch.from_numpy(self.preprocess(load_rgb(path, self.max_pixels)))
        except ImageLoadError as error:
            yield beam.pvalue.TaggedOutput(REJECTED, (key, path, error.reason))


class StoredWeightsHandler(PytorchModelHandlerTensor):
    """RunInference's PyTorch handler for weights that may be on a store: each worker loads them from its
    own local copy (the driver's copy is not on other machines, and torch reads a local file)."""

    def __init__(self, weights: str, **options):
        super().__init__(state_dict_path=weights, load_model_args={"weights_only": True}, **options)
        self.weights = weights

    def load_model(self) -> torch.nn.Module:
        # A URL is copied here; a driver's cached copy that this machine lacks is copied again from the store.
        self.update_model_path(str(on_this_machine(local_copy(location(self.weights)))))
        return super().load_model()


class ExtractFeatures(beam.PTransform):
    """(key, image path) -> {"features": (key, float32 vector), "rejected": (key, path, reason)}.

    The model is loaded once per worker (on the GPU when `device` allows); images are decoded and
    preprocessed one by one before batching, so one bad file never fails a batch, and an image of more
    than `max_pixels` is rejected before it is decoded. `weights` may be a URL: each worker copies it.
    """

    def __init__(self, cnn: str, weights: str | Location, device: str = "auto", batch_size: int = 32, threads: int = 0,
                 max_pixels: int = DEFAULT_MAX_PIXELS):
        super().__init__()
        self.cnn, self.weights, self.device = cnn, str(weights), device
        self.batch_size, self.threads, self.max_pixels = batch_size, threads, max_pixels

    def expand(self, images):  # no return annotation: Beam would read it as an output type hint
        handler = KeyedModelHandler(StoredWeightsHandler(
            self.weights,
            model_class=image_model,
            model_params={"name": self.cnn, "threads": self.threads},
            device=beam_device(self.device),
            inference_fn=infer_batch,
            min_batch_size=self.batch_size,
            max_batch_size=self.batch_size,
        ))
        loaded = images | "Load" >> beam.ParDo(LoadImage(self.cnn, self.max_pixels)).with_outputs(REJECTED,
                                                                                                 main="tensors")
        features = (loaded.tensors | "Infer" >> RunInference(handler)
                    | "Vectors" >> beam.MapTuple(lambda key, result: (key, result.inference)))
        return {"features": features, REJECTED: loaded[REJECTED]}


def shard_images(shard: ImageShard) -> Iterator:
    """A shard's head chunk (its image count) and one ((task, position, path), path) per image."""
    task = ShardTask(shard.index, shard.count, shard.source, shard.progress, shard.run)  # keys have the paths
    yield beam.pvalue.TaggedOutput("heads", Chunk(task, 0, stats=Counter(records_in=len(shard.paths))))
    for position, path in enumerate(shard.paths):
        yield (task, position, path), path


def feature_chunk(key: tuple, vector: np.ndarray) -> Chunk:
    task, position, path = key
    return Chunk(task, position + 1, items=[(path, vector)], stats=Counter(records_out=1))


def reject_chunk(key: tuple, path: str, reason: str) -> Chunk:
    task, position, _ = key
    return Chunk(task, position + 1, rejects=[reject_row(STAGE, path, "", reason)], stats=Counter(records_rejected=1))


def assemble_features(chunks: list[Chunk], folder: Location, dim: int) -> dict[Location, object]:
    items = [item for chunk in chunks for item in chunk.items]
    paths = [path for path, _ in items]
    vectors = np.stack([vector for _, vector in items]) if items else np.zeros((0, dim), np.float32)
    return {folder: features_table([os.path.basename(path) for path in paths], paths, vectors)}


def build_features(pipeline: beam.Pipeline, shards: list[ImageShard], params: FeatureParams,
                   weights: str | Location, outputs: dict[str, Location], workers: int) -> None:
    dim = image_model_spec(params.cnn).feature_dim
    threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    images = (pipeline | "Shards" >> beam.Create(shards) | "SpreadShards" >> beam.Reshuffle()
              | "Images" >> beam.FlatMap(shard_images).with_outputs("heads", main="images"))
    paths = images.images
    if workers > 1:  # spread one shard's images over the workers; one worker needs no shuffle
        paths = paths | "SpreadImages" >> beam.Reshuffle()
    extracted = paths | "Extract" >> ExtractFeatures(params.cnn, weights, params.device, params.batch_size, threads,
                                                     params.max_image_pixels)
    features = extracted["features"] | "FeatureChunks" >> beam.MapTuple(feature_chunk)
    rejects = extracted[REJECTED] | "RejectChunks" >> beam.MapTuple(reject_chunk)
    folder = outputs["features"]
    write = WriteShard(lambda task, chunks: assemble_features(chunks, folder, dim), outputs["rejects"], [folder])
    _ = (images.heads, features, rejects) | "Merge" >> beam.Flatten() | "WriteShards" >> WriteShards(write)


def output_folders(workspace: Location, cnn: str, dataset: str) -> dict[str, Location]:
    return {
        "features": Workspace(workspace).features(cnn, dataset),
        "rejects": Workspace(workspace).rejects(STAGE, cnn, dataset),
    }


def run(images: str | Sequence[str], dataset: str, workspace: str | Location, params: FeatureParams | None = None,
        beam_args: list[str] | None = None) -> StageReport:
    """Features of every image of `images` (see `list_images`) into features/<cnn>/<dataset>."""
    params = params or FeatureParams()
    if params.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {params.batch_size}")
    check_max_pixels(params.max_image_pixels)
    beam_args = local_defaults(beam_args or [])
    weights = resolve_weights(params.cnn, params.weights)
    torch_device(params.device)  # a --device cuda without CUDA fails here, before any work
    paths = list_images(images)
    outputs = output_folders(location(workspace), params.cnn, dataset)
    weights_print = file_fingerprint(weights)
    # The key holds what changes the features: the images, the CNN, its code and its weights' bytes (not
    # where the weights file lives), the shard layout and the pixel limit; device and batch size do not.
    stage_params = {"cnn": params.cnn, "model_code": model_code_version(params.cnn), "shard_size": params.shard_size,
                    "max_image_pixels": params.max_image_pixels,
                    "weights": {"file": location(params.weights or weights).name, "bytes": weights_print["bytes"],
                                "sha256": weights_print["sha256"]}}
    shards = plan_shards(paths, params.shard_size)
    workers = worker_count(beam_args)
    return run_planned_stage(
        STAGE, shards, [listing_fingerprint(paths)], stage_params, outputs,
        # Workers are given the weights where the user put them, and copy stored ones themselves.
        lambda pipeline, tasks: build_features(pipeline, tasks, params, params.weights or weights, outputs, workers),
        beam_args,
    )


def image_features(paths: Sequence[str], cnn: str = DEFAULT_CNN, weights: str | Location | None = None,
                   device: str = "auto", batch_size: int = 32,
                   max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, list[ImageReject]]:
    """Features of `paths` in this process, without Beam: a float32 (N, D) array with one row per image
    that loaded, in the order given, and the images that did not (their index in `paths` and why)."""
    spec = image_model_spec(cnn)
    model_device = torch_device(device)
    model = load_image_model(cnn, resolve_weights(cnn, weights), model_device)
    vectors, rejects, batch = [], [], []
    for index, path in enumerate(paths):
        try:
            batch.append(torch.from_numpy(spec.preprocess(load_rgb(str(path), max_pixels))))
        except ImageLoadError as error:
            rejects.append(ImageReject(index, str(path), error.reason))
        if len(batch) == batch_size or (batch and index == len(paths) - 1):
            vectors.append(forward(model, batch, model_device))
            batch = []
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, spec.feature_dim), np.float32)
    return matrix, rejects
