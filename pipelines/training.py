"""Training from a workspace, one function per model family: read the artifacts the trainer learns from
(novel sentences; image features and captions; passages joined to their skip-thought vectors; the token
lists of any corpora for word vectors), train into `models/NAME` and record where the data came from.
`storyteller train ...` and the Prefect train tasks both call these, so the two can never wire a trainer
differently. Each read error names the folder and the command that makes what is missing."""

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_schemas import CAPTIONS, PASSAGES, SENTENCES
from data_schemas import text as col
from data_schemas.features import IMAGE_ID, features_schema
from data_schemas.shards import read_artifact, shard_paths
from data_schemas.storage import Location, location, parquet_schema, read_parquet
from data_schemas.vectors import VECTOR, vector_matrix
from data_schemas.workspace import Workspace
from model.cnn.registry import DEFAULT_CNN
from model.decoder.train import DecoderRecipe, PassageData, train_decoder
from model.skipthought.train import EncoderRecipe, train_encoder
from model.vse.files import save_vse
from model.vse.fuse import fuse_models
from model.vse.train import VSERecipe, join_pairs, train_vse
from model.vse.zero_shot_build import build_zero_shot
from model.words.files import WordVectors, read_word_vectors, save_word_vectors
from model.words.train import WordsRecipe, train_word_vectors
from pipelines.core.dry_run import dry_run_enabled, print_plan
from pipelines.core.manifest import read_meta
from pipelines.corpus import vocab
from pipelines.style.files import resolve_encoder


def read_sentences(workspace: Workspace, corpora: list[str]) -> pa.Table:
    """The sentences of `corpora`, in corpus order: the columns that make skip-thought triples."""
    return pa.concat_tables(read_artifact(workspace.corpus_part(corpus, "sentences"), SENTENCES,
                                          columns=[col.BOOK_ID, col.ORDINAL, col.TOKENS]) for corpus in corpora)


def read_captions(workspace: Workspace, corpus: str) -> pa.Table:
    return read_artifact(workspace.corpus_part(corpus, "captions"), CAPTIONS, columns=[col.IMAGE_ID, col.TOKENS])


def read_features(folder: Location) -> pa.Table:
    """Image features of any dimension (the schema's vector size is read from the first shard)."""
    paths = shard_paths(folder)
    if not paths:
        raise FileNotFoundError(f"{folder} holds no part-*.parquet shards: run `storyteller features` first")
    schema = parquet_schema(paths[0])
    dim = schema.field(VECTOR).type.list_size if VECTOR in schema.names else 0
    return read_artifact(folder, features_schema(dim), columns=[IMAGE_ID, VECTOR])


def join_shard(passages: pa.Table, vectors: pa.Table, vector_shard: Location) -> pa.Table:
    """The passages that have vectors: the encode stage keeps a shard's rows in order less the
    rejected ones (texts without tokens), so a filter on ids lines them up (checked, not assumed)."""
    kept = passages.filter(pc.is_in(passages.column(col.ID), value_set=vectors.column(col.ID)))
    if not kept.column(col.ID).equals(vectors.column(col.ID)):
        raise ValueError(f"{vector_shard} does not hold the passages of its corpus shard in order: re-encode the "
                         f"corpus with `storyteller encode`")
    return kept


