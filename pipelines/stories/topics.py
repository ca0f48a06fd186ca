"""Topic words: what an image's nearest captions say, as a bonus on the decoder's log-probabilities.

The decoder hears its photo only through one vector, the mean of a hundred captions' skip-thought vectors
shifted into a book's style, and a small decoder trained on novels turns it into prose about anything.
Weighted decoding (Ghazvininejad et al. 2017, See et al. 2019) adds a bonus to chosen words at every
step; here the words are the content words of the image's `captions` nearest captions, each weighted by
the share of those captions that hold it, so "dog" in 8 of 10 captions is pushed harder than "grass" in
one. A word's bonus ends once the text holds it (`unused_bonus` in model/decoder/beam_search.py): the
story names the dog, then goes on as prose. Only lower-case alphabetic words of the decoder's vocabulary
that are not stopwords take a bonus, so punctuation, names and function words keep the model's odds.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model.text.stopwords import STOPWORDS
from model.text.tokenize import tokenize


@dataclass(frozen=True)
class TopicParams:
    """bonus: nats added to a topic word's log-probability when every one of the captions holds it (0 turns
    topics off, as the original); captions: how many nearest captions make the topic. The defaults are
    bench/story_quality.py's choice: over Flickr8k photos they lift the photo's own caption words in its
    story from about 0.2 to over 1, with the same distinct, loop-free prose."""

    bonus: float = 6.0
    captions: int = 20

    def __post_init__(self) -> None:
        if not self.bonus >= 0 or self.captions < 1:  # `not >=` also refuses NaN
            raise ValueError(f"topic bonus ({self.bonus}) must be >= 0 and topic captions ({self.captions}) >= 1")


class TopicWords:
    """The decoder vocabulary's topic-capable words, and the bonus rows of a batch of caption lists."""

    def __init__(self, words: Sequence[str]):
        self.size = len(words)
        self.ids = {word: i for i, word in enumerate(words)
                    if word.isalpha() and word.islower() and word not in STOPWORDS}

    def weights(self, captions: Sequence[str]) -> dict[int, float]:
        """Word id -> share of the captions holding the word."""
        held = Counter(i for caption in captions
                       for i in {self.ids.get(token.lower()) for token in tokenize(caption)} if i is not None)
        return {i: n / len(captions) for i, n in held.items()} if captions else {}

    def bonus(self, caption_lists: Sequence[Sequence[str]], strength: float) -> torch.Tensor:
        """(N, V) float32: `strength` times each topic word's share, one row per caption list."""
        out = torch.zeros((len(caption_lists), self.size), dtype=torch.float32)
        for row, captions in enumerate(caption_lists):
            for i, share in self.weights(captions).items():
                out[row, i] = strength * share
        return out
