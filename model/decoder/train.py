"""Training the storyteller decoder (reference c.4): reconstruct each passage from its own
skip-thought vector.

The original encoded every minibatch on the fly with the frozen encoder; here the vectors are read
from the encode stage's shards (`vectors/<encoder>/<corpus>/passages`), the same numbers computed
once. Books, not passages, are held out (a seeded hash of the book id picks them), so the held-out
perplexity is measured on prose the decoder never saw. The vocabulary is the commonest words of the
training passages (cut to --max-tokens when it is set). Batches group passages of similar length
(in a new random order each epoch). After each epoch the held-out perplexity is measured twice, with
each passage's own vector and with the vectors shuffled among the held-out passages (how much the
decoder listens to its vector), and the best model so far by the first is the one exported.
Checkpoints are atomic; a rerun with the same data and recipe resumes, and may raise --epochs to
train on (model/training/loop.py). pipelines/training.py reads the passages and their vectors from
a workspace.
"""

import hashlib
import json
import math
import sys
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import torch

from data_schemas.atomic import write_text_atomic
from data_schemas.storage import Location, location
from model.decoder.conditional_gru import EOS_ID, UNK_ID, DecoderConfig, StoryDecoder
from model.decoder.files import save_decoder
from model.device import DEVICES, torch_device
from model.skipthought.api import pad_batch
from model.skipthought.files import Vocabulary
from model.softmax import SOFTMAXES, parse_cutoffs
from model.text.batching import plan_batches
from model.training.loop import CHECKPOINT, METRICS_FILE, Schedule, StepLoss, Task, run_identity, train_loop
from model.training.recipes import option
from model.vse.train import build_vocabulary
from model.words.embedding import start_embedding
from model.words.files import WordVectors


@dataclass(frozen=True)
class DecoderRecipe:
    family: ClassVar[str] = "decoder"
    dim_word: int = option(620, "word vector size")
    dim: int = option(1600, "GRU hidden size")
    vocab_size: int = option(20_000, "commonest training words kept, including <eos> and UNK")
    # The original used 100 (maxlen_w) on BookCorpus passages; ours are 100-150 tokens by construction
    # (corpus stage), so 100 would skip nearly all of them.
    max_len: int = option(160, "skip passages with this many tokens or more (the original: 100)")
    max_tokens: int = option(0, "cut longer passages after their last sentence end within the first N tokens (at N "
                             "when none ends there), for training and held-out perplexity; 0 = no cut")
    ctx_every_step: bool = option(False, "feed the vector to the GRU at every step as well, as the paper's decoder "
                                  "(skip-thoughts issue #8); the original: only through the first state")
    ctx_in_output: bool = option(False, "add the vector to the deep output layer too (hid = tanh(W h + C v)): the "
                                 "words it holds reach the word scores directly")
    softmax: str = option("full", "full: over every word (the original); adaptive: a frequent-word head and "
                          "smaller tail clusters (Grave et al. 2017), far cheaper for a large vocabulary", SOFTMAXES)
    cutoffs: str = option("", "--softmax adaptive: the word ranks where the head and each tail cluster end, e.g. "
                          "2000,6000")
    batch_size: int = option(64, "passages per batch (the original: 16)")
    lr: float = option(2e-4, "Adam learning rate")
    grad_clip: float = option(5.0, "global gradient-norm limit")
    epochs: int = option(5, "a rerun resumes and may raise this to train on")
    val_books: int = option(2, "books held out to measure perplexity on")
    max_minutes: float = option(0.0, "stop after this much training and export the best model so far (0 = no limit)")
    seed: int = option(1234, "seeds the held-out books, the weights and batch order")
    device: str = option("auto", "where to train (auto: CUDA when present)", DEVICES)
    log_every: int = option(50, "steps between progress lines")
    checkpoint_every: int = option(500, "steps between checkpoints (and one after each epoch)")
    word_vectors: str = option("", "a words model (id under WS/models or folder) whose vectors start the word "
                               "embeddings; empty: random")

    def __post_init__(self) -> None:
        counts = (self.epochs, self.val_books, self.max_len, self.batch_size, self.log_every, self.checkpoint_every)
        if min(counts) < 1 or self.vocab_size < 3 or self.max_tokens < 0:
            raise ValueError("--epochs, --val-books, --max-len, --batch-size, --log-every and --checkpoint-every must "
                             "be at least 1, --vocab-size at least 3, --max-tokens at least 0")
        parse_cutoffs(self.cutoffs, self.softmax, self.vocab_size)


