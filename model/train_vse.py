"""Training the visual-semantic embedding on (image features, captions) (reference d.3).

Images are split into train / validation / test by a seeded hash of their ids, so the split is
stable across reruns and does not depend on file order. The vocabulary comes from the training
captions. Each epoch visits every training caption once with its image's feature, in batches; the
pairwise ranking loss (model/vse_loss.py) is summed over in-batch negatives ("sum", the original)
or taken at the hardest one ("max", VSE++). After each epoch the model is scored on the
validation images with the original's i2t/t2i recall, and the best R-sum model is the one
exported (the original did the same every 100 updates). Checkpoints are atomic; a rerun with the
same data and recipe resumes, and may raise --epochs to train on.
"""

import hashlib
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from data_schemas import text as col
from data_schemas.features import IMAGE_ID
from data_schemas.vectors import vector_matrix
from model.batching import plan_batches
from model.encode_api import pad_batch
from model.encoder_files import EOS, UNK, Vocabulary
from model.retrieval_metrics import recall_report
from model.train_encoder import CHECKPOINT, METRICS_FILE, pick_device
from model.vse import VisualSemanticEmbedding, VSEConfig
from model.vse_files import save_vse
from model.vse_loss import REDUCTIONS, ranking_loss


@dataclass(frozen=True)
class VSERecipe:
    dim_word: int = 300
    dim: int = 1024
    loss: str = "sum"  # sum | max (see model/vse_loss.py)
    margin: float = 0.2
    epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-4
    grad_clip: float = 2.0  # global gradient norm
    max_len: int = 100  # captions with this many tokens or more are left out of training (maxlen_w)
    min_count: int = 1  # training-caption words seen fewer times become UNK
    test_images: int = 100
    val_images: int = 100
    max_minutes: float = 0.0  # stop (and export the best model so far) after this much training; 0 = no limit
    seed: int = 1234
    device: str = "auto"
    log_every: int = 10  # steps between progress lines

    def __post_init__(self) -> None:
        if self.loss not in REDUCTIONS:
            raise ValueError(f"--loss must be one of {REDUCTIONS}, got {self.loss!r}")
        if self.epochs < 1 or self.val_images < 1 or self.test_images < 1:
            raise ValueError("--epochs, --val-images and --test-images must each be at least 1")


# Recipe fields a resumed run may change: they do not alter the computation done so far.
RESUMABLE = ("epochs", "max_minutes", "device", "log_every")


@dataclass
class PairData:
    """Images (one feature row each) and their captions (tokens, and the image row they describe)."""

    image_ids: list[str]
    features: np.ndarray
    captions: list[list[str]]
    caption_image: np.ndarray
    counts: dict = field(default_factory=dict)


def join_pairs(features: pa.Table, captions: pa.Table) -> PairData:
    """Captions joined to image features on image_id. Captions without a feature row, images
    without captions and features with NaN/inf are counted in `counts`, not silently dropped."""
    image_ids = features.column(IMAGE_ID).to_pylist()
    duplicates = [image for image, n in Counter(image_ids).items() if n > 1]
    if duplicates:
        raise ValueError(f"image features hold image_id(s) {duplicates[:5]} more than once")
    matrix = vector_matrix(features)
    finite = np.isfinite(matrix).all(axis=1)
    row_of = {image: row for row, image in enumerate(image_ids) if finite[row]}
    kept_tokens, kept_rows, without = [], [], 0
    for image, tokens in zip(captions.column(col.IMAGE_ID).to_pylist(), captions.column(col.TOKENS).to_pylist(),
                             strict=True):
        if image in row_of and tokens:
            kept_tokens.append(tokens)
            kept_rows.append(row_of[image])
        else:
            without += 1
    used = sorted(set(kept_rows))
    renumber = {old: new for new, old in enumerate(used)}
    counts = {"captions_in": captions.num_rows, "captions_without_features": without,
              "images_in": len(image_ids), "images_nonfinite": int((~finite).sum()),
              "images_without_captions": int(finite.sum()) - len(used)}
    return PairData([image_ids[r] for r in used], matrix[used], kept_tokens,
                    np.array([renumber[r] for r in kept_rows], dtype=np.int64), counts)


