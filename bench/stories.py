"""Benchmark: the bulk story job vs the original's way (one image at a time, unbatched), in one run.

The job (`storyteller stories`: Beam, RunInference CNN batches, every image of a batch and all its
beams decoded in one tensor step) runs over --limit photos at k=100 with beam width 50 and 5. The
baseline does what the original's `story()` did per image, with the same models in this process:
CNN on one image, VSE, top-k, mean, style shift, then a beam search over that image alone. Both
use the same search (the original's unless --search says otherwise) and the same maximum length,
so the ratio is the batching and the pipeline, not a different amount of decoding.
"""

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from model.decoder.beam_search import SearchOptions
from pipelines import features as images
from pipelines.features import image_features
from pipelines.stories import job as stories
from pipelines.stories.batch import StoryParams, Storyteller


def job_rate(paths: list[str], workspace: Path, models: stories.StoryModels, params: StoryParams,
             story_batch: int) -> float:
    """images/s of the whole story job (features included) into a fresh output folder."""
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        report = stories.run(paths, Path(out), workspace, models, params, stories.JobParams(story_batch=story_batch),
                             ["--direct_num_workers=1"], gallery=False)
        seconds = time.perf_counter() - started
    return report.stage.stats.get("records_out", 0) / seconds


def one_at_a_time_rate(paths: list[str], models: stories.StoryModels, params: StoryParams) -> float:
    """images/s of the original's loop: every step for one image before the next one starts."""
    teller = Storyteller(models, params, "cpu")
    started = time.perf_counter()
    for path in paths:
        features, _ = image_features([path], models.cnn, models.cnn_weights, "cpu", batch_size=1)
        teller.tell(features)
    return len(paths) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--decoder", required=True, help="decoder model id or directory")
    parser.add_argument("--style", default="romance")
    parser.add_argument("--images", default="../shared/data/images/flickr8k_1000/images")
    parser.add_argument("--limit", type=int, default=32, help="photos for the job runs")
    parser.add_argument("--baseline-limit", type=int, default=8, help="photos for the one-at-a-time baseline")
    parser.add_argument("--search", choices=["original", "normalized"], default="original")
    parser.add_argument("--max-len", type=int, default=150, help="decoding steps at most, in every run")
    parser.add_argument("--story-batch", type=int, default=16)
    args = parser.parse_args()
    paths = images.list_images(args.images)
    models = stories.resolve_models(args.workspace, args.decoder, None, None, None, None)
    search = SearchOptions.for_mode(args.search, beam_width=50, max_len=args.max_len)
    params = StoryParams(args.style, k=100, search=search)
    print(f"{torch.get_num_threads()} torch threads, CUDA: {torch.cuda.is_available()}; decoder {models.decoder_dir}; "
          f"{args.search} search, max_len {args.max_len}")
    rates = {}
    for width in (50, 5):
        wide = replace(params, search=replace(search, beam_width=width))
        rates[width] = job_rate(paths[: args.limit], args.workspace, models, wide, args.story_batch)
        print(f"story job, k=100, beam {width:>2}: {rates[width]:7.2f} images/s ({args.limit} photos)")
    baseline = one_at_a_time_rate(paths[: args.baseline_limit], models, params)
    print(f"one image at a time, k=100, beam 50: {baseline:7.2f} images/s ({args.baseline_limit} photos)")
    print(f"ratio job/one-at-a-time at beam 50: {rates[50] / baseline:.1f}x")


if __name__ == "__main__":
    from pipelines.core.logs import configure_logging

    configure_logging()
    main()
