"""One Prefect task per stage. Each calls the stage's library function and returns a `StageSummary`;
the cache key names the files the stage reads (see `flows.prefect.cache`)."""

import time
from dataclasses import dataclass, replace

from prefect import get_run_logger, task

from data_schemas.storage import Location, location
from data_schemas.workspace import Workspace
from flows.prefect.artifacts import stage_progress_artifact
from flows.prefect.cache import STAGE_TASK, TRAINED, StageSummary, keyed_on, model_files, sha256_of_files, summarize
from model.cnn.registry import DEFAULT_CNN, resolve_weights
from model.decoder.train import DecoderRecipe
from model.skipthought.files import CONFIG_FILE
from model.skipthought.train import EncoderRecipe
from model.vse.train import VSERecipe
from model.words.train import WordsRecipe
from pipelines import encode
from pipelines import features as images
from pipelines.core.manifest import META_FILE, StageStart
from pipelines.core.progress import add_progress_sink
from pipelines.corpus import captions, novels, vocab
from pipelines.index import build as index
from pipelines.stories import job as stories
from pipelines.stories.batch import StoryParams
from pipelines.style import job as style
from pipelines.style.files import resolve_encoder, style_paths
from pipelines.training import (
    fuse_in_workspace,
    train_decoder_in_workspace,
    train_encoder_in_workspace,
    train_vse_in_workspace,
    train_words_in_workspace,
)

# A stage run inside one of these tasks mirrors its record progress to a progress artifact.
add_progress_sink(stage_progress_artifact)


def _logged(summary: StageSummary) -> StageSummary:
    get_run_logger().info("%s: %s, %d in, %d out, %d rejected, %.1fs", summary.stage, summary.action,
                          summary.rows_in, summary.rows_out, summary.rejected, summary.seconds)
    return summary


def _metas(*folders: Location) -> list[Location]:
    """The `_meta.json` of each artifact folder a stage reads: they change whenever the artifact does."""
    return [folder / META_FILE for folder in folders]


@task(name="corpus-novels", **STAGE_TASK, cache_key_fn=keyed_on(lambda p: novels.list_novels(p["source"])))
def corpus_novels(source: str, name: str, workspace: Location, params: novels.NovelParams | None = None,
                  beam_args: list[str] | None = None) -> StageSummary:
    """Novels (file, folder or glob) to corpora/NAME/{sentences,passages}."""
    report = novels.run(source, name, location(workspace), params or novels.NovelParams(), beam_args or [])
    return _logged(summarize(report, novels.output_folders(location(workspace), name), f"corpus {name}"))


@task(name="corpus-captions", **STAGE_TASK,
      cache_key_fn=keyed_on(lambda p: captions.list_caption_files(p["source"])))
def corpus_captions(source: str, name: str, workspace: Location, params: captions.CaptionParams,
                    beam_args: list[str] | None = None) -> StageSummary:
    """Caption files to corpora/NAME/captions."""
    report = captions.run(source, name, location(workspace), params, beam_args or [])
    return _logged(summarize(report, captions.output_folders(location(workspace), name), f"corpus {name}"))


@task(name="vocab", **STAGE_TASK, cache_key_fn=keyed_on(
    lambda p: [vocab.corpus_token_folder(location(p["workspace"]), c)[0] / META_FILE for c in p["corpora"]]))
def build_vocab(corpora: list[str], size: int, workspace: Location, name: str | None = None,
                beam_args: list[str] | None = None) -> StageSummary:
    """Token counts over the corpora to vocab/NAME.parquet."""
    started = time.monotonic()
    report = vocab.run(corpora, size, location(workspace), name, beam_args or [])
    return _logged(StageSummary(
        f"vocab {report.name}", (StageStart.DONE if report.skipped else StageStart.FRESH).value, report.tokens,
        report.words, 0, round(time.monotonic() - started, 2),
        sha256_of_files(vocab.vocab_paths(location(workspace), report.name)), {"sequences": report.sequences},
        balanced=False))


def _trained(stage: str, out_dir: Location, rows_in: int, started: float, details: dict) -> StageSummary:
    return _logged(StageSummary(stage, TRAINED, rows_in, 0, 0, round(time.monotonic() - started, 2),
                                sha256_of_files([out_dir / CONFIG_FILE]), {"model": out_dir.name, **details},
                                balanced=False))


def _word_vector_files(p: dict) -> list[Location]:
    """The files of the words model a trainer's recipe starts its embeddings from: new vectors, new model."""
    ref = p["recipe"].word_vectors if p["recipe"] else ""
    return model_files(Workspace(p["workspace"]).resolve_model(ref, "word-vectors")) if ref else []


@task(name="train-words", **STAGE_TASK, cache_key_fn=keyed_on(
    lambda p: [vocab.corpus_token_folder(location(p["workspace"]), c)[0] / META_FILE for c in p["corpora"]]))