def split_images(image_ids: list[str], test: int, val: int, seed: int) -> dict[str, list[int]]:
    """Image rows per split, by a seeded hash of each id: stable whatever the order of the files."""
    order = sorted(range(len(image_ids)), key=lambda r: hashlib.sha256(f"{seed}:{image_ids[r]}".encode()).digest())
    if len(order) <= test + val:
        raise ValueError(f"{len(order)} images with captions and features leave none for training after "
                         f"{test} test and {val} validation images; lower --test-images/--val-images")
    return {"test": sorted(order[:test]), "val": sorted(order[test:test + val]), "train": sorted(order[test + val:])}


def build_vocabulary(token_lists: list[list[str]], min_count: int) -> list[str]:
    """<eos>, UNK, then words by descending count, ties by word (reference a.2, with a stable tie rule)."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    words = [w for w, n in counts.items() if n >= min_count and w not in (EOS, UNK)]
    return [EOS, UNK, *sorted(words, key=lambda w: (-counts[w], w))]


@dataclass
class Split:
    features: torch.Tensor  # (N_images, dim_image)
    ids: list[list[int]]  # caption word ids, each ending in <eos>
    caption_image: np.ndarray  # (N_captions,) row into features
    image_ids: list[str]


def make_split(data: PairData, rows: list[int], vocab: Vocabulary, max_len: int | None = None) -> Split:
    renumber = {old: new for new, old in enumerate(rows)}
    keep = [c for c, image in enumerate(data.caption_image) if image in renumber
            and (max_len is None or len(data.captions[c]) < max_len)]
    return Split(torch.from_numpy(np.ascontiguousarray(data.features[rows], dtype=np.float32)),
                 [[*vocab.ids(data.captions[c]), vocab.eos] for c in keep],
                 np.array([renumber[data.caption_image[c]] for c in keep], dtype=np.int64),
                 [data.image_ids[r] for r in rows])


@torch.no_grad()
def evaluate(model: VisualSemanticEmbedding, split: Split, device: torch.device) -> dict:
    """The original's i2t / t2i recall of a split (every caption against every image of it)."""
    images = model.embed_images(split.features.to(device)).float().cpu().numpy()
    captions = np.zeros((len(split.ids), model.config.dim), dtype=np.float32)
    for rows in plan_batches([len(ids) for ids in split.ids], 256, 8192):
        batch, lengths = pad_batch([split.ids[r] for r in rows])
        captions[rows] = model(batch.to(device), lengths).float().cpu().numpy()
    return recall_report(images, captions, split.caption_image)


def _line(report: dict) -> str:
    parts = [f"{name} R@1 {r['r1']:.1f} R@5 {r['r5']:.1f} R@10 {r['r10']:.1f} medr {r['medr']:.0f}"
             for name, r in (("i2t", report["i2t"]), ("t2i", report["t2i"]))]
    return f"{' | '.join(parts)} | rsum {report['rsum']:.1f} ({report['images']} images, {report['captions']} captions)"


def _save_checkpoint(path: Path, checkpoint: dict) -> None:
    temp = path.with_name(f".tmp-{path.name}")
    torch.save(checkpoint, temp)
    os.replace(temp, path)


def _same_run(saved: dict, recipe: VSERecipe, words: list[str]) -> bool:
    fixed = {k: v for k, v in asdict(recipe).items() if k not in RESUMABLE}
    return saved["words"] == words and {k: saved["recipe"].get(k) for k in fixed} == fixed


