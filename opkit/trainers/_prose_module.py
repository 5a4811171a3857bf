"""`ProseModule`: the LightningModule that trains `opkit.models.PROSE`.

PROSE (Liu, Zhang & Schaeffer 2023, arXiv:2309.16816) reads the first 64 points of an ODE
trajectory and a symbolic guess of its equations (constants replaced by
``<PLACEHOLDER>``, terms possibly wrong), and predicts the next 128 points and the
equations with their constants. The loss is the authors' (``prose_ode``, ``trainer.py``
``enc_dec_step``)

.. math:: \\mathcal L = 6\\, \\frac1B \\sum_b \\frac{\\|\\hat u_b - y_b\\|^2}{\\|y_b\\|^2 + 10^{-5}}
   + \\mathrm{CE}(\\hat s, s),

the relative squared L2 error of the trajectory against its labels ``y`` (the noisy target
under the authors' noise) over the valid components (the padded ones beyond the system's
dimension are masked) and all output times, plus the token cross-entropy (``<PAD>``
ignored).
"""

from __future__ import annotations

import math
from typing import Literal

import lightning as L
import torch
from torch import nn
from torch.utils.data import Subset

from .. import symbolic
from .._records import class_path, jsonable
from ._budget import adam, module_progress, stepwise_schedule, warmup_cosine
from ._prose_data import model_symbols

__all__ = ["ProseModule", "relative_l2_masked", "squared_relative_error", "trivial_prose_baseline"]


def _component_mask(dim: torch.Tensor, d: int) -> torch.Tensor:
    return (torch.arange(d, device=dim.device) < dim[:, None]).float()  # (B, d)


def relative_l2_masked(pred: torch.Tensor, true: torch.Tensor, dim: torch.Tensor) -> torch.Tensor:
    """Per-sample relative L2 ``||pred - true|| / ||true||`` over times and the first
    ``dim`` components: ``(B, T, D)`` twice and ``(B,)`` -> ``(B,)``."""
    m = _component_mask(dim, pred.shape[-1])[:, None, :]
    num = ((pred - true) * m).pow(2).flatten(1).sum(1)
    den = (true * m).pow(2).flatten(1).sum(1).clamp_min(1e-30)
    return (num / den).sqrt()


def squared_relative_error(
    pred: torch.Tensor, label: torch.Tensor, dim: torch.Tensor, *, eps: float = 1e-5
) -> torch.Tensor:
    """The authors' per-sample data loss ``||pred - y||^2 / (||y||^2 + eps)`` over times and
    the first ``dim`` components (``eps = 1e-5``, theirs): ``(B, T, D)`` twice and
    ``(B,)`` -> ``(B,)``."""
    m = _component_mask(dim, pred.shape[-1])[:, None, :]
    num = ((pred - label) * m).pow(2).flatten(1).sum(1)
    return num / ((label * m).pow(2).flatten(1).sum(1) + eps)


def trivial_prose_baseline(batch: dict) -> torch.Tensor:
    """The last observed value held over all output times: ``(B, 128, 5)``."""
    return batch["u_in"][:, -1:, :].expand_as(batch["u_out"])


