"""Checks that model.text.tokenize.tokenize gives NLTK Penn-Treebank tokens as skip-thoughts used them."""

import pytest

from model.text.tokenize import tokenize


def test_quoted_speech_with_contraction():
    sentence = '"I don\'t know," she said.'
    assert tokenize(sentence) == ["``", "I", "do", "n't", "know", ",", "''", "she", "said", "."]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("I can't go.", ["I", "ca", "n't", "go", "."]),
        ("They won't stay.", ["They", "wo", "n't", "stay", "."]),
        ("She don\u2019t care.", ["She", "do", "n't", "care", "."]),  # curly apostrophe
    ],
)
def test_contractions_split(sentence, expected):
    assert tokenize(sentence) == expected


def test_curly_double_quotes_map_to_treebank_quotes():
    assert tokenize("\u201cHello,\u201d she said.") == ["``", "Hello", ",", "''", "she", "said", "."]


@pytest.mark.parametrize("sentence", ["Wait\u2014no.", "Wait \u2014 no."])
def test_em_dash_becomes_double_hyphen_token(sentence):
    assert tokenize(sentence) == ["Wait", "--", "no", "."]


def test_already_tokenised_text_keeps_quote_direction():
    tokens = tokenize("`` Project Gutenberg . ''")
    assert tokens == ["``", "Project", "Gutenberg", ".", "''"]
    assert tokens.count("``") == 1


def test_already_tokenised_quote_in_middle_of_sentence():
    assert tokenize("He said `` yes '' and left .") == ["He", "said", "``", "yes", "''", "and", "left", "."]


def test_case_is_kept():
    assert tokenize("The Cat SAT on McGregor's mat.") == ["The", "Cat", "SAT", "on", "McGregor", "'s", "mat", "."]


def test_empty_string_gives_no_tokens():
    assert tokenize("") == []
    assert tokenize("   ") == []
