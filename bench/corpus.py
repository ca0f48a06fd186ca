"""Benchmark: the novels Beam job vs a plain single-process loop doing the same work.

Both read, clean, split, tokenise and write the same shards; words/s counts whitespace words of
the input files. Prints both rates and their ratio, measured in this run on this machine.
"""

import argparse
import glob
import tempfile
import time
from pathlib import Path

from pipelines.core.sharded_job import WriteShard
from pipelines.core.stage_run import plan_tasks
from pipelines.corpus import novels
from pipelines.text.encodings import read_text


def plain_loop(sources: list[str], workspace: Path) -> None:
    """The same functions the Beam job runs, called one after another in this process."""
    params = novels.NovelParams()
    outputs = novels.output_folders(workspace, "plain")

    def assemble(task, chunks):
        return novels.assemble_book(task, chunks, params, outputs["sentences"], outputs["passages"])

    write = WriteShard(assemble, outputs["rejects"], [outputs["sentences"], outputs["passages"]])
    for task in plan_tasks(sources):
        chunks = [novels.tokenize_paragraphs(chunk, params) for chunk in novels.read_book(task, params)]
        list(write.process((task.index, chunks)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--novels", default="../shared/data/novels/*/*.txt.gz", help="glob of novels")
    parser.add_argument("beam_args", nargs="*", help="Beam flags for the pipeline run (default: all cores)")
    args = parser.parse_args()
    sources = sorted(glob.glob(args.novels))
    if not sources:
        raise SystemExit(f"no novels match {args.novels}")
    words = sum(len(read_text(path).text.split()) for path in sources)
    with tempfile.TemporaryDirectory() as temp:
        started = time.perf_counter()
        plain_loop(sources, Path(temp) / "plain")
        plain = time.perf_counter() - started
        started = time.perf_counter()
        report = novels.run(args.novels, "beam", Path(temp) / "beam", beam_args=args.beam_args)
        beam_seconds = time.perf_counter() - started
    print(f"novels: {len(sources)} files, {words:,} words, {report.rows['sentences']:,} sentences")
    print(f"plain loop : {plain:7.1f} s  {words / plain:10,.0f} words/s")
    print(f"beam job   : {beam_seconds:7.1f} s  {words / beam_seconds:10,.0f} words/s")
    print(f"ratio beam/plain: {plain / beam_seconds:.2f}x (target >= 1.3x, whole set < 180 s)")


if __name__ == "__main__":
    from pipelines.core.logs import configure_logging

    configure_logging()
    main()