@dataclass
class PassageData:
    """Passages that have a skip-thought vector, in corpus and shard order."""

    ids: list[str]
    books: list[str]
    tokens: list[list[str]]
    vectors: np.ndarray  # (N, dim_ctx) float32
    counts: dict  # passages read, and those without a vector (rejected by the encode stage)
    encoder_files: dict  # file name -> sha256 of the encoder that made the vectors


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
    cut: int = 0  # kept passages cut to max_tokens


SENTENCE_ENDS = frozenset({".", "!", "?"})
CLOSING_QUOTE = "''"  # Treebank's closing double quote, which may follow a sentence end


def cut_passage(tokens: list[str], max_tokens: int) -> list[str]:
    """The passage, or for one longer than `max_tokens` (when that is not 0) its first `max_tokens`
    tokens up to the last sentence end among them: a decoder learns <eos> where prose can stop, not in
    mid-sentence. When no sentence ends there, the first `max_tokens` tokens."""
    if not max_tokens or len(tokens) <= max_tokens:
        return tokens
    head = tokens[:max_tokens]
    ends = [i + 1 for i, token in enumerate(head)
            if token in SENTENCE_ENDS or (token == CLOSING_QUOTE and i and head[i - 1] in SENTENCE_ENDS)]
    return head[:ends[-1]] if ends else head


def make_split(data: PassageData, books: set[str], max_len: int, max_tokens: int,
               vocab: Vocabulary | None = None) -> Split:
    """The passages of `books` shorter than `max_len` tokens, cut to `max_tokens` (0: whole)."""
    rows = [r for r, book in enumerate(data.books) if book in books]
    kept = [r for r in rows if len(data.tokens[r]) < max_len]
    targets = [[*vocab.ids(cut_passage(data.tokens[r], max_tokens)), EOS_ID] for r in kept] if vocab else []
    cut = sum(len(data.tokens[r]) > max_tokens for r in kept) if max_tokens else 0
    return Split(np.array(kept, dtype=np.int64), targets, len(rows) - len(kept), cut)


def shuffled_vectors(split: Split, seed: int) -> Split:
    """The split with each passage given another passage's vector: one cycle through a seeded random
    order (passage order[i] takes the vector of order[i + 1]), so none keeps its own."""
    order = np.random.default_rng(seed).permutation(len(split.rows))
    rows = split.rows.copy()
    rows[order] = split.rows[np.roll(order, -1)]
    return Split(rows, split.targets, split.too_long, split.cut)


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


def perplexity(model: StoryDecoder, data: PassageData, split: Split, device: torch.device, batch_size: int) -> float:
    """exp(mean NLL per target token, the final <eos> included) over the whole split (the loop runs it
    in eval mode, without gradients)."""
    total, tokens = 0.0, 0
    lengths = [len(t) for t in split.targets]
    for rows in plan_batches(lengths, batch_size, batch_size * max(lengths)):
        ctx, ids, lengths = _batch(data, split, rows, device)
        total -= float(model(ctx, ids, lengths).sum())
        tokens += int(lengths.sum())
    return math.exp(total / tokens)


def data_fingerprint(data: PassageData) -> str:
    digest = hashlib.sha256("\n".join(data.ids).encode())
    digest.update(memoryview(np.ascontiguousarray(data.vectors, dtype=np.float32)).cast("B"))
    return digest.hexdigest()


def _splits(data: PassageData, recipe: DecoderRecipe) -> tuple[list[str], list[str], Split, Split]:
    held_out = held_out_books(data.books, recipe.val_books, recipe.seed)
    train_books = set(data.books) - set(held_out)
    train = make_split(data, train_books, recipe.max_len, recipe.max_tokens)
    if train.too_long > len(train.rows):
        print(f"note: {train.too_long} of {train.too_long + len(train.rows)} training passages have --max-len "
              f"{recipe.max_len} tokens or more and are skipped; raise --max-len to train on them",
              file=sys.stderr, flush=True)
    texts = [cut_passage(data.tokens[r], recipe.max_tokens) for r in train.rows]
    words = build_vocabulary(texts, 1)[:recipe.vocab_size]
    vocab = Vocabulary.from_words(words)
    train, val = (make_split(data, books, recipe.max_len, recipe.max_tokens, vocab)
                  for books in (train_books, set(held_out)))
    for name, split in (("training", train), ("held-out", val)):
        if not split.targets:
            raise ValueError(f"no {name} passages shorter than --max-len {recipe.max_len} tokens: raise --max-len")
    return held_out, words, train, val


