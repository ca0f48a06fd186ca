"""Checks Punkt sentence splitting with our learned parameters (model.text.sentences)."""

import json

import pytest

from model.text.sentences import PARAMS_PATH, params_from_json, params_to_json, split_sentences


@pytest.mark.parametrize("title", ["Mr.", "Mrs.", "Dr.", "St."])
def test_no_split_after_titles(title):
    paragraph = f"{title} Bennet was among the earliest of those who waited on Mr. Bingley."
    assert split_sentences(paragraph) == [paragraph]


def test_titles_inside_a_two_sentence_paragraph():
    paragraph = "Mr. Bennet was among the earliest. Mrs. Bennet was not."
    assert split_sentences(paragraph) == ["Mr. Bennet was among the earliest.", "Mrs. Bennet was not."]


def test_two_plain_sentences():
    assert split_sentences("It was late. He left.") == ["It was late.", "He left."]


def test_question_and_exclamation_marks_split():
    assert split_sentences("Who is there? Nobody! Go away.") == ["Who is there?", "Nobody!", "Go away."]


def test_quoted_speech():
    paragraph = '"I am going," said she. "You may follow."'
    assert split_sentences(paragraph) == ['"I am going," said she.', '"You may follow."']


def test_initials_kept_together():
    paragraph = "He read J. S. Mill on liberty. Then he slept."
    assert split_sentences(paragraph) == ["He read J. S. Mill on liberty.", "Then he slept."]


def test_sentences_are_stripped_and_empty_paragraph_gives_none():
    assert split_sentences("  It rained.   It poured.  ") == ["It rained.", "It poured."]
    assert split_sentences("") == []


def test_params_file_loads_and_round_trips():
    data = json.loads(PARAMS_PATH.read_text())
    params = params_from_json(data)
    assert {"mr", "mrs", "dr"} <= params.abbrev_types
    assert params.sent_starters and params.ortho_context
    again = params_from_json(params_to_json(params))
    assert again.abbrev_types == params.abbrev_types
    assert again.collocations == params.collocations
    assert again.sent_starters == params.sent_starters
    assert dict(again.ortho_context) == dict(params.ortho_context)
    assert params_to_json(again) == params_to_json(params)
