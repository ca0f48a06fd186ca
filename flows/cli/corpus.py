"""`storyteller corpus novels|captions` and `storyteller vocab`: the corpus stage's commands."""

import argparse
from pathlib import Path

from flows.cli.parser import add_dry_run, later, runs_beam
from flows.cli.report import print_stage, table


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add `corpus novels`, `corpus captions` and `vocab` to the top-level commands."""
    corpus = commands.add_parser("corpus", help="build tokenised corpora")
    kinds = corpus.add_subparsers(dest="kind", required=True)
    _add_novels(kinds, epilog)
    _add_captions(kinds, epilog)
    v = commands.add_parser("vocab", help="vocabulary over corpora", epilog=epilog)
    v.add_argument("--corpus", required=True, help="corpus name(s), comma-separated")
    v.add_argument("--size", type=int, required=True, help="vocabulary size including <eos> and UNK")
    v.add_argument("--name", help="vocabulary name (default: corpora joined by '+')")
    _workspace(v)
    _stage(v)
    v.set_defaults(run=_run_vocab)


def _workspace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")


def _stage(parser: argparse.ArgumentParser) -> None:
    add_dry_run(parser)
    runs_beam(parser)


def _add_novels(sub: argparse._SubParsersAction, epilog: str) -> None:
    p = sub.add_parser("novels", help="novels (.txt/.txt.gz) to sentences and passages", epilog=epilog)
    p.add_argument("--input", required=True,
                   help="file, folder or glob of .txt/.txt.gz novels, on disk or on an object store "
                        "(s3://bucket/books/*.txt.gz)")
    p.add_argument("--name", required=True, help="corpus name: output goes to corpora/NAME/")
    _workspace(p)
    p.add_argument("--min-passage-tokens", type=int, default=100, help="a passage closes once it has this many tokens")
    p.add_argument("--max-passage-tokens", type=int, default=150, help="a passage avoids growing past this")
    p.add_argument("--max-paragraph-chars", type=int, default=20_000, help="longer paragraphs are rejected")
    p.add_argument(
        "--max-sentence-tokens",
        type=int,
        default=1000,
        help="a paragraph with a longer sentence is rejected (failed splitting)",
    )
    _stage(p)
    p.set_defaults(run=_run_novels)


def _add_captions(sub: argparse._SubParsersAction, epilog: str) -> None:
    p = sub.add_parser("captions", help="caption files to tokenised captions", epilog=epilog)
    later(p, _captions_options)
    runs_beam(p)
    p.set_defaults(run=_run_captions)


def _captions_options(p: argparse.ArgumentParser) -> None:
    from pipelines.corpus.caption_formats import FORMATS  # it imports pyarrow and fsspec: not at startup

    p.add_argument("--input", required=True,
                   help="caption file or glob, on disk or on an object store (s3://bucket/captions/*.json); one "
                        "shard per file")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="the caption file's layout: the COCO, Flickr8k or Multi30k release's, or csv/jsonl with "
                        "the columns below")
    p.add_argument("--name", required=True, help="corpus name: output goes to corpora/NAME/captions")
    _workspace(p)
    p.add_argument("--split", help="split name for every caption (default: from the source where it says)")
    p.add_argument("--image-splits",
                   help="multi30k: image list file, a path or URL (default: image_splits/ found beside raw/)")
    p.add_argument("--text-column", default="caption", help="csv/jsonl: caption text column")
    p.add_argument("--image-column", default="image", help="csv/jsonl: image id column")
    p.add_argument("--id-column", help="csv/jsonl: caption id column (default: FILE#LINE)")
    p.add_argument("--max-caption-chars", type=int, default=1000, help="longer captions are rejected")
    add_dry_run(p)


def _run_novels(args: argparse.Namespace, beam_args: list[str]) -> None:
    from pipelines.corpus import novels
    from pipelines.text.passages import PassageBounds

    params = novels.NovelParams(
        passages=PassageBounds(args.min_passage_tokens, args.max_passage_tokens),
        max_paragraph_chars=args.max_paragraph_chars,
        max_sentence_tokens=args.max_sentence_tokens,
    )
    print_stage(novels.run(args.input, args.name, args.workspace, params, beam_args))


def _run_captions(args: argparse.Namespace, beam_args: list[str]) -> None:
    from pipelines.corpus import captions
    from pipelines.corpus.caption_formats import CaptionColumns

    params = captions.CaptionParams(
        format=args.format,
        columns=CaptionColumns(args.text_column, args.image_column, args.id_column),
        split=args.split,
        image_splits=args.image_splits,
        max_caption_chars=args.max_caption_chars,
    )
    print_stage(captions.run(args.input, args.name, args.workspace, params, beam_args))


def _run_vocab(args: argparse.Namespace, beam_args: list[str]) -> None:
    from pipelines.corpus import vocab

    corpora = [c for c in args.corpus.split(",") if c]
    report = vocab.run(corpora, args.size, args.workspace, args.name, beam_args)
    state = "unchanged, skipped" if report.skipped else "written"
    print(f"vocab {report.name}: {state} -> {report.path}")
    print(table(["words", "tokens", "sequences"], [[report.words, report.tokens, report.sequences]]))
