"""The training loop with a one-layer model: a resumed run ends where an uninterrupted one does, the time
budget is checked before each step, the best state is kept, a checkpoint that could run code is refused."""

import pytest
import torch

from model.training.loop import CHECKPOINT, Schedule, StepLoss, Task, train_loop

DATA = torch.Generator().manual_seed(0)
X, Y = torch.randn(32, 3, generator=DATA), torch.randn(32, 1, generator=DATA)


class Regression(Task):
    def __init__(self, model: torch.nn.Module, figures: list[float] | None = None):
        self.model, self.figures, self.snapshots = model, figures, []

    def batches(self, epoch: int) -> list[torch.Tensor]:
        return list(torch.randperm(32, generator=torch.Generator().manual_seed(epoch)).split(8))

    def loss(self, rows: torch.Tensor) -> StepLoss:
        total = ((self.model(X[rows]) - Y[rows]) ** 2).sum()
        return StepLoss(total / len(rows), total, len(rows))

    def evaluate(self, train_loss: float | None) -> dict:
        self.snapshots.append(self.model.weight.detach().clone())
        return {"mse": self.figures.pop(0) if self.figures else float(((self.model(X) - Y) ** 2).mean())}

    def describe(self, record: dict) -> str:
        return f"mse {record['mse']:.3f}"

    def figure(self, record: dict) -> float:
        return record["mse"]


def train(folder, epochs: int, max_minutes: float = 0.0, figures=None, identity=None):
    torch.manual_seed(0)
    task = Regression(torch.nn.Linear(3, 1), figures)
    outcome = train_loop(task, task.model, torch.optim.Adam(task.model.parameters(), lr=0.01),
                         Schedule(epochs, max_minutes, 1.0, log_every=2, checkpoint_every=3), folder / CHECKPOINT,
                         identity or {"recipe": {"lr": 0.01}}, torch.device("cpu"))
    return outcome, task


def test_resumed_run_continues_and_equals_an_uninterrupted_one(tmp_path, capsys):
    assert train(tmp_path / "resumed", 1)[0].state["step"] == 4
    resumed, task = train(tmp_path / "resumed", 3)
    assert "resuming from" in capsys.readouterr().err and resumed.state["step"] == 12
    straight = train(tmp_path / "straight", 3)[1].model
    torch.testing.assert_close(task.model.state_dict(), straight.state_dict(), atol=0, rtol=0)
    assert [h["epoch"] for h in resumed.state["history"]] == [1, 2, 3] and not list(tmp_path.glob("*/.tmp-*"))
    assert train(tmp_path / "resumed", 3, identity={"recipe": {"lr": 0.1}})[0].state["step"] == 12
    assert "another recipe: starting afresh" in capsys.readouterr().err


def test_time_budget_is_checked_before_each_step(tmp_path):
    first = train(tmp_path, 2, max_minutes=1e-9)[0]
    assert first.stopped_by_time_budget and first.state["step"] == 1 and first.state["history"][0]["epoch"] == 0.25
    again = train(tmp_path, 2, max_minutes=1e-9)[0]  # the budget is already spent: not one more step
    assert again.stopped_by_time_budget and again.state["step"] == 1 and len(again.state["history"]) == 1


def test_the_best_state_is_kept(tmp_path):
    outcome, task = train(tmp_path, 3, figures=[3.0, 1.0, 2.0])
    assert outcome.state["best"]["epoch"] == 2
    torch.testing.assert_close(outcome.best_weights["weight"], task.snapshots[1], atol=0, rtol=0)


def test_a_checkpoint_that_could_run_code_is_refused(tmp_path):
    torch.save({"identity": Schedule(1, 0, 1, 1)}, tmp_path / CHECKPOINT)  # any object that is not plain data
    with pytest.raises(ValueError, match=r"checkpoint\.pt is not a training checkpoint that can be read safely"):
        train(tmp_path, 1)