# -- the LightningModule ------------------------------------------------------------------
class ProseModule(L.LightningModule):
    """Trains a `opkit.models.PROSE` on batches from `ProseDataModule`.

    Loss ``data_weight * mean squared relative error against the batch's labels ``u_out``
    (`squared_relative_error`, valid components) + token cross-entropy`` (``<PAD>``
    ignored); an operator-only PROSE has only the data term. Logged (namespaced by split):
    ``train/loss``, ``train/data_loss``, ``train/symbol_loss``, ``val/rel_l2`` (mean
    per-sample relative L2 of the trajectory against the *clean* target ``u_out_clean``,
    the selection metric), ``val/rel_l2_noisy_target`` (against the noisy target
    ``u_out``, the authors' number), ``val/loss``, ``val/token_accuracy`` (teacher
    forced), and the same for ``test/``. The symbol input reaches the network as it reads
    it (`model_symbols`: bare for the authors' variant).

    Args:
        model: a built ``PROSE``.
        data_weight: weight of the trajectory term (6, the paper).
        optimizer: ``"adamw"`` (the paper) or ``"adam"``.
        lr: peak learning rate (1e-4 in the paper; 1e-3 suits the small CPU model).
        weight_decay: AdamW's decoupled weight decay (1e-4).
        scheduler: ``"inverse_sqrt"`` (the paper: linear warm-up from ``warmup_init_lr``
            to ``lr`` over ``warmup_steps``, then ``lr * sqrt(warmup_steps / step)``),
            ``"cosine"`` (warm-up over the fraction ``warmup`` of the budget -- steps, or
            wall-clock when training is limited by time -- then cosine decay) or
            ``"none"``.
        warmup_steps: warm-up of ``"inverse_sqrt"`` (20 000 in the paper).
        warmup_init_lr: learning rate of ``"inverse_sqrt"`` at step 0 (1e-7, the
            authors'; must be below ``lr``).
        warmup: warm-up fraction of ``"cosine"``.
        train_query_points: train the data decoder on this many randomly chosen output
            times per batch (``None``: all 128). The data decoder decodes every time
            independently (no self-attention between queries), so a random subset gives an
            unbiased estimate of the per-time squared error at a fraction of the cost;
            validation and testing always use all times.
        model_record: ``{"class_path", "init_args"}`` of ``model`` (default: read from the
            model's ``init_args``), stored so that `opkit.load` rebuilds the network.

    Raises:
        TypeError / ValueError: a model that is not an ``nn.Module`` or bad settings.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        data_weight: float = 6.0,
        optimizer: Literal["adamw", "adam"] = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        scheduler: Literal["inverse_sqrt", "cosine", "none"] = "cosine",
        warmup_steps: int = 20_000,
        warmup_init_lr: float = 1e-7,
        warmup: float = 0.05,
        train_query_points: int | None = None,
        model_record: dict | None = None,
    ):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"`model` must be a built PROSE (nn.Module), got {type(model)!r}.")
        if scheduler not in ("inverse_sqrt", "cosine", "none"):
            raise ValueError(
                f"`scheduler` must be 'inverse_sqrt', 'cosine' or 'none', got {scheduler!r}."
            )
        if optimizer not in ("adamw", "adam"):
            raise ValueError(f"`optimizer` must be 'adamw' or 'adam', got {optimizer!r}.")
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"`lr` must be a positive float, got {lr!r}.")
        if not (isinstance(warmup_init_lr, (int, float)) and 0 <= warmup_init_lr <= lr):
            raise ValueError(
                f"`warmup_init_lr` must be in [0, lr={lr}], got {warmup_init_lr!r}; the "
                "authors warm up from 1e-7."
            )
        if not (isinstance(data_weight, (int, float)) and data_weight >= 0):
            raise ValueError(f"`data_weight` must be >= 0, got {data_weight!r}.")
        if train_query_points is not None and (
            not isinstance(train_query_points, int) or train_query_points < 1
        ):
            raise ValueError(
                f"`train_query_points` must be None or a positive int, got {train_query_points!r}."
            )
        if model_record is None and isinstance(getattr(model, "init_args", None), dict):
            model_record = {"class_path": class_path(model), "init_args": dict(model.init_args)}
        self.save_hyperparameters(ignore=["model"])
        self.hparams["model_record"] = jsonable(model_record)
        self.model = model

    @property
    def operator_only(self) -> bool:
        return bool(getattr(self.model, "operator_only", False))

    def forward(self, batch: dict, *, t_out: torch.Tensor | None = None):
        """``(u_pred (B, Q, 5), logits (B, L-1, V) or None)`` of a batch (teacher forcing)."""
        symbols = None if self.operator_only else model_symbols(self.model, batch["symbols"])
        target_in = None if self.operator_only else batch["target"][:, :-1]
        return self.model(
            batch["t_in"],
            batch["u_in"],
            symbols,
            batch["t_out"] if t_out is None else t_out,
            target_in,
            dim=batch["dim"],
        )

    def losses(self, batch: dict, *, subsample: bool = False) -> dict[str, torch.Tensor]:
        """The loss terms of a batch and its errors: ``rel_l2`` against the clean target,
        ``rel_l2_noisy_target`` against the labels ``u_out``."""
        t_out, u_out = batch["t_out"], batch["u_out"]
        clean = batch.get("u_out_clean", u_out)
        q = self.hparams.train_query_points
        if subsample and q is not None and q < t_out.shape[1]:
            pick = torch.randperm(t_out.shape[1], device=t_out.device)[:q]
            t_out, u_out, clean = t_out[:, pick], u_out[:, pick], clean[:, pick]
        u_pred, logits = self(batch, t_out=t_out)
        data_loss = squared_relative_error(u_pred, u_out, batch["dim"]).mean()
        rel = relative_l2_masked(u_pred, clean, batch["dim"])
        out = {
            "data_loss": data_loss,
            "rel_l2": rel.mean(),
            "rel_l2_noisy_target": relative_l2_masked(u_pred, u_out, batch["dim"]).mean(),
            "rel": rel,
        }
        total = self.hparams.data_weight * data_loss
        if logits is not None:
            labels = batch["target"][:, 1:]
            ce = nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).float(),
                labels.reshape(-1),
                ignore_index=symbolic.PAD_ID,
            )
            keep = labels.ne(symbolic.PAD_ID)
            acc = (logits.argmax(-1).eq(labels) & keep).sum() / keep.sum().clamp_min(1)
            out.update(symbol_loss=ce, token_accuracy=acc)
            total = total + ce
        out["loss"] = total
        return out

    def on_train_epoch_start(self) -> None:
        # new noise and corruption draws every epoch (items are functions of the epoch)
        loader = self.trainer.train_dataloader
        ds = getattr(loader, "dataset", None)
        while isinstance(ds, Subset):
            ds = ds.dataset
        if callable(getattr(ds, "set_epoch", None)):
            ds.set_epoch(self.current_epoch)

    def training_step(self, batch, batch_idx):
        out = self.losses(batch, subsample=True)
        b = batch["u_in"].shape[0]
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=b)
        self.log("train/data_loss", out["data_loss"], batch_size=b)
        if "symbol_loss" in out:
            self.log("train/symbol_loss", out["symbol_loss"], batch_size=b)
        return out["loss"]

    def _eval(self, batch, split: str) -> None:
        out = self.losses(batch)
        b = batch["u_in"].shape[0]
        kw = dict(batch_size=b, sync_dist=True)
        self.log(f"{split}/loss", out["loss"], **kw)
        self.log(f"{split}/rel_l2", out["rel_l2"], prog_bar=True, **kw)
        self.log(f"{split}/rel_l2_noisy_target", out["rel_l2_noisy_target"], **kw)
        if "token_accuracy" in out:
            self.log(f"{split}/symbol_loss", out["symbol_loss"], **kw)
            self.log(f"{split}/token_accuracy", out["token_accuracy"], **kw)

    def validation_step(self, batch, batch_idx):
        self._eval(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval(batch, "test")

    def predict_step(self, batch, batch_idx, dataloader_idx: int = 0):
        return self(batch)[0]

    # -- optimisation ----------------------------------------------------------------------
    def configure_optimizers(self):
        hp = self.hparams
        opt = adam(
            self.parameters(), optimizer=hp.optimizer, lr=hp.lr, weight_decay=hp.weight_decay
        )
        if hp.scheduler == "none":
            return opt
        if hp.scheduler == "inverse_sqrt":
            w, start = max(1, int(hp.warmup_steps)), hp.get("warmup_init_lr", 0.0) / hp.lr

            def factor(step: int) -> float:
                if step < w:
                    return start + (1 - start) * step / w
                return math.sqrt(w / step)
        else:
            factor = warmup_cosine(module_progress(self), hp.warmup)
        return stepwise_schedule(opt, factor)
