"""Training the storyteller decoder (reference c.4): reconstruct each passage from its own
skip-thought vector.

The original encoded every minibatch on the fly with the frozen encoder; here the vectors are read
from the encode stage's shards (`vectors/<encoder>/<corpus>/passages`), the same numbers computed
once. Books, not passages, are held out (a seeded hash of the book id picks them), so the held-out
perplexity is measured on prose the decoder never saw. The vocabulary is the commonest words of the
training passages. Batches group passages of similar length (in a new random order each epoch).
After each epoch the held-out perplexity is measured and the best model so far is the one
exported. Checkpoints are atomic; a rerun with the same data and recipe resumes, and may raise
--epochs to train on.
"""

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from data_schemas import PASSAGES
from data_schemas import text as col
from data_schemas.vectors import VECTOR, vector_matrix
from model.batching import plan_batches
from model.decoder import EOS_ID, UNK_ID, DecoderConfig, StoryDecoder
from model.decoder_files import save_decoder
from model.encode_api import pad_batch
from model.encoder_files import Vocabulary
from model.train_encoder import CHECKPOINT, METRICS_FILE, pick_device
from model.train_vse import build_vocabulary
from pipelines.manifest import read_meta
from pipelines.shards import shard_paths


@dataclass(frozen=True)
class DecoderRecipe:
    dim_word: int = 620
    dim: int = 1600
    vocab_size: int = 20_000  # words including <eos> and UNK
    # Passages with this many tokens or more are skipped. The original used 100 (maxlen_w) on BookCorpus
    # passages; ours are 100-150 tokens by construction (corpus stage), so 100 would skip nearly all of them.
    max_len: int = 160
    batch_size: int = 64
    lr: float = 2e-4
    grad_clip: float = 5.0  # global gradient norm
    epochs: int = 5
    val_books: int = 2  # books held out to measure perplexity on
    max_minutes: float = 0.0  # stop (and export the best model so far) after this much training; 0 = no limit
    seed: int = 1234
    device: str = "auto"
    log_every: int = 50  # steps between progress lines
    checkpoint_every: int = 500  # steps between checkpoints (and one after each epoch)

    def __post_init__(self) -> None:
        counts = (self.epochs, self.val_books, self.max_len, self.batch_size, self.log_every, self.checkpoint_every)
        if min(counts) < 1 or self.vocab_size < 3:
            raise ValueError("--epochs, --val-books, --max-len, --batch-size, --log-every and --checkpoint-every must "
                             "be at least 1, --vocab-size at least 3")


# Recipe fields a resumed run may change: they do not alter the computation done so far.
RESUMABLE = ("epochs", "max_minutes", "device", "log_every", "checkpoint_every")


@dataclass
class PassageData:
    """Passages that have a skip-thought vector, in corpus and shard order."""

    ids: list[str]
    books: list[str]
    tokens: list[list[str]]
    vectors: np.ndarray  # (N, dim_ctx) float32
    counts: dict  # passages read, and those without a vector (rejected by the encode stage)
    encoder_files: dict  # file name -> sha256 of the encoder that made the vectors


def join_shard(passages: pa.Table, vectors: pa.Table, vector_shard: Path) -> pa.Table:
    """The passages that have vectors: the encode stage keeps a shard's rows in order less the
    rejected ones (texts without tokens), so a filter on ids lines them up (checked, not assumed)."""
    kept = passages.filter(pc.is_in(passages.column(col.ID), value_set=vectors.column(col.ID)))
    if not kept.column(col.ID).equals(vectors.column(col.ID)):
        raise ValueError(f"{vector_shard} does not hold the passages of its corpus shard in order: re-encode the "
                         f"corpus with `storyteller encode`")
    return kept


