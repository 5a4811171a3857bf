"""`opkit.fit`: train any opkit model on any opkit dataset in one call."""

from __future__ import annotations

import datetime as _dt
import tempfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from ..pde_data import open_dataset
from ._budget import as_seconds
from ._build import build_from_spec
from ._callbacks import FiniteLossGuard, PredictionPlot, atomic_checkpoints, last_checkpoint
from ._console import RunProgressBar
from ._datamodule import OperatorDataModule
from ._datasets import resolve_dataset
from ._operator import OperatorModule
from ._trained import TrainedOperator

__all__ = ["fit"]

DEFAULT_MAX_EPOCHS = 100


def fit(
    model: type[nn.Module] | nn.Module,
    dataset: Any,
    *,
    max_epochs: int | None = None,
    max_time: float | _dt.timedelta | None = None,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    loss: str = "rel_l2",
    scheduler: str = "cosine",
    in_frames: int | None = None,
    out_frames: int = 1,
    unroll: int = 1,
    normalization: str = "standard",
    shift_augment: bool | str = "auto",
    accelerator: str = "auto",
    devices: int | str = "auto",
    seed: int = 0,
    num_workers: int = 0,
    max_train_samples: int | None = None,
    log_dir: str | Path | None = None,
    progress: bool = True,
    plot: bool = False,
    trainer_kwargs: dict | None = None,
    resume: str | Path | None = None,
    **model_kwargs: Any,
) -> TrainedOperator:
    """Train an operator on a dataset and return a `TrainedOperator`.

    Args:
        model: a model class with ``from_spec`` (sizes are inferred from the data; extra
            ``**model_kwargs`` go to it) or a built ``nn.Module`` instance.
        dataset: a path to an opkit file, an ``xarray.Dataset`` from ``opkit.open_dataset``,
            or a built-in name (``"burgers"``, ``"ks"``, ``"ns"``; generated on first use
            into the cache folder, see :func:`cache_dir`).
        max_epochs: epoch budget; defaults to 100 when neither budget is given.
        max_time: wall-clock budget in seconds or a ``timedelta`` (the cosine schedule then
            decays over the time budget).
        batch_size, lr, weight_decay, loss, scheduler: the training recipe (see
            `OperatorModule`); defaults: AdamW, lr 1e-3, cosine decay, relative L2 loss.
        in_frames, out_frames: window sizes for trajectory data (``in_frames`` defaults to
            the model class's ``default_in_frames`` or 1).
        unroll: train on ``unroll`` chained model calls per item (pushforward / unrolled
            training, trajectory data only; validation still scores one call).
        normalization: ``"standard"``, ``"minmax"`` or ``"none"`` (training split only).
        shift_augment: random periodic shifts of the training items, ``"auto"`` (default:
            on when the data's PDE is translation-invariant, as for ``burgers`` and ``ks``),
            True or False; see `OperatorDataModule`.
        accelerator, devices: as Lightning's ``Trainer``.
        seed: seeds model initialisation and shuffling; the global RNG state is restored
            afterwards.
        max_train_samples: train on the first N items only.
        log_dir: where checkpoints, CSV logs and plots go (default: a temporary folder).
        plot: write prediction/truth/error plots at each validation.
        trainer_kwargs: extra ``lightning.Trainer`` arguments.
        resume: a ``last.ckpt`` of an interrupted call with the same arguments (it is
            written to ``log_dir/checkpoints`` after every epoch and when ``max_time``
            stops training): training continues from it. Resumed from an epoch boundary,
            the result equals the uninterrupted run's bit for bit on CPU.

    Returns:
        `TrainedOperator` with ``.model``, ``.metrics`` (``test/rel_l2``, ``val/rel_l2``,
        ...), ``.predict(x)`` and ``.save(path)``. The weights are those of the best
        validation epoch (selection never looks at the test split).

    Raises:
        ValueError / TypeError: bad arguments, unknown dataset, a model whose output does
        not match the data; all before training starts.
    """
    if max_epochs is not None and (not isinstance(max_epochs, int) or max_epochs < 1):
        raise ValueError(f"`max_epochs` must be a positive int, got {max_epochs!r}.")
    seconds = as_seconds(max_time)
    if resume is not None and not Path(resume).is_file():
        raise FileNotFoundError(
            f"`resume` ({str(resume)!r}) does not exist; pass the last.ckpt that the "
            "interrupted call wrote to its log_dir/checkpoints."
        )
    if max_epochs is None and seconds is None:
        max_epochs = DEFAULT_MAX_EPOCHS
    if not isinstance(unroll, int) or isinstance(unroll, bool) or unroll < 1:
        raise ValueError(f"`unroll` must be a positive int, got {unroll!r}.")
    path = resolve_dataset(dataset)
    asked_frames = (in_frames, out_frames)
    if in_frames is None:
        in_frames = int(
            getattr(model if isinstance(model, type) else type(model), "default_in_frames", 1)
        )
    dm = OperatorDataModule(
        str(path),
        in_frames=in_frames,
        out_frames=out_frames,
        batch_size=batch_size,
        num_workers=num_workers,
        normalization=normalization,
        max_train_samples=max_train_samples,
        shift_augment=shift_augment,
        seed=seed,
        unroll=unroll,
    )
    if unroll > 1 and dm.mode != "windows":
        raise ValueError(
            f"`unroll` (={unroll}) needs trajectory data; {path} holds operator pairs "
            "(two frames). Use unroll=1."
        )
    if dm.mode == "pairs" and (asked_frames[0] not in (None, 1) or asked_frames[1] != 1):
        raise ValueError(
            f"`in_frames` (={asked_frames[0]}) and `out_frames` (={asked_frames[1]}) need "
            f"trajectory data; {path} holds operator pairs (two frames: input and target). "
            "Use in_frames=1, out_frames=1 (the defaults)."
        )
    spec = dm.spec
    log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="opkit-fit-"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(model, nn.Module):
            net, model_record = model, None
        else:
            net, model_record = build_from_spec(model, spec, **model_kwargs)
        module = OperatorModule(
            net,
            spec=spec,
            model_record=model_record,
            n_fields=spec.n_fields,
            in_frames=dm.in_frames,
            loss=loss,
            lr=lr,
            weight_decay=weight_decay,
            scheduler=scheduler,
            unroll=unroll,
        )
        module.prepare(dm)
        _check_output_shape(module, dm)
        ckpt = ModelCheckpoint(
            dirpath=log_dir / "checkpoints",
            monitor="val/rel_l2",
            mode="min",
            filename="best",
        )
        callbacks: list = [ckpt, last_checkpoint(log_dir / "checkpoints"), FiniteLossGuard()]
        if progress:
            callbacks.append(RunProgressBar())  # dataset · model · epoch, time left
        if plot:
            callbacks.append(PredictionPlot(dirpath=str(log_dir / "plots")))
        trainer = L.Trainer(
            max_epochs=max_epochs if max_epochs is not None else -1,
            max_time=None if seconds is None else _dt.timedelta(seconds=seconds),
            accelerator=accelerator,
            devices=devices,
            callbacks=callbacks,
            logger=CSVLogger(str(log_dir), name="logs"),
            enable_progress_bar=progress,
            enable_model_summary=False,
            log_every_n_steps=10,
            **(trainer_kwargs or {}),
        )
        atomic_checkpoints(trainer)
        trainer.fit(module, datamodule=dm, ckpt_path=None if resume is None else str(resume))
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        metrics["epoch"] = float(trainer.current_epoch)  # epochs completed
        if ckpt.best_model_path:
            best = torch.load(ckpt.best_model_path, map_location="cpu", weights_only=True)
            module.load_state_dict(best["state_dict"])
            metrics["val/best_rel_l2"] = float(ckpt.best_model_score)
        tested = trainer.test(module, datamodule=dm, verbose=False)
    for entry in tested:
        metrics.update({k: float(v) for k, v in entry.items()})
    with open_dataset(path) as ds:
        data = {"path": str(path), **{k: v for k, v in ds.attrs.items() if isinstance(v, str)}}
    return TrainedOperator(module, metrics=metrics, data=data)


def _check_output_shape(module: OperatorModule, dm: OperatorDataModule) -> None:
    """Run one sample through the model before training: a clear error beats a late one."""
    net = module.model
    x, y = dm.example("train")
    y = y[: dm.spec.out_channels]
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = module(x[None].float())
    except Exception as err:
        raise ValueError(
            f"{type(net).__name__} cannot take this dataset's input of shape "
            f"{tuple(x[None].shape)} (batch, in_channels, *spatial): {err}"
        ) from err
    finally:
        net.train(was_training)
    if tuple(out.shape[1:]) != tuple(y.shape):
        raise ValueError(
            f"{type(net).__name__} returns {tuple(out.shape[1:])} per sample but the data's "
            f"targets are {tuple(y.shape)} (out_channels, *spatial); build the model for "
            f"this data (e.g. {type(net).__name__}.from_spec(spec)) or pass the class."
        )