def train_words_model(corpora: list[str], workspace: Location, recipe: WordsRecipe | None = None,
                      name: str | None = None, exclude_split: str | None = None) -> StageSummary:
    """Word vectors over the corpora's sentences and captions, as `storyteller train words`, to models/NAME."""
    started = time.monotonic()
    trained = train_words_in_workspace(location(workspace), corpora, recipe or WordsRecipe(), name, exclude_split)
    metrics = trained.metrics
    return _trained(f"train words {trained.name}", trained.model_dir, metrics["token_lists"], started,
                    {"words": metrics["words"], "tokens": metrics["tokens"]})


@task(name="train-encoder", **STAGE_TASK, cache_key_fn=keyed_on(lambda p: [
    *_metas(*(Workspace(p["workspace"]).corpus_part(c, "sentences") for c in p["corpora"])), *_word_vector_files(p)]))
def train_encoder_model(corpora: list[str], workspace: Location, recipe: EncoderRecipe | None = None,
                        name: str | None = None, beam_args: list[str] | None = None) -> StageSummary:
    """A uni-skip encoder on the corpora's sentences, as `storyteller train encoder`, to models/NAME."""
    started = time.monotonic()
    trained = train_encoder_in_workspace(location(workspace), corpora, recipe or EncoderRecipe(), name, beam_args)
    metrics = trained.metrics
    return _trained(f"train encoder {trained.name}", trained.model_dir, metrics["train_triples"], started,
                    {"steps": metrics["steps"], "val_nll_per_token": metrics["history"][-1]["val_nll_per_token"]})


@task(name="encode", **STAGE_TASK, cache_key_fn=keyed_on(lambda p: [
    *_metas(Workspace(p["workspace"]).corpus_part(p["corpus"], p["kind"])), *model_files(p["params"].model_dir)]))
def encode_corpus(params: encode.EncodeParams, corpus: str, kind: str, workspace: Location,
                  beam_args: list[str] | None = None) -> StageSummary:
    """A corpus's texts to vectors/MODEL/CORPUS/KIND."""
    report = encode.run(params, corpus, kind, location(workspace), beam_args or [])
    outputs = encode.output_folders(location(workspace), encode.model_id(params.model_dir), corpus, kind)
    return _logged(summarize(report, outputs, f"encode {corpus}/{kind}"))


def _style_inputs(p: dict) -> list[Location]:
    encoder_id, _ = resolve_encoder(location(p["workspace"]), p["encoder"])
    return _metas(*(Workspace(p["workspace"]).vectors(encoder_id, c, p["kind"]) for c in p["corpora"]))


@task(name="style", **STAGE_TASK, cache_key_fn=keyed_on(_style_inputs))
def compute_style(name: str, corpora: list[str], kind: str, encoder: str, workspace: Location,
                  min_tokens: int | None = None, beam_args: list[str] | None = None) -> StageSummary:
    """The mean vector of the corpora's encoded texts to styles/ENCODER/NAME (incremental when it may)."""
    report = style.run(name, corpora, kind, encoder, location(workspace), min_tokens, beam_args or [])
    paths = style_paths(location(workspace), report.encoder, name)
    # Texts left out by --min-tokens are filtered, not errors; they fill the "rejected" column.
    return _logged(StageSummary(
        f"style {name}", report.action, report.rows_read, report.rows_used, report.rows_filtered,
        round(report.seconds, 2), sha256_of_files([paths.meta, paths.vector]),
        {"reason": report.reason, "shards": report.shards, "shards_read": report.shards_read, "count": report.count,
         "dim": report.dim}))


@task(name="features", **STAGE_TASK, cache_key_fn=keyed_on(lambda p: [
    images.listing_fingerprint(images.list_images(p["images_arg"])),
    resolve_weights((p["params"] or images.FeatureParams()).cnn, (p["params"] or images.FeatureParams()).weights)]))
def image_features(images_arg: str | list[str], dataset: str, workspace: Location,
                   params: images.FeatureParams | None = None,
                   beam_args: list[str] | None = None) -> StageSummary:
    """Images (folder, glob, list file or paths) to features/CNN/DATASET."""
    params = params or images.FeatureParams()
    report = images.run(images_arg, dataset, location(workspace), params, beam_args or [])
    outputs = images.output_folders(location(workspace), params.cnn, dataset)
    return _logged(summarize(report, outputs, f"features {dataset}"))


@task(name="train-vse", **STAGE_TASK, cache_key_fn=keyed_on(lambda p: [*_metas(
    Workspace(p["workspace"]).features(p["cnn"], p["features"]),
    Workspace(p["workspace"]).corpus_part(p["captions_corpus"], "captions")), *_word_vector_files(p)]))
def train_vse_model(features: str, captions_corpus: str, workspace: Location, recipe: VSERecipe | None = None,
                    cnn: str = DEFAULT_CNN, name: str | None = None) -> StageSummary:
    """A visual-semantic embedding on image features and their captions, as `storyteller train vse`."""
    started = time.monotonic()
    trained = train_vse_in_workspace(location(workspace), features, captions_corpus, recipe or VSERecipe(), cnn, name)
    metrics, test = trained.metrics, trained.metrics["test"]
    recall = {"r@1 i2t": test["i2t"]["r1"], "r@1 t2i": test["t2i"]["r1"]} if test else {}
    return _trained(f"train vse {trained.name}", trained.model_dir, metrics["data"]["captions_in"], started,
                    {"steps": metrics["steps"], **recall})


