"""The whole system as one flow, each stage a subflow (reference e at corpus scale):

    novels, captions (+ more caption sets) -> corpora -> [train encoder] -> encode -> styles
    images -> features -> [train VSE] -> caption index;  [train decoder]  -> bulk stories

A model given by id or folder is used as it is; a model left out is trained with its recipe. Every
stage skips or answers from cache when its inputs did not change, so a rerun after adding photos to
the image folder tells only their stories. Before starting any subflow the flow computes every stage's
cache key from the files already there (later stages read the `_meta.json` of earlier ones): when each
key has a stored result whose outputs are unchanged and no image waits for a story, it returns those
summaries without starting a subflow; otherwise it runs every stage as a subflow.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from prefect import Flow, Task, flow, get_run_logger

from data_schemas.shards import shard_paths
from data_schemas.storage import Location, location, parquet_metadata
from data_schemas.workspace import Workspace
from flows.prefect import stage_flows as stages
from flows.prefect import tasks as tasks
from flows.prefect.artifacts import publish_styles, publish_summary
from flows.prefect.bulk_stories import bulk_stories_flow, collection_settings
from flows.prefect.cache import StageSummary, cached_summary
from flows.prefect.stage_flows import CorpusSource
from flows.prefect.tasks import StoryModelNames
from flows.prefect.workspace import WorkspaceLocation
from model.decoder.train import DecoderRecipe
from model.skipthought.train import EncoderRecipe
from model.vse.fused import FUSION_WEIGHT
from model.vse.train import VSERecipe
from pipelines import encode
from pipelines import features as images
from pipelines.core.manifest import StageStart
from pipelines.index import build as index
from pipelines.stories import collection
from pipelines.stories import job as stories
from pipelines.stories.batch import StoryParams
from pipelines.stories.gallery import GALLERY_FILE
from pipelines.stories.job import JSONL_FILE
from pipelines.stories.workspace_defaults import story_defaults, write_defaults


@dataclass(frozen=True)
class Models:
    """Models to use (ids under WS/models, or folders); None trains one with the recipe beside it."""

    encoder: str | None = None
    encoder_recipe: EncoderRecipe = field(default_factory=EncoderRecipe)
    vse: str | None = None
    vse_recipe: VSERecipe = field(default_factory=VSERecipe)
    # A zero-shot model (`storyteller build zero-shot`) fused with the VSE at fusion_weight: captions are chosen by
    # fusion_weight * cos_vse + (1 - fusion_weight) * cos_zero_shot (the weight bench/retrieval.py chose).
    zero_shot: str | None = None
    fusion_weight: float = FUSION_WEIGHT
    decoder: str | None = None
    decoder_recipe: DecoderRecipe = field(default_factory=DecoderRecipe)


@dataclass(frozen=True)
class Styles:
    """The book style b over the novels' passages (the original's romance: more than 100 tokens) and the
    caption style c over the captions of every indexed corpus; stories shift each image's caption mean by
    b - c."""

    book: str = "book"
    book_min_tokens: int | None = None
    caption: str = "captions"


@dataclass(frozen=True)
class Images:
    """The image dataset: every image trains the VSE; `story_images` (default: all) get stories."""

    images: str
    dataset: str
    features: images.FeatureParams = field(default_factory=images.FeatureParams)
    story_images: str | None = None


@dataclass(frozen=True)
class Telling:
    out: WorkspaceLocation  # a folder or an object-store prefix, as the workspace
    params: StoryParams = field(default_factory=lambda: StoryParams("book"))
    job: stories.JobParams = field(default_factory=stories.JobParams)
    index_params: index.IndexParams = field(default_factory=index.IndexParams)


def _model(summary: StageSummary) -> str:
    return summary.details["model"]


class HasWork(Exception):
    """A stage that would compute something, or whose cache key cannot be computed yet."""


class Subflows:
    """Each stage run as its subflow."""

    def stage(self, stage_flow: Flow, stage_task: Task, **parameters: Any) -> StageSummary:
        return stage_flow(**parameters)

    def stories(self, **parameters: Any) -> StageSummary:
        return bulk_stories_flow(**parameters)


class CacheLookups:
    """Each stage answered from what Prefect stored under its task's cache key, with nothing started;
    `HasWork` at the first stage that would compute something. Why not just start the subflows: each
    flow run costs about a second of Prefect's bookkeeping (most of it waiting for the run's heartbeat
    thread to wake from its one-second sleep), so a rerun that started all 12 took 14 s to do nothing."""

    def stage(self, stage_flow: Flow, stage_task: Task, **parameters: Any) -> StageSummary:
        summary = cached_summary(stage_task, parameters)
        if summary is None:
            raise HasWork(stage_flow.name)
        return summary

    def stories(self, images_arg: str | list[str], out: Location, workspace: Location, models: StoryModelNames,
                params: StoryParams, job: stories.JobParams | None = None,
                beam_args: list[str] | None = None) -> StageSummary:
        """What `bulk_stories_flow` says when it has nothing to tell: the collection holds these settings,
        every image is told or settled, and its JSONL and gallery were merged after every run's shards
        (`job` and `beam_args` say only how new stories would be told)."""
        out = location(out)
        recorded = out / collection.SETTINGS_FILE
        if not recorded.is_file() or json.loads(recorded.read_text()) != collection_settings(workspace, models, params):
            raise HasWork("bulk-stories (settings)")
        told, settled = collection.told_images(out), collection.settled_rejects(out)
        if any(path not in told and path not in settled for path in collection.list_dataset(images_arg)):
            raise HasWork("bulk-stories (new images)")
        shards = [shard for run in collection.run_folders(out) for shard in shard_paths(run / "stories")]
        merged = [out / JSONL_FILE, out / GALLERY_FILE]
        if not all(path.is_file() for path in merged) or (
                max((shard.stat().st_mtime_ns for shard in shards), default=0)
                > min(path.stat().st_mtime_ns for path in merged)):
            raise HasWork("bulk-stories (merge)")
        return StageSummary(f"stories {out.name}", StageStart.DONE.value, details={
            "new_images": 0, "stories_total": sum(parquet_metadata(shard).num_rows for shard in shards),
            "jsonl": str(merged[0]), "gallery": str(merged[1])})


def _corpus(run: Subflows | CacheLookups, corpus: CorpusSource, workspace: Location,
            beam_args: list[str] | None) -> StageSummary:
    if corpus.caption_params:
        return run.stage(stages.corpus_captions_flow, tasks.corpus_captions, source=corpus.source, name=corpus.name,
                         workspace=workspace, params=corpus.caption_params, beam_args=beam_args)
    return run.stage(stages.corpus_novels_flow, tasks.corpus_novels, source=corpus.source, name=corpus.name,
                     workspace=workspace, params=corpus.novel_params, beam_args=beam_args)


def _indexed(captions: CorpusSource, index_captions: list[CorpusSource] | None) -> list[CorpusSource]:
    """The index's caption corpora, `captions` first; a ValueError, before any work, for one the stages
    cannot build or that would be built twice under one name."""
    given = index_captions or []
    for corpus in [captions, *given]:
        if not corpus.caption_params:
            raise ValueError(f"caption corpus {corpus.name!r} ({corpus.source}): give `caption_params` with the "
                             "caption file format")
    names = [corpus.name for corpus in given]
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise ValueError(f"index_captions: {repeated} named more than once: give each caption corpus its own name")
    if clash := [corpus.name for corpus in given if corpus.name == captions.name and corpus != captions]:
        raise ValueError(f"index_captions: {clash[0]!r} is the name of `captions` but with another source or "
                         "format: rename it, or give it as `captions` is")
    return [captions, *(corpus for corpus in given if corpus.name != captions.name)]


def _stages(run: Subflows | CacheLookups, workspace: Location, novels: list[CorpusSource], captions: CorpusSource,
            indexed: list[CorpusSource], photos: Images, telling: Telling, models: Models, styles: Styles,
            device: str, beam_args: list[str] | None) -> tuple[list[StageSummary], StoryModelNames]:
    """Every stage in order, each through `run`; their summaries and the models of the stories. INDEXED are
    the index's caption corpora, `captions` first (see `_indexed`)."""
    books, caption_corpora = [corpus.name for corpus in novels], [corpus.name for corpus in indexed]
    done = [_corpus(run, corpus, workspace, beam_args) for corpus in [*novels, *indexed]]
    encoder = models.encoder
    if encoder is None:
        done.append(run.stage(stages.train_encoder_flow, tasks.train_encoder_model, corpora=books, workspace=workspace,
                              recipe=models.encoder_recipe, beam_args=beam_args))
        encoder = _model(done[-1])
    encoder_dir = str(Workspace(workspace).resolve_model(encoder, "encoder"))
    params = encode.EncodeParams(encoder_dir, device=device)
    done += [run.stage(stages.encode_flow, tasks.encode_corpus, params=params, corpus=corpus.name, kind=corpus.kind,
                       workspace=workspace, beam_args=beam_args) for corpus in [*novels, *indexed]]
    done.append(run.stage(stages.style_flow, tasks.compute_style, name=styles.book, corpora=books, kind="passages",
                          encoder=encoder_dir, workspace=workspace, min_tokens=styles.book_min_tokens,
                          beam_args=beam_args))
    # The stories retrieve captions from every indexed corpus, so c is their mean over all of them.
    done.append(run.stage(stages.style_flow, tasks.compute_style, name=styles.caption, corpora=caption_corpora,
                          kind="captions", encoder=encoder_dir, workspace=workspace, beam_args=beam_args))
    done.append(run.stage(stages.features_flow, tasks.image_features, images_arg=photos.images,
                          dataset=photos.dataset, workspace=workspace, params=photos.features, beam_args=beam_args))
    vse = models.vse
    if vse is None:
        done.append(run.stage(stages.train_vse_flow, tasks.train_vse_model, features=photos.dataset,
                              captions_corpus=captions.name, workspace=workspace, recipe=models.vse_recipe,
                              cnn=photos.features.cnn))
        vse = _model(done[-1])
    if models.zero_shot is not None:
        done.append(run.stage(stages.fuse_vse_flow, tasks.fuse_vse, vse=vse, zero_shot=models.zero_shot,
                              weight=models.fusion_weight, workspace=workspace))
        vse = _model(done[-1])
    index_summary = run.stage(stages.index_flow, tasks.caption_index, vse=vse, corpora=caption_corpora,
                              workspace=workspace, params=telling.index_params, device=device, beam_args=beam_args)
    done.append(index_summary)
    decoder = models.decoder
    if decoder is None:
        done.append(run.stage(stages.train_decoder_flow, tasks.train_decoder_model, corpora=books,
                              encoder=encoder_dir, workspace=workspace, recipe=models.decoder_recipe))
        decoder = _model(done[-1])
    story_models = StoryModelNames(decoder, index=index_summary.details["folder"], encoder=encoder_dir,
                                   cnn=photos.features.cnn, cnn_weights=photos.features.weights)
    done.append(run.stories(images_arg=photos.story_images or photos.images, out=telling.out, workspace=workspace,
                            models=story_models, params=telling.params, job=telling.job, beam_args=beam_args))
    return done, story_models


