"""Training our own skip-thought encoder (reference g): AdamW, global-norm clipping, length-bucketed
batches of (previous, current, next) triples, and validation NLL on held-out books after each epoch.
Checkpoints, resume, the time budget and autocast are the shared loop's (model/training/loop.py). The
result is an encoder model directory, holding the last state (not the best validation one)."""

import json
from dataclasses import asdict, dataclass
from typing import ClassVar

import pyarrow as pa
import torch

from data_schemas import text as col
from data_schemas.atomic import write_text_atomic
from data_schemas.storage import Location, location
from model.device import DEVICES, torch_device
from model.skipthought.encoder import SkipThoughtConfig, SkipThoughtEncoder, sif_weights
from model.skipthought.files import Vocabulary, save_encoder
from model.skipthought.objective import SkipThoughtObjective
from model.skipthought.triples import Triples, batches, build_triples, held_out
from model.softmax import SOFTMAXES, parse_cutoffs
from model.training.loop import CHECKPOINT, METRICS_FILE, Schedule, StepLoss, Task, run_identity, train_loop
from model.training.recipes import option
from model.words.embedding import start_embedding
from model.words.files import WordVectors


@dataclass(frozen=True)
class EncoderRecipe:
    family: ClassVar[str] = "encoder"
    dim_word: int = option(620, "word vector size")
    dim: int = option(2400, "GRU hidden size (the vector size)")
    vocab_size: int = option(20_000, "words of the vocabulary, including <eos> and UNK")
    epochs: int = option(5, "passes over the training triples; a rerun resumes and may raise this to train on")
    batch_size: int = option(64, "triples per batch")
    lr: float = option(2e-4, "AdamW learning rate")
    grad_clip: float = option(5.0, "global gradient-norm limit")
    max_len: int = option(30, "triples with a sentence this long or longer are dropped (reference g); the metrics "
                          "count them")
    softmax: str = option("full", "the neighbour decoders' output layer. full: over every word (the original); "
                          "adaptive: a frequent-word head and smaller tail clusters (Grave et al. 2017), far cheaper",
                          SOFTMAXES)
    cutoffs: str = option("", "--softmax adaptive: the word ranks where the head and each tail cluster end, e.g. "
                          "2000,6000")
    val_fraction: float = option(0.08, "share of books held out for validation")
    max_minutes: float = option(0.0, "stop and export after this much training time (0 = no limit)")
    seed: int = option(1234, "seeds the weights and the batch order")
    device: str = option("auto", "where to train (auto: CUDA when present)", DEVICES)
    log_every: int = option(50, "steps between progress lines")
    checkpoint_every: int = option(500, "steps between checkpoints (and one after each epoch)")
    word_vectors: str = option("", "a words model (id under WS/models or folder) whose vectors start the word "
                               "embeddings; empty: random")
    mean_words: bool = option(False, "the vector also carries the frequency-weighted (SIF) mean of its word vectors "
                              "(dim_word more numbers): which words the text had, which a briefly trained GRU keeps "
                              "little of")

    def __post_init__(self) -> None:
        parse_cutoffs(self.cutoffs, self.softmax, self.vocab_size)


