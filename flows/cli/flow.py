"""`storyteller flow NAME --params FILE.json` (one Prefect flow run) and `storyteller serve` (schedules).

Prefect is imported only when one of these commands runs: it adds seconds to the start of every other
command, and its settings (PREFECT_HOME above all) are read once, when it loads.
"""

import argparse
import importlib
import json
import os
from pathlib import Path
from typing import Any

from flows.cli.parser import add_dry_run, runs_beam
from flows.cli.report import table

FLOWS = {  # command name -> module:flow
    "corpus-novels": "flows.prefect.stage_flows:corpus_novels_flow",
    "corpus-captions": "flows.prefect.stage_flows:corpus_captions_flow",
    "vocab": "flows.prefect.stage_flows:vocab_flow",
    "train-words": "flows.prefect.stage_flows:train_words_flow",
    "train-encoder": "flows.prefect.stage_flows:train_encoder_flow",
    "encode": "flows.prefect.stage_flows:encode_flow",
    "style": "flows.prefect.stage_flows:style_flow",
    "features": "flows.prefect.stage_flows:features_flow",
    "train-vse": "flows.prefect.stage_flows:train_vse_flow",
    "fuse-vse": "flows.prefect.stage_flows:fuse_vse_flow",
    "index": "flows.prefect.stage_flows:index_flow",
    "train-decoder": "flows.prefect.stage_flows:train_decoder_flow",
    "stories": "flows.prefect.stage_flows:stories_flow",
    "bulk-stories": "flows.prefect.bulk_stories:bulk_stories_flow",
    "restyle": "flows.prefect.restyle:restyle_flow",
    "pipeline": "flows.prefect.pipeline:pipeline_flow",
}
PREFECT_NOTE = ("Prefect keeps its database, results and caches in PREFECT_HOME (default here: WS/.prefect) and "
                "runs offline on its own temporary API unless PREFECT_API_URL names a server. For a workspace on an "
                "object store (s3://bucket/prefix) the stage results and cache records go to WS/.prefect/results on "
                "the store, where every host sees them, while PREFECT_HOME (its SQLite database cannot live on a "
                "store) defaults to $STORYTELLER_CACHE/prefect on this machine (~/.cache/storyteller/prefect).")


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add `flow` and `serve` to the top-level commands."""
    p = commands.add_parser(
        "flow", epilog=f"{epilog} {PREFECT_NOTE}", help="run one Prefect flow (a stage, restyle, stories, pipeline)",
        description="Runs a flow once with the parameters of a JSON file (keys = the flow's parameter names, "
                    "see flows/*.py); Beam flags on the command line become its beam_args. Stages whose inputs "
                    "did not change answer from Prefect's cache. Flows: " + ", ".join(FLOWS))
    p.add_argument("name", choices=sorted(FLOWS), help="which flow")
    p.add_argument("--params", type=Path, required=True, help="JSON object of the flow's parameters")
    add_dry_run(p)
    runs_beam(p)
    p.set_defaults(run=run_flow)
    s = commands.add_parser(
        "serve", epilog=f"{PREFECT_NOTE}\n\n{SEVERAL_HOSTS}", formatter_class=argparse.RawDescriptionHelpFormatter,
        help="serve the nightly style recomputation and hourly stories on schedules",
        description="Registers the deployments restyle/nightly-restyle and bulk-stories/hourly-stories with cron "
                    "schedules and runs them from this process until Ctrl-C. Without PREFECT_API_URL it starts a "
                    "local Prefect server (scheduler and UI) on 127.0.0.1 for as long as it runs. With --work-pool "
                    "it registers them with a work pool of a shared server instead, for workers on other hosts.")
    s.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    s.add_argument("--restyle", type=Path, help="JSON parameters of the restyle flow (encoder, corpora, styles)")
    s.add_argument("--stories", type=Path,
                   help="JSON parameters of the bulk-stories flow (out, models, params, job); needs --watch")
    s.add_argument("--watch", help="folder whose new images get stories on every stories run")
    s.add_argument("--restyle-cron", help="cron of restyle runs (default: '0 3 * * *', 03:00 daily)")
    s.add_argument("--stories-cron", help="cron of stories runs (default: '0 * * * *', hourly)")
    s.add_argument("--timezone", help="IANA time zone the crons are read in (default: UTC)")
    s.add_argument("--work-pool", metavar="NAME",
                   help="register the deployments with this process work pool of the server PREFECT_API_URL names "
                        "and return; its workers run them (default: none, serve them from this process)")
    s.set_defaults(run=run_serve)


SEVERAL_HOSTS = """On several hosts (workspace on an object store, one Prefect server, workers anywhere):
  server host, once:  prefect server start --host 0.0.0.0            (API, scheduler and UI on port 4200)
  every host:         export PREFECT_API_URL=http://SERVER:4200/api
                      export AWS_ENDPOINT_URL=... AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \\
                             AWS_DEFAULT_REGION=...                  (the same store for every host)
  once:               prefect work-pool create --type process storyteller
                      storyteller serve --workspace s3://bucket/ws --restyle R.json --work-pool storyteller
  each worker host:   pip install -e . (a checkout of the same commit), then
                      prefect worker start --pool storyteller
