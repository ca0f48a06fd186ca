"""The bulk story job: a Beam pipeline over an image dataset (reference e, at corpus scale).

    image paths (sorted, shards of --shard-size) -> decode + preprocess -> RunInference (CNN)
    -> batches of features -> Storyteller (VSE, FAISS top-k, mean skip-thought x, x - c + b,
       the top captions' content words as topic words, batched beam search or sampling seeded
       by image id) -> [regroup by shard]
    -> OUT/stories/part-*.parquet, OUT/rejects/part-*.parquet
    then OUT/stories.jsonl and OUT/gallery.html (48 cards a page, then gallery-2.html ...; thumbnails
    in OUT/thumbs/) from the finished shards. Each row holds the story as the decoder's tokens (`story`)
    and as prose (`story_text`). WS and OUT may each be a folder or an object-store prefix (s3://...): the
    models come from the store into the local cache once, every output goes up whole.

Everything a story depends on (images, models' weights, styles, caption vectors, k, search
options, topic words) is in the stage key: a rerun with the same inputs does nothing, a killed run writes only
the missing shards, and any change starts afresh.
"""

import json
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import apache_beam as beam
import numpy as np

from data_schemas import stories as st
from data_schemas.atomic import write_text_atomic
from data_schemas.features import IMAGE_ID, PATH
from data_schemas.rejects import reject_row
from data_schemas.storage import Location, location, on_this_machine
from data_schemas.workspace import Workspace
from model.cnn.image_loading import DEFAULT_MAX_PIXELS
from model.cnn.registry import image_model_spec, resolve_weights
from model.decoder.files import DECODER, check_context_size, read_decoder_config
from model.device import torch_device
from model.families import SKIPTHOUGHT, VSE
from model.folder_check import check_model_dir
from model.text_models import text_model_spec
from model.vse.files import read_vse_config
from model.weights_file import weights_path
from pipelines import features as images
from pipelines.core.beam_options import local_defaults, worker_count
from pipelines.core.dry_run import print_plan
from pipelines.core.manifest import META_FILE, StageStart, file_fingerprint, read_meta
from pipelines.core.sharded_job import Chunk, WriteShard, WriteShards
from pipelines.core.stage_run import StageReport, run_planned_stage
from pipelines.index.caption_index import CaptionIndex, find_index
from pipelines.index.caption_vectors import caption_vectors, encode_captions
from pipelines.index.retrieve import choose_cnn, find_vse
from pipelines.stories.batch import StoryModels, StoryParams, Storyteller
from pipelines.stories.prose import readable, story_rows
from pipelines.style.files import read_style

STAGE = "stories"
JSONL_FILE = "stories.jsonl"


@dataclass(frozen=True)
class JobParams:
    shard_size: int = 256  # images per output shard
    image_batch: int = 32  # images per CNN forward pass
    story_batch: int = 16  # images decoded together (each with beam_width hypotheses)
    device: str = "auto"
    max_image_pixels: int = DEFAULT_MAX_PIXELS  # larger images are rejected from their header


@dataclass(frozen=True)
class StoriesReport:
    stage: StageReport
    out: Location
    jsonl: Location
    gallery: Location | None


def _encoder_dir(workspace: Location, encoder: str | Path, decoder_at: Location, given: bool) -> Path:
    """The encoder folder; the one a decoder's config names is also looked for beside the decoder, on disk
    or on the store (shipped models sit together in one folder, outside any workspace)."""
    try:
        return Path(os.path.abspath(Workspace(workspace).resolve_model(encoder, "encoder")))
    except FileNotFoundError:
        sibling = decoder_at.parent / str(encoder)
        if given or not sibling.is_dir():
            raise
        return Path(os.path.abspath(Workspace(workspace).resolve_model(sibling, "encoder")))


def resolve_models(workspace: Location, decoder: str | Path, index_name: str | Path | None, encoder: str | None,
                   cnn: str | None, cnn_weights: str | None) -> StoryModels:
    """Every model a run uses, each folder loaded once to check it and checked to fit together, before any
    work starts. The model folders are local (copies of stored ones); the index stays where it is."""
    decoder_dir = Workspace(workspace).resolve_model(decoder, "decoder")
    check_model_dir(decoder_dir, (DECODER,))
    config = read_decoder_config(decoder_dir)
    encoder_id = encoder or config.provenance.get("encoder")
    if not encoder_id:
        raise ValueError(f"{decoder_dir} does not say which skip-thought encoder made its training vectors: "
                         "pass --encoder MODEL (the one whose style vectors and caption vectors to use)")
    decoder_at = Workspace(workspace).find_model(decoder, "decoder")  # where it lives: its siblings are there
    encoder_dir = _encoder_dir(workspace, encoder_id, decoder_at, given=encoder is not None)
    check_model_dir(encoder_dir, (SKIPTHOUGHT, VSE))
    check_context_size(text_model_spec(encoder_dir).output_dim, f"the encoder {encoder_dir}", decoder_dir,
                       config.dim_ctx)
    index_folder = find_index(workspace, index_name) if index_name else _only_index(workspace)
    vse_dir = find_vse(CaptionIndex(index_folder), workspace)
    check_model_dir(vse_dir, (VSE,))
    return StoryModels(location(workspace), index_folder, vse_dir, choose_cnn(vse_dir, cnn), cnn_weights,
                       encoder_dir.name, decoder_dir, encoder_dir)