def read_passages(workspace: Workspace, corpora: list[str], encoder_id: str, encoder_dir: Location) -> PassageData:
    """Passages of `corpora` joined to their vectors under `vectors/<encoder_id>/`; `encoder_dir`
    only names the model in the `storyteller encode` command an error asks for."""
    tables, matrices, counts, files = [], [], {"passages_in": 0, "passages_without_vectors": 0}, {}
    for corpus in corpora:
        corpus_dir = workspace.corpus_part(corpus, "passages")
        vectors_dir = workspace.vectors(encoder_id, corpus, "passages")
        command = (f"storyteller encode --encoder {encoder_dir} --corpus {corpus} --kind passages "
                   f"--workspace {workspace.root}")
        corpus_shards = shard_paths(corpus_dir)
        if not corpus_shards:
            raise FileNotFoundError(f"{corpus_dir} holds no passage shards: build corpus {corpus!r} with "
                                    f"`storyteller corpus novels` first")
        try:
            files[corpus] = {location(f["path"]).name: f["sha256"] for f in read_meta(vectors_dir)["params"]["model"]}
        except FileNotFoundError:
            raise FileNotFoundError(f"{vectors_dir} holds no finished skip-thought vectors of {corpus!r}: run "
                                    f"`{command}` first") from None
        for corpus_shard in corpus_shards:
            vector_shard = vectors_dir / corpus_shard.name
            if not vector_shard.is_file():
                raise FileNotFoundError(f"{vector_shard} is missing (was the corpus rebuilt since it was encoded?): "
                                        f"run `{command}`")
            passages = read_parquet(corpus_shard, columns=[col.ID, col.BOOK_ID, col.TOKENS], schema=PASSAGES)
            vectors = read_parquet(vector_shard, columns=[col.ID, VECTOR])
            tables.append(join_shard(passages, vectors, vector_shard))
            matrices.append(vector_matrix(vectors))
            counts["passages_in"] += passages.num_rows
            counts["passages_without_vectors"] += passages.num_rows - vectors.num_rows
    if any(files[corpus] != files[corpora[0]] for corpus in corpora):
        raise ValueError(f"the vectors of corpora {corpora} were made by different weights of {encoder_id}: "
                         f"re-encode the older ones with `storyteller encode --encoder {encoder_dir}`")
    table = pa.concat_tables(tables)
    return PassageData(table.column(col.ID).to_pylist(), table.column(col.BOOK_ID).to_pylist(),
                       table.column(col.TOKENS).to_pylist(), np.concatenate(matrices), counts, files[corpora[0]])


@dataclass(frozen=True)
class Trained:
    name: str  # the model id: its folder under models/
    model_dir: Location  # on disk or on the workspace's store
    metrics: dict  # as the trainer wrote them to metrics.json
    dry_run: bool = False  # a plan only: nothing was trained or written, metrics are empty


def _planned(what: str, name: str, model_dir: Location, source: str) -> Trained:
    """The dry run of a trainer: which model folder it would write, from what; a trainer always trains."""
    state = "would be replaced" if model_dir.exists() else "would be created"
    print_plan(f"{what} {name}", f"would train on {source}", [f"{model_dir} {state}"])
    return Trained(name, model_dir, {}, dry_run=True)


def _named(corpora: list[str]) -> list[str]:
    if not corpora:
        raise ValueError("--corpus names no corpus")
    return corpora


def word_vectors(workspace: Workspace, ref: str) -> WordVectors | None:
    """The vectors a recipe's `word_vectors` names (a words model id under models/, or a folder); None for ''."""
    return read_word_vectors(workspace.resolve_model(ref, "word-vectors")) if ref else None


def train_encoder_in_workspace(workspace: Location, corpora: list[str], recipe: EncoderRecipe, name: str | None = None,
                               beam_args: list[str] | None = None) -> Trained:
    """A uni-skip encoder on the corpora's sentences, with a vocabulary of `recipe.vocab_size` words (the
    vocab Beam job), to models/NAME (default: skipthought-uni-CORPORA)."""
    ws = Workspace(workspace)
    name = f"skipthought-uni-{'+'.join(_named(corpora))}" if name is None else name
    model_dir = ws.model(name)
    report = vocab.run(corpora, recipe.vocab_size, ws.root, beam_args=beam_args or [])
    if dry_run_enabled():
        return _planned("train encoder", name, model_dir, f"the sentences of {', '.join(corpora)}")
    table = read_parquet(report.path)
    words = table.column(col.WORD).to_pylist()
    provenance = {"trained_on": corpora, "vocab": str(report.path), "vocab_size": len(words)}
    metrics = train_encoder(read_sentences(ws, corpora), words, model_dir, recipe, provenance,
                            word_vectors(ws, recipe.word_vectors), table.column(col.COUNT).to_pylist())
    return Trained(name, model_dir, metrics)


