"""From image features to stories, for a batch of images at once (reference e, `story()`):

    features -> VSE image vector -> top-k captions (FAISS) -> mean of their skip-thought vectors x
             -> x - c + b (caption style c, book style b) -> decoder beam search or sampling -> story

`StoryModels` names every model and artifact a run uses (resolved once, in the launching process);
`Storyteller` loads them (once per Beam worker) and tells the stories of a batch. The decoding of all
images of a batch and all their beams is one batched search (model/decoder/beam_search.py), or one
batched sampling (model/decoder/sampling.py) seeded by each image's id.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from data_schemas.storage import Location
from model.decoder.beam_search import STORY_SEARCH, SearchOptions, beam_search
from model.decoder.conditional_gru import EOS_ID, UNK_ID, StoryDecoder
from model.decoder.files import load_decoder, read_decoder_config
from model.decoder.sampling import sample, text_seed
from model.decoder.story_text import lyric_text, passage_text
from model.device import torch_device
from model.skipthought.files import read_vocabulary
from model.vse.api import VSEEncoder
from pipelines.index.caption_index import CaptionIndex
from pipelines.index.caption_vectors import caption_vectors
from pipelines.stories.topics import TopicParams, TopicWords
from pipelines.style.files import read_style

SHOWN_CAPTIONS = 5  # nearest captions kept per image, as the original printed


@dataclass(frozen=True)
class StoryParams:
    style: str  # book style b: styles/<encoder>/<style>
    caption_style: str = "captions"  # caption style c
    k: int = 100  # captions averaged per image
    # Stories sample by default: on the Flickr8k photos (bench/story_quality.py) sampling gave every photo
    # its own story with no repeated trigrams, the beam searches repeated stories and looped.
    search: SearchOptions = field(default_factory=lambda: SearchOptions.for_mode(STORY_SEARCH))
    lyric: bool = False
    topics: TopicParams = field(default_factory=TopicParams)


@dataclass(frozen=True)
class StoryModels:
    """Model folders are local (stored models come as cached copies); the workspace and the index may be on
    a store."""

    workspace: Location
    index_folder: Location
    vse_dir: Path
    cnn: str
    cnn_weights: str | None
    encoder_id: str  # names the styles and caption vectors: styles/<encoder_id>/...
    decoder_dir: Path
    encoder_dir: Path


def decode_texts(decoder: StoryDecoder, words: list[str], vectors: np.ndarray, options: SearchOptions,
                 lyric: bool = False, seeds: Sequence[int] | None = None,
                 bonus: torch.Tensor | None = None) -> list[str]:
    """One text per conditioning vector (finite rows only), decoded together. The sample search
    needs one seed per vector (`text_seed` of the text's name); the beam searches take none. `bonus`
    (N, V): topic words' bonus (pipelines/stories/topics.py)."""
    device = next(decoder.parameters()).device
    with torch.inference_mode():
        states = decoder.initial_state(torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).to(device))
    if options.mode == "sample":
        if seeds is None:
            raise ValueError("the sample search needs one seed per vector, e.g. text_seed(image id)")
        results = sample(decoder.step, states, options, seeds, eos=EOS_ID, unk=UNK_ID, bonus=bonus)
    else:
        results = beam_search(decoder.step, states, options, eos=EOS_ID, unk=UNK_ID, bonus=bonus)
    texts = [passage_text(result.best.tokens, words) for result in results]
    return [lyric_text(text) for text in texts] if lyric else texts


def style_shift(caption_means: np.ndarray, caption_style: np.ndarray, book_style: np.ndarray) -> np.ndarray:
    """x - c + b in float32, with no re-normalisation, as the original (reference e)."""
    return (caption_means - caption_style + book_style).astype(np.float32)


class Storyteller:
    def __init__(self, models: StoryModels, params: StoryParams, device: str = "auto"):
        self.params = params
        self.vse = VSEEncoder(models.vse_dir, device)
        self.index = CaptionIndex(models.index_folder)
        self.decoder = load_decoder(models.decoder_dir, torch_device(device))
        self.words = read_vocabulary(models.decoder_dir).words
        self.topic_words = TopicWords(self.words)
        dim = read_decoder_config(models.decoder_dir).dim_ctx
        self.caption_vectors = caption_vectors(self.index, models.workspace, models.encoder_id, dim)
        self.book_style = read_style(models.workspace, models.encoder_id, params.style).vector
        self.caption_style = read_style(models.workspace, models.encoder_id, params.caption_style).vector

    def nearest(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores, FAISS ids) of the k captions nearest each image, best first."""
        return self.index.search(self.vse.embed_features(features), self.params.k)

    def tell(self, features: np.ndarray, image_ids: Sequence[str] | None = None) -> list[dict]:
        """For each feature row: the nearest captions (id, text, score; the first SHOWN_CAPTIONS) and the story.
        The sample search needs the images' ids: each seeds its image's sampler, so a photo gets the
        same story whichever photos share its batch and however often it is told."""
        scores, ids = self.nearest(features)
        means = np.stack([self.caption_vectors[np.sort(row[row >= 0])].mean(axis=0) for row in ids])
        shifted = style_shift(means, self.caption_style, self.book_style)
        seeds = None if image_ids is None else [text_seed(image_id) for image_id in image_ids]
        topics = self.params.topics
        count = min(max(SHOWN_CAPTIONS, topics.captions if topics.bonus else 0), ids.shape[1])  # k may be fewer
        nearest = self.index.captions(ids[:, :count]).to_pylist()
        nearest = [nearest[row * count : (row + 1) * count] for row in range(len(ids))]
        bonus = None
        if topics.bonus:
            texts = [[c["text"] for c in row[: topics.captions]] for row in nearest]
            device = next(self.decoder.parameters()).device
            bonus = self.topic_words.bonus(texts, topics.bonus, topics.min_captions).to(device)
        stories = decode_texts(self.decoder, self.words, shifted, self.params.search, self.params.lyric, seeds,
                               bonus)
        out = []
        for row, story in enumerate(stories):
            captions = nearest[row][:SHOWN_CAPTIONS]
            out.append({"captions": [{"caption_id": c["caption_id"], "text": c["text"],
                                      "score": float(scores[row, rank])} for rank, c in enumerate(captions)],
                        "story": story})
        return out