Each worker runs the flow runs it picks up in subprocesses with its own environment. The stage results and
caches are at s3://bucket/ws/.prefect/results, shared by every worker; artifacts and logs go to the server.
Beam jobs inside the flows run where their beam_args say (e.g. --runner=DaskRunner --dask_client_address=HOST:8786)."""


def prefect_defaults(workspace: Any) -> None:
    """Offline defaults, set before Prefect loads; anything the user exported wins. WORKSPACE: a folder, a
    store URL (or UPath), or None. A stored workspace's Prefect home is local: SQLite needs a file on this disk."""
    from data_schemas.storage import cache_root, is_remote

    if workspace and not os.environ.get("PREFECT_API_URL"):
        home = cache_root() / "prefect" if is_remote(workspace) else Path(workspace).resolve() / ".prefect"
        if os.environ.setdefault("PREFECT_HOME", str(home)) == str(home):
            # Prefect creates only the last folder of its home: in a new workspace it warned "Failed to
            # create the Prefect home directory" and its temporary server could not open its database.
            home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _read_json(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{what} {path}: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path}: expected a JSON object of parameter names to values")
    return data


def print_result(result: Any) -> None:
    summaries = result if isinstance(result, list) else getattr(result, "summaries", [result])
    rows = [[s.stage, s.action, s.rows_in, s.rows_out, s.rejected, f"{s.seconds:.1f}"] for s in summaries]
    print(table(["stage", "action", "in", "out", "rejected", "seconds"], rows))
    for summary in summaries:
        if summary.details.get("gallery"):
            print(f"stories: {summary.details['jsonl']}, gallery: {summary.details['gallery']}")


def run_flow(args: argparse.Namespace, beam_args: list[str]) -> None:
    parameters = _read_json(args.params, "--params")
    prefect_defaults(parameters.get("workspace"))
    from prefect.exceptions import ParameterTypeError

    module, name = FLOWS[args.name].split(":")
    flow = getattr(importlib.import_module(module), name)
    if beam_args:
        if "beam_args" not in flow.parameters.properties:
            raise ValueError(f"flow {args.name} runs no Beam job: it takes no Beam flags ({beam_args})")
        parameters["beam_args"] = [*parameters.get("beam_args", []), *beam_args]
    try:
        flow.validate_parameters(parameters)
    except ParameterTypeError as error:
        raise ValueError(f"--params {args.params}: {error}") from None
    print_result(flow(**parameters))


def run_serve(args: argparse.Namespace, beam_args: list[str]) -> None:
    prefect_defaults(args.workspace)
    from flows.prefect import serve

    made = serve.deployments(args.workspace, _read_json(args.restyle, "--restyle"),
                             _read_json(args.stories, "--stories"), args.watch,
                             args.restyle_cron or serve.RESTYLE_CRON, args.stories_cron or serve.STORIES_CRON,
                             args.timezone)
    if args.work_pool:
        serve.deploy_to_pool(made, args.work_pool)
        print(f"storyteller serve: {', '.join(f'{d.flow_name}/{d.name}' for d in made)} registered with work pool "
              f"{args.work_pool}; `prefect worker start --pool {args.work_pool}` runs them")
        return
    serve.serve(made)
