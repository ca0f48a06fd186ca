"""Learn Punkt sentence-splitting parameters from novels and write them beside `sentences.py`.

Run once when the training novels change: `python -m pipelines.corpus.punkt_train [GLOB ...]` (globs as
`storyteller corpus novels --input` takes them, on disk or on an object store).
"""

import argparse
import json

from nltk.tokenize.punkt import _ORTHO_LC, PunktTrainer

from model.text.sentences import PARAMS_PATH, params_to_json
from pipelines.corpus.inputs import glob_inputs
from pipelines.text.chapters import chapter_paragraphs
from pipelines.text.encodings import read_text
from pipelines.text.gutenberg import strip_gutenberg

DEFAULT_GLOB = "../shared/data/novels/*/*.txt.gz"
# Titles and abbreviations of period fiction that must never end a sentence, whatever the
# counts say (Punkt learns most of them; these make the rare ones certain).
KNOWN_ABBREVIATIONS = {
    "mr",
    "mrs",
    "dr",
    "st",
    "messrs",
    "mme",
    "mlle",
    "capt",
    "col",
    "gen",
    "lieut",
    "rev",
    "sir",
    "esq",
    "jun",
    "sen",
    "no",
    "vol",
    "chap",
    "e.g",
    "i.e",
    "viz",
    "etc",
}


def train(paths: list[str]):
    trainer = PunktTrainer()
    trainer.INCLUDE_ALL_COLLOCS = True
    for path in paths:
        body = chapter_paragraphs(strip_gutenberg(read_text(path).text))
        trainer.train("\n\n".join(p.text for p in body.paragraphs), finalize=False)
    trainer.finalize_training()
    params = trainer.get_params()
    params.abbrev_types |= KNOWN_ABBREVIATIONS - {"etc"}
    # A "sentence starter" never seen in lower case is a name that followed a title the trainer
    # had not yet learned ("Mr. Bennet"); trusting it would split every "Mr. Bennet" again.
    params.sent_starters = {word for word in params.sent_starters if params.ortho_context.get(word, 0) & _ORTHO_LC}
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("globs", nargs="*", default=[DEFAULT_GLOB], help="novel files to learn from")
    args = parser.parse_args()
    paths = sorted(p for g in args.globs for p in glob_inputs(g))
    if not paths:
        raise SystemExit(f"no files match {args.globs}")
    PARAMS_PATH.write_text(json.dumps(params_to_json(train(paths)), indent=0, ensure_ascii=False))
    print(f"wrote {PARAMS_PATH} from {len(paths)} files")


if __name__ == "__main__":
    main()
