"""Training and evaluation of PROSE: `ProseModule`, `ProseDataModule`, `fit_prose`,
`TrainedProse`, `evaluate_prose`.

PROSE (Liu, Zhang & Schaeffer 2023, arXiv:2309.16816) reads the first 64 points of an ODE
trajectory and a symbolic guess of its equations (constants replaced by
``<PLACEHOLDER>``, terms possibly wrong), and predicts the next 128 points and the
equations with their constants. The loss is the paper's

.. math:: \\mathcal L = 6\\, \\frac{\\|\\hat u - u\\|^2}{\\|u\\|^2} + \\mathrm{CE}(\\hat s, s),

the relative squared L2 error of the trajectory over its valid components (the padded ones
beyond the system's dimension are masked) plus the token cross-entropy (``<PAD>``
ignored).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import math
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, Subset

from .. import symbolic
from .._records import class_path, import_class
from ._budget import (
    adam,
    as_seconds,
    module_progress,
    stepwise_schedule,
    warmup_cosine,
)
from ._callbacks import FiniteLossGuard
from ._datasets import cache_dir

__all__ = [
    "ProseModule",
    "ProseDataModule",
    "CPUTimeBudget",
    "TrainedProse",
    "ProsePrediction",
    "collate_prose",
    "fit_prose",
    "evaluate_prose",
    "load_prose",
    "is_prose_checkpoint",
    "trivial_prose_baseline",
    "FORMAT",
    "INVALID_REASONS",
]

FORMAT = "opkit.trained-prose"
FORMAT_VERSION = 1
BUILTIN = ("odes",)
_SPECIALS = {symbolic.BOS_ID, symbolic.EOS_ID, symbolic.PAD_ID}


# -- batches ------------------------------------------------------------------------------
def _ids(tokens) -> list[int]:
    """Token strings or ids -> ids without ``<BOS>/<EOS>/<PAD>``."""
    if isinstance(tokens, torch.Tensor):
        tokens = tokens.tolist()
    tokens = list(tokens)
    if tokens and isinstance(tokens[0], str):
        tokens = symbolic.to_ids(tokens)
    return [int(i) for i in tokens if int(i) not in _SPECIALS]


def _pad(rows: list[list[int]]) -> torch.Tensor:
    """``[<BOS>] + row + [<EOS>]``, padded with ``<PAD>`` to the longest row."""
    n = max(len(r) for r in rows) + 2
    out = torch.full((len(rows), n), symbolic.PAD_ID, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r) + 2] = torch.tensor([symbolic.BOS_ID, *r, symbolic.EOS_ID])
    return out


def collate_prose(items: list[dict], *, families: list[str] | None = None) -> dict[str, Any]:
    """Stack `opkit.pde_data.ODETrajectories` items into a PROSE batch.

    ``families`` names the family indices the items carry (``ODETrajectories.families``);
    items whose ``family`` is already a string keep it.

    Returns ``t_in (B, 64)``, ``u_in (B, 64, 5)``, ``t_out (B, 128)``, ``u_out (B, 128, 5)``,
    ``dim (B,)``, ``family`` (list of str), ``symbols (B, S)`` (``<BOS>`` input ``<EOS>``,
    ``<PAD>``-padded ids) and ``target (B, L)`` (``<BOS>`` clean tokens ``<EOS>``, padded);
    the decoder reads ``target[:, :-1]`` and is trained on ``target[:, 1:]``.
    """
    out: dict[str, Any] = {}
    for key in ("t_in", "u_in", "t_out", "u_out"):
        out[key] = torch.stack([torch.as_tensor(it[key]) for it in items]).float()
    out["dim"] = torch.tensor([int(it["dim"]) for it in items])
    out["family"] = [_family_name(it.get("family", ""), families) for it in items]
    out["symbols"] = _pad([_ids(it["symbols_in"]) for it in items])
    out["target"] = _pad([_ids(it["symbols_target"]) for it in items])
    return out


def _family_name(family, families: list[str] | None) -> str:
    if isinstance(family, torch.Tensor):
        family = family.item()
    if families is not None and isinstance(family, int):
        return families[family]
    return str(family)


def _families(ds) -> list[str] | None:
    while isinstance(ds, Subset):
        ds = ds.dataset
    return getattr(ds, "families", None)


def _component_mask(dim: torch.Tensor, d: int) -> torch.Tensor:
    return (torch.arange(d, device=dim.device) < dim[:, None]).float()  # (B, d)


def relative_l2_masked(pred: torch.Tensor, true: torch.Tensor, dim: torch.Tensor) -> torch.Tensor:
    """Per-sample relative L2 ``||pred - true|| / ||true||`` over times and the first
    ``dim`` components: ``(B, T, D)`` twice and ``(B,)`` -> ``(B,)``."""
    m = _component_mask(dim, pred.shape[-1])[:, None, :]
    num = ((pred - true) * m).pow(2).flatten(1).sum(1)
    den = (true * m).pow(2).flatten(1).sum(1).clamp_min(1e-30)
    return (num / den).sqrt()


def trivial_prose_baseline(batch: dict) -> torch.Tensor:
    """The last observed value held over all output times: ``(B, 128, 5)``."""
    return batch["u_in"][:, -1:, :].expand_as(batch["u_out"])


# -- data ---------------------------------------------------------------------------------
def resolve_odes(path: str | os.PathLike, *, size: str = "cpu", seed: int = 0) -> Path:
    """A path to an ODE file: a file, or the built-in name ``"odes"`` (generated on first
    use into the cache folder, ``$OPKIT_CACHE`` or ``~/.cache/opkit``).

    Raises:
        ValueError: neither a file nor ``"odes"``.
    """
    text = str(path)
    if text in BUILTIN:
        out = cache_dir() / f"{text}-{size}-seed{seed}.h5"
        if not out.is_file():
            from ..pde_data import generate

            out.parent.mkdir(parents=True, exist_ok=True)
            generate(text, out=out, seed=seed, size=size)
        return out
    p = Path(text)
    if not p.is_file():
        raise ValueError(
            f"`path` {text!r} is neither a file nor the built-in dataset 'odes'; make one with "
            "`opkit generate odes --out FILE`."
        )
    return p


class ProseDataModule(L.LightningDataModule):
    """Batches of ODE trajectories and symbols for `ProseModule`.

    Reads an ODE file (`opkit.pde_data.ODETrajectories`, split by the file's ``split``
    variable) and stacks items with :func:`collate_prose`. Noise and symbol corruption are
    options of loading (the file keeps the clean data); they apply to the training split
    only unless ``eval_noise`` / ``eval_corrupt`` say otherwise.

    Args:
        path: an ODE file, or ``"odes"`` (the built-in dataset, generated on first use).
        batch_size: batch size (default 32; the paper: 256).
        num_workers: DataLoader workers.
        noise: relative noise level of the training inputs (default 0; the paper: 0.02
            for its noisy experiments).
        corrupt: probability of adding and of deleting a term per component of the
            training symbol inputs (default 0.15: the paper trains on corrupted guesses);
            the draws are renewed every epoch.
        max_train_samples: use only the first N training items.
        size: size of the built-in dataset (``"cpu"`` or ``"paper"``).
        seed: seed of the built-in dataset and of the loading randomness.

    Raises:
        ValueError: unknown path.
    """

    def __init__(
        self,
        path: str = "odes",
        *,
        batch_size: int = 32,
        num_workers: int = 0,
        noise: float = 0.0,
        corrupt: float = 0.15,
        max_train_samples: int | None = None,
        max_eval_samples: int | None = None,
        size: str = "cpu",
        seed: int = 0,
    ):
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}.")
        if not (isinstance(noise, (int, float)) and 0 <= noise < 1):
            raise ValueError(f"`noise` must be a relative level in [0, 1), got {noise!r}.")
        self.save_hyperparameters()
        self.path = str(resolve_odes(path, size=size, seed=seed))
        self.batch_size, self.num_workers = batch_size, num_workers
        self.noise, self.corrupt = float(noise), float(corrupt)
        self.max_train_samples, self.max_eval_samples = max_train_samples, max_eval_samples
        self.seed = seed

    def dataset(self, split: str, *, noise: float = 0.0, corrupt: float = 0.0):
        """The `ODETrajectories` of a split (limited by ``max_*_samples``)."""
        from ..pde_data import ODETrajectories

        ds = ODETrajectories(self.path, split=split, noise=noise, corrupt=corrupt, seed=self.seed)
        limit = self.max_train_samples if split == "train" else self.max_eval_samples
        if limit is not None and limit < len(ds):
            ds = Subset(ds, range(int(limit)))
        return ds

    def loader(self, ds, *, shuffle: bool = False, batch_size: int | None = None) -> DataLoader:
        return DataLoader(
            ds,
            batch_size=batch_size or self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=functools.partial(collate_prose, families=_families(ds)),
        )

    def train_dataloader(self):
        ds = self.dataset("train", noise=self.noise, corrupt=self.corrupt)
        return self.loader(ds, shuffle=True)

    def val_dataloader(self):
        return self.loader(self.dataset("val"))

    def test_dataloader(self):
        return self.loader(self.dataset("test"))


class CPUTimeBudget(L.Callback):
    """Stop training once this process has spent ``seconds`` of CPU time in training.

    CPU time (``time.process_time``, validation included) rather than wall-clock makes
    budgets comparable on a shared machine; `ProseModule`'s cosine schedule follows it.
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


