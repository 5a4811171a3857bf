"""Callbacks: prediction plots at validation end and a guard against non-finite losses."""

from __future__ import annotations

import errno
import logging
import time
from pathlib import Path

import lightning as L
import torch

from ._datamodule import step_seed

__all__ = [
    "PredictionPlot",
    "FiniteLossGuard",
    "CPUTimeBudget",
    "StepSeed",
    "atomic_checkpoints",
    "last_checkpoint",
]

log = logging.getLogger("opkit")


def last_checkpoint(dirpath: str | Path | None = None):
    """A ``ModelCheckpoint`` that writes ``last.ckpt`` at the end of every training epoch.

    Also when training stops early (``max_time``, a guard): the epoch loop still ends and
    the checkpoint is written. Lightning's ``save_last=True`` on a monitored checkpoint
    rewrites ``last.ckpt`` only when the monitored metric improves, so a kill could lose
    several epochs. Resume with ``opkit fit ... --ckpt_path .../last.ckpt`` or
    ``opkit.fit(..., resume=".../last.ckpt")``. In YAML::

        - class_path: lightning.pytorch.callbacks.ModelCheckpoint
          init_args: {filename: last, save_top_k: 1, every_n_epochs: 1,
                      save_on_train_epoch_end: true, enable_version_counter: false}
    """
    from lightning.pytorch.callbacks import ModelCheckpoint

    return ModelCheckpoint(
        dirpath=None if dirpath is None else str(dirpath),
        filename="last",
        monitor=None,
        save_top_k=1,
        every_n_epochs=1,
        save_on_train_epoch_end=True,
        enable_version_counter=False,
    )


def atomic_checkpoints(trainer: L.Trainer) -> L.Trainer:
    """Make ``trainer`` write its local checkpoints through :func:`opkit._io.atomic_write`.

    Lightning's own writer goes through an fsspec transaction that stages the file in the
    system's temporary folder and moves it (a copy across file systems, no fsync), so a
    full disk could leave ``last.ckpt`` truncated. A custom ``CheckpointIO`` (or a remote
    path) is left alone. Returns ``trainer``.
    """
    from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

    from .._io import save_torch

    class _AtomicCheckpointIO(TorchCheckpointIO):
        def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
            if storage_options is not None or "://" in str(path):
                return super().save_checkpoint(checkpoint, path, storage_options)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            try:
                save_torch(checkpoint, path)
            except RuntimeError as err:
                # torch's zip writer reports a full disk as "[enforce fail ... unexpected pos]"
                # (an OSError such as ENOSPC itself passes through unchanged)
                if "unexpected pos" not in str(err):
                    raise
                raise OSError(
                    errno.ENOSPC,
                    f"the disk is full: writing the checkpoint {str(path)!r} failed (the previous "
                    "one is intact); free some space and resume from last.ckpt",
                ) from err

    strategy = trainer.strategy
    if type(strategy.checkpoint_io) is TorchCheckpointIO:
        strategy.checkpoint_io = _AtomicCheckpointIO()
    return trainer


