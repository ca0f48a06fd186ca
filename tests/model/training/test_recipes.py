"""Recipes as files: the shipped ones hold what `make models` trained with, a trainer's flags are made
from its recipe's fields (and override a recipe), and a bad recipe is an error that names its file."""

import argparse
import json
import re
from dataclasses import fields, replace
from pathlib import Path

import pytest

from model.decoder.train import DecoderRecipe
from model.skipthought.train import EncoderRecipe
from model.training.recipes import add_recipe_flags, load_recipe, recipe_from_args
from model.vse.train import VSERecipe

MAKEFILE = Path(__file__).resolve().parents[3] / "Makefile"
WORDS = "words-novels-captions"
SHIPPED = {
    "skipthought-uni-novels": replace(EncoderRecipe(), dim_word=300, dim=256, vocab_size=8000, batch_size=128,
                                      lr=0.002, max_len=50, softmax="adaptive", cutoffs="1000,4000", max_minutes=24,
                                      word_vectors=WORDS, mean_words=True),
    "decoder-novels": replace(DecoderRecipe(), dim_word=300, dim=512, vocab_size=10000, max_tokens=60,
                              ctx_every_step=True, ctx_in_output=True, softmax="adaptive", cutoffs="1000,4000",
                              batch_size=64, lr=0.002, max_minutes=50, val_books=2, word_vectors=WORDS),
    "vse-flickr8k-1000": replace(VSERecipe(), dim=512, dim_word=300, loss="sum", epochs=8, min_count=2, max_minutes=6,
                                 word_vectors=WORDS, vocabulary="word-vectors", test_images=0, val_images=0),
    # The same with 200 photos held out, for measuring (bench/retrieval.py, bench/story_quality.py).
    "vse-flickr8k-800": replace(VSERecipe(), dim=512, dim_word=300, loss="sum", epochs=10, min_count=2,
                                word_vectors=WORDS, vocabulary="word-vectors"),
}


def parse(recipe_type: type, *argv: str):
    parser = argparse.ArgumentParser()
    add_recipe_flags(parser, recipe_type)
    return recipe_from_args(parser.parse_args(argv), recipe_type), parser


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipes_hold_the_values_make_models_used(name):
    assert load_recipe(name, type(SHIPPED[name])) == SHIPPED[name]
    assert f"--recipe {name} " in MAKEFILE.read_text()


@pytest.mark.parametrize("recipe_type", [EncoderRecipe, VSERecipe, DecoderRecipe])
def test_flags_come_from_the_recipe_fields(recipe_type):
    recipe, parser = parse(recipe_type)
    assert recipe == recipe_type()  # without --recipe, the dataclass defaults
    for item in fields(recipe_type):
        action = parser._option_string_actions["--" + item.name.replace("_", "-")]
        flag_type = bool if isinstance(action, argparse.BooleanOptionalAction) else action.type
        assert flag_type is type(item.default) and item.metadata["help"] in action.help
        assert f"(default: {item.default})" in action.help


def test_a_flag_overrides_the_recipe():
    recipe, _ = parse(DecoderRecipe, "--recipe", "decoder-novels", "--max-minutes", "2", "--lr", "0.01")
    assert recipe == replace(SHIPPED["decoder-novels"], max_minutes=2.0, lr=0.01)
    assert parse(DecoderRecipe, "--recipe", "decoder-novels")[0] == SHIPPED["decoder-novels"]


def test_bad_recipes_are_errors_that_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"'nope' is not a shipped recipe .*skipthought-uni-novels"):
        load_recipe("nope", EncoderRecipe)
    for values, error in (({"family": "encoder", "dim": 8, "dims": 9}, "unknown recipe field.*dims"),
                          ({"family": "vse", "dim": 8}, "is a recipe for `train vse`, not `train encoder`"),
                          ({"family": "encoder", "dim": "8"}, "dim must be of type int, not '8'"),
                          ({"family": "encoder", "device": "gpu"}, "device must be one of auto, cpu, cuda")):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(values))
        with pytest.raises(ValueError, match=f"{re.escape(str(path))}.*{error}"):
            load_recipe(path, EncoderRecipe)
