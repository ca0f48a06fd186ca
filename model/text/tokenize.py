"""Penn-Treebank word tokenisation as the original skip-thoughts used it (reference a.1).

NLTK's TreebankWordTokenizer gives `do n't`, ``` `` ```/`''` quotes and split punctuation, with no
lowercasing. Two inputs it mishandles are fixed before it runs: typographic quotes and dashes
(modern Gutenberg files; the tokenizer only knows ASCII), and text that is already tokenised
(the NLTK copies, whose `''` after a space the tokenizer would turn into an opening quote).
"""

from nltk.tokenize import TreebankWordTokenizer

_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use placeholders for quotes whose direction is known
_TRANSLATE = str.maketrans(
    {
        "\u201c": f" {_OPEN} ",
        "\u201d": f" {_CLOSE} ",
        "\u201e": f" {_OPEN} ",
        "\u2018": "'",
        "\u2019": "'",
        "\u2014": " -- ",
        "\u2013": "-",
        "\u2026": "...",
        "\u00a0": " ",
    }
)
_RESTORE = {_OPEN: "``", _CLOSE: "''"}
_TOKENIZER = TreebankWordTokenizer()


def tokenize(sentence: str) -> list[str]:
    """Treebank tokens of one sentence (the tokenizer treats a final period as sentence-final)."""
    text = sentence.translate(_TRANSLATE)
    if "``" in text or "''" in text:
        text = text.replace("``", f" {_OPEN} ").replace("''", f" {_CLOSE} ")
    return [_RESTORE.get(token, token) for token in _TOKENIZER.tokenize(text)]
