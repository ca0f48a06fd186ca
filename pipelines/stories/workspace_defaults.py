"""WS/defaults.json: the story settings the end-to-end flow (and so `make demo`) ran with: its decoder,
encoder and caption index, styles, k and search. `storyteller stories --images DIR --workspace WS --out DIR`
takes every setting it is not given from there, so it tells stories as that run did.

Model folders inside the workspace are kept relative to it (the workspace can move, to a store and back);
others, such as the shipped models in trained/, as absolute paths or URLs."""

import json
from pathlib import Path
from typing import Any

from data_schemas.atomic import write_json_atomic
from data_schemas.storage import Location, is_remote, is_url, location
from pipelines.core.dry_run import dry_run_enabled, print_plan
from pipelines.stories.batch import StoryParams

DEFAULTS_FILE = "defaults.json"
FOLDERS = ("decoder", "encoder", "index")
SEARCH = ("search", "beam_width", "max_len", "length_penalty", "no_repeat_ngram", "top_p", "temperature")
KEYS = (*FOLDERS, "cnn", "weights", "style", "caption_style", "k", *SEARCH)


def defaults_path(workspace: str | Location) -> Location:
    return location(workspace) / DEFAULTS_FILE


def story_defaults(workspace: str | Location, folders: dict[str, str | Location], params: StoryParams,
                   cnn: str | None = None, weights: str | None = None) -> dict[str, Any]:
    """The settings of a story run, keyed by the `stories` flags they fill (`beam_width` is --beam-width)."""
    root = location(workspace)
    search = params.search
    settings = {name: _relative(root, location(folder)) for name, folder in folders.items()}
    settings |= {"cnn": cnn, "weights": weights, "style": params.style, "caption_style": params.caption_style,
                 "k": params.k, "search": search.mode, "beam_width": search.beam_width, "max_len": search.max_len,
                 "length_penalty": search.length_penalty, "no_repeat_ngram": search.no_repeat_ngram,
                 "top_p": search.top_p, "temperature": search.temperature}
    return {key: value for key, value in settings.items() if value is not None}


def _relative(root: Location, folder: Location) -> str:
    """`folder` relative to the workspace when inside it; a URL compares as text, since a store has no links
    to resolve (and resolving one would read it as a local path)."""
    if is_remote(root) or is_remote(folder):
        return str(folder).removeprefix(str(root).rstrip("/") + "/")
    root, folder = root.resolve(), folder.resolve()
    return str(folder.relative_to(root)) if folder.is_relative_to(root) else str(folder)


def write_defaults(workspace: str | Location, settings: dict[str, Any]) -> Location:
    """Write the settings unless the file already holds them (a rerun that changed nothing writes nothing)."""
    path = defaults_path(workspace)
    unknown = sorted(set(settings) - set(KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    if _current(path) == settings:
        return path
    if dry_run_enabled():
        print_plan("defaults", "would write", [str(path)])
    else:
        write_json_atomic(path, settings)
    return path


def _current(path: Location) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_defaults(workspace: str | Location) -> dict[str, Any]:
    """The recorded settings ({} without the file), model folders as paths under the workspace."""
    path = defaults_path(workspace)
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}): fix it or delete it (the pipeline flow rewrites "
                         "it)") from None
    if not isinstance(settings, dict) or (unknown := sorted(set(settings) - set(KEYS))):
        raise ValueError(f"{path}: expected a JSON object of the settings {', '.join(KEYS)}"
                         + (f", not {', '.join(unknown)}" if isinstance(settings, dict) else ""))
    return {key: _under(location(workspace), value) if key in FOLDERS else value for key, value in settings.items()}


def _under(root: Location, folder: str) -> str:
    """A recorded folder as a path: relative ones under the workspace, absolute paths and URLs as recorded."""
    return folder if is_url(folder) or Path(folder).is_absolute() else str(root / folder)


def fill(given: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """The recorded settings for those not given (None). The recorded search settings belong to the recorded
    search mode: they fill in only when no other mode was given."""
    same_search = given.get("search") in (None, recorded.get("search"))
    return {key: value for key, value in recorded.items()
            if given.get(key) is None and (key not in SEARCH or same_search)}
