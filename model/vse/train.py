"""Training the visual-semantic embedding on (image features, captions) (reference d.3).

Images are split into train / validation / test by a seeded hash of their ids, so the split is
stable across reruns and does not depend on file order. The vocabulary comes from the training
captions. Each epoch visits every training caption once with its image's feature, in batches; the
pairwise ranking loss (model/vse_loss.py) is summed over in-batch negatives ("sum", the original)
or taken at the hardest one ("max", VSE++). After each epoch the model is scored on the
validation images with the original's i2t/t2i recall, and the best R-sum model is the one
exported (the original did the same every 100 updates). Checkpoints are atomic; a rerun with the
same data and recipe resumes, and may raise --epochs to train on (model/training/loop.py).
"""

import hashlib
import json
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np
import pyarrow as pa
import torch

from data_schemas import text as col
from data_schemas.atomic import write_text_atomic
from data_schemas.features import IMAGE_ID
from data_schemas.storage import Location, location
from data_schemas.vectors import vector_matrix
from model.device import DEVICES, torch_device
from model.skipthought.api import pad_batch
from model.skipthought.files import EOS, UNK, Vocabulary
from model.text.batching import plan_batches
from model.training.loop import CHECKPOINT, METRICS_FILE, Schedule, StepLoss, Task, run_identity, train_loop
from model.training.recipes import option
from model.vse.embedding import VisualSemanticEmbedding, VSEConfig
from model.vse.files import save_vse
from model.vse.loss import REDUCTIONS, ranking_loss
from model.vse.metrics import recall_report
from model.words.embedding import start_embedding
from model.words.files import WordVectors

VOCABULARIES = ("captions", "word-vectors")


@dataclass(frozen=True)
class VSERecipe:
    family: ClassVar[str] = "vse"
    dim_word: int = option(300, "word vector size")
    dim: int = option(1024, "joint space size (the GRU hidden size)")
    loss: str = option("sum", "sum: every in-batch negative (the original); max: hardest negative only (VSE++)",
                       REDUCTIONS)
    margin: float = option(0.2, "ranking-loss margin")
    epochs: int = option(15, "a rerun resumes and may raise this to train on")
    batch_size: int = option(128, "caption-image pairs per batch")
    lr: float = option(2e-4, "Adam learning rate")
    grad_clip: float = option(2.0, "global gradient-norm limit")
    max_len: int = option(100, "leave out training captions this long or longer (maxlen_w)")
    min_count: int = option(1, "rarer training words become UNK (vocabulary captions)")
    vocabulary: str = option("captions", "captions: the training captions' words; word-vectors: every word of "
                             "word_vectors, embeddings frozen, so a caption word no training caption held still "
                             "means what its vector says", VOCABULARIES)
    test_images: int = option(100, "images held out for the final test (0: train on all, report no test)")
    val_images: int = option(100, "images held out to pick the best epoch (0: export the last epoch)")
    max_minutes: float = option(0.0, "stop after this much training and export the best model so far (0 = no limit)")
    seed: int = option(1234, "seeds the split, the initial weights and batch order")
    device: str = option("auto", "where to train (auto: CUDA when present)", DEVICES)
    log_every: int = option(10, "steps between progress lines")
    word_vectors: str = option("", "a words model (id under WS/models or folder) whose vectors start the word "
                               "embeddings; empty: random")

    def __post_init__(self) -> None:
        if self.loss not in REDUCTIONS:
            raise ValueError(f"--loss must be one of {REDUCTIONS}, got {self.loss!r}")
        if self.vocabulary not in VOCABULARIES:
            raise ValueError(f"--vocabulary must be one of {VOCABULARIES}, got {self.vocabulary!r}")
        if self.vocabulary == "word-vectors" and not self.word_vectors:
            raise ValueError("--vocabulary word-vectors needs --word-vectors WORDS_MODEL")
        if self.epochs < 1 or self.val_images < 0 or self.test_images < 0:
            raise ValueError("--epochs must be at least 1, --val-images and --test-images at least 0")


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


