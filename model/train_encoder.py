"""Training loop for our own skip-thought encoder: AdamW, global-norm clipping, length-bucketed
batches, bf16 autocast on GPU, atomic checkpoints with resume, progress with loss and tokens/s,
and validation NLL on held-out books. The result is an encoder model directory."""

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import torch

from data_schemas import text as col
from model.encoder_files import Vocabulary, save_encoder
from model.skipthought import SkipThoughtConfig, SkipThoughtEncoder
from model.skipthought_training import SkipThoughtObjective
from model.triples import batches, build_triples, held_out

CHECKPOINT = "checkpoint.pt"  # training state of every trainer (model, optimizer, position)
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class EncoderRecipe:
    dim_word: int = 620
    dim: int = 2400
    epochs: int = 5
    batch_size: int = 64
    lr: float = 2e-4
    grad_clip: float = 5.0
    max_len: int = 30  # triples with a sentence this long or longer are dropped (reference g)
    val_fraction: float = 0.08  # share of books held out for validation
    max_minutes: float = 0.0  # stop (and export) after this much training time; 0 = no limit
    seed: int = 1234
    device: str = "auto"
    log_every: int = 50
    checkpoint_every: int = 500


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is available")
    return torch.device(name)


def _save_checkpoint(path: Path, state: dict) -> None:
    temp = path.with_name(f".tmp-{path.name}")
    torch.save(state, temp)
    os.replace(temp, path)


# Recipe fields a resumed run may change: they do not alter the computation done so far.
RESUMABLE = ("epochs", "max_minutes", "device", "log_every", "checkpoint_every")


def _same_run(saved: dict, recipe: EncoderRecipe) -> bool:
    fixed = {k: v for k, v in asdict(recipe).items() if k not in RESUMABLE}
    return {k: saved.get(k) for k in fixed} == fixed


def _to(batch: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(t.to(device, non_blocking=True) if i != 1 else t for i, t in enumerate(batch))


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


@torch.no_grad()
def validation_nll(model: SkipThoughtObjective, val_batches: list, device: torch.device) -> float:
    model.eval()
    total, tokens = 0.0, 0.0
    for batch in val_batches:
        batch = _to(batch, device)
        with _autocast(device):
            total += float(model(*batch))
        tokens += float(batch[3].sum() + batch[5].sum())
    model.train()
    return total / max(tokens, 1.0)


def train_encoder(sentences: pa.Table, vocab_words: list[str], out_dir: Path, recipe: EncoderRecipe,
                  provenance: dict) -> dict:
    """Train on (previous, current, next) triples and write the model directory `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(recipe.device)
    torch.manual_seed(recipe.seed)
    vocab = Vocabulary.from_words(vocab_words)
    books = set(sentences.column(col.BOOK_ID).to_pylist())
    val_books = {b for b in books if held_out(b, recipe.val_fraction)} or {sorted(books)[0]}
    train = build_triples(sentences, vocab, recipe.max_len, books - val_books)
    val = build_triples(sentences, vocab, recipe.max_len, val_books)
    if not train.index:
        raise ValueError("no training triples: the corpus needs books with 3+ consecutive short sentences")
    val_batches = batches(val, 256, recipe.seed)
    model = SkipThoughtObjective(len(vocab_words), recipe.dim_word, recipe.dim).to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.lr, weight_decay=0.0)
    state = {"epoch": 0, "batch": 0, "step": 0, "seconds": 0.0, "history": []}
    checkpoint = out_dir / CHECKPOINT
    if checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        if _same_run(saved["recipe"], recipe) and saved["n_words"] == len(vocab_words):
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            state = saved["state"]
            print(f"resuming from {checkpoint}: epoch {state['epoch']}, step {state['step']}", file=sys.stderr)
    budget = recipe.max_minutes * 60 or float("inf")
    stopped_early = False
    while state["epoch"] < recipe.epochs and not stopped_early:
        epoch_batches = batches(train, recipe.batch_size, recipe.seed + state["epoch"])
        window_loss, window_tokens, window_start = 0.0, 0.0, time.monotonic()
        for number in range(state["batch"], len(epoch_batches)):
            started = time.monotonic()
            batch = _to(epoch_batches[number], device)
            with _autocast(device):
                loss = model(*batch)
            tokens = float(batch[3].sum() + batch[5].sum())
            optimizer.zero_grad(set_to_none=True)
            (loss / len(batch[0])).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            optimizer.step()
            state["step"] += 1
            state["batch"] = number + 1
            state["seconds"] += time.monotonic() - started
            window_loss += float(loss.detach())
            window_tokens += tokens
            if state["step"] % recipe.log_every == 0:
                rate = window_tokens / (time.monotonic() - window_start)
                print(f"epoch {state['epoch'] + 1}/{recipe.epochs} batch {number + 1}/{len(epoch_batches)} "
                      f"loss/token {window_loss / window_tokens:.3f} {rate:,.0f} tokens/s", file=sys.stderr, flush=True)
                window_loss, window_tokens, window_start = 0.0, 0.0, time.monotonic()
            if state["step"] % recipe.checkpoint_every == 0:
                _save_checkpoint(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                              "state": state, "recipe": asdict(recipe), "n_words": len(vocab_words)})
            if state["seconds"] >= budget:
                stopped_early = True
                break
        if not stopped_early:
            state["epoch"] += 1
            state["batch"] = 0
        val_nll = validation_nll(model, val_batches, device)
        state["history"].append({"epoch": state["epoch"], "step": state["step"], "val_nll_per_token": val_nll})
        print(f"validation NLL/token {val_nll:.3f} after step {state['step']}", file=sys.stderr, flush=True)
        _save_checkpoint(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                      "state": state, "recipe": asdict(recipe), "n_words": len(vocab_words)})
    metrics = {
        "train_triples": len(train.index),
        "val_triples": len(val.index),
        "val_books": sorted(val_books),
        "steps": state["step"],
        "epochs_completed": state["epoch"],
        "stopped_by_time_budget": stopped_early,
        "train_seconds": round(state["seconds"], 1),
        "device": str(device),
        "history": state["history"],
    }
    config = SkipThoughtConfig(kind="uni", dim_word=recipe.dim_word, uni_dim=recipe.dim,
                               provenance={**provenance, "recipe": asdict(recipe), "metrics": metrics})
    encoder = SkipThoughtEncoder(config)
    encoder.uni.load_state_dict(model.encoder.state_dict())
    table = model.embedding.weight.detach().float().cpu().numpy()
    save_encoder(out_dir, encoder.cpu(), vocab_words, {"uni": table})
    (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