def _only_index(workspace: Location) -> Location:
    found = sorted(path.parent for path in Workspace(workspace).index_root().glob(f"*/*/{META_FILE}"))
    if len(found) != 1:
        raise ValueError(f"pass --index: {len(found)} caption indexes under {Workspace(workspace).index_root()}"
                         + (f" ({[f'{p.parent.name}/{p.name}' for p in found]})" if found else
                            "; build one with `storyteller index`"))
    return found[0]


def check_dimensions(models: StoryModels, params: StoryParams) -> None:
    """Styles, caption vectors and decoder must share the encoder's size; say which does not."""
    dim = read_decoder_config(models.decoder_dir).dim_ctx
    for name in (params.style, params.caption_style):
        vector = read_style(models.workspace, models.encoder_id, name).vector
        check_context_size(len(vector), f"style {name!r} of {models.encoder_id}", models.decoder_dir, dim)


def run_identity(models: StoryModels, params: StoryParams) -> dict:
    """The run settings written on every row (a beam search's have no sampling fields); models go by their
    own names, a stored one's local copy too."""
    search = params.search
    sampling = {st.TOP_P: search.top_p, st.TEMPERATURE: search.temperature} if search.mode == "sample" else {}
    return {st.STYLE: params.style, st.CAPTION_STYLE: params.caption_style, st.K: params.k,
            st.BEAM_WIDTH: search.beam_width, st.SEARCH: search.mode, **sampling,
            st.TOPIC_BONUS: params.topics.bonus, st.TOPIC_CAPTIONS: params.topics.captions,
            st.DECODER: models.decoder_dir.name, st.ENCODER: models.encoder_id,
            st.VSE: models.vse_dir.name,
            st.RETRIEVAL: read_vse_config(models.vse_dir).kind,
            st.INDEX: f"{models.index_folder.parent.name}/{models.index_folder.name}", st.CNN: models.cnn}


