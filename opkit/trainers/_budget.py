"""How much of a run's budget (steps or wall-clock time) has been spent."""

from __future__ import annotations

import math

from lightning.pytorch.callbacks import Timer

__all__ = ["budget_spent", "timer_of"]


def timer_of(trainer) -> Timer | None:
    """The trainer's `Timer` callback when it has a ``max_time`` budget, else ``None``."""
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    if timer is None or timer.time_remaining("train") is None:
        return None
    return timer


def budget_spent(trainer) -> float:
    """Fraction in ``[0, 1]`` of the training budget spent: steps or time, whichever is ahead.

    The time is read through Lightning's public `Timer` API (``time_elapsed`` and
    ``time_remaining``), which also restores the elapsed time of a resumed run.
    """
    frac = 0.0
    total = trainer.estimated_stepping_batches
    if total and math.isfinite(total):
        frac = trainer.global_step / max(1.0, float(total))
    timer = timer_of(trainer)
    if timer is not None:
        elapsed = timer.time_elapsed("train")
        remaining = max(timer.time_remaining("train"), 0.0)
        if elapsed + remaining > 0:
            frac = max(frac, elapsed / (elapsed + remaining))
    return min(frac, 1.0)
