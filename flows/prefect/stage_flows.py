"""One Prefect flow per stage: the stage's task (cached on its inputs' fingerprints and parameters,
retried on I/O failures) and a summary artifact. Parameters are those of the matching `storyteller`
command; `beam_args` are Beam pipeline flags (`--runner=...`) passed through unchanged."""

from dataclasses import dataclass

from prefect import flow

from data_schemas.storage import location
from flows.prefect import tasks as tasks
from flows.prefect.artifacts import publish_stories, publish_styles, publish_summary
from flows.prefect.cache import StageSummary, run_stage
from flows.prefect.tasks import StoryModelNames
from flows.prefect.workspace import WorkspaceLocation
from model.cnn.registry import DEFAULT_CNN
from model.decoder.train import DecoderRecipe
from model.skipthought.train import EncoderRecipe
from model.vse.train import VSERecipe
from model.words.train import WordsRecipe
from pipelines import encode
from pipelines import features as images
from pipelines.corpus import captions, novels
from pipelines.index import build as index
from pipelines.stories import job as stories
from pipelines.stories.batch import StoryParams


def _reported(name: str, summary: StageSummary) -> StageSummary:
    publish_summary(name, [summary])
    return summary


@flow(name="corpus-novels")
def corpus_novels_flow(source: str, name: str, workspace: WorkspaceLocation, params: novels.NovelParams | None = None,
                       beam_args: list[str] | None = None) -> StageSummary:
    """Novels (file, folder or glob of .txt/.txt.gz) to the sentences and passages of corpus NAME."""
    return _reported("corpus-novels", run_stage(tasks.corpus_novels, source=source, name=name, workspace=workspace,
                                                params=params, beam_args=beam_args))


@flow(name="corpus-captions")
def corpus_captions_flow(source: str, name: str, workspace: WorkspaceLocation, params: captions.CaptionParams,
                         beam_args: list[str] | None = None) -> StageSummary:
    """Caption files (file or glob; `params.format` says which) to the captions of corpus NAME."""
    return _reported("corpus-captions", run_stage(tasks.corpus_captions, source=source, name=name,
                                                  workspace=workspace, params=params, beam_args=beam_args))


@flow(name="vocab")
def vocab_flow(corpora: list[str], size: int, workspace: WorkspaceLocation, name: str | None = None,
               beam_args: list[str] | None = None) -> StageSummary:
    """The SIZE commonest words of the corpora (with <eos> and UNK) to vocab/NAME.parquet."""
    return _reported("vocab", run_stage(tasks.build_vocab, corpora=corpora, size=size, workspace=workspace,
                                        name=name, beam_args=beam_args))


@flow(name="train-words")
def train_words_flow(corpora: list[str], workspace: WorkspaceLocation, recipe: WordsRecipe | None = None,
                     name: str | None = None, exclude_split: str | None = None) -> StageSummary:
    """Word vectors (word2vec) over the corpora's sentences and captions, less the captions of EXCLUDE_SPLIT
    and their word-for-word repeats, to models/NAME."""
    return _reported("train-words", run_stage(tasks.train_words_model, corpora=corpora, workspace=workspace,
                                              recipe=recipe, name=name, exclude_split=exclude_split))


@flow(name="train-encoder")
def train_encoder_flow(corpora: list[str], workspace: WorkspaceLocation, recipe: EncoderRecipe | None = None,
                       name: str | None = None, beam_args: list[str] | None = None) -> StageSummary:
    """A uni-skip encoder trained on the corpora's sentences, to models/NAME."""
    return _reported("train-encoder", run_stage(tasks.train_encoder_model, corpora=corpora, workspace=workspace,
                                                recipe=recipe, name=name, beam_args=beam_args))


@flow(name="encode")
def encode_flow(params: encode.EncodeParams, corpus: str, kind: str, workspace: WorkspaceLocation,
                beam_args: list[str] | None = None) -> StageSummary:
    """The corpus's KIND texts (passages, captions or sentences) to vectors of the encoder `params.model_dir`."""
    return _reported("encode", run_stage(tasks.encode_corpus, params=params, corpus=corpus, kind=kind,
                                         workspace=workspace, beam_args=beam_args))


@flow(name="style")
def style_flow(name: str, corpora: list[str], kind: str, encoder: str, workspace: WorkspaceLocation,
               min_tokens: int | None = None, beam_args: list[str] | None = None) -> StageSummary:
    """The mean vector of the corpora's encoded KIND texts (with more than MIN_TOKENS tokens) as style NAME."""
    summary = run_stage(tasks.compute_style, name=name, corpora=corpora, kind=kind, encoder=encoder,
                        workspace=workspace, min_tokens=min_tokens, beam_args=beam_args)
    publish_styles(workspace, encoder)
    return _reported("style", summary)


