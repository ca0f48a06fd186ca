"""Sentence splitting with Punkt parameters learned from our own novels.

NLTK's pretrained Punkt model cannot be downloaded here, so `punkt_train` learns the same kind of
parameters (abbreviations, collocations, sentence starters) from the novels in ../shared/data and
stores them as JSON beside this module; loading them takes milliseconds and needs no network.
"""

import json
import re
from functools import cache
from pathlib import Path

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

PARAMS_PATH = Path(__file__).with_name("punkt_english.json")


def params_to_json(params: PunktParameters) -> dict:
    return {
        "abbrev_types": sorted(params.abbrev_types),
        "collocations": sorted([list(pair) for pair in params.collocations]),
        "sent_starters": sorted(params.sent_starters),
        "ortho_context": dict(sorted(params.ortho_context.items())),
    }


def params_from_json(data: dict) -> PunktParameters:
    params = PunktParameters()
    params.abbrev_types = set(data["abbrev_types"])
    params.collocations = {tuple(pair) for pair in data["collocations"]}
    params.sent_starters = set(data["sent_starters"])
    for word, flags in data["ortho_context"].items():
        params.ortho_context[word] = flags
    return params


@cache
def _splitter() -> PunktSentenceTokenizer:
    if not PARAMS_PATH.exists():
        raise FileNotFoundError(
            f"{PARAMS_PATH} is missing: run `python -m pipelines.corpus.punkt_train` to learn it from the novels."
        )
    return PunktSentenceTokenizer(params_from_json(json.loads(PARAMS_PATH.read_text())))


# Titles before a name: a period after them never ends a sentence in our novels, whatever Punkt's
# statistics say about the capitalised word that follows.
_TITLES = ("Mr.", "Mrs.", "Dr.", "St.", "Messrs.", "Mme.", "Mlle.", "Capt.", "Col.", "Gen.", "Lieut.", "Rev.")
_INITIAL = re.compile(r"(^|\s)[A-Z]\.$")


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of one paragraph, stripped, in order."""
    sentences: list[str] = []
    for sentence in _splitter().tokenize(paragraph):
        sentence = sentence.strip()
        if not sentence:
            continue
        if sentences and (sentences[-1].endswith(_TITLES) or _INITIAL.search(sentences[-1])):
            sentences[-1] = f"{sentences[-1]} {sentence}"
        else:
            sentences.append(sentence)
    return sentences
