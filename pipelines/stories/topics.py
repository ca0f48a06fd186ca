"""Topic words: what an image's nearest captions say, as a bonus on the decoder's log-probabilities.

The decoder hears its photo only through one vector, the mean of a hundred captions' skip-thought vectors
shifted into a book's style, and a small decoder trained on novels turns it into prose about anything.
Weighted decoding (Ghazvininejad et al. 2017, See et al. 2019) adds a bonus to chosen words at every
step (here from the second on, so a story opens as the model would); the words are the content words of
the image's `captions` nearest captions, each weighted by the share of those captions that hold it, so
"dog" in 16 of 20 captions is pushed harder than "grass" in three, and a word only one caption holds is
left alone. A word's bonus ends once the text holds it (`unused_bonus` in model/decoder/beam_search.py):
the story names the dog, then goes on as prose. Only lower-case alphabetic words of the decoder's
vocabulary that are not stopwords take a bonus, so punctuation, names and function words keep the
model's odds.
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
    topics off, as the original); captions: how many nearest captions make the topic; min_captions: how
    many of them must hold a word (one caption's stray word is more often wrong than right). The defaults
    are bench/story_quality.py's choice: on the 200 Flickr8k photos the VSE never saw they lift the photo's
    own caption words in its story from 0.23 to 1.2, 3.2x a shuffled pairing, with the same distinct,
    loop-free prose."""

    bonus: float = 8.0
    captions: int = 20
    min_captions: int = 2

    def __post_init__(self) -> None:
        if not self.bonus >= 0 or not 1 <= self.min_captions <= self.captions:  # `not >=` also refuses NaN
            raise ValueError(f"topic bonus ({self.bonus}) must be >= 0 and topic captions ({self.captions}) >= "
                             f"the captions a topic word needs ({self.min_captions}) >= 1")


class TopicWords:
    """The decoder vocabulary's topic-capable words, and the bonus rows of a batch of caption lists."""

    def __init__(self, words: Sequence[str]):
        self.size = len(words)
        self.ids = {word: i for i, word in enumerate(words)
                    if word.isalpha() and word.islower() and word not in STOPWORDS}

    def weights(self, captions: Sequence[str], min_captions: int = 1) -> dict[int, float]:
        """Word id -> share of the captions holding the word, for words at least `min_captions` hold."""
        held = Counter(i for caption in captions
                       for i in {self.ids.get(token.lower()) for token in tokenize(caption)} if i is not None)
        return {i: n / len(captions) for i, n in held.items() if n >= min_captions} if captions else {}

    def bonus(self, caption_lists: Sequence[Sequence[str]], strength: float, min_captions: int = 1) -> torch.Tensor:
        """(N, V) float32: `strength` times each topic word's share, one row per caption list."""
        out = torch.zeros((len(caption_lists), self.size), dtype=torch.float32)
        for row, captions in enumerate(caption_lists):
            for i, share in self.weights(captions, min_captions).items():
                out[row, i] = strength * share
        return out