class FiniteLossGuard(L.Callback):
    """Stop training with a clear message when the training loss turns NaN/Inf.

    The step that produced the bad loss is not followed by any further optimiser step;
    checkpoints already written (the last good ones) are kept untouched, and
    ``bad_step`` (also ``trainer.callback_metrics["opkit/nonfinite_step"]``) records where
    it happened.
    """

    def __init__(self):
        super().__init__()
        self.bad_step: int | None = None

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        # The gradients of a non-finite loss are non-finite: zero them so that the weights
        # stay those of the last good step, then stop.
        if all(
            p.grad is None or bool(torch.isfinite(p.grad).all()) for p in pl_module.parameters()
        ):
            return
        for p in pl_module.parameters():
            p.grad = None
        self._stop(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not bool(torch.isfinite(torch.as_tensor(loss)).all()):
            self._stop(trainer)

    def _stop(self, trainer) -> None:
        if self.bad_step is None:
            self.bad_step = int(trainer.global_step)
            log.error(
                "opkit: the training loss became NaN/Inf at step %d; training stops here and "
                "the last good checkpoint is kept. Lower the learning rate, check the data for "
                "non-finite values, or use gradient clipping (Trainer(gradient_clip_val=1.0)).",
                self.bad_step,
            )
            trainer.callback_metrics["opkit/nonfinite_step"] = torch.tensor(float(self.bad_step))
        trainer.should_stop = True


class StepSeed(L.Callback):
    """Seed torch's global generator before every training step with a function of
    ``(seed, global step)``, so that every draw a model or module makes from it (dropout,
    random query subsets) is a function of the step: a run resumed from a checkpoint
    repeats the uninterrupted run's draws."""

    def __init__(self, seed: int = 0):
        super().__init__()
        self.seed = int(seed)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        torch.manual_seed(step_seed(self.seed, trainer.global_step))


class CPUTimeBudget(L.Callback):
    """Stop training once this process has spent ``seconds`` of CPU time in training.

    CPU time (``time.process_time``, validation included) rather than wall-clock makes
    budgets comparable on a shared machine; the cosine schedules follow it (see
    `opkit.trainers._budget.budget_spent`).
    """

    def __init__(self, seconds: float):
        super().__init__()
        if not (isinstance(seconds, (int, float)) and seconds > 0):
            raise ValueError(f"`seconds` must be > 0, got {seconds!r}.")
        self.seconds = float(seconds)
        self.start: float | None = None

    def budget_fraction(self) -> float:
        if self.start is None:
            return 0.0
        return (time.process_time() - self.start) / self.seconds

    def on_train_start(self, trainer, pl_module) -> None:
        self.start = time.process_time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.budget_fraction() >= 1.0:
            trainer.should_stop = True


class PredictionPlot(L.Callback):
    """Write a PNG of prediction vs truth vs error for one validation sample per epoch.

    Args:
        dirpath: folder for the images (default: the trainer's log dir / ``plots``).
        every_n_epochs: plot every n-th validation.
    """

    def __init__(self, dirpath: str | None = None, every_n_epochs: int = 1):
        super().__init__()
        self.dirpath = dirpath
        self.every_n_epochs = max(1, int(every_n_epochs))
        self.last_path: Path | None = None

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.global_rank != 0:
            return
        if trainer.current_epoch % self.every_n_epochs:
            return
        dm = getattr(trainer, "datamodule", None)
        if dm is None or not hasattr(dm, "example"):
            return
        x, y = dm.example("val")
        with torch.no_grad():
            pred = pl_module(x[None].to(pl_module.device))[0].cpu()
        y = y[: pred.shape[0]]
        folder = Path(self.dirpath or Path(trainer.log_dir or trainer.default_root_dir) / "plots")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"val_epoch{trainer.current_epoch:04d}.png"
        plot_prediction(pred, y, path, title=f"epoch {trainer.current_epoch}")
        self.last_path = path


def plot_prediction(pred: torch.Tensor, true: torch.Tensor, path: Path, *, title: str = "") -> Path:
    """Save truth / prediction / error of one sample ``(channels, *spatial)`` to ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    pred, true = pred.float()[0], true.float()[0]
    err = pred - true
    if pred.ndim == 1:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3))
        axes[0].plot(true.numpy(), label="truth")
        axes[0].plot(pred.numpy(), "--", label="prediction")
        axes[0].legend()
        axes[1].plot(err.numpy(), color="C3")
        axes[1].set_title("error")
    else:
        fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
        for ax, img, name in zip(axes, (true, pred, err), ("truth", "prediction", "error")):
            im = ax.imshow(img.numpy(), origin="lower", cmap="RdBu_r")
            ax.set_title(name)
            fig.colorbar(im, ax=ax, fraction=0.046)
    rel = float(err.norm() / true.norm().clamp_min(1e-12))
    fig.suptitle(f"{title}  rel. L2 = {rel:.3g}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
