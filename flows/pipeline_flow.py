"""The whole system as one flow, each stage a subflow (reference e at corpus scale):

    novels, captions -> corpora -> [train encoder] -> encode -> styles
    images -> features -> [train VSE] -> caption index;  [train decoder]  -> bulk stories

A model given by id or folder is used as it is; a model left out is trained with its recipe. Every
stage skips or answers from cache when its inputs did not change, so a rerun after adding photos to
the image folder tells only their stories.
"""

from dataclasses import dataclass, field
from pathlib import Path

from prefect import flow

from flows import stage_flows as stages
from flows.run_artifacts import publish_styles, publish_summary
from flows.stage_flows import CorpusSource
from flows.stage_tasks import StoryModelNames
from flows.story_flow import bulk_stories_flow
from flows.task_cache import StageSummary
from model.train_decoder import DecoderRecipe
from model.train_encoder import EncoderRecipe
from model.train_vse import VSERecipe
from pipelines import encode, images, index, stories
from pipelines.storyteller import StoryParams


@dataclass(frozen=True)
class Models:
    """Models to use (ids under WS/models, or folders); None trains one with the recipe beside it."""

    encoder: str | None = None
    encoder_recipe: EncoderRecipe = field(default_factory=EncoderRecipe)
    vocab_size: int = 20_000
    vse: str | None = None
    vse_recipe: VSERecipe = field(default_factory=VSERecipe)
    decoder: str | None = None
    decoder_recipe: DecoderRecipe = field(default_factory=DecoderRecipe)


@dataclass(frozen=True)
class Styles:
    """The book style b over the novels' passages (the original's romance: more than 100 tokens) and the
    caption style c over the captions; stories shift each image's caption mean by b - c."""

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
    out: Path
    params: StoryParams = field(default_factory=lambda: StoryParams("book"))
    job: stories.JobParams = field(default_factory=stories.JobParams)
    index_params: index.IndexParams = field(default_factory=index.IndexParams)


def _model(summary: StageSummary) -> str:
    return summary.details["model"]


@flow(name="storyteller-pipeline")
def pipeline_flow(workspace: Path, novels: list[CorpusSource], captions: CorpusSource, photos: Images,
                  telling: Telling, models: Models | None = None, styles: Styles | None = None, device: str = "auto",
                  beam_args: list[str] | None = None) -> list[StageSummary]:
    """Corpora, encoder, styles, image features, VSE, caption index, decoder and stories, in one run."""
    models, styles = models or Models(), styles or Styles()
    if not captions.caption_params:
        raise ValueError(f"captions {captions.name!r}: give `caption_params` with the caption file format")
    if telling.params.style != styles.book or telling.params.caption_style != styles.caption:
        raise ValueError(f"stories shift by style {telling.params.style!r} - {telling.params.caption_style!r} but "
                         f"the flow builds {styles.book!r} - {styles.caption!r}: name the same styles")
    books = [corpus.name for corpus in novels]
    done = [stages.build_corpus(corpus, workspace, beam_args) for corpus in [*novels, captions]]
    encoder = models.encoder
    if encoder is None:
        done.append(stages.train_encoder_flow(books, workspace, models.encoder_recipe, models.vocab_size,
                                              beam_args=beam_args))
        encoder = _model(done[-1])
    encoder_dir = str(index.resolve_model_dir(workspace, encoder))
    params = encode.EncodeParams(encoder_dir, device=device)
    done += [stages.encode_flow(params, corpus.name, corpus.kind, workspace, beam_args)
             for corpus in [*novels, captions]]
    done.append(stages.style_flow(styles.book, books, "passages", encoder_dir, workspace, styles.book_min_tokens,
                                  beam_args))
    done.append(stages.style_flow(styles.caption, [captions.name], "captions", encoder_dir, workspace,
                                  beam_args=beam_args))
    done.append(stages.features_flow(photos.images, photos.dataset, workspace, photos.features, beam_args))
    vse = models.vse
    if vse is None:
        done.append(stages.train_vse_flow(photos.dataset, captions.name, workspace, models.vse_recipe,
                                          photos.features.cnn))
        vse = _model(done[-1])
    indexed = stages.index_flow(vse, [captions.name], workspace, telling.index_params, device=device,
                                beam_args=beam_args)
    done.append(indexed)
    decoder = models.decoder
    if decoder is None:
        done.append(stages.train_decoder_flow(books, encoder_dir, workspace, models.decoder_recipe))
        decoder = _model(done[-1])
    story_models = StoryModelNames(decoder, index=indexed.details["folder"], encoder=encoder_dir,
                                   cnn=photos.features.cnn, cnn_weights=photos.features.weights)
    done.append(bulk_stories_flow(photos.story_images or photos.images, telling.out, workspace, story_models,
                                  telling.params, telling.job, beam_args=beam_args))
    publish_summary("storyteller-pipeline", done)
    publish_styles(workspace, encoder_dir)
    return done
