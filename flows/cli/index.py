"""`storyteller index` and `storyteller retrieve`."""

import argparse

from flows.cli.parser import add_dry_run, later, runs_beam, workspace_location
from flows.cli.report import print_stage, table


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add this stage's subcommands to the top level, to `train` and to `convert`."""
    p = commands.add_parser("index", help="embed captions with a VSE and build a FAISS caption index", epilog=epilog)
    later(p, _add_index_options)
    _add_retrieve(commands)


def _add_index_options(p: argparse.ArgumentParser) -> None:
    from pipelines.index import build as index

    p.add_argument("--vse", required=True, help="VSE model folder (a path or a URL), or its id under WS/models")
    p.add_argument("--corpus", required=True, help="caption corpus name(s), comma-separated")
    p.add_argument("--workspace", required=True, help="root folder of all artifacts")
    p.add_argument("--name", help="index name: output goes to index/VSE/NAME (default: corpora joined by '+')")
    defaults = index.IndexParams()
    p.add_argument("--exact-max", type=int, default=defaults.exact_max,
                   help="exact inner-product search up to this many captions, an IVF index above")
    p.add_argument("--target-recall", type=float, default=defaults.target_recall,
                   help="recall@10 against exact search that the IVF probe count is tuned to reach")
    p.add_argument("--recall-queries", type=int, default=defaults.recall_queries,
                   help="captions sampled to measure recall@10")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed of the k-means and recall samples")
    p.add_argument("--index-factory", metavar="STRING",
                   help="a faiss.index_factory string to build instead of the automatic choice, e.g. HNSW32 or "
                        "IVF4096,PQ32x8; its probe count or efSearch is tuned to --target-recall like the automatic "
                        "one's, and --exact-max is ignored (default: Flat up to --exact-max captions, "
                        "IVF<about sqrt N>,Flat above)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where captions are embedded")
    add_dry_run(p)
    runs_beam(p)
    p.set_defaults(run=run_index)


def run_index(args: argparse.Namespace, beam_args: list[str]) -> None:
    from pipelines.index import build as index

    params = index.IndexParams(args.exact_max, args.target_recall, args.recall_queries, args.seed,
                               factory=args.index_factory)
    corpora = [c for c in args.corpus.split(",") if c]
    report = index.run(args.vse, corpora, args.workspace, params, args.name, args.device, beam_args)
    for embedded in report.embedded:
        print_stage(embedded)
    meta = report.meta
    state = "unchanged, skipped" if report.start.value == "done" else "built"
    print(f"index {report.folder}: {state}")
    recall = meta["recall"]
    print(table(["captions", "dim", "index", "nprobe", f"recall@{recall['k']}", "queries", "build s"],
                [[meta["captions"], meta["dim"], meta["index"]["factory"], meta["index"]["nprobe"],
                  recall[f"recall@{recall['k']}"], recall["queries"], meta["seconds"]["build"]]]))


def _add_retrieve(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "retrieve", help="the top-k captions of a caption index for each image",
        description="Images -> CNN features -> the index's VSE -> top-k captions, one row per (image, rank) in "
                    "--out; unreadable images go to <out stem>.rejects.parquet with a reason.")
    later(p, _add_retrieve_options)


def _add_retrieve_options(p: argparse.ArgumentParser) -> None:
    from model.cnn.registry import IMAGE_MODELS
    from pipelines.index import retrieve

    p.add_argument("--index", required=True,
                   help="index folder (a path, or a URL such as s3://bucket/ws/index/VSE/NAME), or its name under "
                        "WS/index/VSE/")
    p.add_argument("--images", required=True,
                   help="an image, a folder of images, a glob, or a text file listing image paths")
    p.add_argument("--k", type=int, default=retrieve.RetrieveParams.k, help="captions per image")
    p.add_argument("--out", type=workspace_location, required=True,
                   help="output Parquet file, on disk or on an object store (s3://bucket/found.parquet)")
    p.add_argument("--workspace", help="root folder of all artifacts (to find --index by name)")
    p.add_argument("--cnn", choices=sorted(IMAGE_MODELS),
                   help="image CNN (default: the one the index's VSE was trained on)")
    p.add_argument("--weights", help="CNN state dict (default: the CNN's packaged weights)")
    p.add_argument("--batch-size", type=int, default=retrieve.RetrieveParams.batch_size, help="images per forward pass")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the CNN and the VSE run: auto = the GPU when there is one")
    add_dry_run(p)
    p.set_defaults(run=run_retrieve)


def run_retrieve(args: argparse.Namespace, beam_args: list[str]) -> None:
    from pipelines.index import retrieve

    params = retrieve.RetrieveParams(args.k, args.cnn, args.weights, args.device, args.batch_size)
    report = retrieve.run(args.index, args.images, args.out, args.workspace, params)
    balance = "ok" if report.images_in == report.images_out + report.images_rejected else "MISMATCH"
    print(f"retrieve: index {report.index} (VSE {report.vse}, CNN {report.cnn}) -> {args.out}")
    print(table(["images in", "answered", "rejected", "balance", "rows", "seconds"],
                [[report.images_in, report.images_out, report.images_rejected, balance, report.rows,
                  f"{report.seconds:.1f}"]]))
    from pipelines.core.all_rejected import check_some_kept

    check_some_kept("retrieve", {"records_out": report.images_out, "records_rejected": report.images_rejected},
                    retrieve.rejects_path(args.out))
