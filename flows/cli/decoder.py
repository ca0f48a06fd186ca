"""`storyteller convert decoder` and `storyteller train decoder`."""

import argparse
from pathlib import Path

from flows.cli.parser import add_dry_run, later
from flows.cli.report import table


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add this stage's subcommands to `train` and to `convert`."""
    _add_convert(converts)
    _add_train(trains)


def _add_convert(converts: argparse._SubParsersAction) -> None:
    p = converts.add_parser("decoder", help="the released storyteller decoder (romance.npz + pickles)")
    p.add_argument("--decoder", type=Path, required=True, help="romance.npz; its .npz.pkl options must sit beside it")
    p.add_argument("--dictionary", type=Path, required=True, help="romance_dictionary.pkl")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    add_dry_run(p)
    p.set_defaults(run=run_convert)


def run_convert(args: argparse.Namespace, beam_args: list[str]) -> None:
    from model.decoder.original import convert_decoder

    config = convert_decoder(args.decoder, args.dictionary, args.out)
    output = "deep output" if config.deep_output else "no deep output"
    print(f"wrote {args.out}: decoder, {config.n_words} words, {config.dim_ctx}-d vectors -> GRU {config.dim} "
          f"({config.dim_word}-d words, {output}); "
          f"{config.provenance['words_beyond_n_words_as_unk']} dictionary words beyond n_words left out")


def _add_train(trains: argparse._SubParsersAction) -> None:
    p = trains.add_parser(
        "decoder", help="train a storyteller decoder to rebuild passages from their skip-thought vectors",
        description="Reads the passages of the corpora and their vectors from vectors/ENCODER/CORPUS/passages "
                    "(run `storyteller encode` first); whole books are held out to measure perplexity; the model "
                    "with the best held-out perplexity is written to models/NAME.")
    later(p, _add_train_options)


def _add_train_options(p: argparse.ArgumentParser) -> None:
    from model.decoder.train import DecoderRecipe
    from model.training.recipes import add_recipe_flags

    p.add_argument("--corpus", required=True, help="novel corpus name(s), comma-separated")
    p.add_argument("--encoder", required=True, help="encoder model id (a directory under WS/models) or model "
                   "directory whose passage vectors condition the decoder")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    p.add_argument("--name", help="model id: output goes to models/NAME (default: decoder-<corpus>)")
    add_recipe_flags(p, DecoderRecipe)
    add_dry_run(p)
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace, beam_args: list[str]) -> None:
    from model.decoder.train import DecoderRecipe
    from model.training.recipes import recipe_from_args
    from pipelines.training import train_decoder_in_workspace

    corpora = [c for c in args.corpus.split(",") if c]
    result = train_decoder_in_workspace(args.workspace, corpora, args.encoder, recipe_from_args(args, DecoderRecipe),
                                        args.name)
    metrics = result.metrics
    counts = metrics["data"]
    print(f"model {result.name}: {metrics['steps']} steps, best epoch {metrics['best_epoch']}, "
          f"{counts['vocabulary']} words; held out: {', '.join(metrics['held_out_books'])}")
    print(table(["passages", "read", "no vector", "too long", "used"],
                [["training", "", "", counts["train_passages_too_long"], counts["train_passages"]],
                 ["held out", "", "", counts["held_out_passages_too_long"], counts["held_out_passages"]],
                 ["all", counts["passages_in"], counts["passages_without_vectors"],
                  counts["train_passages_too_long"] + counts["held_out_passages_too_long"],
                  counts["train_passages"] + counts["held_out_passages"]]]))
    held, trained = metrics["held_out_perplexity"], metrics["train_perplexity"]
    print(f"perplexity: held out {held:.1f}" + (f", training {trained:.1f}" if trained is not None else "")
          + f" (before training: {metrics['history'][0]['held_out_perplexity']:.1f})")
