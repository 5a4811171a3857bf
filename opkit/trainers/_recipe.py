"""`Recipe`: how a model is trained, for every task (budget, optimiser, data handling).

One frozen dataclass that `opkit.fit(..., recipe=...)`, its keyword shortcuts
(``opkit.fit(FNO, "burgers", max_epochs=5)``) and the benchmark suites fill. The YAML
configs of ``opkit fit --config`` state the same settings in LightningCLI's sections
(``trainer:`` for the budget, ``model:`` for the optimiser, ``data:`` for batches).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._checks import check_int
from ._budget import as_seconds

__all__ = ["Recipe", "OPTIMISER_FIELDS"]

#: Recipe fields that the task's LightningModule receives as constructor arguments
#: (``None``: the module's own default).
OPTIMISER_FIELDS = ("lr", "weight_decay", "optimizer", "scheduler", "warmup")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The training recipe shared by every task.

    Budgets (training stops at the first one reached; 100 epochs when none is given):

    Args:
        max_epochs: epochs.
        max_steps: optimiser steps.
        max_time: wall-clock seconds (or a ``datetime.timedelta``); the cosine schedule
            then decays over the time budget.
        max_cpu_time: CPU seconds of this process (comparable budgets on a shared
            machine; see `CPUTimeBudget`).

    Optimisation (``None`` keeps the task module's default, e.g. AdamW at lr 1e-3):

    Args:
        lr, weight_decay, optimizer, scheduler, warmup: as the task's LightningModule.
        gradient_clip_val: clip the gradient norm (``None``: no clipping).

    Data handling:

    Args:
        batch_size: batch size (``None``: the task's default; PINNs draw their own
            collocation batches).
        num_workers: DataLoader workers.
        max_train_samples, max_eval_samples: use only the first N items of a split.
        seed: seeds initialisation and every random draw of training (shuffling, noise,
            dropout), as functions of ``(seed, epoch, step)``; the global RNG state is
            restored afterwards.

    Run:

    Args:
        accelerator, devices: as Lightning's ``Trainer``.
        log_dir: checkpoints and CSV logs (default: a temporary folder).
        resume: a ``last.ckpt`` of an interrupted run with the same arguments; training
            continues from it (bit for bit on CPU when it was written at an epoch end).
        progress: show a progress bar.
        plot: write prediction plots at each validation (operators).
        test: score the test split at the end.
        callbacks: extra Lightning callbacks (e.g. one that records the loss).
        trainer_kwargs: further ``lightning.Trainer`` arguments.

    Raises:
        ValueError: on construction, for a setting out of range.
    """

    max_epochs: int | None = None
    max_steps: int | None = None
    max_time: float | _dt.timedelta | None = None
    max_cpu_time: float | None = None
    lr: float | None = None
    weight_decay: float | None = None
    optimizer: str | None = None
    scheduler: str | None = None
    warmup: float | None = None
    gradient_clip_val: float | None = None
    batch_size: int | None = None
    num_workers: int = 0
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    seed: int = 0
    accelerator: str = "auto"
    devices: int | str = "auto"
    log_dir: str | Path | None = None
    resume: str | Path | None = None
    progress: bool = True
    plot: bool = False
    test: bool = True
    callbacks: tuple = ()
    trainer_kwargs: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("max_epochs", "max_steps", "batch_size", "max_train_samples"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), minimum=1)
        if self.max_eval_samples is not None:
            check_int("max_eval_samples", self.max_eval_samples, minimum=1)
        check_int("num_workers", self.num_workers, minimum=0)
        check_int("seed", self.seed, minimum=0)
        object.__setattr__(self, "max_time", as_seconds(self.max_time))
        if self.max_cpu_time is not None and not _positive(self.max_cpu_time):
            raise ValueError(f"`max_cpu_time` must be CPU seconds > 0, got {self.max_cpu_time!r}.")
        if self.lr is not None and not _positive(self.lr):
            raise ValueError(f"`lr` must be a positive float, got {self.lr!r}.")
        if self.resume is not None and not Path(self.resume).is_file():
            raise FileNotFoundError(
                f"`resume` ({str(self.resume)!r}) does not exist; pass the last.ckpt that the "
                "interrupted call wrote to its log_dir/checkpoints."
            )
        object.__setattr__(self, "callbacks", tuple(self.callbacks))
        if self.trainer_kwargs is not None and not isinstance(self.trainer_kwargs, Mapping):
            raise TypeError(f"`trainer_kwargs` must be a dict, got {self.trainer_kwargs!r}.")

    @property
    def budgeted(self) -> bool:
        """Whether any budget is set (otherwise training runs for 100 epochs)."""
        return any(
            v is not None
            for v in (self.max_epochs, self.max_steps, self.max_time, self.max_cpu_time)
        )

    def optimiser_settings(self) -> dict[str, Any]:
        """The optimiser fields that are set (`OPTIMISER_FIELDS`), for the task's module."""
        return {k: getattr(self, k) for k in OPTIMISER_FIELDS if getattr(self, k) is not None}

    def data_settings(self) -> dict[str, Any]:
        """What a data module takes from the recipe: ``batch_size`` (32 when unset),
        ``num_workers``, ``max_train_samples`` and ``seed``."""
        return {
            "batch_size": self.batch_size or 32,
            "num_workers": self.num_workers,
            "max_train_samples": self.max_train_samples,
            "seed": self.seed,
        }

    @classmethod
    def split(
        cls, recipe: Recipe | None, options: Mapping[str, Any]
    ) -> tuple[Recipe, dict[str, Any]]:
        """``recipe`` updated with the recipe fields among ``options``, and the rest.

        Raises:
            TypeError: ``recipe`` is not a `Recipe`.
        """
        if recipe is None:
            recipe = cls()
        elif not isinstance(recipe, cls):
            raise TypeError(f"`recipe` must be an opkit.trainers.Recipe, got {recipe!r}.")
        names = {f.name for f in dataclasses.fields(cls)}
        mine = {k: v for k, v in options.items() if k in names}
        rest = {k: v for k, v in options.items() if k not in names}
        return (dataclasses.replace(recipe, **mine) if mine else recipe), rest


def _positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and math.isfinite(v)
