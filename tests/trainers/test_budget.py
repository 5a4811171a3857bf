"""`budget_spent`: the fraction of a step or time budget used, from Lightning's public Timer."""

import time
from types import SimpleNamespace

import pytest
from lightning.pytorch.callbacks import Timer

from opkit.trainers._budget import budget_spent


def _trainer(step: int, total: float, timer: Timer | None = None):
    return SimpleNamespace(
        global_step=step,
        estimated_stepping_batches=total,
        callbacks=[] if timer is None else [timer],
    )


def test_steps_budget():
    assert budget_spent(_trainer(25, 100)) == pytest.approx(0.25)
    assert budget_spent(_trainer(150, 100)) == 1.0
    assert budget_spent(_trainer(10, float("inf"))) == 0.0  # no step budget, no timer


def test_time_budget_wins_when_ahead():
    timer = Timer(duration={"seconds": 100})
    # what Timer.on_train_start records: the start of the training stage
    timer._start_time["train"] = time.monotonic() - 40.0
    assert budget_spent(_trainer(10, float("inf"), timer)) == pytest.approx(0.4, abs=0.01)
    assert budget_spent(_trainer(90, 100, timer)) == pytest.approx(0.9)  # steps ahead
