"""Beam job: texts to skip-thought vector shards through RunInference with a PyTorch model handler.

    corpus shard (or a text file) -> token ids -> batches of equal-length texts -> RunInference
    -> [regroup by shard] -> vectors/<model>/<corpus>/<kind>/part-*.parquet

Each input shard gives one output shard, so the stage skips finished shards and resumes after a
kill like the corpus stage. Batches are formed inside each shard from texts sorted by length,
which keeps padding to a few percent; RunInference then runs one prepared batch per call, with
the model loaded once per worker and on the GPU when there is one.
"""

import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import torch
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference
from apache_beam.ml.inference.pytorch_inference import PytorchModelHandlerTensor

from data_schemas import CAPTIONS, PASSAGES, SENTENCES, check_schema
from data_schemas import text as col
from data_schemas.rejects import reject_row
from data_schemas.shards import shard_paths
from data_schemas.storage import (
    Location,
    is_remote,
    local_copy,
    location,
    on_this_machine,
    parquet_schema,
    read_parquet,
    remove_tree,
)
from data_schemas.vectors import vectors_table
from data_schemas.workspace import MODEL_CHECKPOINT, Workspace
from model.device import beam_device
from model.families import SKIPTHOUGHT, VSE
from model.folder_check import check_model_dir
from model.skipthought.api import text_tokens
from model.skipthought.files import CONFIG_FILE, VOCAB_FILE, read_vocabulary
from model.text.batching import plan_batches
from model.text_models import text_model_for_inference, text_model_spec
from model.weights_file import load_weights, weights_path
from pipelines.core.beam_options import local_defaults, worker_count
from pipelines.core.manifest import file_fingerprint
from pipelines.core.sharded_job import Chunk, ShardTask, WriteShard, WriteShards
from pipelines.core.stage_run import StageReport, run_sharded_stage
from pipelines.text.encodings import UnreadableTextError, read_text

STAGE = "encode"
KIND_SCHEMAS = {"passages": PASSAGES, "captions": CAPTIONS, "sentences": SENTENCES}


@dataclass(frozen=True)
class EncodeParams:
    model_dir: str
    dtype: str = "float32"
    batch_size: int = 256  # texts per batch at most
    batch_tokens: int = 8192  # padded tokens per batch at most
    device: str = "auto"
    threads: int = 0  # torch threads per worker; 0 = cores / workers


def pack(id_lists: Sequence[list[int]]) -> torch.Tensor:
    """One int64 tensor (B, 1 + T): column 0 holds each length, the rest the zero-padded ids."""
    width = max(len(ids) for ids in id_lists)
    packed = torch.zeros((len(id_lists), 1 + width), dtype=torch.int64)
    for row, ids in enumerate(id_lists):
        packed[row, 0] = len(ids)
        packed[row, 1 : 1 + len(ids)] = torch.tensor(ids, dtype=torch.int64)
    return packed


def encode_packed(batch: Sequence[torch.Tensor], model: torch.nn.Module, device: torch.device,
                  inference_args=None, model_id=None) -> Iterator[PredictionResult]:
    """RunInference's inference_fn: each example is a whole prepared batch; returns its vectors."""
    with torch.inference_mode():
        for packed in batch:
            lengths = packed[:, 0]
            ids = packed[:, 1 : 1 + int(lengths.max())]
            vectors = model(ids, lengths).float().cpu().numpy()
            yield PredictionResult(packed, vectors, model_id)


def model_factory(model_dir: str, threads: int) -> torch.nn.Module:
    """On a worker: a stored model the driver copied into its cache is copied into this machine's too."""
    if threads > 0:
        torch.set_num_threads(threads)
    return text_model_for_inference(on_this_machine(model_dir))


class TextModelHandler(PytorchModelHandlerTensor):
    """Beam's PyTorch handler with the model folder's own loader (model/weights_file.py): weights.safetensors
    when present, names and shapes checked, instead of a bare torch.load of the state dict path."""

    def load_model(self) -> torch.nn.Module:
        model = load_weights(self._model_class(**self._model_params), on_this_machine(self._model_params["model_dir"]))
        model.requires_grad_(False)
        return model.to(self._device).eval()


def model_files(model_dir: str) -> list[dict]:
    """Fingerprints of the files that make a text model's vectors (part of the stage key)."""
    return [file_fingerprint(path) for path in (weights_path(model_dir), Path(model_dir) / CONFIG_FILE,
                                                 Path(model_dir) / VOCAB_FILE)]