# -- the LightningModule ------------------------------------------------------------------
class ProseModule(L.LightningModule):
    """Trains a `opkit.models.PROSE` on batches from `ProseDataModule`.

    Loss ``data_weight * relative squared L2 (valid components) + token cross-entropy``
    (``<PAD>`` ignored); an operator-only PROSE has only the data term. Logged (namespaced
    by split): ``train/loss``, ``train/data_loss``, ``train/symbol_loss``, ``val/rel_l2``
    (mean per-sample relative L2 of the trajectory, the selection metric), ``val/loss``,
    ``val/token_accuracy`` (teacher forced), and the same for ``test/``.

    Args:
        model: a built ``PROSE``.
        data_weight: weight of the trajectory term (6, the paper).
        optimizer: ``"adamw"`` (the paper) or ``"adam"``.
        lr: peak learning rate (1e-4 in the paper; 1e-3 suits the small CPU model).
        weight_decay: AdamW's decoupled weight decay (1e-4).
        scheduler: ``"inverse_sqrt"`` (the paper: linear warm-up over ``warmup_steps``,
            then ``lr * sqrt(warmup_steps / step)``), ``"cosine"`` (warm-up over the
            fraction ``warmup`` of the budget -- steps, or wall-clock when training is
            limited by time -- then cosine decay) or ``"none"``.
        warmup_steps: warm-up of ``"inverse_sqrt"`` (20 000 in the paper).
        warmup: warm-up fraction of ``"cosine"``.
        train_query_points: train the data decoder on this many randomly chosen output
            times per batch (``None``: all 128). The data decoder decodes every time
            independently (no self-attention between queries), so a random subset gives an
            unbiased estimate of the per-time squared error at a fraction of the cost;
            validation and testing always use all times.

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
        warmup: float = 0.05,
        train_query_points: int | None = None,
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
        if not (isinstance(data_weight, (int, float)) and data_weight >= 0):
            raise ValueError(f"`data_weight` must be >= 0, got {data_weight!r}.")
        if train_query_points is not None and (
            not isinstance(train_query_points, int) or train_query_points < 1
        ):
            raise ValueError(
                f"`train_query_points` must be None or a positive int, got {train_query_points!r}."
            )
        self.save_hyperparameters(ignore=["model"])
        self.model = model

    @property
    def operator_only(self) -> bool:
        return bool(getattr(self.model, "operator_only", False))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["opkit"] = _bundle(self, with_state=False)

    def forward(self, batch: dict, *, t_out: torch.Tensor | None = None):
        """``(u_pred (B, Q, 5), logits (B, L-1, V) or None)`` of a batch (teacher forcing)."""
        symbols = None if self.operator_only else batch["symbols"]
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
        t_out, u_out = batch["t_out"], batch["u_out"]
        q = self.hparams.train_query_points
        if subsample and q is not None and q < t_out.shape[1]:
            pick = torch.randperm(t_out.shape[1], device=t_out.device)[:q]
            t_out, u_out = t_out[:, pick], u_out[:, pick]
        u_pred, logits = self(batch, t_out=t_out)
        rel = relative_l2_masked(u_pred, u_out, batch["dim"])
        data_loss = rel.pow(2).mean()
        out = {"data_loss": data_loss, "rel_l2": rel.mean(), "rel": rel}
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
            w = max(1, int(hp.warmup_steps))

            def factor(step: int) -> float:
                step = step + 1
                return min(step / w, math.sqrt(w / step))
        else:
            factor = warmup_cosine(module_progress(self), hp.warmup)
        return stepwise_schedule(opt, factor)


# -- the trained model ----------------------------------------------------------------------
@dataclasses.dataclass
class ProsePrediction:
    """What `TrainedProse.predict` returns.

    Attributes:
        u: predicted trajectories ``(B, Q, d)`` at the output times.
        tokens: decoded token sequences (list of B lists of str), empty for an
            operator-only model.
        equations: the decoded systems as lists of sympy expressions, ``None`` where the
            tokens do not decode.
    """

    u: torch.Tensor
    tokens: list[list[str]]
    equations: list[list | None]


def _model_record(net: nn.Module) -> dict:
    init_args = getattr(net, "init_args", None)
    if not isinstance(init_args, dict):
        raise TypeError(f"{type(net).__name__} does not record its `init_args`.")
    return {"class_path": class_path(net), "init_args": dict(init_args)}


def _bundle(module: ProseModule, *, with_state: bool = True, metrics=None, data=None) -> dict:
    out = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": _model_record(module.model),
        "module_hparams": dict(module.hparams),
        "metrics": {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, float)},
        "data": {k: v for k, v in (data or {}).items() if isinstance(v, (str, int, float))},
    }
    if with_state:
        out["state_dict"] = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    return out


class TrainedProse:
    """A trained PROSE with its metrics; what `opkit.fit(PROSE, ...)` returns.

    Attributes:
        module: the `ProseModule`. model: the bare ``PROSE``. metrics: final metrics
        (``test/rel_l2``, ``val/rel_l2``, ...). data: description of the training data.
    """

    def __init__(self, module: ProseModule, *, metrics: dict | None = None, data=None):
        self.module = module
        self.metrics = dict(metrics or {})
        self.data = dict(data or {})

    @property
    def model(self) -> nn.Module:
        return self.module.model

    def __repr__(self) -> str:
        shown = {k: round(v, 5) for k, v in self.metrics.items() if isinstance(v, float)}
        return f"TrainedProse(operator_only={self.module.operator_only}, metrics={shown})"

    @torch.no_grad()
    def predict(
        self,
        u_in: torch.Tensor,
        symbols=None,
        *,
        t_in: torch.Tensor | None = None,
        t_out: torch.Tensor | None = None,
        max_len: int = 300,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
        constrained: bool = False,
    ) -> ProsePrediction:
        """Predict the trajectory and decode the equations.

        Args:
            u_in: observed states ``(B, 64, d)`` (or ``(64, d)``), ``d <= 5``.
            symbols: the guesses, one per sample: sympy systems (constants are replaced by
                placeholders), token lists, or ``None`` (no guess: the empty expression).
            t_in, t_out: observed and output times (default: the ODE data's grid,
                ``linspace(0, 6, 192)`` split 64 / 128).
            max_len, temperature, generator: decoding (greedy by default).
            constrained: decode only valid prefix systems of ``d`` components (see
                `opkit.models.PROSE.generate`).

        Returns:
            `ProsePrediction` with ``u (B, Q, d)``, ``tokens`` and ``equations``.
        """
        u_in = torch.as_tensor(u_in, dtype=torch.float32)
        if u_in.ndim == 2:
            u_in = u_in[None]
        b, n, d = u_in.shape
        net = self.model
        if d > net.max_dim:
            raise ValueError(f"`u_in` has {d} components; the model takes at most {net.max_dim}.")
        grid = torch.linspace(0, 6, 192)
        t_in = grid[:n] if t_in is None else torch.as_tensor(t_in, dtype=torch.float32)
        t_out = grid[n:] if t_out is None else torch.as_tensor(t_out, dtype=torch.float32)
        if symbols is None or (len(symbols) and not isinstance(symbols[0], (list, tuple))):
            symbols = [symbols] * b
        if len(symbols) != b:
            raise ValueError(f"`symbols` has {len(symbols)} entries for {b} trajectories.")
        rows = []
        for s in symbols:
            if s is None:
                rows.append([])
            elif all(isinstance(x, str) for x in s):
                rows.append(_ids(s))
            else:
                rows.append(_ids(symbolic.encode(list(s), placeholders=True)))
        p = next(net.parameters())
        batch = {
            "t_in": t_in.expand(b, -1).to(p.device),
            "u_in": nn.functional.pad(u_in, (0, net.max_dim - d)).to(p.device),
            "t_out": t_out.expand(b, -1).to(p.device),
            "dim": torch.full((b,), d, device=p.device),
            "symbols": _pad(rows).to(p.device),
        }
        self.module.eval()
        sym = None if net.operator_only else batch["symbols"]
        u = net(batch["t_in"], batch["u_in"], sym, batch["t_out"], dim=batch["dim"])[0]
        tokens, equations = [], []
        if not net.operator_only:
            ids = net.generate(
                batch["t_in"], batch["u_in"], sym, max_len=max_len, temperature=temperature,
                generator=generator, constrained=constrained, dim=batch["dim"],
            )  # fmt: skip
            tokens, equations = _decode_rows(ids)
        return ProsePrediction(u=u[..., :d].cpu(), tokens=tokens, equations=equations)

    def save(self, path: str | Path) -> Path:
        """Write a file that `opkit.load` restores with ``weights_only=True``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(_bundle(self.module, metrics=self.metrics, data=self.data), tmp)
        os.replace(tmp, path)
        return path


