"""What ``opkit fit`` shows: a progress bar that names the run, the loggers, a summary.

- `RunProgressBar`: Lightning's tqdm bar, described as ``dataset · model · epoch N`` with
  the loss, the validation error and, under a ``max_time`` budget, the time left.
- `loggers`: CSV (default) or CSV plus TensorBoard (``opkit fit ... --logger tensorboard``),
  in the same ``lightning_logs/version_N`` folder.
- `fit_summary`: one block at the end of ``opkit fit``: checkpoint, logs, metrics, plots
  and the test metrics.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint, Timer, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

__all__ = ["RunProgressBar", "loggers", "fit_summary", "LOGGERS"]

LOGGERS = ("csv", "tensorboard")


def _what(trainer, module) -> str:
    """``dataset · model`` of a run, for the progress bar."""
    dm = getattr(trainer, "datamodule", None)
    path = getattr(dm, "path", None)
    if path:
        data = Path(path).stem
    else:
        problem = getattr(module, "problem", None)
        data = type(problem).__name__ if problem is not None else type(dm).__name__
    net = getattr(module, "model", None) or getattr(module, "network", None) or module
    return f"{data} · {type(net).__name__}"


class RunProgressBar(TQDMProgressBar):
    """Lightning's progress bar, described as ``dataset · model · epoch N``; under a
    ``max_time`` budget the bar's postfix shows the time left (``left``)."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        self.train_progress_bar.set_description(
            f"{_what(trainer, pl_module)} · epoch {trainer.current_epoch}"
        )

    def get_metrics(self, trainer, pl_module) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
        if timer is not None:
            left = timer.time_remaining("train")  # None without a max_time
            if left is not None:
                items["left"] = str(_dt.timedelta(seconds=round(max(left, 0.0))))
        return items


def loggers(kind: str, save_dir: str | os.PathLike) -> list[Logger]:
    """CSV logs (``kind="csv"``), or CSV plus TensorBoard (``"tensorboard"``), both in
    ``SAVE_DIR/lightning_logs/version_N`` (TensorBoard's events in its ``tensorboard/``).

    Raises:
        ValueError: unknown ``kind``, or ``"tensorboard"`` without the package installed.
    """
    if kind not in LOGGERS:
        raise ValueError(f"`--logger` must be one of {LOGGERS}, got {kind!r}.")
    csv = CSVLogger(str(save_dir), name="lightning_logs")
    if kind == "csv":
        return [csv]
    import importlib.util

    if not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
        raise ValueError(
            "`--logger tensorboard` needs the tensorboard package: "
            "pip install 'opkit[tensorboard]' (or pip install tensorboard)."
        )
    tb = TensorBoardLogger(
        str(save_dir), name="lightning_logs", version=csv.version, sub_dir="tensorboard"
    )
    return [csv, tb]


def _rel(path: str | os.PathLike | None) -> str:
    if not path:
        return "-"
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _best_checkpoint(trainer) -> ModelCheckpoint | None:
    """The checkpoint callback that selects by a metric (else the first one)."""
    ckpts = [c for c in trainer.callbacks if isinstance(c, ModelCheckpoint)]
    return next((c for c in ckpts if c.monitor), ckpts[0] if ckpts else None)


