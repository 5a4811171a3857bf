"""The one training loop: every task's module and data module, trained by one function.

`train` owns the ``lightning.Trainer``, the callbacks (best and last checkpoints written
atomically, the finite-loss guard, step seeding, progress, the checkpoint record), resume,
the reload of the best validation weights and the final metrics. What differs between
tasks (data, loss, metrics, what "best" means) lives in the task's module and data module.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import tempfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from .._quiet import quiet_lightning
from ._callbacks import (
    CPUTimeBudget,
    FiniteLossGuard,
    PredictionPlot,
    StepSeed,
    atomic_checkpoints,
    last_checkpoint,
)
from ._checkpoint import CheckpointRecord
from ._recipe import Recipe

__all__ = ["train", "seeded"]


@contextlib.contextmanager
def seeded(seed: int):
    """Seed torch's global generator inside the block and restore its state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _callbacks(recipe: Recipe, task: str, monitor: str | None, folder: Path) -> list:
    from ._console import RunProgressBar

    callbacks: list[Any] = [last_checkpoint(folder), FiniteLossGuard(), StepSeed(recipe.seed)]
    callbacks += [CheckpointRecord(task), *recipe.callbacks]
    if monitor is not None:
        best = ModelCheckpoint(dirpath=folder, monitor=monitor, mode="min", filename="best")
        callbacks.insert(0, best)
    if recipe.max_cpu_time is not None:
        callbacks.append(CPUTimeBudget(recipe.max_cpu_time))
    if recipe.progress:
        callbacks.append(RunProgressBar())  # data · model · epoch, time left
    if recipe.plot:
        callbacks.append(PredictionPlot(dirpath=str(folder.parent / "plots")))
    return callbacks


def _settings(recipe: Recipe, defaults: dict[str, Any] | None) -> dict[str, Any]:
    settings = {"log_every_n_steps": 10, **(defaults or {}), **dict(recipe.trainer_kwargs or {})}
    if recipe.gradient_clip_val is not None:
        settings["gradient_clip_val"] = recipe.gradient_clip_val
    if "callbacks" in settings:
        raise ValueError("give extra callbacks as `callbacks=[...]`, not in `trainer_kwargs`.")
    return settings


def _trainer(recipe: Recipe, callbacks: list, log_dir: Path, defaults) -> L.Trainer:
    budget = {"max_epochs": recipe.max_epochs, "max_steps": recipe.max_steps}
    if not recipe.budgeted:
        budget["max_epochs"] = 100
    return L.Trainer(
        max_epochs=budget["max_epochs"] if budget["max_epochs"] is not None else -1,
        max_steps=budget["max_steps"] if budget["max_steps"] is not None else -1,
        max_time=None if recipe.max_time is None else _dt.timedelta(seconds=recipe.max_time),
        accelerator=recipe.accelerator,
        devices=recipe.devices,
        callbacks=callbacks,
        logger=CSVLogger(str(log_dir), name="logs"),
        enable_progress_bar=recipe.progress,
        enable_model_summary=False,
        **_settings(recipe, defaults),
    )


def train(
    module: L.LightningModule,
    datamodule: L.LightningDataModule,
    recipe: Recipe,
    *,
    task: str,
    monitor: str | None = "val/rel_l2",
    trainer_defaults: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Train ``module`` on ``datamodule`` with ``recipe``; return the final metrics.

    Checkpoints go to ``recipe.log_dir/checkpoints`` (``last.ckpt`` after every epoch and
    when a budget stops training; ``best.ckpt`` of the ``monitor`` metric); without a
    ``log_dir`` a temporary folder is used and removed afterwards. With ``monitor`` the
    module ends with the weights of its best validation epoch (selection never looks at
    the test split); then the test split is scored (``recipe.test``).

    Args:
        module, datamodule: the task's LightningModule and LightningDataModule.
        recipe: budget, devices, logging (see `Recipe`).
        task: the task's name, recorded in every checkpoint (`CheckpointRecord`).
        monitor: the validation metric that selects the best weights (``None``: keep the
            final weights).
        trainer_defaults: the task's own ``Trainer`` settings (e.g. a PINN's validation
            interval), overridden by ``recipe.trainer_kwargs``.

    Returns:
        ``{"epoch", "step", "val/...", "test/...", "val/best_<metric>"}`` as floats.

    Raises:
        FloatingPointError: the loss became NaN/Inf before any weights could be kept.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(quiet_lightning())  # Lightning's tips: nothing to act on
        if recipe.log_dir is None:
            log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="opkit-fit-")))
        else:
            log_dir = Path(recipe.log_dir)
        callbacks = _callbacks(recipe, task, monitor, log_dir / "checkpoints")
        trainer = _trainer(recipe, callbacks, log_dir, trainer_defaults)
        atomic_checkpoints(trainer)
        guard = next(c for c in callbacks if isinstance(c, FiniteLossGuard))
        resume = None if recipe.resume is None else str(recipe.resume)
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume)
        except Exception as err:
            if guard.bad_step is None:
                raise
            raise FloatingPointError(
                f"the training loss became NaN/Inf at step {guard.bad_step} (the data or the "
                "loss overflowed) before any validation could keep good weights; check the "
                "data's scale, lower the learning rate or clip gradients "
                "(gradient_clip_val=1.0)."
            ) from err
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        metrics["epoch"] = float(trainer.current_epoch)  # epochs completed
        metrics["step"] = float(trainer.global_step)  # optimiser steps
        best = callbacks[0] if monitor is not None else None
        if best is not None and best.best_model_path:
            state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
            module.load_state_dict(state["state_dict"])
            split, _, name = monitor.partition("/")
            metrics[f"{split}/best_{name}"] = float(best.best_model_score)
        if recipe.test:
            for entry in trainer.test(module, datamodule=datamodule, verbose=False):
                metrics.update({k: float(v) for k, v in entry.items()})
    module.eval()
    return metrics