def train_vse_in_workspace(workspace: Location, features: str, captions: str, recipe: VSERecipe, cnn: str = DEFAULT_CNN,
                           name: str | None = None) -> Trained:
    """A visual-semantic embedding on the CNN features of image dataset `features` and the caption corpus
    `captions`, to models/NAME (default: vse-CAPTIONS)."""
    ws = Workspace(workspace)
    name = f"vse-{captions}" if name is None else name
    model_dir = ws.model(name)
    features_dir = ws.features(cnn, features)
    if dry_run_enabled():
        return _planned("train vse", name, model_dir, f"{features_dir} and the captions of {captions}")
    data = join_pairs(read_features(features_dir), read_captions(ws, captions))
    provenance = {"features": str(features_dir), "cnn": cnn,
                  "captions": str(ws.corpus_part(captions, "captions"))}
    metrics = train_vse(data, model_dir, recipe, provenance, word_vectors(ws, recipe.word_vectors))
    return Trained(name, model_dir, metrics)


def train_decoder_in_workspace(workspace: Location, corpora: list[str], encoder: str, recipe: DecoderRecipe,
                               name: str | None = None) -> Trained:
    """A story decoder on the corpora's passages and their vectors by `encoder` (a model id or folder;
    run `storyteller encode` first), to models/NAME (default: decoder-CORPORA)."""
    ws = Workspace(workspace)
    name = f"decoder-{'+'.join(_named(corpora))}" if name is None else name
    model_dir = ws.model(name)
    encoder_id, encoder_dir = resolve_encoder(ws.root, encoder)
    if dry_run_enabled():
        return _planned("train decoder", name, model_dir, f"the passages of {', '.join(corpora)} by {encoder_id}")
    data = read_passages(ws, corpora, encoder_id, encoder_dir or ws.model(encoder_id))
    provenance = {"corpora": corpora, "encoder": encoder_id, "encoder_files": data.encoder_files}
    metrics = train_decoder(data, model_dir, recipe, provenance, word_vectors(ws, recipe.word_vectors))
    return Trained(name, model_dir, metrics)


SLICE_ROWS = 8192  # token lists turned into Python lists at a time


@dataclass(frozen=True)
class TokenLists:
    """The token lists word2vec reads, and what was left out to keep a benchmark's captions unseen."""

    lists: list[list[str]]
    counts: dict  # per corpus: token lists used and left out
    inputs: list[dict]  # per corpus: the artifact read and its stage key


def _caption_key(tokens: list[str]) -> tuple[str, ...]:
    return tuple(token.lower() for token in tokens)


def read_token_lists(workspace: Workspace, corpora: list[str], exclude_split: str | None = None) -> TokenLists:
    """The tokens of `corpora`: the sentences of a novel corpus, the captions of a caption corpus. With
    `exclude_split`, the captions of that split are left out, and with them every caption of another
    corpus that repeats one word for word (case aside): Multi30k's Flickr30k captions repeat 4,465 of the
    4,992 distinct Flickr8k test captions, so leaving out a split alone would still show a benchmark its
    answers."""
    # One string object per distinct token: 7.5 M tokens as separate Python strings would take gigabytes.
    shared: dict[str, str] = {}
    tables, inputs = {}, []
    for corpus in _named(corpora):
        folder, schema = vocab.corpus_token_folder(workspace.root, corpus)
        columns = [col.TOKENS, col.SPLIT] if schema == CAPTIONS else [col.TOKENS]
        tables[corpus] = read_artifact(folder, schema, columns=columns)
        inputs.append({"corpus": corpus, "artifact": folder.name, "key": read_meta(folder)["key"]})
    left_out: set[tuple[str, ...]] = set()
    if exclude_split is not None:
        for table in tables.values():
            if col.SPLIT in table.column_names:
                chosen = table.filter(pc.equal(table.column(col.SPLIT), exclude_split)).column(col.TOKENS)
                left_out.update(_caption_key(tokens) for tokens in chosen.to_pylist())
        if not left_out:
            splits = sorted({s for t in tables.values() if col.SPLIT in t.column_names
                             for s in pc.unique(t.column(col.SPLIT)).to_pylist() if s is not None})
            raise ValueError(f"--exclude-split {exclude_split}: no caption of corpora {corpora} is in that split "
                             f"(their splits: {', '.join(splits) or 'none'})")
    lists, counts = [], {}
    for corpus, table in tables.items():
        kept, skipped = 0, 0
        column = table.column(col.TOKENS)
        for start in range(0, len(column), SLICE_ROWS):  # a slice at a time: the unshared strings never pile up
            for tokens in column.slice(start, SLICE_ROWS).to_pylist():
                if col.SPLIT in table.column_names and left_out and _caption_key(tokens) in left_out:
                    skipped += 1
                    continue
                lists.append([shared.setdefault(token, token) for token in tokens])
                kept += 1
        counts[corpus] = {"used": kept, "left_out": skipped}
    return TokenLists(lists, counts, inputs)