def read_passages(workspace: Path, corpora: list[str], encoder_id: str, encoder_dir: Path) -> PassageData:
    """Passages of `corpora` joined to their vectors under `vectors/<encoder_id>/`; `encoder_dir`
    only names the model in the `storyteller encode` command an error asks for."""
    workspace = Path(workspace)
    tables, matrices, counts, files = [], [], {"passages_in": 0, "passages_without_vectors": 0}, {}
    for corpus in corpora:
        corpus_dir = workspace / "corpora" / corpus / "passages"
        vectors_dir = workspace / "vectors" / encoder_id / corpus / "passages"
        command = (f"storyteller encode --encoder {encoder_dir} --corpus {corpus} --kind passages "
                   f"--workspace {workspace}")
        corpus_shards = shard_paths(corpus_dir)
        if not corpus_shards:
            raise FileNotFoundError(f"{corpus_dir} holds no passage shards: build corpus {corpus!r} with "
                                    f"`storyteller corpus novels` first")
        try:
            files[corpus] = {Path(f["path"]).name: f["sha256"] for f in read_meta(vectors_dir)["params"]["model"]}
        except FileNotFoundError:
            raise FileNotFoundError(f"{vectors_dir} holds no finished skip-thought vectors of {corpus!r}: run "
                                    f"`{command}` first") from None
        for corpus_shard in corpus_shards:
            vector_shard = vectors_dir / corpus_shard.name
            if not vector_shard.is_file():
                raise FileNotFoundError(f"{vector_shard} is missing (was the corpus rebuilt since it was encoded?): "
                                        f"run `{command}`")
            passages = pq.read_table(corpus_shard, columns=[col.ID, col.BOOK_ID, col.TOKENS], schema=PASSAGES)
            vectors = pq.read_table(vector_shard, columns=[col.ID, VECTOR])
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


def held_out_books(books: list[str], count: int, seed: int) -> list[str]:
    """`count` books picked by a seeded hash of their ids: stable whatever the order of the files."""
    unique = sorted(set(books))
    if len(unique) <= count:
        raise ValueError(f"{len(unique)} book(s) leave none for training after holding out --val-books {count}")
    return sorted(sorted(unique, key=lambda book: hashlib.sha256(f"{seed}:{book}".encode()).digest())[:count])


@dataclass
class Split:
    rows: np.ndarray  # rows of PassageData.vectors
    targets: list[list[int]]  # word ids, each ending in <eos>
    too_long: int  # passages of the split skipped for having max_len tokens or more


def make_split(data: PassageData, books: set[str], max_len: int, vocab: Vocabulary | None = None) -> Split:
    rows = [r for r, book in enumerate(data.books) if book in books]
    kept = [r for r in rows if len(data.tokens[r]) < max_len]
    targets = [[*vocab.ids(data.tokens[r]), EOS_ID] for r in kept] if vocab else []
    return Split(np.array(kept, dtype=np.int64), targets, len(rows) - len(kept))


def epoch_batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Batches of similar length, drawn afresh each epoch: equal lengths in random order, then the
    batches shuffled (the original likewise grouped equal lengths and shuffled each epoch)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    groups = plan_batches([lengths[i] for i in order], batch_size, batch_size * max(lengths))
    batches = [[int(order[i]) for i in group] for group in groups]
    return [batches[i] for i in rng.permutation(len(batches))]


def _batch(data: PassageData, split: Split, rows: list[int], device: torch.device) -> tuple[torch.Tensor, ...]:
    """Vectors and padded targets on `device`; the lengths stay on the CPU, so counting tokens needs no sync."""
    ids, lengths = pad_batch([split.targets[r] for r in rows])
    ctx = torch.from_numpy(data.vectors[split.rows[rows]])
    return ctx.to(device), ids.to(device), lengths


