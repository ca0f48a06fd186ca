"""`storyteller train encoder`: vocabulary (Beam), sentence triples and the training loop."""

import argparse
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from data_schemas import SENTENCES
from data_schemas import text as col
from model.train_encoder import EncoderRecipe, train_encoder
from pipelines import vocab
from pipelines.shards import read_artifact


def add_train_encoder(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encoder", help="train a uni-skip encoder on novel sentences (skip-thought objective)")
    p.add_argument("--corpus", required=True, help="novel corpus name(s), comma-separated")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    p.add_argument("--name", help="model id: output goes to models/NAME (default: skipthought-uni-<corpus>)")
    defaults = EncoderRecipe()
    p.add_argument("--dim-word", type=int, default=defaults.dim_word, help="word vector size")
    p.add_argument("--dim", type=int, default=defaults.dim, help="GRU hidden size (the vector size)")
    p.add_argument("--vocab-size", type=int, default=20_000, help="words including <eos> and UNK")
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr, help="AdamW learning rate")
    p.add_argument("--grad-clip", type=float, default=defaults.grad_clip, help="global gradient-norm limit")
    p.add_argument("--max-len", type=int, default=defaults.max_len, help="drop triples with a sentence this long")
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop and export after this much training")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--log-every", type=int, default=defaults.log_every, help="steps between progress lines")
    p.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every, help="steps between checkpoints")
    p.set_defaults(run=run_train_encoder)


def run_train_encoder(args: argparse.Namespace, beam_args: list[str]) -> None:
    corpora = [c for c in args.corpus.split(",") if c]
    report = vocab.run(corpora, args.vocab_size, args.workspace, beam_args=beam_args)
    words = pq.read_table(report.path).column(col.WORD).to_pylist()
    sentences = [read_artifact(args.workspace / "corpora" / c / "sentences", SENTENCES,
                               columns=[col.BOOK_ID, col.ORDINAL, col.TOKENS]) for c in corpora]
    recipe = EncoderRecipe(dim_word=args.dim_word, dim=args.dim, epochs=args.epochs, batch_size=args.batch_size,
                           lr=args.lr, grad_clip=args.grad_clip, max_len=args.max_len, max_minutes=args.max_minutes,
                           seed=args.seed, device=args.device, log_every=args.log_every,
                           checkpoint_every=args.checkpoint_every)
    name = args.name or f"skipthought-uni-{'+'.join(corpora)}"
    provenance = {"trained_on": corpora, "vocab": str(report.path), "vocab_size": len(words)}
    metrics = train_encoder(pa.concat_tables(sentences), words, args.workspace / "models" / name, recipe, provenance)
    print(f"model {name}: {metrics['steps']} steps, {metrics['train_triples']} training triples, "
          f"validation NLL/token {metrics['history'][-1]['val_nll_per_token']:.3f}")
