"""The one training loop of the skip-thought encoder, the VSE and the decoder.

A trainer plugs in a `Task` (its batches, the loss of one batch, its evaluation); the loop owns the rest,
so the trainers cannot drift apart:
- checkpoints, written atomically every `checkpoint_every` steps and after each evaluation (on a workspace's
  object store, one upload each), holding only tensors and plain Python values, and read with
  `weights_only=True`, so no checkpoint can run code;
- resume: a checkpoint is taken up only when its run identity (the recipe less the RESUMABLE fields, plus
  what the trainer adds, such as its vocabulary or a data fingerprint) equals this run's;
- the time budget, `max_minutes` of step time (evaluation and checkpoints not counted), checked before
  each step: a run stops between two steps, and a rerun whose budget is already spent takes none;
- evaluation after each epoch, and where the budget stopped one (its position in fractional epochs);
- the best state: the weights with the lowest `Task.figure`, for trainers that export their best;
- progress lines, and bf16 autocast on CUDA.
"""

import contextlib
import math
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch

from data_schemas.atomic import atomic_path
from data_schemas.storage import Location, is_remote
from model.device import autocast

CHECKPOINT = "checkpoint.pt"  # training state of every trainer (model, optimizer, position)
METRICS_FILE = "metrics.json"
# Recipe fields a resumed run may change: they do not alter the computation done so far.
RESUMABLE = ("epochs", "max_minutes", "device", "log_every", "checkpoint_every")


def run_identity(recipe: Any, **extra: Any) -> dict:
    """What must match for a checkpoint to be resumed: the recipe less RESUMABLE, and `extra`."""
    return {"recipe": {k: v for k, v in asdict(recipe).items() if k not in RESUMABLE}, **extra}


@dataclass(frozen=True)
class Schedule:
    epochs: int
    max_minutes: float  # 0 = no limit
    grad_clip: float  # global gradient norm
    log_every: int  # steps between progress lines
    checkpoint_every: int = 0  # steps between checkpoints; 0: only after each evaluation


class StepLoss(NamedTuple):
    objective: torch.Tensor  # what is minimised
    total: torch.Tensor  # the loss summed over the batch, for progress lines
    units: float  # what `total` is summed over (tokens, pairs)


class Task(ABC):
    """A trainer's part of the loop. `batches` must depend on the epoch alone (seeded by it), so a run
    resumed mid-epoch goes on with the batches it would have had."""

    unit = "token"  # what the loss is counted per, in progress lines
    bf16 = True  # autocast on CUDA for the steps and the evaluation
    evaluate_first = False  # score the untrained model as the history's first record

    @abstractmethod
    def batches(self, epoch: int) -> Sequence: ...

    @abstractmethod
    def loss(self, batch: Any) -> StepLoss: ...

    @abstractmethod
    def evaluate(self, train_loss: float | None) -> dict:
        """The figures of a history record; `train_loss` is the mean training loss per unit since the
        last evaluation (None before any step)."""

    @abstractmethod
    def describe(self, record: dict) -> str:
        """The progress line of an evaluation."""

    def figure(self, record: dict) -> float | None:
        """Lower is better, and the best record's weights are kept; None keeps none (the last are exported)."""
        return None


@dataclass
class Outcome:
    state: dict  # epoch, batch, step, seconds, history and best (the best history record, or None)
    stopped_by_time_budget: bool
    best_weights: dict | None  # the model's state dict at the best record


def _fresh_state() -> dict:
    return {"epoch": 0, "batch": 0, "step": 0, "seconds": 0.0, "train_loss": 0.0, "train_units": 0.0,
            "history": [], "best": None}


