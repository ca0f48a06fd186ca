"""Benchmark: the encode and stories jobs on the local runner vs a local Dask cluster, and with the workspace on
disk vs on an S3 store, over the same inputs in one process.

The cluster is a dask.distributed scheduler and --workers worker processes (one thread each) on 127.0.0.1;
the local runner is the default (one in-process worker, torch on every core). The store is a moto S3 server
on 127.0.0.1 started here, unless --s3 names a prefix of a real bucket (AWS_* from the environment). Every
run writes into a workspace of its own, so none is skipped as already done; corpora, the caption index and
the styles are prepared untimed. Prints rows/s of each run and the ratios, then where the time goes: the
cost of an empty job on the cluster (scheduling), and the store's share (reading the corpus, writing the
vectors) measured alone.
"""

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pyarrow as pa

from data_schemas import CAPTIONS
from data_schemas.shards import read_artifact, shard_paths, write_table_atomic
from data_schemas.storage import Location, location, read_parquet
from data_schemas.workspace import Workspace
from pipelines import encode
from pipelines.corpus import captions

DASK_RUNNER = "--runner=DaskRunner"
LOCAL: list[str] = []  # the default local runner


def split_captions(source: Path, out: Path, files: int, limit: int) -> str:
    """`limit` captions of a Flickr8k-style CSV in `files` CSV files (one shard each): a glob of them. The
    captions repeat when `limit` is more than the file holds (speed does not depend on which they are)."""
    header, *lines = source.read_text().splitlines()
    lines = (lines * -(-limit // len(lines)))[:limit]
    out.mkdir(parents=True, exist_ok=True)
    per = -(-len(lines) // files)
    for number in range(files):
        (out / f"part{number:03d}.csv").write_text("\n".join([header, *lines[number * per:(number + 1) * per]]) + "\n")
    return str(out / "*.csv")


def timed(run: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def encode_rate(pattern: str, workspace: Location, encoder: Path, beam_args: list[str]) -> tuple[int, float]:
    """Rows and seconds of the encode job alone (its corpus made first, untimed)."""
    captions.run(pattern, "caps", workspace, captions.CaptionParams("csv"), LOCAL)
    params = encode.EncodeParams(str(encoder), device="cpu")
    report, seconds = timed(lambda: encode.run(params, "caps", "captions", workspace, beam_args))
    return report.rows["vectors"], seconds


def empty_job_seconds(beam_args: list[str], elements: int) -> float:
    """A job that does nothing over `elements` elements: what the runner itself costs (the jobs' own
    local default: one in-process worker)."""
    import apache_beam as beam

    from pipelines.core.beam_options import local_defaults, make_pipeline

    def run() -> None:
        with make_pipeline(local_defaults(beam_args)) as pipeline:
            _ = pipeline | beam.Create(list(range(elements))) | beam.Reshuffle() | beam.Map(lambda x: x)

    return timed(run)[1]


def store_share(disk: Path, store: Location, encoder_id: str) -> dict[str, float]:
    """Seconds to read the corpus and write the vectors alone, on disk and on the store."""
    shares = {}
    for where, root in (("disk", disk), ("store", store)):
        ws = Workspace(root)
        _, read_seconds = timed(lambda ws=ws: read_artifact(ws.corpus_part("caps", "captions"), CAPTIONS))
        vectors = pa.concat_tables(read_parquet(path) for path in
                                   shard_paths(Workspace(disk).vectors(encoder_id, "caps", "captions")))
        target = ws.root / "bench-write" / "part-00000-of-00001.parquet"
        _, write_seconds = timed(lambda target=target, vectors=vectors: write_table_atomic(vectors, target))
        shares[f"{where} read corpus"], shares[f"{where} write vectors"] = read_seconds, write_seconds
    return shares


def prepare_stories_workspace(root: Location, pattern: str, demo: Path, vse: Path) -> None:
    """A small stories workspace: the captions corpus, its caption index, and the demo's style vectors."""
    from pipelines.index import build

    captions.run(pattern, "caps", root, captions.CaptionParams("csv"), LOCAL)
    build.run(str(vse), ["caps"], root, name="caps", device="cpu", beam_args=LOCAL)
    styles = demo / "styles"
    for file in styles.rglob("*"):
        if file.is_file():
            target = location(root) / "styles" / file.relative_to(styles).as_posix()
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.read_bytes())


def stories_rate(root: Location, photos: list[str], decoder: Path, style: str,
                 beam_args: list[str]) -> tuple[int, float]:
    from model.decoder.beam_search import SearchOptions
    from pipelines.stories import job as stories
    from pipelines.stories.batch import StoryParams

    models = stories.resolve_models(root, str(decoder), "caps", None, None, None)
    params = StoryParams(style, k=20, search=SearchOptions.for_mode("original", beam_width=5, max_len=60))
    out = location(root) / "stories" / f"run-{time.monotonic_ns()}"
    report, seconds = timed(lambda: stories.run(photos, out, root, models, params, stories.JobParams(),
                                                beam_args, gallery=False))
    return report.stage.stats.get("records_out", 0), seconds


def line(label: str, rows: int, seconds: float) -> float:
    rate = rows / seconds
    print(f"{label:<34} {rows:>7,} rows in {seconds:7.1f} s  {rate:9.1f} rows/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("--encoder", type=Path, default=Path("trained/skipthought-uni-novels"), help="encoder model")
    parser.add_argument("--decoder", type=Path, default=Path("trained/decoder-novels"), help="decoder model")
    parser.add_argument("--vse", type=Path, default=Path("trained/vse-flickr8k-1000"), help="VSE of the caption index")
    parser.add_argument("--demo", type=Path, default=Path("workspace/demo"), help="a workspace whose styles/ to use")
    parser.add_argument("--style", default="romance", help="style of the stories")
    parser.add_argument("--captions", type=int, default=40000,
                        help="captions to encode, Flickr8k's 5,000 repeated as needed (default 40000)")
    parser.add_argument("--shards", type=int, default=8, help="caption files, one shard each (default 8)")
    parser.add_argument("--photos", type=int, default=64, help="photos to tell stories of (default 64; 0 skips)")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes (default 2)")
    parser.add_argument("--s3", help="a real s3://bucket/prefix to use instead of a moto server (AWS_* set)")
    args = parser.parse_args()

    from dask import distributed

    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-bench-")))
        if args.s3:
            bucket = args.s3.rstrip("/")
        else:
            import sys

            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' moto server, shared
            from tests.s3_server import s3_server

            bucket = stack.enter_context(s3_server())
        started = time.perf_counter()
        cluster = stack.enter_context(distributed.LocalCluster(
            host="127.0.0.1", n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None))
        print(f"Dask cluster: {args.workers} worker processes, started in {time.perf_counter() - started:.1f} s "
              "(not counted below)")
        dask = [DASK_RUNNER, f"--dask_client_address={cluster.scheduler_address}"]
        pattern = split_captions(args.shared / "images" / "flickr8k_1000" / "captions.txt", scratch / "captions",
                                 args.shards, args.captions)
        encoder_id = encode.model_id(str(args.encoder))
        print(f"\nencode job: {args.captions:,} captions in {args.shards} shards, encoder {args.encoder}")
        runs = {
            "disk, local runner": (scratch / "enc-local", LOCAL),
            "disk, Dask cluster": (scratch / "enc-dask", dask),
            "S3, local runner": (location(f"{bucket}/enc-local"), LOCAL),
            "S3, Dask cluster": (location(f"{bucket}/enc-dask"), dask),
        }
        rates = {label: line(f"encode, {label}", *encode_rate(pattern, root, args.encoder, flags))
                 for label, (root, flags) in runs.items()}
        print(f"encode Dask/local (disk): {rates['disk, Dask cluster'] / rates['disk, local runner']:.2f}x; "
              f"S3/disk (local runner): {rates['S3, local runner'] / rates['disk, local runner']:.2f}x; "
              f"S3/disk (Dask): {rates['S3, Dask cluster'] / rates['disk, Dask cluster']:.2f}x")

        print("\nwhere the time goes")
        for label, flags in (("local runner", LOCAL), ("Dask cluster", dask)):
            print(f"  empty job, {args.shards} elements, {label}: {empty_job_seconds(flags, args.shards):6.2f} s")
        for label, seconds in store_share(scratch / "enc-local", location(f"{bucket}/enc-local"), encoder_id).items():
            print(f"  {label}: {seconds:6.2f} s")

        if args.photos and (args.demo / "styles").is_dir():
            photos = sorted(str(p) for p in (args.shared / "images" / "flickr8k_1000" / "images").glob("*.jpg"))
            photos = photos[:args.photos]
            print(f"\nstories job: {len(photos)} photos, k=20, beam 5, index of {args.captions:,} captions")
            roots = {"disk": scratch / "stories", "S3": location(f"{bucket}/stories")}
            for root in roots.values():
                prepare_stories_workspace(root, pattern, args.demo, args.vse)
            story_rates = {}
            for where, root in roots.items():
                # The first run in a workspace also embeds the index captions with the encoder: untimed.
                stories_rate(root, photos[:1], args.decoder, args.style, LOCAL)
                for label, flags in (("local runner", LOCAL), ("Dask cluster", dask)):
                    story_rates[(where, label)] = line(f"stories, {where}, {label}",
                                                       *stories_rate(root, photos, args.decoder, args.style, flags))
            print(f"stories Dask/local (disk): "
                  f"{story_rates[('disk', 'Dask cluster')] / story_rates[('disk', 'local runner')]:.2f}x; "
                  f"S3/disk (local runner): "
                  f"{story_rates[('S3', 'local runner')] / story_rates[('disk', 'local runner')]:.2f}x")
        elif args.photos:
            print(f"\nstories job skipped: {args.demo / 'styles'} is missing (run `make demo` first)")
        shutil.rmtree(scratch / "captions", ignore_errors=True)


if __name__ == "__main__":
    from pipelines.core.logs import configure_logging

    configure_logging()
    main()