class ReadAndBatch(beam.DoFn):
    """Token ids of one shard's texts, in prepared batches; texts without tokens become rejects.

    One output holds both kinds of element, the shard's head `Chunk` (rejects, counts) and its
    `(meta, packed ids)` batches, split downstream by `is_head`: Beam 2.77's DaskRunner hands every
    output of a multi-output ParDo to every consumer, whatever its tag."""

    def __init__(self, params: EncodeParams, kind: str):
        self.params, self.kind = params, kind

    def setup(self) -> None:
        model_dir = on_this_machine(self.params.model_dir)
        self.vocab = read_vocabulary(model_dir)
        append_eos = text_model_spec(model_dir).append_eos
        if append_eos and self.vocab.eos is None:
            raise ValueError(f"{self.params.model_dir}: the model appends <eos> but vocab.txt has no <eos> line")
        self.eos = self.vocab.eos if append_eos else None

    def rows(self, task: ShardTask) -> tuple[list[str], list[list[str]], list[str]]:
        if self.kind == "texts":
            lines = read_text(task.source).text.split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            return [str(n) for n in range(1, len(lines) + 1)], [text_tokens(line) for line in lines], lines
        source = location(task.source)
        check_schema(parquet_schema(source), KIND_SCHEMAS[self.kind], task.source)
        table = read_parquet(source, columns=[col.ID, col.TOKENS, col.TEXT])
        return tuple(table.column(name).to_pylist() for name in (col.ID, col.TOKENS, col.TEXT))

    def process(self, task: ShardTask) -> Iterator[Any]:  # head Chunks and batches; see `is_head`
        head = Chunk(task, 0)
        try:
            ids, tokens, texts = self.rows(task)
        except (UnreadableTextError, OSError) as error:
            head.rejects.append(reject_row(STAGE, task.source, "", str(error)))
            head.stats.update(records_in=1, records_rejected=1, files_rejected=1)
            yield head
            return
        kept = []
        for row, (text_id, row_tokens) in enumerate(zip(ids, tokens, strict=True)):
            head.stats["records_in"] += 1
            if not row_tokens:
                location = f"line {row + 1}" if self.kind == "texts" else f"row {row}"
                head.rejects.append(reject_row(STAGE, task.source, location, "text has no tokens", texts[row]))
                head.stats["records_rejected"] += 1
                continue
            word_ids = self.vocab.ids(row_tokens) + ([self.eos] if self.eos is not None else [])
            kept.append((row, text_id, len(row_tokens), word_ids))
        yield head
        groups = plan_batches([len(k[3]) for k in kept], self.params.batch_size, self.params.batch_tokens)
        for number, group in enumerate(groups, start=1):
            members = [kept[i] for i in group]
            meta = (task, number, [(row, text_id, n) for row, text_id, n, _ in members])
            yield meta, pack([word_ids for *_, word_ids in members])


def is_head(element: Any) -> bool:
    return isinstance(element, Chunk)


def result_chunk(element: tuple) -> Chunk:
    """One batch's vectors as one item (rows, ids, token counts, matrix): no per-row objects."""
    (task, number, members), result = element
    real = int(result.example[:, 0].sum())
    padded = result.example.shape[0] * (result.example.shape[1] - 1)
    rows, ids, counts = (list(column) for column in zip(*members, strict=True))
    stats = Counter(records_out=len(rows), tokens_real=real, tokens_padded=padded)
    return Chunk(task, number, items=[(rows, ids, counts, result.inference)], stats=stats)