def stage_params(models: StoryModels, params: StoryParams, shard_size: int,
                 max_image_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
    """What changes the stories: model weights by content, styles, caption vectors, search options, and
    which images are rejected as too large."""
    styles = {name: read_style(models.workspace, models.encoder_id, name).meta.get("files")
              for name in (params.style, params.caption_style)}
    cnn_weights = resolve_weights(models.cnn, models.cnn_weights)
    return {
        "decoder": file_fingerprint(weights_path(models.decoder_dir))["sha256"],
        "vse": file_fingerprint(weights_path(models.vse_dir))["sha256"],
        "index": read_meta(models.index_folder)["key"],
        "encoder": models.encoder_id,
        "caption_vectors": json.loads((models.index_folder / "skipthought" / f"{models.encoder_id}.json").read_text()),
        "styles": styles,
        "cnn": models.cnn, "cnn_code": images.model_code_version(models.cnn),
        "cnn_weights": file_fingerprint(cnn_weights)["sha256"],
        "k": params.k, "search": params.search.settings(), "lyric": params.lyric, "shard_size": shard_size,
        "max_image_pixels": max_image_pixels,
        "topics": asdict(params.topics),
    }


class TellStories(beam.DoFn):
    """A batch of (key, feature) to story chunks; the models load once per worker."""

    def __init__(self, models: StoryModels, params: StoryParams, device: str):
        self.models, self.params, self.device = models, params, device

    def setup(self) -> None:
        # On a worker elsewhere, stored models the driver copied into its cache are copied here too.
        models = replace(self.models, vse_dir=on_this_machine(self.models.vse_dir),
                         decoder_dir=on_this_machine(self.models.decoder_dir),
                         encoder_dir=on_this_machine(self.models.encoder_dir))
        self.teller = Storyteller(models, self.params, self.device)

    def process(self, batch: Sequence[tuple]) -> Iterator[Chunk]:
        keys = [key for key, _ in batch]
        image_ids = [os.path.basename(path) for _, _, path in keys]
        told = self.teller.tell(np.stack([feature for _, feature in batch]), image_ids)
        for (task, position, path), image_id, story in zip(keys, image_ids, told, strict=True):
            row = {IMAGE_ID: image_id, PATH: path, **story, st.STORY_TEXT: readable(story[st.STORY])}
            yield Chunk(task, position + 1, items=[row], stats=Counter(records_out=1))


def reject_chunk(key: tuple, path: str, reason: str) -> Chunk:
    task, position, _ = key
    return Chunk(task, position + 1, rejects=[reject_row(STAGE, path, "", reason)], stats=Counter(records_rejected=1))


def build_stories(pipeline: beam.Pipeline, shards: list[images.ImageShard], models: StoryModels,
                  params: StoryParams, job: JobParams, outputs: dict[str, Location], workers: int) -> None:
    threads = max(1, (os.cpu_count() or 1) // max(workers, 1))
    identity = run_identity(models, params)
    paths = (pipeline | "Shards" >> beam.Create(shards) | "SpreadShards" >> beam.Reshuffle()
             | "Images" >> beam.FlatMap(images.shard_images).with_outputs("heads", main="images"))
    spread = paths.images | "SpreadImages" >> beam.Reshuffle() if workers > 1 else paths.images
    extracted = spread | "Features" >> images.ExtractFeatures(models.cnn, resolve_weights(
        models.cnn, models.cnn_weights), job.device, job.image_batch, threads, job.max_image_pixels)
    stories = (extracted["features"]
               | "Batch" >> beam.BatchElements(min_batch_size=job.story_batch, max_batch_size=job.story_batch)
               | "Tell" >> beam.ParDo(TellStories(models, params, job.device)))
    rejects = extracted[images.REJECTED] | "RejectChunks" >> beam.MapTuple(reject_chunk)
    folder = outputs["stories"]
    write = WriteShard(lambda task, chunks: {folder: st.stories_table(
        [item for chunk in chunks for item in chunk.items], identity)}, outputs["rejects"], [folder])
    _ = (paths.heads, stories, rejects) | "Merge" >> beam.Flatten() | "WriteShards" >> WriteShards(write)


def write_jsonl(folder: Location, out: Location) -> int:
    """Every story row as one JSON line, in shard (sorted path) order."""
    lines = [json.dumps(row, ensure_ascii=False) for row in story_rows(folder)]
    write_text_atomic(out, "".join(line + "\n" for line in lines))
    return len(lines)


def run(images_arg: str | Sequence[str], out: Location, workspace: Location, models: StoryModels, params: StoryParams,
        job: JobParams | None = None, beam_args: list[str] | None = None, gallery: bool = True) -> StoriesReport:
    """Stories for every image of `images_arg` into `out` (see the module docstring)."""
    from pipelines.stories.gallery import write_gallery  # Pillow thumbnails; kept out of Beam workers' imports

    job = job or JobParams()
    if params.k < 1 or job.story_batch < 1 or job.image_batch < 1:
        raise ValueError("--k, the story batch and the image batch must each be at least 1")
    images.check_max_pixels(job.max_image_pixels)
    image_model_spec(models.cnn)
    torch_device(job.device)  # a --device cuda without CUDA fails here, before any work
    beam_args = local_defaults(beam_args or [])
    check_dimensions(models, params)
    index = CaptionIndex(models.index_folder)
    encode_captions(index, models.encoder_dir, workspace, job.device, beam_args)
    built = caption_vectors(index, workspace, models.encoder_id, read_decoder_config(models.decoder_dir).dim_ctx)
    paths = images.list_images(images_arg)
    out = location(out)
    outputs = {"stories": out / "stories", "rejects": out / "rejects"}
    shards = images.plan_shards(paths, job.shard_size)
    if built is None:  # a dry run before the caption vectors exist: every story would be told afresh
        print_plan(STAGE, f"fresh: {len(shards)} of {len(shards)} shards to write once the caption vectors are built",
                   [f"{folder} would be written" for folder in outputs.values()])
        planned = StageReport(STAGE, StageStart.FRESH, len(shards), len(shards), {}, {}, 0.0, dry_run=True)
        return StoriesReport(planned, out, out / JSONL_FILE, None)
    workers = worker_count(beam_args)
    report = run_planned_stage(
        STAGE, shards, [images.listing_fingerprint(paths)],
        stage_params(models, params, job.shard_size, job.max_image_pixels), outputs,
        lambda pipeline, tasks: build_stories(pipeline, tasks, models, params, job, outputs, workers), beam_args)
    jsonl = out / JSONL_FILE
    if report.dry_run:
        return StoriesReport(report, out, jsonl, None)
    write_jsonl(outputs["stories"], jsonl)
    page = write_gallery(outputs["stories"], out) if gallery else None
    return StoriesReport(report, out, jsonl, page)
