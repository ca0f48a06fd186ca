"""Training recipes: frozen dataclasses whose fields carry their help text, kept as small JSON files chosen
by name (`recipes/<name>.json`, one per shipped model), and turned into a trainer's command-line flags.

A flag's name, type, default and help all come from the one dataclass field (`dim_word` is `--dim-word`),
so help and defaults cannot drift from the recipe. A recipe file names its family (the `storyteller
train` command it is for) and holds recipe fields only; flags given on the command line override it.
"""

import argparse
import json
from dataclasses import Field, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

RECIPES = Path(__file__).with_name("recipes")
FAMILY_KEY = "family"
R = TypeVar("R")


def option(default: Any, help: str, choices: tuple[str, ...] = ()) -> Any:
    """A recipe field with the help text of its flag (and the only values it may take, if it has a fixed set)."""
    return field(default=default, metadata={"help": help, "choices": choices})


def _flag(item: Field) -> str:
    return "--" + item.name.replace("_", "-")


def shipped_recipes(recipe_type: type) -> list[str]:
    """Names of the shipped recipes of `recipe_type`'s family."""
    return sorted(path.stem for path in RECIPES.glob("*.json")
                  if json.loads(path.read_text(encoding="utf-8")).get(FAMILY_KEY) == recipe_type.family)


def _recipe_path(ref: str | Path, recipe_type: type) -> Path:
    path = Path(ref)
    if path.suffix == ".json" or len(path.parts) > 1:
        if not path.is_file():
            raise FileNotFoundError(f"--recipe {ref}: no such file")
        return path
    shipped = RECIPES / f"{ref}.json"
    if not shipped.is_file():
        raise ValueError(f"--recipe {ref!r} is not a shipped recipe (those of `train {recipe_type.family}`: "
                         f"{', '.join(shipped_recipes(recipe_type)) or 'none'}) nor a path to a .json file")
    return shipped


def _checked(path: Path, item: Field, kind: type, value: Any) -> Any:
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind:
        raise ValueError(f"{path}: {item.name} must be of type {kind.__name__}, not {value!r}")
    if item.metadata.get("choices") and value not in item.metadata["choices"]:
        raise ValueError(f"{path}: {item.name} must be one of {', '.join(item.metadata['choices'])}, not {value!r}")
    return value


def load_recipe(ref: str | Path, recipe_type: type[R]) -> R:
    """The recipe named `ref` (a shipped recipe's name, or a path to a .json file); every error names the file."""
    path = _recipe_path(ref, recipe_type)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold one JSON object of recipe fields")
    family = values.pop(FAMILY_KEY, None)
    if family != recipe_type.family:
        raise ValueError(f"{path} is a recipe for `train {family}`, not `train {recipe_type.family}` "
                         f"(its {FAMILY_KEY!r} says which)")
    known = {item.name: item for item in fields(recipe_type)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{path}: unknown recipe field(s) {', '.join(unknown)}; a {family} recipe has "
                         f"{', '.join(known)}")
    kinds = get_type_hints(recipe_type)
    try:
        return recipe_type(**{name: _checked(path, known[name], kinds[name], v) for name, v in values.items()})
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def add_recipe_flags(parser: argparse.ArgumentParser, recipe_type: type) -> None:
    """`--recipe` and one flag per recipe field. A flag left out is absent from the parsed arguments, so
    only the flags given override the recipe."""
    shipped = ", ".join(shipped_recipes(recipe_type))
    parser.add_argument("--recipe", help=f"a shipped recipe ({shipped}) or a .json recipe file; the flags below "
                        "override its values (without it, their defaults apply)")
    group = parser.add_argument_group("recipe", "training settings; a rerun with the same ones resumes")
    kinds = get_type_hints(recipe_type)
    for item in fields(recipe_type):
        help_text = item.metadata["help"].replace("%", "%%")
        if kinds[item.name] is bool:  # --flag / --no-flag: bool("false") would be True
            group.add_argument(_flag(item), action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=f"{help_text} (default: {item.default})")
            continue
        group.add_argument(_flag(item), type=kinds[item.name], default=argparse.SUPPRESS,
                           choices=item.metadata["choices"] or None, help=f"{help_text} (default: {item.default})")


def recipe_from_args(args: argparse.Namespace, recipe_type: type[R]) -> R:
    """The recipe of `--recipe` (or the defaults), with the recipe flags given on the command line."""
    recipe = load_recipe(args.recipe, recipe_type) if args.recipe else recipe_type()
    return replace(recipe, **{item.name: getattr(args, item.name) for item in fields(recipe_type)
                              if hasattr(args, item.name)})
