"""`storyteller train encoder`: vocabulary (Beam), sentence triples and the training loop."""

import argparse
from pathlib import Path

from flows.cli.parser import add_dry_run, later, runs_beam


def add_train_encoder(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encoder", help="train a uni-skip encoder on novel sentences (skip-thought objective)")
    later(p, _add_options)


def _add_options(p: argparse.ArgumentParser) -> None:
    from model.skipthought.train import EncoderRecipe
    from model.training.recipes import add_recipe_flags

    p.add_argument("--corpus", required=True, help="novel corpus name(s), comma-separated")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    p.add_argument("--name", help="model id: output goes to models/NAME (default: skipthought-uni-<corpus>)")
    add_recipe_flags(p, EncoderRecipe)
    add_dry_run(p)
    runs_beam(p)  # the vocabulary
    p.set_defaults(run=run_train_encoder)


def run_train_encoder(args: argparse.Namespace, beam_args: list[str]) -> None:
    from model.skipthought.train import EncoderRecipe
    from model.training.recipes import recipe_from_args
    from pipelines.training import train_encoder_in_workspace

    corpora = [c for c in args.corpus.split(",") if c]
    trained = train_encoder_in_workspace(args.workspace, corpora, recipe_from_args(args, EncoderRecipe), args.name,
                                         beam_args)
    metrics = trained.metrics
    print(f"model {trained.name}: {metrics['steps']} steps, {metrics['train_triples']} training triples, "
          f"validation NLL/token {metrics['history'][-1]['val_nll_per_token']:.3f}")
