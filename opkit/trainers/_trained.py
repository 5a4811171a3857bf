"""`TrainedOperator`: what `opkit.fit` returns and `opkit.load` restores."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..pde_data import DataSpec
from ._build import class_path, import_model_class
from ._operator import OperatorModule

__all__ = ["TrainedOperator", "load", "FORMAT"]

FORMAT = "opkit.trained-operator"
FORMAT_VERSION = 1


class TrainedOperator:
    """A trained model with its normalisation, data description and metrics.

    Attributes:
        module: the `OperatorModule` (model + normalisers).
        model: the bare ``nn.Module``.
        spec: the `DataSpec` of the data it was trained on.
        metrics: ``dict`` of final metrics (``test/rel_l2``, ``val/rel_l2``, ...).
        data: description of the training data (path, PDE, recipe).
    """

    def __init__(
        self,
        module: OperatorModule,
        *,
        spec: DataSpec,
        model_kwargs: dict | None = None,
        metrics: dict | None = None,
        data: dict | None = None,
    ):
        self.module = module
        self.spec = spec
        self.model_kwargs = model_kwargs
        self.metrics = dict(metrics or {})
        self.data = dict(data or {})

    @property
    def model(self) -> nn.Module:
        return self.module.model

    def __repr__(self) -> str:
        shown = {k: round(v, 5) for k, v in self.metrics.items() if isinstance(v, float)}
        return f"TrainedOperator({type(self.model).__name__}, spec={self.spec}, metrics={shown})"

    @torch.no_grad()
    def predict(self, x: torch.Tensor, *, n_frames: int | None = None) -> torch.Tensor:
        """Predict in physical units.

        Args:
            x: ``(batch, in_channels, *spatial)``; with one input channel ``(batch, *spatial)``
                is accepted too (e.g. ``u0`` for the Burgers map).
            n_frames: roll out autoregressively for this many frames (trajectory models);
                ``None`` is one model call.

        Returns:
            ``(batch, out_channels or n_frames * n_fields, *spatial)``, squeezed back to
            ``(batch, *spatial)`` when the input came without a channel axis and one
            channel is produced.
        """
        x = torch.as_tensor(x)
        squeeze = x.ndim == self.spec.ndim + 1 and self.spec.in_channels == 1
        if squeeze:
            x = x[:, None]
        if x.ndim != self.spec.ndim + 2 or x.shape[1] != self.spec.in_channels:
            raise ValueError(
                f"`x` must have shape (batch, {self.spec.in_channels}, *spatial) for this model, "
                f"got {tuple(x.shape)}."
            )
        p = next(self.module.parameters())
        self.module.eval()
        x = x.to(device=p.device, dtype=p.dtype)
        y = self.module(x) if n_frames is None else self.module.predict_frames(x, n_frames)
        if squeeze and y.shape[1] == 1:
            y = y[:, 0]
        return y

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint that `opkit.load` restores with ``weights_only=True``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self._bundle(), path)
        return path

    def _bundle(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_class": class_path(type(self.model)),
            "model_kwargs": self.model_kwargs,
            "module_hparams": dict(self.module.hparams),
            "state_dict": {
                k: v.detach().cpu()
                for k, v in self.module.state_dict().items()
                if isinstance(v, torch.Tensor)
            },
            "spec": dataclasses.asdict(self.spec),
            "metrics": {k: float(v) for k, v in self.metrics.items() if _is_number(v)},
            "data": {k: v for k, v in self.data.items() if isinstance(v, (str, int, float))},
        }


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) or (isinstance(v, torch.Tensor) and v.numel() == 1)


def load(
    path: str | Path, *, model: nn.Module | None = None, map_location="cpu"
) -> TrainedOperator:
    """Restore a `TrainedOperator` saved by ``.save`` (or an opkit Lightning checkpoint).

    The file is read with ``torch.load(weights_only=True)``: nothing in it is executed. The
    model is rebuilt from its recorded constructor arguments when it is an opkit model;
    otherwise pass a freshly built ``model`` of the same architecture.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an opkit checkpoint, or the weights do not fit the model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}.")
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle errors differ between torch versions
        raise ValueError(f"{path} is not a checkpoint opkit can read safely: {err}") from err
    bundle = raw.get("opkit") if isinstance(raw, dict) and "opkit" in raw else raw
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not an opkit trained-operator checkpoint (no '{FORMAT}' record); "
            "save one with `opkit.fit(...).save(path)` or train with `opkit fit`."
        )
    if isinstance(raw, dict) and "opkit" in raw and "state_dict" in raw:
        bundle = {**bundle, "state_dict": raw["state_dict"]}
    spec = DataSpec(**bundle["spec"])
    if model is None:
        if bundle.get("model_kwargs") is None:
            raise ValueError(
                f"{path} holds a {bundle['model_class']} built by hand; rebuild it and pass it: "
                "opkit.load(path, model=...)."
            )
        model = import_model_class(bundle["model_class"])(**bundle["model_kwargs"])
    elif class_path(type(model)) != bundle["model_class"]:
        raise ValueError(
            f"{path} holds a {bundle['model_class']}, but `model` is a "
            f"{class_path(type(model))}; pass a model of the checkpoint's class."
        )
    # LightningCLI adds entries such as `_class_path` to the hyper-parameters: keep only
    # the module's own settings.
    accepted = inspect.signature(OperatorModule.__init__).parameters
    hparams = {k: v for k, v in (bundle.get("module_hparams") or {}).items() if k in accepted}
    module = OperatorModule(model, **hparams)
    try:
        module.load_state_dict(bundle["state_dict"])
    except RuntimeError as err:
        raise ValueError(
            f"the weights in {path} do not fit the given model ({type(model).__name__}): {err}"
        ) from err
    module.eval()
    return TrainedOperator(
        module,
        spec=spec,
        model_kwargs=bundle.get("model_kwargs"),
        metrics=bundle.get("metrics"),
        data=bundle.get("data"),
    )
