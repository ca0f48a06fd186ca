"""`storyteller convert decoder` and `storyteller train decoder`."""

import argparse
from pathlib import Path

from flows.report import table
from model.original_decoder import convert_decoder
from model.train_decoder import DecoderRecipe, read_passages, train_decoder
from pipelines.style_files import resolve_encoder


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
    p.set_defaults(run=run_convert)


def run_convert(args: argparse.Namespace, beam_args: list[str]) -> None:
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
    p.add_argument("--corpus", required=True, help="novel corpus name(s), comma-separated")
    p.add_argument("--encoder", required=True, help="encoder model id (a directory under WS/models) or model "
                   "directory whose passage vectors condition the decoder")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    p.add_argument("--name", help="model id: output goes to models/NAME (default: decoder-<corpus>)")
    d = DecoderRecipe()
    p.add_argument("--dim-word", type=int, default=d.dim_word, help="word vector size")
    p.add_argument("--dim", type=int, default=d.dim, help="GRU hidden size")
    p.add_argument("--vocab-size", type=int, default=d.vocab_size,
                   help="commonest training words kept, including <eos> and UNK")
    p.add_argument("--max-len", type=int, default=d.max_len,
                   help="skip passages with this many tokens or more (the original: 100)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="passages per batch (the original: 16)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument("--grad-clip", type=float, default=d.grad_clip, help="global gradient-norm limit")
    p.add_argument("--epochs", type=int, default=d.epochs, help="a rerun resumes and may raise this to train on")
    p.add_argument("--val-books", type=int, default=d.val_books, help="books held out to measure perplexity on")
    p.add_argument("--max-minutes", type=float, default=d.max_minutes,
                   help="stop after this much training and export the best model so far (0 = no limit)")
    p.add_argument("--seed", type=int, default=d.seed, help="seeds the held-out books, the weights and batch order")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=d.device)
    p.add_argument("--log-every", type=int, default=d.log_every, help="steps between progress lines")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, help="steps between checkpoints")
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace, beam_args: list[str]) -> None:
    corpora = [c for c in args.corpus.split(",") if c]
    if not corpora:
        raise ValueError("--corpus names no corpus")
    encoder_id, encoder_dir = resolve_encoder(args.workspace, args.encoder)
    data = read_passages(args.workspace, corpora, encoder_id, encoder_dir or args.workspace / "models" / encoder_id)
    recipe = DecoderRecipe(
        dim_word=args.dim_word, dim=args.dim, vocab_size=args.vocab_size, max_len=args.max_len,
        batch_size=args.batch_size, lr=args.lr, grad_clip=args.grad_clip, epochs=args.epochs,
        val_books=args.val_books, max_minutes=args.max_minutes, seed=args.seed, device=args.device,
        log_every=args.log_every, checkpoint_every=args.checkpoint_every)
    name = args.name or f"decoder-{'+'.join(corpora)}"
    provenance = {"corpora": corpora, "encoder": encoder_id, "encoder_files": data.encoder_files}
    metrics = train_decoder(data, args.workspace / "models" / name, recipe, provenance)
    counts = metrics["data"]
    print(f"model {name}: {metrics['steps']} steps, best epoch {metrics['best_epoch']}, "
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