@flow(name="features")
def features_flow(images_arg: str | list[str], dataset: str, workspace: WorkspaceLocation,
                  params: images.FeatureParams | None = None,
                  beam_args: list[str] | None = None) -> StageSummary:
    """CNN features of every image (folder, glob, list file or paths) as image dataset DATASET."""
    return _reported("features", run_stage(tasks.image_features, images_arg=images_arg, dataset=dataset,
                                           workspace=workspace, params=params, beam_args=beam_args))


@flow(name="train-vse")
def train_vse_flow(features: str, captions_corpus: str, workspace: WorkspaceLocation, recipe: VSERecipe | None = None,
                   cnn: str = DEFAULT_CNN, name: str | None = None) -> StageSummary:
    """A visual-semantic embedding trained on image dataset FEATURES and its caption corpus, to models/NAME."""
    return _reported("train-vse", run_stage(tasks.train_vse_model, features=features, captions_corpus=captions_corpus,
                                            workspace=workspace, recipe=recipe, cnn=cnn, name=name))


@flow(name="fuse-vse")
def fuse_vse_flow(vse: str, zero_shot: str, weight: float, workspace: WorkspaceLocation,
                  name: str | None = None) -> StageSummary:
    """VSE (weight w) and the zero-shot space (1 - w) as one model, to models/NAME (default fused-VSE)."""
    return _reported("fuse-vse", run_stage(tasks.fuse_vse, vse=vse, zero_shot=zero_shot, weight=weight,
                                           workspace=workspace, name=name))


@flow(name="index")
def index_flow(vse: str, corpora: list[str], workspace: WorkspaceLocation, params: index.IndexParams | None = None,
               name: str | None = None, device: str = "auto", beam_args: list[str] | None = None) -> StageSummary:
    """The corpora's captions embedded by VSE and indexed with FAISS under index/VSE/NAME."""
    return _reported("index", run_stage(tasks.caption_index, vse=vse, corpora=corpora, workspace=workspace,
                                        params=params, name=name, device=device, beam_args=beam_args))


@flow(name="train-decoder")
def train_decoder_flow(corpora: list[str], encoder: str, workspace: WorkspaceLocation,
                       recipe: DecoderRecipe | None = None, name: str | None = None) -> StageSummary:
    """A story decoder trained on the corpora's passages and their ENCODER vectors, to models/NAME."""
    return _reported("train-decoder", run_stage(tasks.train_decoder_model, corpora=corpora, encoder=encoder,
                                                workspace=workspace, recipe=recipe, name=name))


@flow(name="stories")
def stories_flow(images_arg: str | list[str], out: WorkspaceLocation, workspace: WorkspaceLocation,
                 models: StoryModelNames, params: StoryParams, job: stories.JobParams | None = None,
                 gallery: bool = True, beam_args: list[str] | None = None) -> StageSummary:
    """A story for every image into OUT (one Beam job; see `story_flow` to append to earlier runs)."""
    summary = run_stage(tasks.tell_stories, images_arg=images_arg, out=out, workspace=workspace, models=models,
                        params=params, job=job, gallery=gallery, beam_args=beam_args)
    gallery_path = summary.details.get("gallery")
    publish_stories(location(summary.details["jsonl"]), location(gallery_path) if gallery_path else None,
                    location(out).name)
    return _reported("stories", summary)


@dataclass(frozen=True)
class CorpusSource:
    """A corpus and where it comes from: novels (file, folder or glob of .txt/.txt.gz), or caption files
    (file or glob) when `caption_params` gives their format."""

    name: str
    source: str
    caption_params: captions.CaptionParams | None = None
    novel_params: novels.NovelParams | None = None

    @property
    def kind(self) -> str:
        """The texts a style or decoder reads from this corpus."""
        return "captions" if self.caption_params else "passages"


def build_corpus(corpus: CorpusSource, workspace: WorkspaceLocation,
                 beam_args: list[str] | None = None) -> StageSummary:
    """The corpus stage flow that suits the source."""
    if corpus.caption_params:
        return corpus_captions_flow(corpus.source, corpus.name, workspace, corpus.caption_params, beam_args)
    return corpus_novels_flow(corpus.source, corpus.name, workspace, corpus.novel_params, beam_args)