def assemble_vectors(task: ShardTask, chunks: list[Chunk], folder: Location, dtype: str, dim: int) -> dict:
    batches = [item for chunk in chunks for item in chunk.items]
    rows = np.array([row for batch in batches for row in batch[0]], dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    ids = [text_id for batch in batches for text_id in batch[1]]
    counts = [n for batch in batches for n in batch[2]]
    vectors = np.concatenate([batch[3] for batch in batches]) if batches else np.zeros((0, dim), np.float32)
    return {folder: vectors_table([ids[i] for i in order], [counts[i] for i in order], vectors[order], dtype)}


def build_encode(pipeline: beam.Pipeline, tasks: list[ShardTask], params: EncodeParams, kind: str,
                 outputs: dict[str, Location], workers: int) -> None:
    dim = text_model_spec(params.model_dir).output_dim
    threads = params.threads or max(1, (os.cpu_count() or 1) // max(workers, 1))
    # Batches are prepared by ReadAndBatch, so RunInference gets each as a list of one and runs no
    # BatchElements of its own (which emits a bundle's last batch from finish_bundle, an output
    # Beam 2.77's DaskRunner drops).
    handler = KeyedModelHandler(TextModelHandler(
        state_dict_path=str(weights_path(params.model_dir)),
        model_class=model_factory,
        model_params={"model_dir": params.model_dir, "threads": threads},
        device=beam_device(params.device),
        inference_fn=encode_packed,
    )).with_no_batching()
    data = outputs["vectors"]
    read = (pipeline | "Shards" >> beam.Create(tasks) | "Spread" >> beam.Reshuffle()
            | "ReadAndBatch" >> beam.ParDo(ReadAndBatch(params, kind)))
    heads = read | "Heads" >> beam.Filter(is_head).with_output_types(Chunk)
    batches = read | "Batches" >> beam.Filter(lambda element: not is_head(element))
    if workers > 1:  # spread one shard's batches over the workers; one worker needs no shuffle
        batches = batches | "SpreadBatches" >> beam.Reshuffle()
    encoded = (batches | "OnePerCall" >> beam.Map(lambda batch: [batch]) | "Encode" >> RunInference(handler)
               | "ToChunks" >> beam.Map(result_chunk))
    write = WriteShard(lambda task, chunks: assemble_vectors(task, chunks, data, params.dtype, dim),
                       outputs["rejects"], [data])
    _ = (heads, encoded) | "Merge" >> beam.Flatten() | "WriteShards" >> WriteShards(write)


def model_id(model_dir: str | Location) -> str:
    """The model's id, its folder's name: the stored folder's for a URL or for a local copy of one."""
    path = location(model_dir)
    return (path if is_remote(path) else path.resolve()).name


def local_model(params: EncodeParams) -> EncodeParams:
    """`params` with a local model folder: a stored one (a URL) is copied once into the cache, since torch,
    the checks and the workers read local files."""
    folder = location(params.model_dir)
    if is_remote(folder) and not folder.is_dir():
        raise FileNotFoundError(f"model folder {folder} does not exist")
    return replace(params, model_dir=str(local_copy(folder, leave_out=(MODEL_CHECKPOINT,))))


def output_folders(workspace: str | Location, model: str, corpus: str, kind: str) -> dict[str, Location]:
    return {
        "vectors": Workspace(workspace).vectors(model, corpus, kind),
        "rejects": Workspace(workspace).rejects(STAGE, model, corpus, kind),
    }


def run(params: EncodeParams, corpus: str, kind: str, workspace: str | Location,
        beam_args: list[str] | None = None) -> StageReport:
    """Encode every shard of corpora/<corpus>/<kind> into vectors/<model>/<corpus>/<kind>."""
    if kind not in KIND_SCHEMAS:
        raise ValueError(f"--kind must be one of {sorted(KIND_SCHEMAS)}, got {kind!r}")
    beam_args = local_defaults(beam_args or [])
    params = local_model(params)
    check_model_dir(params.model_dir, (SKIPTHOUGHT, VSE))  # a broken folder fails here, not in a worker
    workspace = location(workspace)
    folder = Workspace(workspace).corpus_part(corpus, kind)
    sources = [str(path) for path in shard_paths(folder)]
    if not sources:
        raise FileNotFoundError(f"{folder} holds no shards: run `storyteller corpus` for {corpus!r} first")
    outputs = output_folders(workspace, model_id(params.model_dir), corpus, kind)
    stage_params = {**asdict(params), "model_dir": model_id(params.model_dir), "kind": kind,
                    "model": model_files(params.model_dir)}
    return run_sharded_stage(
        STAGE, sources, stage_params, outputs,
        lambda pipeline, tasks: build_encode(pipeline, tasks, params, kind, outputs, worker_count(beam_args)),
        beam_args,
    )


def run_texts(params: EncodeParams, texts: str | Location, out: str | Location,
              beam_args: list[str] | None = None) -> StageReport:
    """Encode a plain text file, one text per line (id = line number), into the Parquet file `out`;
    rejected lines go to `<out>.rejects.parquet`. Either may be on disk or on an object store."""
    texts, out = location(texts), location(out)
    beam_args = local_defaults(beam_args or [])
    if not texts.is_file():
        raise FileNotFoundError(f"--texts {texts} is not a file")
    params = local_model(params)
    check_model_dir(params.model_dir, (SKIPTHOUGHT, VSE))  # a broken folder fails here, not in a worker
    work = out.with_name(f".{out.name}.parts")
    outputs = {"vectors": work / "vectors", "rejects": work / "rejects"}
    stage_params = {**asdict(params), "model_dir": model_id(params.model_dir), "kind": "texts",
                    "model": model_files(params.model_dir)}
    report = run_sharded_stage(
        STAGE, [str(texts)], stage_params, outputs,
        lambda pipeline, tasks: build_encode(pipeline, tasks, params, "texts", outputs, worker_count(beam_args)),
        beam_args or [],
    )
    if report.dry_run:
        return report
    out.parent.mkdir(parents=True, exist_ok=True)
    rejects = out.with_name(f"{out.stem}.rejects.parquet")
    for folder, target in ((outputs["vectors"], out), (outputs["rejects"], rejects)):
        _move(shard_paths(folder)[0], target)
    remove_tree(work)
    return replace(report, outputs={"vectors": out, "rejects": rejects})


def _move(source: Location, target: Location) -> None:
    """A rename on disk; on a store a server-side copy, which appears whole or not at all like an upload."""
    if is_remote(target):
        target.fs.copy(source.path, target.path)
    else:
        os.replace(source, target)
