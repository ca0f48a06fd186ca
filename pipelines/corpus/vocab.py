"""Beam job: a vocabulary over the tokens of one or more corpora (reference a.2).

Index 0 is `<eos>`, 1 is `UNK`, real words follow from 2 by descending count; equal counts are
ordered by the word itself so the same corpora always give the same bytes. The `<eos>` count is
the number of sequences (each ends with one), and `UNK` counts the tokens left out of the vocabulary.
"""

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc

from data_schemas import CAPTIONS, SENTENCES, VOCAB, check_schema
from data_schemas import text as col
from data_schemas.atomic import write_json_atomic
from data_schemas.shards import shard_paths, write_table_atomic
from data_schemas.storage import Location, location, parquet_schema, read_parquet
from data_schemas.workspace import Workspace
from pipelines.core.beam_options import make_pipeline
from pipelines.core.dry_run import dry_run_enabled, print_plan
from pipelines.core.manifest import META_FILE, code_version, read_meta, stage_key

STAGE = "vocab"
EOS, UNK = "<eos>", "UNK"
# Token columns a vocabulary is counted over, in order of preference, per corpus.
_TOKEN_ARTIFACTS = (("sentences", SENTENCES), ("captions", CAPTIONS))


@dataclass(frozen=True)
class VocabReport:
    name: str
    skipped: bool
    words: int
    tokens: int
    sequences: int
    path: Location
    dry_run: bool = False  # a plan only: nothing was counted or written


def corpus_token_folder(workspace: Location, corpus: str) -> tuple[Location, pa.Schema]:
    """The artifact whose tokens a corpus contributes: its sentences, or else its captions."""
    for artifact, schema in _TOKEN_ARTIFACTS:
        folder = Workspace(workspace).corpus_part(corpus, artifact)
        if (folder / META_FILE).exists():
            return folder, schema
    raise FileNotFoundError(
        f"corpus {corpus!r} has no finished sentences or captions under {Workspace(workspace).corpus(corpus)}; "
        "run `storyteller corpus novels|captions` first"
    )


def count_shard(path: str, schema: pa.Schema) -> Counter:
    """Token counts of one shard (a path or URL), computed column-wise by Arrow; `<eos>` counts its sequences."""
    shard = location(path)
    check_schema(parquet_schema(shard), schema, path)
    tokens = read_parquet(shard, columns=[col.TOKENS]).column(col.TOKENS).combine_chunks()
    counts = Counter({EOS: len(tokens)})
    for row in pc.value_counts(tokens.flatten()).to_pylist():
        counts[row["values"]] += row["counts"]
    return counts


class MergeCounts(beam.CombineFn):
    def create_accumulator(self) -> Counter:
        return Counter()

    def add_input(self, accumulator: Counter, counts: Counter) -> Counter:
        accumulator.update(counts)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[Counter]) -> Counter:
        merged = Counter()
        for accumulator in accumulators:
            merged.update(accumulator)
        return merged

    def extract_output(self, accumulator: Counter) -> Counter:
        return accumulator


def build_vocab(counts: Counter, size: int) -> pa.Table:
    """The vocabulary table: `<eos>`, `UNK`, then the `size - 2` most frequent words."""
    if size < 3:
        raise ValueError(f"--size must be at least 3 (<eos>, UNK and one word), got {size}")
    words = sorted(
        ((word, n) for word, n in counts.items() if word not in (EOS, UNK)), key=lambda item: (-item[1], item[0])
    )
    kept, left_out = words[: size - 2], words[size - 2 :]
    unk = counts.get(UNK, 0) + sum(n for _, n in left_out)
    rows = [(EOS, counts.get(EOS, 0)), (UNK, unk), *kept]
    return pa.table(
        {col.WORD: [w for w, _ in rows], col.COUNT: [n for _, n in rows], col.INDEX: list(range(len(rows)))},
        schema=VOCAB,
    )


def vocab_paths(workspace: Location, name: str) -> tuple[Location, Location]:
    table = Workspace(workspace).vocab(name)
    return table, table.with_suffix(".meta.json")


def run(
    corpora: list[str], size: int, workspace: Location, name: str | None = None, beam_args: list[str] | None = None
) -> VocabReport:
    """Count tokens over the corpora with a Beam combine and write `vocab/<name>.parquet`."""
    workspace = location(workspace)
    name = "+".join(corpora) if name is None else name
    table_path, meta_path = vocab_paths(workspace, name)
    folders = [corpus_token_folder(workspace, corpus) for corpus in corpora]
    inputs = [
        {"corpus": corpus, "artifact": folder.name, "key": read_meta(folder)["key"]}
        for corpus, (folder, _) in zip(corpora, folders, strict=True)
    ]
    key = stage_key(STAGE, inputs, {"size": size})
    if table_path.exists() and meta_path.exists() and json.loads(meta_path.read_text()).get("key") == key:
        meta = json.loads(meta_path.read_text())
        if dry_run_enabled():
            print_plan(f"{STAGE} {name}", "done: current, nothing to write", [f"{table_path}: {meta['words']} words"])
        return VocabReport(name, True, meta["words"], meta["tokens"], meta["sequences"], table_path,
                           dry_run=dry_run_enabled())
    shards = [(str(path), schema) for folder, schema in folders for path in shard_paths(folder)]
    if dry_run_enabled():
        print_plan(f"{STAGE} {name}", f"would count the tokens of {len(shards)} shards of {', '.join(corpora)}",
                   [f"{table_path} would be " + ("replaced: made from other corpora or size" if table_path.exists()
                                                 else "created")])
        return VocabReport(name, False, 0, 0, 0, table_path, dry_run=True)
    with make_pipeline(beam_args or []) as pipeline:
        _ = (
            pipeline
            | "Shards" >> beam.Create(shards)
            | "Count" >> beam.MapTuple(count_shard)
            | "Merge" >> beam.CombineGlobally(MergeCounts())
            | "Write" >> beam.Map(lambda counts: _write(counts, size, table_path))
        )
    table = read_parquet(table_path)
    counts = table.column(col.COUNT).to_pylist()
    meta = {
        "stage": STAGE,
        "key": key,
        "inputs": inputs,
        "params": {"size": size},
        "code_version": code_version(),
        "words": table.num_rows,
        "sequences": counts[0],
        "tokens": sum(counts) - counts[0],
    }
    write_json_atomic(meta_path, meta)
    return VocabReport(name, False, meta["words"], meta["tokens"], meta["sequences"], table_path)


def _write(counts: Counter, size: int, path: Location) -> None:
    write_table_atomic(build_vocab(counts, size), path)