def train_words_in_workspace(workspace: Location, corpora: list[str], recipe: WordsRecipe, name: str | None = None,
                             exclude_split: str | None = None) -> Trained:
    """Word vectors (word2vec) over the corpora's sentences and captions, to models/NAME (default:
    words-CORPORA). `exclude_split` leaves a caption split out (see `read_token_lists`)."""
    ws = Workspace(workspace)
    name = f"words-{'+'.join(_named(corpora))}" if name is None else name
    model_dir = ws.model(name)
    if dry_run_enabled():
        return _planned("train words", name, model_dir, f"the token lists of {', '.join(_named(corpora))}")
    data = read_token_lists(ws, corpora, exclude_split)
    started = time.monotonic()
    vectors = train_word_vectors(data.lists, recipe)
    metrics = {"token_lists": len(data.lists), "tokens": sum(map(len, data.lists)), "words": len(vectors.words),
               "corpora": data.counts, "train_seconds": round(time.monotonic() - started, 1)}
    provenance = {"corpora": corpora, "inputs": data.inputs, "exclude_split": exclude_split, "metrics": metrics}
    save_word_vectors(model_dir, vectors, {"recipe": asdict(recipe), "provenance": provenance})
    return Trained(name, model_dir, metrics)


def build_zero_shot_in_workspace(workspace: Location, words: str, captions: list[str], labels: Path,
                                 cnn: str = DEFAULT_CNN, cnn_weights: str | None = None, top_classes: int = 10,
                                 name: str | None = None) -> Trained:
    """The zero-shot joint space (model/vse/zero_shot.py) of a words model and a CNN's classifier, to
    models/NAME (default: zero-shot-CNN); its common component comes from the caption corpora's texts."""
    ws = Workspace(workspace)
    words_dir = ws.resolve_model(words, "words")
    name = f"zero-shot-{cnn}" if name is None else name
    model_dir = ws.model(name)
    if dry_run_enabled():
        return _planned("build zero-shot", name, model_dir, f"{words_dir} and the captions of {', '.join(captions)}")
    data = read_token_lists(ws, captions)
    model, vocabulary = build_zero_shot(read_word_vectors(words_dir), cnn, cnn_weights, labels, data.lists,
                                        top_classes, {"captions": captions, "inputs": data.inputs})
    save_vse(model_dir, model, vocabulary)
    return Trained(name, model_dir, {"classes_with_vectors": model.config.provenance["classes_with_vectors"],
                                     "classes": model.config.n_classes, "words": len(vocabulary)})


def fuse_in_workspace(workspace: Location, vse: str, zero_shot: str, weight: float, name: str | None = None) -> Trained:
    """VSE at weight w and the zero-shot space at 1 - w as one model, to models/NAME (default: fused-VSE)."""
    ws = Workspace(workspace)
    first, second = ws.resolve_model(vse, "vse"), ws.resolve_model(zero_shot, "vse")
    name = f"fused-{first.name}" if name is None else name
    if dry_run_enabled():
        return _planned("fuse vse", name, ws.model(name), f"{first} (weight {weight}) and {second}")
    config = fuse_models(first, second, weight, ws.model(name))
    return Trained(name, ws.model(name), {"weight": config.weight, "dim": config.dim})
