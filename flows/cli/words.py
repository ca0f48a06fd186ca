"""`storyteller train words` (word2vec over the corpora) and `storyteller expand-vocab` (an encoder's word
tables grown by every word of the word vectors, as the original grew its vocabulary: reference a.3)."""

import argparse
from pathlib import Path

from flows.cli.parser import add_dry_run, later, workspace_location
from flows.cli.report import table


def register(commands: argparse._SubParsersAction, trains: argparse._SubParsersAction,
             converts: argparse._SubParsersAction, epilog: str) -> None:
    """Add `train words` and the top-level `expand-vocab`."""
    _add_train(trains)
    _add_expand(commands)


def _add_train(trains: argparse._SubParsersAction) -> None:
    p = trains.add_parser(
        "words", help="train word vectors (word2vec) on the sentences and captions of corpora",
        description="Reads the sentences of novel corpora and the captions of caption corpora, trains gensim's "
                    "Word2Vec on their tokens (case kept) and writes models/NAME: config.json, vectors.npy "
                    "(float32, one row per word, commonest first) and vocab.txt (line i names row i).")
    later(p, _add_train_options)


def _add_train_options(p: argparse.ArgumentParser) -> None:
    from model.training.recipes import add_recipe_flags
    from model.words.train import WordsRecipe

    p.add_argument("--corpus", required=True, help="corpus name(s), comma-separated: novels give their sentences, "
                   "caption corpora their captions")
    p.add_argument("--workspace", type=Path, required=True, help="root folder of all artifacts")
    p.add_argument("--name", help="model id: output goes to models/NAME (default: words-<corpus>)")
    p.add_argument("--exclude-split", help="leave out the captions of this split (e.g. test) and every caption of "
                   "any corpus that repeats one of them word for word, so a benchmark on that split stays unseen")
    add_recipe_flags(p, WordsRecipe)
    add_dry_run(p)
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace, beam_args: list[str]) -> None:
    from model.training.recipes import recipe_from_args
    from model.words.train import WordsRecipe
    from pipelines.training import train_words_in_workspace

    corpora = [c for c in args.corpus.split(",") if c]
    trained = train_words_in_workspace(args.workspace, corpora, recipe_from_args(args, WordsRecipe), args.name,
                                       args.exclude_split)
    metrics = trained.metrics
    print(table(["corpus", "token lists used", "left out"],
                [[corpus, counts["used"], counts["left_out"]] for corpus, counts in metrics["corpora"].items()]))
    print(f"model {trained.name}: {metrics['words']} words from {metrics['tokens']} tokens in "
          f"{metrics['train_seconds']:.1f}s")


def _add_expand(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "expand-vocab", help="give every word of a words model a row in an encoder's word tables",
        description="Vocabulary expansion as the original did it: a least-squares linear map (with intercept) "
                    "from the word vectors to each of the encoder's word tables, fitted on the words both know, "
                    "maps every word the encoder lacks; its own rows and weights are kept. Writes a new encoder "
                    "model folder; the fit (R^2, residual) is in its config.json provenance.")
    p.add_argument("--encoder", required=True, help="encoder model id (a folder under WS/models) or model folder")
    p.add_argument("--words", required=True, help="words model id or folder (made by `storyteller train words`)")
    p.add_argument("--out", type=workspace_location, required=True,
                   help="the new encoder model folder (must not exist), on disk or on an object store")
    p.add_argument("--workspace", type=Path, default=Path("."), help="where model ids are looked up (WS/models/ID)")
    add_dry_run(p)
    p.set_defaults(run=run_expand)


def run_expand(args: argparse.Namespace, beam_args: list[str]) -> None:
    from data_schemas.workspace import Workspace
    from model.words.expand import expand_encoder
    from model.words.files import read_word_vectors

    ws = Workspace(args.workspace)
    record = expand_encoder(ws.resolve_model(args.encoder, "encoder"),
                            read_word_vectors(ws.resolve_model(args.words, "words")), args.out)
    print(f"wrote {args.out}: {record['words_before']} -> {record['words_after']} words "
          f"({record['shared_words']} shared words fitted the map)")
    print(table(["table", "R^2", "rms residual"],
                [[part, fit["r2"], fit["rmse"]] for part, fit in record["fit"].items()]))