def _copy(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _load(path: Location, device: torch.device) -> Any:
    # On a store, torch reads the object through a seekable file: no local copy of every checkpoint.
    with path.open("rb") if is_remote(path) else contextlib.nullcontext(path) as source:
        try:
            return torch.load(source, map_location=device, weights_only=True)
        except Exception as error:  # a damaged file fails in many ways (struct.error, EOFError, RuntimeError, ...)
            # torch's own message suggests weights_only=False, which is what must never be done here.
            raise ValueError(f"{path} is not a training checkpoint that can be read safely: it is damaged or holds "
                             "more than tensors and plain values; delete it to train afresh") from error


def train_loop(task: Task, model: torch.nn.Module, optimizer: torch.optim.Optimizer, schedule: Schedule,
               checkpoint: Location, identity: dict, device: torch.device) -> Outcome:
    """Train `model` by `task` to the end of `schedule.epochs` or the time budget, resuming `checkpoint`
    when it was written by a run of the same `identity`; returns the position, history and best weights."""
    state, best = _fresh_state(), None
    if checkpoint.exists():
        saved = _load(checkpoint, device)
        if isinstance(saved, dict) and saved.get("identity") == identity:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            state, best = saved["state"], saved["best"]
            print(f"resuming from {checkpoint}: epoch {state['epoch']}, step {state['step']}", file=sys.stderr)
        else:
            print(f"{checkpoint} is from other data or another recipe: starting afresh", file=sys.stderr)

    def precision() -> contextlib.AbstractContextManager:
        return autocast(device) if task.bf16 else contextlib.nullcontext()

    def evaluate(epoch: float) -> None:
        nonlocal best
        model.eval()
        with torch.no_grad(), precision():
            train_loss = state["train_loss"] / state["train_units"] if state["train_units"] else None
            record = {"epoch": epoch, "step": state["step"], **task.evaluate(train_loss)}
        model.train()
        state["train_loss"], state["train_units"] = 0.0, 0.0
        state["history"].append(record)
        figure = task.figure(record)
        improved = figure is not None and (state["best"] is None or figure < task.figure(state["best"]))
        if improved:
            state["best"], best = record, _copy(model)
        print(f"{task.describe(record)}{' (best)' if improved else ''}", file=sys.stderr, flush=True)

    def save() -> None:
        with atomic_path(checkpoint) as temp:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state,
                        "best": best, "identity": identity}, temp)

    if task.evaluate_first and not state["history"]:
        evaluate(0)
    budget = schedule.max_minutes * 60 or math.inf
    stopped = False
    while state["epoch"] < schedule.epochs and not stopped:
        batches = task.batches(state["epoch"])
        window_loss, window_units, window_start = 0.0, 0.0, time.monotonic()
        for number in range(state["batch"], len(batches)):
            if state["seconds"] >= budget:
                stopped = True
                break
            started = time.monotonic()
            with precision():
                step = task.loss(batches[number])
            optimizer.zero_grad(set_to_none=True)
            step.objective.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), schedule.grad_clip)
            optimizer.step()
            state["step"], state["batch"] = state["step"] + 1, number + 1
            state["seconds"] += time.monotonic() - started
            total = float(step.total.detach())
            window_loss, window_units = window_loss + total, window_units + step.units
            state["train_loss"], state["train_units"] = state["train_loss"] + total, state["train_units"] + step.units
            if state["step"] % schedule.log_every == 0:
                rate = window_units / (time.monotonic() - window_start)
                print(f"epoch {state['epoch'] + 1}/{schedule.epochs} batch {number + 1}/{len(batches)} step "
                      f"{state['step']} loss/{task.unit} {window_loss / window_units:.4f} {rate:,.0f} {task.unit}s/s",
                      file=sys.stderr, flush=True)
                window_loss, window_units, window_start = 0.0, 0.0, time.monotonic()
            if schedule.checkpoint_every and state["step"] % schedule.checkpoint_every == 0:
                save()
        if not stopped:
            state["epoch"], state["batch"] = state["epoch"] + 1, 0
        if state["history"] and state["history"][-1]["step"] == state["step"]:
            continue  # no step since the last evaluation (a rerun whose budget was spent): nothing new to score
        evaluate(round(state["epoch"] + state["batch"] / len(batches), 2) if state["batch"] else state["epoch"])
        save()
    return Outcome(state, stopped, best)
