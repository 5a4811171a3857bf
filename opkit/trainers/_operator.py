"""`OperatorModule`: the LightningModule for data-driven operators (one-step and rollouts)."""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import lightning as L
import torch
from torch import nn

from .._records import jsonable
from ..models.layers import rollout
from ..pde_data import DataSpec
from ._budget import module_progress, optimizer_of, stepwise_schedule, warmup_cosine
from ._build import NetworkFactory, build_from_record
from ._metrics import as_frames, reduction, relative_l2, score
from ._normalizer import FieldNormalizer

__all__ = ["OperatorModule", "rollout"]

LossName = Literal["rel_l2", "rel_mse", "mse"]


class OperatorModule(L.LightningModule):
    """Trains any grid operator ``model(x)`` (DataSpec's calling convention).

    The module never chooses an architecture: it receives a built ``model``, normalises
    inputs/outputs per field with statistics of the *training split* (set once by
    :meth:`set_statistics`, stored in the checkpoint), and computes the loss in physical
    units. Metrics are namespaced by split: ``train/loss``, ``val/rel_l2``,
    ``val/rollout_rel_l2``, ``test/rel_l2``...

    Batches are ``(x, y)`` with ``x: (batch, in_frames * n_fields, *spatial)`` and
    ``y: (batch, out_frames * n_fields * unroll, *spatial)``; a validation/test dataloader
    with index 1 yields whole trajectories ``(batch, n_t * n_fields, *spatial)`` scored by
    autoregressive rollout: ``(x, future)`` with the first ``in_frames`` frames and all the
    frames after them.

    Args:
        model: the operator: a built ``nn.Module`` (Python, `opkit.fit`, `opkit.load`),
            or, from a LightningCLI config, a `NetworkFactory`: the network's
            ``class_path`` and ``init_args`` without the sizes that the data fixes. The
            module then builds the network from ``model_record`` (the CLI links the
            factory's config to it) and ``spec``: see `build_from_record`.
        spec: the `DataSpec` of the data (or its ``dataclasses.asdict``); stored in the
            hyper-parameters so that every checkpoint knows the data it was trained on
            (the CLI links it from the data module, `opkit.fit` passes it).
        model_record: ``{"class_path", "init_args"}`` of ``model`` (see `opkit._records`),
            stored so that `opkit.load` can rebuild the network; ``None`` for a network
            built by hand (then ``opkit.load(path, model=...)`` needs the network). With a
            factory, the network's settings; the stored record is then the complete one
            of the network built for ``spec``.
        n_fields: physical fields per frame (from the data).
        in_frames: frames the model reads (rollout window).
        loss: ``"rel_l2"`` (mean per-sample relative L2, the default), ``"rel_mse"``
            (its square, DyMixOp's loss) or ``"mse"``.
        optimizer: ``"adamw"`` or ``"adam"``.
        lr: peak learning rate.
        weight_decay: decoupled weight decay (AdamW) or L2 (Adam).
        scheduler: ``"cosine"`` (cosine decay over the run's step budget, or over its
            wall-clock budget when training is limited by time), ``"step"`` (StepLR every
            ``step_size`` epochs by ``gamma``) or ``"none"``.
        warmup: fraction of the budget with linear warm-up (cosine schedule only).
        unroll: train on ``unroll`` consecutive model calls with gradients through all of
            them (unrolled training); 1 is one-step training.
    """

    def __init__(
        self,
        model: NetworkFactory | nn.Module,
        *,
        spec: dict | DataSpec | None = None,
        model_record: dict | None = None,
        n_fields: int = 1,
        in_frames: int = 1,
        loss: LossName = "rel_l2",
        optimizer: Literal["adamw", "adam"] = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        scheduler: Literal["cosine", "step", "none"] = "cosine",
        step_size: int = 7,
        gamma: float = 0.97,
        warmup: float = 0.0,
        unroll: int = 1,
    ):
        super().__init__()
        if not isinstance(model, nn.Module) and not callable(model):
            raise TypeError(
                f"`model` must be a built torch.nn.Module or a NetworkFactory, got "
                f"{type(model).__name__}."
            )
        if loss not in ("rel_l2", "rel_mse", "mse"):
            raise ValueError(f"`loss` must be 'rel_l2', 'rel_mse' or 'mse', got {loss!r}.")
        if scheduler not in ("cosine", "step", "none"):
            raise ValueError(f"`scheduler` must be 'cosine', 'step' or 'none', got {scheduler!r}.")
        if optimizer not in ("adamw", "adam"):
            raise ValueError(f"`optimizer` must be 'adamw' or 'adam', got {optimizer!r}.")
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"`lr` must be a positive float, got {lr!r}.")
        if unroll < 1:
            raise ValueError(f"`unroll` must be >= 1, got {unroll}.")
        if isinstance(spec, dict):
            spec = DataSpec(**spec)  # validates
        if not isinstance(model, nn.Module):
            if spec is None or model_record is None:
                raise TypeError(
                    "a NetworkFactory `model` (a config's class_path and init_args) is built "
                    "from `model_record` and `spec`; give both (`opkit fit` links them), or "
                    "pass a built nn.Module."
                )
            model, model_record = build_from_record(model_record, spec)
        if spec is not None:
            spec = dataclasses.asdict(spec)
        self.save_hyperparameters(ignore=["model"])
        # Plain data only (lists, not tuples), so that checkpoints load with weights_only.
        self.hparams["spec"] = jsonable(spec)
        self.hparams["model_record"] = jsonable(model_record)
        self.model = model
        self.in_norm = FieldNormalizer(n_fields)
        self.out_norm = FieldNormalizer(n_fields)
        self.register_buffer("statistics_ready", torch.zeros((), dtype=torch.bool))

    @property
    def spec(self) -> DataSpec | None:
        """The `DataSpec` of the training data (``None`` when not given)."""
        spec = self.hparams.get("spec")
        return None if spec is None else DataSpec(**spec)

    # -- normalisation -----------------------------------------------------------------
    def set_statistics(self, stats: dict) -> None:
        """Set normalisation from ``{"in_shift","in_scale","out_shift","out_scale"}``."""
        self.in_norm.set(stats["in_shift"], stats["in_scale"])
        self.out_norm.set(stats["out_shift"], stats["out_scale"])
        self.statistics_ready.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Physical input -> physical prediction (one model call)."""
        return self.out_norm.decode(self.model(self.in_norm.encode(x)))

    def predict_frames(self, x: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Roll the model out for ``n_frames`` frames from the window ``x``."""
        return rollout(self, x, n_frames, n_fields=self.hparams.n_fields)

    # -- hooks -------------------------------------------------------------------------
    def prepare(self, datamodule) -> None:
        """Take what training needs from the training split, once.

        Sets the normalisation from ``datamodule.statistics()`` and, when the model has a
        ``fit_data_statistics(x, y)`` hook (POD-DeepONet's modes, DeepONet's own scaling),
        calls it with the normalised training tensors. A module restored from a checkpoint
        is already prepared and is left alone.
        """
        if bool(self.statistics_ready) or not hasattr(datamodule, "statistics"):
            return
        self.set_statistics({k: v.to(self.device) for k, v in datamodule.statistics().items()})
        hook = getattr(self.model, "fit_data_statistics", None)
        if callable(hook) and hasattr(datamodule, "training_tensors"):
            x, y = datamodule.training_tensors()
            x, y = x.to(self.device), y.to(self.device)
            hook(self.in_norm.encode(x), self.out_norm.encode(y[:, : self._out_channels(y)]))

    def on_fit_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None:
            self.prepare(dm)

    def _out_channels(self, y: torch.Tensor) -> int:
        return y.shape[1] // self.hparams.unroll

    def _loss(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.hparams.loss == "mse":
            return (pred - y).pow(2).mean()
        rel = relative_l2(pred, y)
        return rel.pow(2).mean() if self.hparams.loss == "rel_mse" else rel.mean()

    def training_step(self, batch, batch_idx):
        x, y = batch
        if self.hparams.unroll == 1:
            pred = self(x)
            y = y[:, : pred.shape[1]]
        else:
            pred = self.predict_frames(x, y.shape[1] // self.hparams.n_fields)
        loss = self._loss(pred, y)
        self.log("train/loss", loss, prog_bar=True, batch_size=x.shape[0])
        return loss

    def _eval_step(self, batch, dataloader_idx: int, split: str) -> None:
        """One-step scores of every metric in `METRICS` (dataloader 0), or the rollout's
        relative L2 (dataloader 1), logged as ``{split}/{name}``."""
        nf = self.hparams.n_fields
        if dataloader_idx == 0:
            x, y = batch
            pred = self(x)
            y = y[:, : pred.shape[1]]
            self._log_eval(f"{split}/loss", self._loss(pred, y), x.shape[0])
            scores = score(as_frames(pred, nf), as_frames(y, nf), n_spatial=pred.ndim - 2)
            for name, values in scores.items():
                how = reduction(name)
                value = values.max() if how == "max" else values.nanmean()
                if torch.isfinite(value):  # a Fourier band can be empty on a coarse grid
                    self._log_eval(f"{split}/{name}", value, x.shape[0], how, name == "rel_l2")
        else:
            x, future = batch
            pred = self.predict_frames(x, future.shape[1] // nf)
            self._log_eval(
                f"{split}/rollout_rel_l2", relative_l2(pred, future).mean(), x.shape[0], bar=True
            )

    def _log_eval(self, key, value, batch_size, how: str = "mean", bar: bool = False) -> None:
        self.log(
            key,
            value,
            prog_bar=bar,
            batch_size=batch_size,
            reduce_fx=how,
            add_dataloader_idx=False,
        )

    def validation_step(self, batch, batch_idx, dataloader_idx: int = 0):
        self._eval_step(batch, dataloader_idx, "val")

    def test_step(self, batch, batch_idx, dataloader_idx: int = 0):
        self._eval_step(batch, dataloader_idx, "test")

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0):
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        return self(x)

    # -- optimisation ------------------------------------------------------------------
    def configure_optimizers(self):
        hp, opt = self.hparams, optimizer_of(self)
        if hp.scheduler == "none":
            return opt
        if hp.scheduler == "step":
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=hp.step_size, gamma=hp.gamma)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
        return stepwise_schedule(opt, warmup_cosine(module_progress(self), hp.warmup))