def train_vse(data: PairData, out_dir: Path, recipe: VSERecipe, provenance: dict) -> dict:
    """Train on `data` and write the VSE model directory `out_dir`; returns the metrics."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(recipe.device)
    splits = split_images(data.image_ids, recipe.test_images, recipe.val_images, recipe.seed)
    train_rows = set(splits["train"])
    words = build_vocabulary([t for t, image in zip(data.captions, data.caption_image, strict=True)
                              if image in train_rows], recipe.min_count)
    vocab = Vocabulary.from_words(words)
    train = make_split(data, splits["train"], vocab, recipe.max_len)
    val, test = make_split(data, splits["val"], vocab), make_split(data, splits["test"], vocab)
    if not train.ids:
        raise ValueError(f"no training captions shorter than --max-len {recipe.max_len} tokens")
    torch.manual_seed(recipe.seed)
    config = VSEConfig(n_words=len(words), dim_image=data.features.shape[1], dim_word=recipe.dim_word, dim=recipe.dim)
    model = VisualSemanticEmbedding(config).to(device)
    # torch's Adam with the textbook bias correction. The original's Adam (reference c.4, d.3)
    # corrected with 1 - 0.1^t and 1 - 0.001^t, which made its first updates about 3x larger.
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=recipe.lr)
    state = {"epoch": 0, "batch": 0, "step": 0, "seconds": 0.0, "history": [], "best_epoch": 0,
             "best_validation": None}
    best = {k: v.detach().clone() for k, v in model.state_dict().items()}
    checkpoint = out_dir / CHECKPOINT
    if checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        if _same_run(saved, recipe, words):
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            state, best = saved["state"], saved["best"]
            print(f"resuming from {checkpoint}: epoch {state['epoch']}, step {state['step']}", file=sys.stderr)
        else:
            print(f"{checkpoint} is from other data or another recipe: starting afresh", file=sys.stderr)
    features = train.features.to(device)
    image_of = torch.from_numpy(train.caption_image).to(device)
    budget = recipe.max_minutes * 60 or float("inf")
    stopped_early = False
    while state["epoch"] < recipe.epochs and not stopped_early:
        order = np.random.default_rng(recipe.seed + state["epoch"]).permutation(len(train.ids))
        batches = [order[i:i + recipe.batch_size] for i in range(0, len(order), recipe.batch_size)]
        window_loss, window_pairs, window_start = 0.0, 0, time.monotonic()
        for number in range(state["batch"], len(batches)):
            if state["seconds"] >= budget:
                stopped_early = True
                break
            started, rows = time.monotonic(), batches[number]
            ids, lengths = pad_batch([train.ids[r] for r in rows])
            images = image_of[torch.from_numpy(rows).to(device)]
            # The original's training graph left image vectors unnormalised (reference d.1); both
            # sides are unit vectors here, as at inference, so the margin is on the cosine scale.
            loss = ranking_loss(model.embed_images(features[images]), model(ids.to(device), lengths),
                                recipe.margin, recipe.loss, same_image=images[:, None] == images[None, :])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            optimizer.step()
            state["step"] += 1
            state["batch"] = number + 1
            state["seconds"] += time.monotonic() - started
            window_loss += float(loss.detach())
            window_pairs += len(rows)
            if state["step"] % recipe.log_every == 0:
                rate = window_pairs / (time.monotonic() - window_start)
                print(f"epoch {state['epoch'] + 1}/{recipe.epochs} batch {number + 1}/{len(batches)} "
                      f"loss/pair {window_loss / window_pairs:.4f} {rate:,.0f} pairs/s", file=sys.stderr, flush=True)
                window_loss, window_pairs, window_start = 0.0, 0, time.monotonic()
        if not stopped_early:
            state["epoch"], state["batch"] = state["epoch"] + 1, 0
        if state["history"] and state["history"][-1]["step"] == state["step"]:
            continue  # a rerun whose time budget was already spent: nothing new to score
        # A run stopped by its time budget is scored where it stopped, in fractional epochs.
        epoch = round(state["epoch"] + state["batch"] / len(batches), 2) if state["batch"] else state["epoch"]
        report = evaluate(model, val, device)
        improved = state["best_validation"] is None or report["rsum"] > state["best_validation"]["rsum"]
        if improved:
            state["best_validation"], state["best_epoch"] = report, epoch
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        state["history"].append({"epoch": epoch, "step": state["step"], "validation": report})
        print(f"validation after epoch {epoch}: {_line(report)}{' (best)' if improved else ''}",
              file=sys.stderr, flush=True)
        _save_checkpoint(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                      "state": state, "best": best, "recipe": asdict(recipe), "words": words})
    model.load_state_dict(best)
    test_report = evaluate(model, test, device)
    print(f"test (best validation R-sum, epoch {state['best_epoch']}): {_line(test_report)}", file=sys.stderr)
    metrics = {
        "data": {**data.counts, "images": len(data.image_ids), "captions": len(data.captions),
                 "train_images": len(splits["train"]), "train_captions": len(train.ids),
                 "train_captions_too_long": sum(1 for c, image in enumerate(data.caption_image)
                                                if image in train_rows and len(data.captions[c]) >= recipe.max_len),
                 "vocabulary": len(words)},
        "held_out": {"validation": val.image_ids, "test": test.image_ids},
        "steps": state["step"],
        "epochs_completed": state["epoch"],
        "best_epoch": state["best_epoch"],
        "stopped_by_time_budget": stopped_early,
        "train_seconds": round(state["seconds"], 1),
        "device": str(device),
        "history": state["history"],
        "validation": state["best_validation"],
        "test": test_report,
    }
    model.config.provenance = {**provenance, "recipe": asdict(recipe), "metrics": metrics}
    save_vse(out_dir, model.cpu(), words)
    (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
