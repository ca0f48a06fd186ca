"""Benchmark: the Beam features job (image files to Parquet shards) vs a bare forward pass of the same CNN.

Runs `storyteller features` over the 1,000 Flickr8k photos in ../shared/data (decode, preprocess,
RunInference, write), then, in this process, the same module over the same images already decoded and
preprocessed, in batches of the same size. Prints images/s of both and their ratio: what the job costs
beyond the network itself (JPEG decoding and resizing, Beam, Parquet).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from model.cnn.image_loading import ImageLoadError, load_rgb
from model.cnn.registry import DEFAULT_CNN, IMAGE_MODELS, image_model_spec, load_image_model, resolve_weights
from pipelines import features as images


def bare_forward_seconds(paths: list[str], cnn: str, weights: Path, batch_size: int) -> tuple[float, int]:
    """Seconds of model(batch) alone over the preprocessed images, and how many images that was."""
    spec = image_model_spec(cnn)
    model = load_image_model(cnn, weights)
    tensors = []
    for path in paths:
        try:
            tensors.append(spec.preprocess(load_rgb(path)))
        except ImageLoadError:
            continue
    batches = [torch.from_numpy(np.stack(tensors[i : i + batch_size])) for i in range(0, len(tensors), batch_size)]
    with torch.inference_mode():
        model(batches[0][:1])  # first call allocates; the job pays it once per worker too
        started = time.perf_counter()
        for batch in batches:
            model(batch)
    return time.perf_counter() - started, len(tensors)


def bench_features(image_paths: list[str], cnn: str = DEFAULT_CNN, weights: str | None = None,
                   batch_size: int = 32, beam_args: list[str] | None = None) -> dict:
    """images/s of the features job and of a bare forward pass over the same images, and their ratio."""
    weights_path = resolve_weights(cnn, weights)
    params = images.FeatureParams(cnn, str(weights_path), batch_size=batch_size, device="cpu")
    with tempfile.TemporaryDirectory() as workspace:
        started = time.perf_counter()
        report = images.run(image_paths, "bench", Path(workspace), params, beam_args)
        job_seconds = time.perf_counter() - started
    bare_seconds, count = bare_forward_seconds(image_paths, cnn, weights_path, batch_size)
    done = report.stats.get("records_out", 0)
    return {
        "cnn": cnn, "images": done, "batch_size": batch_size, "torch_threads": torch.get_num_threads(),
        "job_seconds": job_seconds, "job_images_per_s": done / job_seconds,
        "bare_seconds": bare_seconds, "bare_images_per_s": count / bare_seconds,
        "ratio": (done / job_seconds) / (count / bare_seconds),
    }


def print_result(result: dict) -> None:
    print(f"{result['cnn']}: {result['images']} images, batch {result['batch_size']}, "
          f"{result['torch_threads']} torch threads")
    print(f"beam features job : {result['job_seconds']:7.1f} s  {result['job_images_per_s']:7.1f} images/s")
    print(f"bare forward pass : {result['bare_seconds']:7.1f} s  {result['bare_images_per_s']:7.1f} images/s")
    print(f"ratio job/bare    : {result['ratio']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--cnn", choices=sorted(IMAGE_MODELS), default=DEFAULT_CNN)
    parser.add_argument("--weights", help="state dict file (required for vgg19)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, help="use only the first N photos")
    parser.add_argument("beam_args", nargs="*", help="Beam flags for the job (default: one in-process worker)")
    args = parser.parse_args()
    paths = images.list_images(str(args.shared / "images" / "flickr8k_1000" / "images"))[: args.limit]
    result = bench_features(paths, args.cnn, args.weights, args.batch_size, args.beam_args)
    print_result(result)


if __name__ == "__main__":
    from pipelines.core.logs import configure_logging

    configure_logging()
    main()
