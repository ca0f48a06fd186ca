"""`storyteller decode`: conditioning vectors (the rows of a .npy) to stories, with a decoder model
and batched beam search or sampling. Rows in = texts out + rows rejected, always in row order."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from flows.cli.parser import add_dry_run, later, workspace_location
from flows.cli.report import table

if TYPE_CHECKING:
    from model.decoder.beam_search import SearchOptions


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add `decode` to the top-level commands."""
    p = commands.add_parser(
        "decode", help="vectors (rows of a .npy) to stories with a decoder model",
        description="Decodes each row of an (N, dim_ctx) .npy, e.g. style-shifted skip-thought vectors, into one "
                    "text: a JSONL file of {\"row\", \"text\"} records in row order with --out, else one text per "
                    "line on stdout. A row with NaN or infinite values is not decoded: it becomes a {\"row\", "
                    "\"error\"} record (stdout: an empty line, the reason on stderr), so rows in = texts + rejected. "
                    "--search sample seeds each row by its row number: a rerun prints the same texts.")
    later(p, _add_decode_options)


def _add_decode_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decoder", type=workspace_location, required=True, help="decoder model directory (or its URL)")
    p.add_argument("--vectors", type=workspace_location, required=True,
                   help="(N, dim_ctx) float .npy, one vector per row (a path or a URL)")
    add_search_arguments(p)
    p.add_argument("--lyric", action="store_true",
                   help="the original's lyric layout: a line per ','-separated piece (on stdout, a blank line "
                        "between stories)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where to decode (auto: CUDA when there is one)")
    p.add_argument("--batch-size", type=int, default=32, help="rows decoded together (all their beams in one step)")
    p.add_argument("--out", type=workspace_location,
                   help="output .jsonl, a path or a URL (written atomically); default: texts on stdout")
    add_dry_run(p)
    p.set_defaults(run=run_decode)


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    """--search, --beam-width, --max-len, --length-penalty, --no-repeat-ngram, --top-p, --temperature
    (shared with `stories`)."""
    from model.decoder.beam_search import MODES, SAMPLE_DEFAULTS, STORY_SEARCH, SearchOptions

    defaults = SearchOptions()
    p.add_argument("--search", choices=MODES, default=STORY_SEARCH,
                   help="original: the original's beam search and text choice (reference c.3: lowest summed "
                        "cost, shrinking beam); normalized: length-normalised scores, n-gram blocking; "
                        "sample (default): nucleus (top-p) sampling with temperature and n-gram blocking, seeded by "
                        "each text's name (image id, row number), so a rerun writes the same texts")
    p.add_argument("--beam-width", type=int,
                   help=f"beam searches only: beam width (default: {defaults.beam_width}; original: 50, as the "
                        f"original's bw)")
    p.add_argument("--max-len", type=int,
                   help=f"most decoding steps, <eos> included (default: {defaults.max_len}; original: 1000)")
    p.add_argument("--length-penalty", type=float,
                   help=f"normalized only: alpha of the score log p / ((5 + length) / 6) ** alpha "
                        f"(default {defaults.length_penalty}; 0 = raw log-probability)")
    p.add_argument("--no-repeat-ngram", type=int,
                   help=f"normalized and sample: never repeat an n-gram of this size (default "
                        f"{defaults.no_repeat_ngram}; sample: {SAMPLE_DEFAULTS['no_repeat_ngram']}; 0 = off)")
    p.add_argument("--top-p", type=float,
                   help=f"sample only: draw from the fewest most likely words whose probabilities sum to at least "
                        f"this (default {SAMPLE_DEFAULTS['top_p']}; 1 = every word; tiny = greedy)")
    p.add_argument("--temperature", type=float,
                   help=f"sample only: divide the log-probabilities by this before the nucleus is taken (default "
                        f"{SAMPLE_DEFAULTS['temperature']}; below 1 = safer words, above 1 = more varied)")


def search_options(args: argparse.Namespace, beam_width: int | None = None) -> SearchOptions:
    """The options given, each mode's defaults for the rest; `beam_width` overrides the beam
    searches' default width."""
    from model.decoder.beam_search import SearchOptions

    width = beam_width if args.beam_width is None and args.search != "sample" else args.beam_width
    return SearchOptions.for_mode(args.search, beam_width=width, max_len=args.max_len,
                                  length_penalty=args.length_penalty, no_repeat_ngram=args.no_repeat_ngram,
                                  top_p=args.top_p, temperature=args.temperature)


def run_decode(args: argparse.Namespace, beam_args: list[str]) -> None:
    from model.decoder.files import load_decoder
    from model.device import torch_device
    from model.skipthought.files import read_vocabulary
    from pipelines.stories.decode_vectors import decode_rows, read_vectors, write_jsonl

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, not {args.batch_size}")
    options = search_options(args)
    decoder = load_decoder(args.decoder, torch_device(args.device))
    words = read_vocabulary(args.decoder).words
    vectors = read_vectors(args.vectors, decoder.config.dim_ctx, args.decoder)
    records = decode_rows(decoder, words, vectors, options, args.batch_size, args.lyric)
    counts = write_jsonl(records, args.out) if args.out else _print_texts(records, args.lyric)
    summary = table(["rows in", "texts", "rejected", "balance"],
                    [[len(vectors), counts["texts"], counts["rejected"],
                      "ok" if len(vectors) == counts["texts"] + counts["rejected"] else "MISMATCH"]])
    print(f"decode: {args.vectors} -> {args.out or 'stdout'} ({options.mode} search, {describe(options)})\n"
          f"{summary}", file=sys.stdout if args.out else sys.stderr)
    from pipelines.core.all_rejected import check_some_kept

    check_some_kept("decode", {"records_out": counts["texts"], "records_rejected": counts["rejected"]},
                    args.out or "the reasons on stderr")


def describe(options: SearchOptions) -> str:
    """The search's main setting, for a summary line."""
    if options.mode == "sample":
        return f"top-p {options.top_p}, temperature {options.temperature}"
    return f"beam {options.beam_width}"


def _print_texts(records: Iterator[dict], lyric: bool) -> dict[str, int]:
    """One text per line (lyric: its lines, then a blank line); a rejected row prints as an empty text."""
    counts = {"texts": 0, "rejected": 0}
    for record in records:
        text = record.get("text")
        if text is None:
            counts["rejected"] += 1
            print(f"decode: row {record['row']} rejected: {record['error']}", file=sys.stderr)
            text = ""
        else:
            counts["texts"] += 1
        print(text + "\n" if lyric and text else text, flush=True)
    return counts