class _VSETask(Task):
    unit = "pair"
    # Trained in float32, as it always was: the loss compares cosines a small margin apart.
    bf16 = False

    def __init__(self, model: VisualSemanticEmbedding, train: Split, val: Split, recipe: VSERecipe,
                 device: torch.device):
        self.model, self.train, self.val, self.recipe, self.device = model, train, val, recipe, device
        self.features = train.features.to(device)
        self.image_of = torch.from_numpy(train.caption_image).to(device)

    def batches(self, epoch: int) -> list[np.ndarray]:
        order = np.random.default_rng(self.recipe.seed + epoch).permutation(len(self.train.ids))
        return [order[i:i + self.recipe.batch_size] for i in range(0, len(order), self.recipe.batch_size)]

    def loss(self, rows: np.ndarray) -> StepLoss:
        ids, lengths = pad_batch([self.train.ids[r] for r in rows])
        images = self.image_of[torch.from_numpy(rows).to(self.device)]
        # The original's training graph left image vectors unnormalised (reference d.1); both
        # sides are unit vectors here, as at inference, so the margin is on the cosine scale.
        loss = ranking_loss(self.model.embed_images(self.features[images]), self.model(ids.to(self.device), lengths),
                            self.recipe.margin, self.recipe.loss, same_image=images[:, None] == images[None, :])
        return StepLoss(loss, loss, len(rows))

    def evaluate(self, train_loss: float | None) -> dict:
        if not self.val.ids:  # no validation images: the last epoch is exported
            return {"train_loss": train_loss}
        return {"validation": evaluate(self.model, self.val, self.device)}

    def describe(self, record: dict) -> str:
        if "validation" not in record:
            loss = "-" if record["train_loss"] is None else f"{record['train_loss']:.4f}"
            return f"epoch {record['epoch']}: training loss {loss} (no validation images)"
        return f"validation after epoch {record['epoch']}: {_line(record['validation'])}"

    def figure(self, record: dict) -> float | None:
        if "validation" not in record:
            return None
        return -record["validation"]["rsum"]  # the original picked the highest R-sum


def train_vse(data: PairData, out_dir: Location, recipe: VSERecipe, provenance: dict,
              word_vectors: WordVectors | None = None) -> dict:
    """Train on `data` and write the VSE model directory `out_dir`; returns the metrics."""
    out_dir = location(out_dir)  # a folder on disk or on the workspace's store
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch_device(recipe.device)
    splits = split_images(data.image_ids, recipe.test_images, recipe.val_images, recipe.seed)
    train_rows = set(splits["train"])
    if recipe.vocabulary == "word-vectors" and word_vectors is not None:
        words = [EOS, UNK, *(w for w in word_vectors.words if w not in (EOS, UNK))]
    else:
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
    provenance = {**provenance, **start_embedding(model.embedding, words, recipe.word_vectors, word_vectors)}
    if recipe.vocabulary == "word-vectors":
        # Frozen: training moves only the rows of words its captions hold, which would leave them in another
        # space than the rest; the GRU learns to read the vectors as they are.
        model.embedding.weight.requires_grad_(False)
    # torch's Adam with the textbook bias correction. The original's Adam (reference c.4, d.3)
    # corrected with 1 - 0.1^t and 1 - 0.001^t, which made its first updates about 3x larger.
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=recipe.lr)
    schedule = Schedule(recipe.epochs, recipe.max_minutes, recipe.grad_clip, recipe.log_every)
    outcome = train_loop(_VSETask(model, train, val, recipe, device), model, optimizer, schedule,
                         out_dir / CHECKPOINT, run_identity(recipe, words=words), device)
    state, best = outcome.state, outcome.state["best"]
    if best is not None:
        model.load_state_dict(outcome.best_weights)
    test_report = evaluate(model, test, device) if test.ids else None
    if test_report is not None:
        chosen = f"best validation R-sum, epoch {best['epoch']}" if best else "last epoch"
        print(f"test ({chosen}): {_line(test_report)}", file=sys.stderr)
    metrics = {
        "data": {**data.counts, "images": len(data.image_ids), "captions": len(data.captions),
                 "train_images": len(splits["train"]), "train_captions": len(train.ids),
                 "train_captions_too_long": sum(1 for c, image in enumerate(data.caption_image)
                                                if image in train_rows and len(data.captions[c]) >= recipe.max_len),
                 "vocabulary": len(words)},
        "held_out": {"validation": val.image_ids, "test": test.image_ids},
        "steps": state["step"],
        "epochs_completed": state["epoch"],
        "best_epoch": best["epoch"] if best else state["epoch"],
        "stopped_by_time_budget": outcome.stopped_by_time_budget,
        "train_seconds": round(state["seconds"], 1),
        "device": str(device),
        "history": state["history"],
        "validation": best["validation"] if best else None,
        "test": test_report,
    }
    model.config.provenance = {**provenance, "recipe": asdict(recipe), "metrics": metrics}
    save_vse(out_dir, model.cpu(), words)
    write_text_atomic(out_dir / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    return metrics