@task(name="fuse-vse", **STAGE_TASK, cache_key_fn=keyed_on(lambda p: [
    *model_files(Workspace(p["workspace"]).resolve_model(p["vse"], "vse")),
    *model_files(Workspace(p["workspace"]).resolve_model(p["zero_shot"], "zero-shot"))]))
def fuse_vse(vse: str, zero_shot: str, weight: float, workspace: Location, name: str | None = None) -> StageSummary:
    """The VSE and the zero-shot space as one fused model, as `storyteller build fused`."""
    started = time.monotonic()
    fused = fuse_in_workspace(location(workspace), vse, zero_shot, weight, name)
    return _trained(f"fuse vse {fused.name}", fused.model_dir, 0, started, {"weight": weight})


@task(name="index", **STAGE_TASK, cache_key_fn=keyed_on(lambda p: [
    *_metas(*(Workspace(p["workspace"]).corpus_part(c, "captions") for c in p["corpora"])),
    *model_files(Workspace(p["workspace"]).resolve_model(p["vse"], "vse"))]))
def caption_index(vse: str, corpora: list[str], workspace: Location, params: index.IndexParams | None = None,
                  name: str | None = None, device: str = "auto", beam_args: list[str] | None = None) -> StageSummary:
    """Captions embedded by the VSE, then a FAISS index under index/VSE/NAME."""
    started = time.monotonic()
    report = index.run(vse, corpora, location(workspace), params, name, device, beam_args or [])
    return _logged(StageSummary(
        f"index {report.folder.name}", report.start.value, report.captions, report.captions, 0,
        round(time.monotonic() - started, 2), sha256_of_files([report.folder / META_FILE]),
        {"folder": str(report.folder), "index": report.meta["index"]["factory"]}))


def _decoder_inputs(p: dict) -> list[Location]:
    encoder_id, _ = resolve_encoder(location(p["workspace"]), p["encoder"])
    ws = Workspace(p["workspace"])
    return [*_metas(*(ws.corpus_part(c, "passages") for c in p["corpora"]),
                    *(ws.vectors(encoder_id, c, "passages") for c in p["corpora"])), *_word_vector_files(p)]


@task(name="train-decoder", **STAGE_TASK, cache_key_fn=keyed_on(_decoder_inputs))
def train_decoder_model(corpora: list[str], encoder: str, workspace: Location, recipe: DecoderRecipe | None = None,
                        name: str | None = None) -> StageSummary:
    """A story decoder on the corpora's passages and their vectors, as `storyteller train decoder`."""
    started = time.monotonic()
    trained = train_decoder_in_workspace(location(workspace), corpora, encoder, recipe or DecoderRecipe(), name)
    metrics = trained.metrics
    return _trained(f"train decoder {trained.name}", trained.model_dir, metrics["data"]["passages"], started,
                    {"steps": metrics["steps"], "held_out_perplexity": metrics["held_out_perplexity"]})


@dataclass(frozen=True)
class StoryModelNames:
    """The models of a story run, as `storyteller stories` takes them (ids under WS/models, or folders);
    None picks what the stories command would: the decoder's encoder, the only index, the VSE's CNN."""

    decoder: str
    index: str | None = None
    encoder: str | None = None
    cnn: str | None = None
    cnn_weights: str | None = None


def resolve_story_models(workspace: str | Location, names: StoryModelNames) -> stories.StoryModels:
    return stories.resolve_models(location(workspace), names.decoder, names.index, names.encoder, names.cnn,
                                  names.cnn_weights)


def _story_inputs(p: dict) -> list:
    models = resolve_story_models(p["workspace"], p["models"])
    return [images.listing_fingerprint(images.list_images(p["images_arg"])),
            stories.stage_params(models, p["params"], (p["job"] or stories.JobParams()).shard_size)]


@task(name="stories", **STAGE_TASK, cache_key_fn=keyed_on(_story_inputs))
def tell_stories(images_arg: str | list[str], out: Location, workspace: Location, models: StoryModelNames,
                 params: StoryParams, job: stories.JobParams | None = None, gallery: bool = True,
                 beam_args: list[str] | None = None) -> StageSummary:
    """A story for every image into OUT/stories (Parquet), OUT/stories.jsonl and OUT/gallery.html."""
    out = location(out)
    report = stories.run(images_arg, out, location(workspace), resolve_story_models(workspace, models), params, job,
                         beam_args or [], gallery=gallery)
    summary = summarize(report.stage, {"stories": out / "stories", "rejects": out / "rejects"}, f"stories {out.name}")
    derived = sha256_of_files([report.jsonl, *([report.gallery] if report.gallery else [])])
    return _logged(replace(summary, outputs={**summary.outputs, **derived},
                           details={**summary.details, "jsonl": str(report.jsonl),
                                    "gallery": str(report.gallery) if report.gallery else None}))