def _to(batch: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    # The source lengths (item 1) stay on the CPU, where packing wants them.
    return tuple(t.to(device, non_blocking=True) if i != 1 else t for i, t in enumerate(batch))


def validation_nll(model: SkipThoughtObjective, val_batches: list, device: torch.device) -> float:
    """Summed NLL of the neighbours' tokens per token (the loop runs it in eval mode, without gradients)."""
    total, tokens = 0.0, 0.0
    for batch in val_batches:
        batch = _to(batch, device)
        total += float(model(*batch))
        tokens += float(batch[3].sum() + batch[5].sum())
    return total / max(tokens, 1.0)


class _SkipThoughtTask(Task):
    def __init__(self, model: SkipThoughtObjective, train: Triples, val_batches: list, recipe: EncoderRecipe,
                 device: torch.device):
        self.model, self.train, self.val_batches, self.recipe, self.device = model, train, val_batches, recipe, device

    def batches(self, epoch: int) -> list:
        return batches(self.train, self.recipe.batch_size, self.recipe.seed + epoch)

    def loss(self, batch: tuple[torch.Tensor, ...]) -> StepLoss:
        batch = _to(batch, self.device)
        loss = self.model(*batch)
        return StepLoss(loss / len(batch[0]), loss, float(batch[3].sum() + batch[5].sum()))

    def evaluate(self, train_loss: float | None) -> dict:
        return {"val_nll_per_token": validation_nll(self.model, self.val_batches, self.device)}

    def describe(self, record: dict) -> str:
        return f"validation NLL/token {record['val_nll_per_token']:.3f} after step {record['step']}"


def train_encoder(sentences: pa.Table, vocab_words: list[str], out_dir: Location, recipe: EncoderRecipe,
                  provenance: dict, word_vectors: WordVectors | None = None,
                  vocab_counts: list[int] | None = None) -> dict:
    """Train on (previous, current, next) triples and write the model directory `out_dir`. `vocab_counts`
    (tokens per vocabulary word, UNK holding every word left out) give the mean_words weights."""
    if recipe.mean_words and (vocab_counts is None or len(vocab_counts) != len(vocab_words)):
        raise ValueError("mean_words needs the token count of every vocabulary word")
    out_dir = location(out_dir)  # a folder on disk or on the workspace's store
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch_device(recipe.device)
    torch.manual_seed(recipe.seed)
    vocab = Vocabulary.from_words(vocab_words)
    books = set(sentences.column(col.BOOK_ID).to_pylist())
    val_books = {b for b in books if held_out(b, recipe.val_fraction)} or {sorted(books)[0]}
    train = build_triples(sentences, vocab, recipe.max_len, books - val_books)
    val = build_triples(sentences, vocab, recipe.max_len, val_books)
    if not train.index:
        raise ValueError("no training triples: the corpus needs books with 3+ consecutive short sentences")
    cutoffs = parse_cutoffs(recipe.cutoffs, recipe.softmax, recipe.vocab_size)
    model = SkipThoughtObjective(len(vocab_words), recipe.dim_word, recipe.dim, recipe.softmax, cutoffs).to(device)
    provenance = {**provenance, **start_embedding(model.embedding, vocab_words, recipe.word_vectors, word_vectors)}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.lr, weight_decay=0.0)
    task = _SkipThoughtTask(model, train, batches(val, 256, recipe.seed), recipe, device)
    schedule = Schedule(recipe.epochs, recipe.max_minutes, recipe.grad_clip, recipe.log_every, recipe.checkpoint_every)
    outcome = train_loop(task, model, optimizer, schedule, out_dir / CHECKPOINT,
                         run_identity(recipe, words=vocab_words), device)
    state = outcome.state
    metrics = {
        "train_triples": len(train.index),
        "val_triples": len(val.index),
        # Triples of consecutive sentences that max_len left out (reference g's rule).
        "max_len": recipe.max_len,
        "train_triples_too_long": train.too_long,
        "val_triples_too_long": val.too_long,
        "val_books": sorted(val_books),
        "steps": state["step"],
        "epochs_completed": state["epoch"],
        "stopped_by_time_budget": outcome.stopped_by_time_budget,
        "train_seconds": round(state["seconds"], 1),
        "device": str(device),
        "history": state["history"],
    }
    # The objective encodes each sentence with its <eos> (triples.py), so inference does too.
    config = SkipThoughtConfig(kind="uni", dim_word=recipe.dim_word, uni_dim=recipe.dim, use_eos=True,
                               mean_words=recipe.mean_words,
                               provenance={**provenance, "recipe": asdict(recipe), "metrics": metrics})
    encoder = SkipThoughtEncoder(config, word_weights=sif_weights(vocab_counts) if recipe.mean_words else None)
    encoder.uni.load_state_dict(model.encoder.state_dict())
    table = model.embedding.weight.detach().float().cpu().numpy()
    save_encoder(out_dir, encoder.cpu(), vocab_words, {"uni": table})
    write_text_atomic(out_dir / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    return metrics
