"""Token ids to the original's text, and its lyric layout without its crash on empty pieces."""

from model.decoder.story_text import lyric_lines, lyric_text, passage_text

WORDS = ["<eos>", "UNK", "I", "do", "n't", "know", ",", "she", "said", "."]


def test_ids_become_words_joined_by_single_spaces():
    assert passage_text([2, 3, 4, 5, 9], WORDS) == "I do n't know ."  # no detokenisation, as the original
    assert passage_text([], WORDS) == ""


def test_lyric_splits_on_commas_and_drops_one_leading_space():
    passage = passage_text([2, 3, 4, 5, 6, 7, 8, 9], WORDS)
    assert passage == "I do n't know , she said ."
    assert lyric_lines(passage) == ["I do n't know ", "she said ."]  # the trailing space stays, as printed
    assert lyric_text(passage) == "I do n't know \nshe said ."
    assert lyric_lines("a ,  b") == ["a ", " b"]  # only one space is dropped


def test_lyric_skips_empty_pieces_where_the_original_crashed():
    assert lyric_lines(", she said ,") == ["she said "]
    assert lyric_lines("one ,, two") == ["one ", "two"]
    assert lyric_lines("one , , two") == ["one ", "", "two"]  # " " printed as an empty line by the original too
    assert lyric_lines("") == [] and lyric_lines(",") == []
    assert lyric_lines("no commas") == ["no commas"]