def fit_summary(trainer, test_metrics: dict[str, float] | None, *, seconds: float) -> str:
    """The block printed at the end of ``opkit fit``."""
    ckpt = _best_checkpoint(trainer)
    log_dir = trainer.log_dir if trainer.loggers else None
    lines = [
        "",
        f"opkit fit: done in {_dt.timedelta(seconds=round(seconds))} "
        f"({trainer.current_epoch} epoch(s), {trainer.global_step} step(s))",
    ]
    if ckpt is not None and (ckpt.best_model_path or ckpt.last_model_path):
        best = ckpt.best_model_path
        score = ckpt.best_model_score
        note = f"  ({ckpt.monitor} {float(score):.4g})" if best and score is not None else ""
        lines.append(f"  checkpoint   {_rel(best or ckpt.last_model_path)}{note}")
    # last.ckpt: the selecting callback's `save_last`, or a callback without a monitor
    # that writes `filename: last` (the shipped configs).
    others = [c for c in trainer.callbacks if isinstance(c, ModelCheckpoint) and c is not ckpt]
    last = (ckpt.last_model_path if ckpt is not None else "") or next(
        (c.last_model_path or c.best_model_path for c in others if not c.monitor), ""
    )
    if last and last != (ckpt.best_model_path if ckpt is not None else ""):
        lines.append(f"  last         {_rel(last)}  (resume: --ckpt_path)")
    for lg in trainer.loggers:
        if isinstance(lg, CSVLogger):
            lines.append(f"  metrics      {_rel(Path(lg.log_dir) / 'metrics.csv')}")
        elif isinstance(lg, TensorBoardLogger):
            lines.append(f"  tensorboard  tensorboard --logdir {_rel(lg.root_dir)}")
    if log_dir and (Path(log_dir) / "plots").is_dir():
        lines.append(f"  plots        {_rel(Path(log_dir) / 'plots')}")
    elif log_dir:
        lines.append(f"  logs         {_rel(log_dir)}")
    if test_metrics:
        shown = "   ".join(f"{k} {_fmt(v)}" for k, v in sorted(test_metrics.items()))
        lines.append(f"  test         {shown}")
    return "\n".join(lines)


def pop_logger(argv: list[str]) -> tuple[str, list[str]]:
    """``--logger KIND`` (or ``--logger=KIND``) taken out of ``argv``: ``(kind, rest)``."""
    kind, rest, i = "csv", [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--logger" and i + 1 < len(argv):
            kind, i = argv[i + 1], i + 2
            continue
        if arg.startswith("--logger="):
            kind = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    if kind not in LOGGERS:
        raise ValueError(f"`--logger` must be one of {LOGGERS}, got {kind!r}.")
    return kind, rest


def instantiate_trainer(cli, instantiate, kind: str, **kwargs):
    """`LightningCLI.instantiate_trainer` with opkit's progress bar and loggers, unless the
    config sets its own (``trainer.logger``, a progress-bar callback, or
    ``enable_progress_bar: false``)."""
    from lightning.pytorch.callbacks import ProgressBar

    from ._callbacks import StepSeed
    from ._checkpoint import CheckpointRecord
    from ._tasks import task_of_module

    config = cli.config_init
    if cli.subcommand and cli.subcommand in config:
        config = config[cli.subcommand]
    cfg = config.get("trainer") or {}
    given = list(cfg.get("callbacks") or [])
    extra = cli.trainer_defaults.get("callbacks", [])
    extra = list(extra) if isinstance(extra, list) else [extra]
    # every checkpoint records its task and data; every step's draws follow the seed
    task = task_of_module(cli.model).name
    extra += [CheckpointRecord(task), StepSeed(int(config.get("seed_everything") or 0))]
    if cfg.get("enable_progress_bar") is not False and not any(
        isinstance(c, ProgressBar) for c in given
    ):
        extra.append(RunProgressBar())
    cli.trainer_defaults = {**cli.trainer_defaults, "callbacks": extra}
    if cfg.get("logger") in (None, True) and "logger" not in kwargs:
        kwargs["logger"] = loggers(kind, cfg.get("default_root_dir") or os.getcwd())
    return instantiate(**kwargs)


def after_fit(cli, *, seconds: float) -> str:
    """Score the best checkpoint on the test split (when the module has a test step and
    the data a test split) and return `fit_summary`'s block."""
    from lightning.pytorch.utilities.model_helpers import is_overridden

    trainer, module, dm = cli.trainer, cli.model, cli.datamodule
    tested: dict[str, float] | None = None
    if trainer.interrupted:
        return fit_summary(trainer, None, seconds=seconds)
    if is_overridden("test_step", module) and (dm is None or is_overridden("test_dataloader", dm)):
        ckpt = _best_checkpoint(trainer)
        # the selected checkpoint's own path: "best" is ambiguous with several callbacks
        best = ckpt.best_model_path if ckpt is not None and ckpt.best_model_path else None
        results = trainer.test(module, datamodule=dm, ckpt_path=best, verbose=False)
        tested = {k: float(v) for entry in results for k, v in entry.items()}
    return fit_summary(trainer, tested, seconds=seconds)