class _DecoderTask(Task):
    evaluate_first = True  # the untrained perplexity is the history's first record

    def __init__(self, model: StoryDecoder, data: PassageData, train: Split, val: Split, recipe: DecoderRecipe,
                 device: torch.device):
        self.model, self.data, self.train, self.val, self.recipe, self.device = model, data, train, val, recipe, device
        self.lengths = [len(t) for t in train.targets]
        # How much the decoder listens to its vector: the same held-out passages, each decoded from
        # another one's vector. A decoder that ignores its vector scores the same either way.
        self.val_shuffled = shuffled_vectors(val, recipe.seed)

    def batches(self, epoch: int) -> list[list[int]]:
        return epoch_batches(self.lengths, self.recipe.batch_size, self.recipe.seed + epoch)

    def loss(self, rows: list[int]) -> StepLoss:
        ctx, ids, lengths = _batch(self.data, self.train, rows, self.device)
        nll = -self.model(ctx, ids, lengths).sum()
        tokens = int(lengths.sum())
        # Mean NLL per target token; the original summed over the batch, which with Adam
        # differs mainly in how often the clipping threshold is reached.
        return StepLoss(nll / tokens, nll, tokens)

    def evaluate(self, train_loss: float | None) -> dict:
        held, shuffled = (perplexity(self.model, self.data, split, self.device, self.recipe.batch_size)
                          for split in (self.val, self.val_shuffled))
        return {"train_perplexity": None if train_loss is None else math.exp(train_loss),
                "held_out_perplexity": held, "held_out_perplexity_shuffled": shuffled}

    def describe(self, record: dict) -> str:
        held = (f"held-out perplexity {record['held_out_perplexity']:.1f} (vectors shuffled among passages "
                f"{record['held_out_perplexity_shuffled']:.1f})")
        if record["train_perplexity"] is None:
            return f"{held} before training ({self.model.config.n_words} words)"
        return f"after epoch {record['epoch']}: {held}, training {record['train_perplexity']:.1f}"

    def figure(self, record: dict) -> float:
        return record["held_out_perplexity"]


def train_decoder(data: PassageData, out_dir: Location, recipe: DecoderRecipe, provenance: dict,
                  word_vectors: WordVectors | None = None) -> dict:
    """Train on `data` and write the decoder model directory `out_dir`; returns the metrics."""
    out_dir = location(out_dir)  # a folder on disk or on the workspace's store
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch_device(recipe.device)
    held_out, words, train, val = _splits(data, recipe)
    torch.manual_seed(recipe.seed)
    config = DecoderConfig(n_words=len(words), dim_word=recipe.dim_word, dim=recipe.dim, dim_ctx=data.vectors.shape[1],
                           ctx_every_step=recipe.ctx_every_step, ctx_in_output=recipe.ctx_in_output,
                           softmax=recipe.softmax,
                           cutoffs=parse_cutoffs(recipe.cutoffs, recipe.softmax, recipe.vocab_size))
    model = StoryDecoder(config).to(device)
    provenance = {**provenance, **start_embedding(model.embedding, words, recipe.word_vectors, word_vectors)}
    # torch's Adam with the textbook bias correction. The original's Adam (reference c.4) corrected
    # with 1 - 0.1^t and 1 - 0.001^t, which made its first updates about 3x larger.
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=recipe.lr)
    task = _DecoderTask(model, data, train, val, recipe, device)
    schedule = Schedule(recipe.epochs, recipe.max_minutes, recipe.grad_clip, recipe.log_every, recipe.checkpoint_every)
    outcome = train_loop(task, model, optimizer, schedule, out_dir / CHECKPOINT,
                         run_identity(recipe, words=words, data=data_fingerprint(data)), device)
    state, best = outcome.state, outcome.state["best"]
    model.load_state_dict(outcome.best_weights)
    metrics = {
        "data": {**data.counts, "passages": len(data.ids), "books": len(set(data.books)),
                 "train_passages": len(train.targets), "train_passages_too_long": train.too_long,
                 "train_tokens": sum(task.lengths), "held_out_passages": len(val.targets),
                 "held_out_passages_too_long": val.too_long, "train_passages_cut": train.cut,
                 "held_out_passages_cut": val.cut, "vocabulary": len(words),
                 "held_out_unk_rate": round(sum(t.count(UNK_ID) for t in val.targets) / sum(map(len, val.targets)), 4)},
        "held_out_books": held_out,
        "steps": state["step"],
        "epochs_completed": state["epoch"],
        "best_epoch": best["epoch"],
        "stopped_by_time_budget": outcome.stopped_by_time_budget,
        "train_seconds": round(state["seconds"], 1),
        "device": str(device),
        "history": state["history"],
        "held_out_perplexity": best["held_out_perplexity"],
        # Of the best state (chosen by the own-vector perplexity alone).
        "held_out_perplexity_shuffled": best["held_out_perplexity_shuffled"],
        "train_perplexity": best["train_perplexity"],
    }
    model.config.provenance = {**provenance, "recipe": asdict(recipe), "metrics": metrics}
    save_decoder(out_dir, model.cpu(), words)
    write_text_atomic(out_dir / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    return metrics