def _autocast(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


@torch.no_grad()
def perplexity(model: StoryDecoder, data: PassageData, split: Split, device: torch.device, batch_size: int) -> float:
    """exp(mean NLL per target token, the final <eos> included) over the whole split."""
    model.eval()
    total, tokens = 0.0, 0
    lengths = [len(t) for t in split.targets]
    for rows in plan_batches(lengths, batch_size, batch_size * max(lengths)):
        ctx, ids, lengths = _batch(data, split, rows, device)
        with _autocast(device):
            total -= float(model(ctx, ids, lengths).sum())
        tokens += int(lengths.sum())
    model.train()
    return math.exp(total / tokens)


def data_fingerprint(data: PassageData) -> str:
    digest = hashlib.sha256("\n".join(data.ids).encode())
    digest.update(memoryview(np.ascontiguousarray(data.vectors, dtype=np.float32)).cast("B"))
    return digest.hexdigest()


def _save_checkpoint(path: Path, checkpoint: dict) -> None:
    temp = path.with_name(f".tmp-{path.name}")
    torch.save(checkpoint, temp)
    os.replace(temp, path)


def _same_run(saved: dict, recipe: DecoderRecipe, words: list[str], fingerprint: str) -> bool:
    fixed = {k: v for k, v in asdict(recipe).items() if k not in RESUMABLE}
    return (saved["data"] == fingerprint and saved["words"] == words
            and {k: saved["recipe"].get(k) for k in fixed} == fixed)


def _splits(data: PassageData, recipe: DecoderRecipe) -> tuple[list[str], list[str], Split, Split]:
    held_out = held_out_books(data.books, recipe.val_books, recipe.seed)
    train_books = set(data.books) - set(held_out)
    train = make_split(data, train_books, recipe.max_len)
    if train.too_long > len(train.rows):
        print(f"note: {train.too_long} of {train.too_long + len(train.rows)} training passages have --max-len "
              f"{recipe.max_len} tokens or more and are skipped; raise --max-len to train on them",
              file=sys.stderr, flush=True)
    words = build_vocabulary([data.tokens[r] for r in train.rows], 1)[:recipe.vocab_size]
    vocab = Vocabulary.from_words(words)
    train, val = make_split(data, train_books, recipe.max_len, vocab), make_split(data, set(held_out),
                                                                                  recipe.max_len, vocab)
    for name, split in (("training", train), ("held-out", val)):
        if not split.targets:
            raise ValueError(f"no {name} passages shorter than --max-len {recipe.max_len} tokens: raise --max-len")
    return held_out, words, train, val


def train_decoder(data: PassageData, out_dir: Path, recipe: DecoderRecipe, provenance: dict) -> dict:
    """Train on `data` and write the decoder model directory `out_dir`; returns the metrics."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(recipe.device)
    held_out, words, train, val = _splits(data, recipe)
    fingerprint = data_fingerprint(data)
    torch.manual_seed(recipe.seed)
    config = DecoderConfig(n_words=len(words), dim_word=recipe.dim_word, dim=recipe.dim, dim_ctx=data.vectors.shape[1])
    model = StoryDecoder(config).to(device)
    # torch's Adam with the textbook bias correction. The original's Adam (reference c.4) corrected
    # with 1 - 0.1^t and 1 - 0.001^t, which made its first updates about 3x larger.
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=recipe.lr)
    # train_nll/train_tokens: the training loss since the last held-out measurement.
    state = {"epoch": 0, "batch": 0, "step": 0, "seconds": 0.0, "train_nll": 0.0, "train_tokens": 0,
             "history": [], "best": None}
    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    checkpoint = out_dir / CHECKPOINT

    def save_checkpoint() -> None:
        _save_checkpoint(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                      "state": state, "best": best, "recipe": asdict(recipe), "words": words,
                                      "data": fingerprint})

    if checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        if _same_run(saved, recipe, words, fingerprint):
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            state, best = saved["state"], saved["best"]
            print(f"resuming from {checkpoint}: epoch {state['epoch']}, step {state['step']}", file=sys.stderr)
        else:
            print(f"{checkpoint} is from other data or another recipe: starting afresh", file=sys.stderr)
    if not state["history"]:
        initial = perplexity(model, data, val, device, recipe.batch_size)
        state["history"].append({"epoch": 0, "step": 0, "train_perplexity": None, "held_out_perplexity": initial})
        state["best"] = state["history"][0]
        print(f"held-out perplexity before training {initial:.1f} ({len(words)} words)", file=sys.stderr)
    budget = recipe.max_minutes * 60 or float("inf")
    stopped_early = False
    lengths = [len(t) for t in train.targets]
    while state["epoch"] < recipe.epochs and not stopped_early:
        batches = epoch_batches(lengths, recipe.batch_size, recipe.seed + state["epoch"])
        window_nll, window_tokens, window_start = 0.0, 0, time.monotonic()
        for number in range(state["batch"], len(batches)):
            if state["seconds"] >= budget:
                stopped_early = True
                break
            started = time.monotonic()
            ctx, ids, batch_lengths = _batch(data, train, batches[number], device)
            with _autocast(device):
                nll = -model(ctx, ids, batch_lengths).sum()
            tokens = int(batch_lengths.sum())
            # Mean NLL per target token; the original summed over the batch, which with Adam
            # differs mainly in how often the clipping threshold is reached.
            optimizer.zero_grad(set_to_none=True)
            (nll / tokens).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            optimizer.step()
            state["step"] += 1
            state["batch"] = number + 1
            state["seconds"] += time.monotonic() - started
            value = float(nll.detach())
            window_nll, window_tokens = window_nll + value, window_tokens + tokens
            state["train_nll"], state["train_tokens"] = state["train_nll"] + value, state["train_tokens"] + tokens
            if state["step"] % recipe.log_every == 0:
                rate = window_tokens / (time.monotonic() - window_start)
                print(f"epoch {state['epoch'] + 1}/{recipe.epochs} batch {number + 1}/{len(batches)} step "
                      f"{state['step']} loss/token {window_nll / window_tokens:.3f} {rate:,.0f} tokens/s",
                      file=sys.stderr, flush=True)
                window_nll, window_tokens, window_start = 0.0, 0, time.monotonic()
            if state["step"] % recipe.checkpoint_every == 0:
                save_checkpoint()
        if not stopped_early:
            state["epoch"], state["batch"] = state["epoch"] + 1, 0
        if state["history"][-1]["step"] == state["step"]:
            continue  # a rerun whose time budget was already spent: nothing new to score
        # A run stopped by its time budget is scored where it stopped, in fractional epochs.
        epoch = round(state["epoch"] + state["batch"] / len(batches), 2) if state["batch"] else state["epoch"]
        held = perplexity(model, data, val, device, recipe.batch_size)
        trained = math.exp(state["train_nll"] / state["train_tokens"])
        state["train_nll"], state["train_tokens"] = 0.0, 0
        state["history"].append({"epoch": epoch, "step": state["step"], "train_perplexity": trained,
                                 "held_out_perplexity": held})
        improved = held < state["best"]["held_out_perplexity"]
        if improved:
            state["best"] = state["history"][-1]
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        print(f"after epoch {epoch}: held-out perplexity {held:.1f}, training {trained:.1f}"
              f"{' (best)' if improved else ''}", file=sys.stderr, flush=True)
        save_checkpoint()
    model.load_state_dict(best)
    metrics = {
        "data": {**data.counts, "passages": len(data.ids), "books": len(set(data.books)),
                 "train_passages": len(train.targets), "train_passages_too_long": train.too_long,
                 "train_tokens": sum(lengths), "held_out_passages": len(val.targets),
                 "held_out_passages_too_long": val.too_long, "vocabulary": len(words),
                 "held_out_unk_rate": round(sum(t.count(UNK_ID) for t in val.targets) / sum(map(len, val.targets)), 4)},
        "held_out_books": held_out,
        "steps": state["step"],
        "epochs_completed": state["epoch"],
        "best_epoch": state["best"]["epoch"],
        "stopped_by_time_budget": stopped_early,
        "train_seconds": round(state["seconds"], 1),
        "device": str(device),
        "history": state["history"],
        "held_out_perplexity": state["best"]["held_out_perplexity"],
        "train_perplexity": state["best"]["train_perplexity"],
    }
    model.config.provenance = {**provenance, "recipe": asdict(recipe), "metrics": metrics}
    save_decoder(out_dir, model.cpu(), words)
    (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