def _decode_rows(ids: torch.Tensor) -> tuple[list[list[str]], list[list | None]]:
    tokens, equations = [], []
    for row in ids.tolist():
        if symbolic.EOS_ID in row:
            row = row[: row.index(symbolic.EOS_ID)]
        toks = symbolic.from_ids([i for i in row if i != symbolic.PAD_ID])
        tokens.append(toks)
        try:
            equations.append(symbolic.decode(toks))
        except (symbolic.TokenError, ValueError):
            equations.append(None)
    return tokens, equations


def is_prose_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a PROSE file saved by `TrainedProse.save` or `opkit fit`."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not a torch file, or not loadable safely: not ours
        return False
    if not isinstance(raw, dict):
        return False
    bundle = raw.get("opkit", raw)
    return isinstance(bundle, dict) and bundle.get("format") == FORMAT


def load_prose(path: str | Path, *, map_location="cpu") -> TrainedProse:
    """Restore a `TrainedProse` (file of `TrainedProse.save`, or a Lightning checkpoint of
    ``opkit fit`` with a `ProseModule`). Read with ``weights_only=True``; the network is
    rebuilt from its ``{"class_path", "init_args"}`` record, and only ``opkit.`` classes
    are imported.

    Raises:
        FileNotFoundError: no such file. ValueError: not a PROSE checkpoint, a class
        outside ``opkit.``, or weights that do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}.")
    raw = torch.load(path, map_location=map_location, weights_only=True)
    bundle = raw.get("opkit", raw) if isinstance(raw, dict) else None
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise ValueError(f"{path} is not a PROSE checkpoint (no '{FORMAT}' record).")
    state = bundle.get("state_dict", raw.get("state_dict"))
    rec = bundle["model"]
    if not str(rec.get("class_path", "")).startswith("opkit."):
        raise ValueError(f"{path} names the model class {rec.get('class_path')!r}; only opkit.")
    net = import_class(rec["class_path"], base=nn.Module, what="model class")(**rec["init_args"])
    import inspect

    accepted = inspect.signature(ProseModule.__init__).parameters
    hp = {k: v for k, v in (bundle.get("module_hparams") or {}).items() if k in accepted}
    module = ProseModule(net, **hp)
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"the weights in {path} do not fit {rec['class_path']}: {err}") from err
    module.eval()
    return TrainedProse(module, metrics=bundle.get("metrics"), data=bundle.get("data"))


# -- fit ------------------------------------------------------------------------------------
def fit_prose(
    model: type[nn.Module] | nn.Module,
    dataset: Any = "odes",
    *,
    max_epochs: int | None = None,
    max_steps: int | None = None,
    max_time: float | _dt.timedelta | None = None,
    max_cpu_time: float | None = None,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    scheduler: str = "cosine",
    warmup: float = 0.05,
    warmup_steps: int = 20_000,
    data_weight: float = 6.0,
    train_query_points: int | None = None,
    noise: float = 0.0,
    corrupt: float = 0.15,
    size: str = "cpu",
    accelerator: str = "auto",
    devices: int | str = "auto",
    seed: int = 0,
    num_workers: int = 0,
    max_train_samples: int | None = None,
    max_eval_samples: int | None = None,
    log_dir: str | Path | None = None,
    progress: bool = True,
    test: bool = True,
    trainer_kwargs: dict | None = None,
    **model_kwargs: Any,
) -> TrainedProse:
    """Train PROSE on ODE data; `opkit.fit(PROSE, "odes", ...)` lands here.

    Args:
        model: the ``PROSE`` class (built with ``**model_kwargs``, e.g.
            ``operator_only=True`` or ``width=...``) or a built instance.
        dataset: an ODE file or ``"odes"`` (the built-in dataset of ``size``).
        max_epochs, max_steps, max_time: budgets (seconds or ``timedelta`` for time);
            100 epochs when none is given.
        max_cpu_time: a budget in CPU seconds of this process (see `CPUTimeBudget`).
        batch_size, lr, weight_decay, scheduler, warmup, warmup_steps, data_weight,
        train_query_points: the recipe (see `ProseModule`).
        noise, corrupt: loading options of the training split (see `ProseDataModule`).
        accelerator, devices: as Lightning's ``Trainer``.
        seed: seeds initialisation and shuffling (the global RNG state is restored).
        max_train_samples, max_eval_samples: limit the splits.
        log_dir: checkpoints and CSV logs (default: a temporary folder).
        test: score the test split at the end (``test/rel_l2`` ...).

    Returns:
        `TrainedProse` with the weights of the best validation epoch (``val/rel_l2``).

    Raises:
        ValueError / TypeError: bad arguments or data, before training starts.
    """
    seconds = as_seconds(max_time)
    max_time = None if seconds is None else _dt.timedelta(seconds=seconds)
    if max_epochs is None and max_steps is None and max_time is None and max_cpu_time is None:
        max_epochs = 100
    dm = ProseDataModule(
        str(dataset),
        batch_size=batch_size,
        num_workers=num_workers,
        noise=noise,
        corrupt=corrupt,
        max_train_samples=max_train_samples,
        max_eval_samples=max_eval_samples,
        size=size,
        seed=seed,
    )
    log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="opkit-"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = model(**model_kwargs) if isinstance(model, type) else model
        if model_kwargs and not isinstance(model, type):
            raise TypeError(f"model settings {sorted(model_kwargs)} given with a built model.")
        module = ProseModule(
            net,
            data_weight=data_weight,
            lr=lr,
            weight_decay=weight_decay,
            scheduler=scheduler,
            warmup=warmup,
            warmup_steps=warmup_steps,
            train_query_points=train_query_points,
        )
        ckpt = ModelCheckpoint(
            dirpath=log_dir / "checkpoints",
            monitor="val/rel_l2",
            mode="min",
            save_last=True,
            filename="best",
        )
        trainer = L.Trainer(
            max_epochs=max_epochs if max_epochs is not None else -1,
            max_steps=max_steps if max_steps is not None else -1,
            max_time=max_time,
            accelerator=accelerator,
            devices=devices,
            callbacks=[ckpt, FiniteLossGuard()]
            + ([CPUTimeBudget(max_cpu_time)] if max_cpu_time is not None else []),
            logger=CSVLogger(str(log_dir), name="logs"),
            enable_progress_bar=progress,
            enable_model_summary=False,
            log_every_n_steps=10,
            gradient_clip_val=1.0,
            **(trainer_kwargs or {}),
        )
        trainer.fit(module, datamodule=dm)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        metrics["train/steps"] = float(trainer.global_step)
        metrics["train/epochs"] = float(trainer.current_epoch)
        if ckpt.best_model_path:
            best = torch.load(ckpt.best_model_path, map_location="cpu", weights_only=True)
            module.load_state_dict(best["state_dict"])
            metrics["val/best_rel_l2"] = float(ckpt.best_model_score)
        if test:
            for entry in trainer.test(module, datamodule=dm, verbose=False):
                metrics.update({k: float(v) for k, v in entry.items()})
    module.eval()
    data = {"path": dm.path, "name": str(dataset), "size": size, "seed": seed}
    return TrainedProse(module, metrics=metrics, data=data)


# -- evaluation -----------------------------------------------------------------------------
#: Why a decoded system is not valid, in the order they are checked.
INVALID_REASONS = ("no_eos", "syntax", "components", "other", "non_finite")


def _vector_field_errors(
    tokens: list[list[str]],
    ended: list[bool],
    targets: torch.Tensor,
    dims: torch.Tensor,
    *,
    generator,
    n_points,
) -> tuple[list[str], list[float]]:
    """Per decoded system: ``"valid"`` or the reason it is not (`INVALID_REASONS`: no
    ``<EOS>`` within ``max_len``, a `TokenError` (arity, float, stray token), the wrong
    number of components or a variable beyond them, another `ValueError` such as a
    ``<PLACEHOLDER>`` left in it, non-finite values), and the vector-field relative L2
    against the true system (NaN unless valid)."""
    reasons, errors = [], []
    for toks, eos, target, d in zip(tokens, ended, targets.tolist(), dims.tolist()):
        u = (torch.rand(n_points, d, generator=generator, dtype=torch.float64) * 10) - 5
        true = symbolic.vector_field(symbolic.from_ids(_ids(target)))(u)
        reason = "valid"
        try:
            f = symbolic.vector_field(toks)
            if f.n_components != d or f.n_variables > d:
                reason = "components"
            else:
                pred = f(u)
                if not bool(torch.isfinite(pred).all()):
                    reason = "non_finite"
        except symbolic.TokenError:
            reason = "syntax"
        except ValueError:
            reason = "other"
        except ZeroDivisionError:
            reason = "non_finite"
        if not eos:  # the cut sequence may still parse: it was not finished
            reason = "no_eos"
        reasons.append(reason)
        if reason == "valid":
            errors.append(float((pred - true).norm() / true.norm().clamp_min(1e-30)))
        else:
            errors.append(float("nan"))
    return reasons, errors


def _summary(values: list[float], families: list[str], name: str) -> dict[str, Any]:
    v = torch.tensor(values, dtype=torch.float64)
    finite = v[torch.isfinite(v)]
    out = {
        name: float(finite.mean()) if finite.numel() else float("nan"),
        f"{name}_median": float(finite.median()) if finite.numel() else float("nan"),
    }
    per: dict[str, list[float]] = defaultdict(list)
    for x, fam in zip(values, families):
        if math.isfinite(x):
            per[fam].append(x)
    out[f"{name}_per_family"] = {f: sum(xs) / len(xs) for f, xs in sorted(per.items())}
    return out


@torch.no_grad()
def evaluate_prose(
    model: Any,
    dataset: Any = "odes",
    split: str = "test",
    *,
    batch_size: int = 64,
    noise: float = 0.02,
    corrupt: float = 0.15,
    n_points: int = 50,
    max_len: int = 300,
    max_samples: int | None = None,
    variants: tuple[str, ...] = ("clean", "noisy", "corrupted", "no_symbols"),
    decoders: tuple[str, ...] = ("greedy",),
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Score a trained PROSE on a split of ODE data; `opkit.evaluate(result, "odes")`.

    For each variant of the input, the data relative L2 on the 128 target points (valid
    components; mean, median, per family; always against the *clean* target), and, for
    models with a symbol decoder, the greedy-decoded equations: the fraction that is valid
    (decodes without `TokenError`, has the system's number of components, and is finite
    at ``n_points`` points drawn from ``U(-5, 5)^d``), and the relative L2 of the decoded
    vector field against the true one at those points (valid expressions only).

    Variants: ``clean`` (clean data, clean placeholder guess), ``noisy`` (inputs with
    ``noise`` relative noise), ``corrupted`` (guess with added/deleted terms), and
    ``no_symbols`` (the same model given the empty expression ``<BOS> <EOS>``). The
    ``no_symbols`` variant measures how much this trained model relies on its symbol
    input; the paper's operator-only ablation is a *separately trained*
    ``PROSE(operator_only=True)``, which is scored by passing it as ``model`` (its
    ``clean`` data error is then the operator-only number; it has no symbol metrics).
    Trained on guesses only, a model may fare worse on the empty expression than a
    model trained without symbols: it has never seen one.

    Args:
        model: a `TrainedProse` or a checkpoint path.
        dataset: an ODE file or ``"odes"``.
        split: ``"train"``, ``"val"`` or ``"test"``.
        batch_size, max_len: evaluation batch and decoding length.
        noise: relative noise of the ``noisy`` variant (2 %).
        corrupt: add/delete probability of the ``corrupted`` variant (0.15, the paper).
        n_points: points of the vector-field comparison.
        max_samples: score only the first N items of the split.
        variants: which variants to score.
        decoders: ``"greedy"`` (plain argmax, the default) and/or ``"constrained"``
            (argmax over the tokens that keep a valid prefix system of the sample's
            dimension, see `opkit.symbolic.PrefixGrammar`); the constrained scores carry
            the prefix ``constrained_`` (``constrained_valid_fraction`` ...).
        seed: seed of the evaluation points and of noise/corruption.

    Returns:
        ``dict`` with ``rel_l2``, ``rel_l2_median``, ``rel_l2_per_family``,
        ``baseline_rel_l2`` (last observed value held) and its median and per family,
        ``valid_fraction``, ``valid_fraction_per_family``, ``invalid_reasons`` (counts of
        `INVALID_REASONS`: ``no_eos``, ``syntax``, ``components``, ``other``,
        ``non_finite``), ``vector_field_rel_l2`` (mean, median, per family) for ``clean``;
        the same keys prefixed ``noisy/``, ``corrupted/``, ``no_symbols/``; ``n_samples``
        and ``split``.

    Raises:
        ValueError: unknown split, variant or decoder.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"`split` must be 'train', 'val' or 'test', got {split!r}.")
    unknown = set(variants) - {"clean", "noisy", "corrupted", "no_symbols"}
    if unknown:
        raise ValueError(f"unknown `variants` {sorted(unknown)}.")
    if not decoders or set(decoders) - {"greedy", "constrained"}:
        raise ValueError(f"`decoders` must name 'greedy' and/or 'constrained', got {decoders!r}.")
    trained = load_prose(model) if isinstance(model, (str, Path)) else model
    if not isinstance(trained, TrainedProse):
        raise TypeError(f"`model` must be a TrainedProse or a path, got {type(model).__name__}.")
    module = trained.module.eval()
    if device is not None:
        module.to(device)
    dev = next(module.parameters()).device
    net = module.model
    dm = ProseDataModule(str(dataset), batch_size=batch_size, max_eval_samples=max_samples)
    dm.seed = seed
    clean = dm.dataset(split)
    sources = {
        "clean": clean,
        "noisy": dm.dataset(split, noise=noise),
        "corrupted": dm.dataset(split, corrupt=corrupt),
        "no_symbols": clean,
    }
    out: dict[str, Any] = {"split": split, "n_samples": len(clean)}
    if net.operator_only:
        variants = tuple(v for v in variants if v in ("clean", "noisy"))
    for variant in variants:
        prefix = "" if variant == "clean" else f"{variant}/"
        gens = {name: torch.Generator().manual_seed(seed) for name in decoders}
        rel, base, fams = [], [], []
        reasons: dict[str, list[str]] = defaultdict(list)
        vf: dict[str, list[float]] = defaultdict(list)
        loaders = zip(dm.loader(clean), dm.loader(sources[variant]))
        for ref, batch in loaders:
            batch = {k: v.to(dev) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            ref_out = ref["u_out"].to(dev)
            if variant == "no_symbols":
                batch["symbols"] = _pad([[]] * len(batch["family"])).to(dev)
            sym = None if net.operator_only else batch["symbols"]
            u = net(batch["t_in"], batch["u_in"], sym, batch["t_out"], dim=batch["dim"])[0]
            rel += relative_l2_masked(u, ref_out, batch["dim"]).tolist()
            base += relative_l2_masked(
                ref["u_in"][:, -1:].expand_as(ref["u_out"]).to(dev), ref_out, batch["dim"]
            ).tolist()
            fams += batch["family"]
            if net.operator_only:
                continue
            for name in decoders:
                ids = net.generate(
                    batch["t_in"], batch["u_in"], sym, max_len=max_len,
                    constrained=name == "constrained", dim=batch["dim"],
                )  # fmt: skip
                tokens, _ = _decode_rows(ids.cpu())
                why, err = _vector_field_errors(
                    tokens, ids.eq(net.eos_id).any(1).tolist(), ref["target"], ref["dim"],
                    generator=gens[name], n_points=n_points,
                )  # fmt: skip
                reasons[name] += why
                vf[name] += err
        for k, v in _summary(rel, fams, "rel_l2").items():
            out[prefix + k] = v
        if variant == "clean":
            out.update(_summary(base, fams, "baseline_rel_l2"))
        for name, why in reasons.items():
            key = prefix + ("" if name == "greedy" else f"{name}_")
            valid = [r == "valid" for r in why]
            out[key + "valid_fraction"] = sum(valid) / len(valid)
            out[key + "invalid_reasons"] = {r: why.count(r) for r in INVALID_REASONS}
            per: dict[str, list[bool]] = defaultdict(list)
            for ok, fam in zip(valid, fams):
                per[fam].append(ok)
            out[key + "valid_fraction_per_family"] = {
                f: sum(x) / len(x) for f, x in sorted(per.items())
            }
            for k, v in _summary(vf[name], fams, "vector_field_rel_l2").items():
                out[key + k] = v
    return out
