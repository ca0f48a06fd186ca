"""The parser of every command: each option and command documented (with its default), unknown flags refused
with a suggestion, --workspace from STORYTELLER_WORKSPACE, --dry-run on every command that writes."""

import argparse
from pathlib import Path

import pytest

from flows.cli.main import parser
from flows.cli.parser import WORKSPACE_ENV, chosen_command, walk

READ_ONLY = {"serve", "status", "completion"}  # every other command writes artifacts


def leaves(root: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    return [(" ".join(path), p) for path, p in walk(root) if "run" in p._defaults]


def test_every_option_and_command_has_help():
    undocumented = []
    for path, p in walk(parser()):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                named = {choice.dest for choice in action._choices_actions if choice.help}
                undocumented += [f"{' '.join(path)} {name}" for name in action.choices if name not in named]
            elif not action.help:
                undocumented.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert undocumented == []


def test_help_states_defaults():
    help_text = chosen_command(root := parser(), root.parse_args(["index", "--vse", "v", "--corpus", "c",
                                                                  "--workspace", "w"])).format_help()
    assert "seed of the k-means and recall samples (default: 0)" in " ".join(help_text.split())


def test_unknown_flag_is_refused_with_a_suggestion(capsys):
    with pytest.raises(SystemExit) as exited:
        from flows.cli.main import main

        main(["decode", "--decoder", "d", "--vectors", "v.npy", "--beam-widht=3"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --beam-widht=3 (did you mean --beam-width?)" in capsys.readouterr().err


def test_workspace_comes_from_the_environment_and_the_flag_wins(monkeypatch, capsys):
    monkeypatch.setenv(WORKSPACE_ENV, "/from/env")
    assert parser().parse_args(["vocab", "--corpus", "c", "--size", "5"]).workspace == Path("/from/env")
    assert parser().parse_args(["vocab", "--corpus", "c", "--size", "5", "--workspace", "ws"]).workspace == Path("ws")
    root = parser()
    taking = [(path, a) for path, p in leaves(root) for a in p._actions if "--workspace" in a.option_strings]
    assert len(taking) > 15 and all(not a.required and a.default == "/from/env" for _, a in taking), taking
    monkeypatch.delenv(WORKSPACE_ENV)
    with pytest.raises(SystemExit):
        parser().parse_args(["vocab", "--corpus", "c", "--size", "5"])
    assert f"required: --workspace (or set ${WORKSPACE_ENV}" in capsys.readouterr().err


def test_every_command_that_writes_has_dry_run():
    commands = leaves(parser())
    assert {path for path, p in commands if "--dry-run" not in p._option_string_actions} == READ_ONLY
    assert len(commands) > 25
    assert parser().parse_args(["export", "--model", "m", "--out", "o", "--dry-run"]).dry_run