def _record_story_defaults(workspace: Location, story: StoryModelNames, params: StoryParams) -> None:
    """WS/defaults.json: `storyteller stories` given only images, workspace and out tells stories as this run."""
    # Where the decoder lives (on the store for a stored workspace), never this machine's cached copy of it.
    folders = {"decoder": Workspace(workspace).find_model(story.decoder, "decoder"), "index": story.index,
               "encoder": story.encoder}
    write_defaults(workspace, story_defaults(workspace, folders, params, story.cnn, story.cnn_weights))


@flow(name="storyteller-pipeline")
def pipeline_flow(workspace: WorkspaceLocation, novels: list[CorpusSource], captions: CorpusSource, photos: Images,
                  telling: Telling, models: Models | None = None, styles: Styles | None = None,
                  index_captions: list[CorpusSource] | None = None, device: str = "auto",
                  beam_args: list[str] | None = None) -> list[StageSummary]:
    """Corpora, encoder, styles, image features, VSE, caption index, decoder and stories, in one run.

    `captions` trains the VSE; the caption index and the caption style cover `captions` and every corpus of
    `index_captions` (default: `captions` alone; one with the name of `captions` is that corpus), each built
    and encoded like `captions`. The index is named after its corpora joined by "+", `captions` first."""
    models, styles = models or Models(), styles or Styles()
    indexed = _indexed(captions, index_captions)
    if telling.params.style != styles.book or telling.params.caption_style != styles.caption:
        raise ValueError(f"stories shift by style {telling.params.style!r} - {telling.params.caption_style!r} but "
                         f"the flow builds {styles.book!r} - {styles.caption!r}: name the same styles")
    logger = get_run_logger()
    arguments = (workspace, novels, captions, indexed, photos, telling, models, styles, device, beam_args)
    try:
        done, story = _stages(CacheLookups(), *arguments)
        logger.info("every stage is up to date: answered from cache, no subflow started")
    except HasWork as stage:
        logger.info("%s has work to do: running every stage as a subflow", stage)
        done, story = _stages(Subflows(), *arguments)
    publish_summary("storyteller-pipeline", done)
    publish_styles(workspace, story.encoder)
    _record_story_defaults(workspace, story, telling.params)
    return done
