"""`storyteller status`: every artifact of a workspace, its rows, model, freshness and size."""

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add `status` to the top-level commands."""
    p = commands.add_parser(
        "status", help="list the workspace's artifacts and whether each is current",
        description="Lists corpora, vocabularies, vectors, features, styles, models, caption indexes and story "
                    "runs with their rows, the model each was made with, its state (current; stale: an input "
                    "changed since; incomplete: an interrupted run) and its size on disk. Reads only.")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table (default: table)")
    p.set_defaults(run=run_status)


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return ""


def run_status(args: argparse.Namespace, beam_args: list[str]) -> None:
    from flows.cli.report import table
    from pipelines.core.workspace_status import as_json, workspace_status

    found = workspace_status(args.workspace)
    if args.json:
        print(as_json(found))
        return
    rows = [[s.kind, s.name, "" if s.rows is None else f"{s.rows:,}", s.model, s.state, _size(s.bytes), s.note]
            for s in found]
    print(table(["kind", "artifact", "rows", "model", "state", "size", "note"], rows) if rows
          else f"{args.workspace} holds no artifacts yet")
