"""How much of a run's budget (steps or wall-clock time) has been spent."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Iterable

import torch
from lightning.pytorch.callbacks import Timer

__all__ = [
    "as_seconds",
    "budget_spent",
    "timer_of",
    "warmup_cosine",
    "module_progress",
    "adam",
    "optimizer_of",
    "stepwise_schedule",
]


def as_seconds(max_time) -> float | None:
    """A ``max_time`` budget (seconds > 0, a ``datetime.timedelta`` or ``None``) in seconds.

    Raises:
        ValueError: anything else.
    """
    if max_time is None:
        return None
    if isinstance(max_time, _dt.timedelta):
        return max_time.total_seconds()
    if isinstance(max_time, (int, float)) and not isinstance(max_time, bool) and max_time > 0:
        return float(max_time)
    raise ValueError(f"`max_time` must be seconds (> 0) or a datetime.timedelta, got {max_time!r}.")


def timer_of(trainer) -> Timer | None:
    """The trainer's `Timer` callback when it has a ``max_time`` budget, else ``None``."""
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    if timer is None or timer.time_remaining("train") is None:
        return None
    return timer


def budget_spent(trainer) -> float:
    """Fraction in ``[0, 1]`` of the training budget spent: steps or time, whichever is ahead.

    The time is read through Lightning's public `Timer` API (``time_elapsed`` and
    ``time_remaining``), which also restores the elapsed time of a resumed run. A callback
    with a ``budget_fraction()`` method (e.g. a CPU-time budget) counts too.
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
    for callback in trainer.callbacks:
        other = getattr(callback, "budget_fraction", None)
        if callable(other):
            frac = max(frac, float(other()))
    return min(frac, 1.0)


def warmup_cosine(progress: Callable[[], float], warmup: float) -> Callable[[int], float]:
    """A ``LambdaLR`` factor: linear warm-up over the first ``warmup`` of the budget, then
    a cosine decay to 1e-3 of the peak, both driven by ``progress()`` in ``[0, 1]``."""

    def factor(_: int) -> float:
        p = progress()
        if warmup > 0 and p < warmup:
            return max(p / warmup, 1e-3)
        q = (p - warmup) / max(1e-12, 1.0 - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(q, 1.0))) + 1e-3

    return factor


def module_progress(module) -> Callable[[], float]:
    """``progress()`` of a LightningModule: the fraction of its trainer's budget spent
    (`budget_spent`), 0 while no trainer is attached."""

    def progress() -> float:
        try:
            trainer = module.trainer
        except RuntimeError:  # not attached to a Trainer yet
            return 0.0
        return 0.0 if trainer is None else budget_spent(trainer)

    return progress


def adam(
    params: Iterable[torch.nn.Parameter], *, optimizer: str, lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """``torch.optim.AdamW`` (``optimizer="adamw"``) or ``Adam`` (anything else)."""
    cls = torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=lr, weight_decay=weight_decay)


def optimizer_of(module) -> torch.optim.Optimizer:
    """`adam` over a module's parameters with its ``optimizer``, ``lr`` and
    ``weight_decay`` hyper-parameters."""
    hp = module.hparams
    return adam(module.parameters(), optimizer=hp.optimizer, lr=hp.lr, weight_decay=hp.weight_decay)


def stepwise_schedule(opt: torch.optim.Optimizer, factor: Callable[[int], float]) -> dict:
    """What ``configure_optimizers`` returns for ``LambdaLR(opt, factor)`` stepped every
    optimiser step."""
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
