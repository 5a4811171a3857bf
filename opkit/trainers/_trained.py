"""`TrainedOperator`: what `opkit.fit` returns and `opkit.load` restores (a thin view)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..pde_data import DataSpec
from ._checkpoint import load_checkpoint, save_checkpoint
from ._operator import OperatorModule
from ._prose import is_prose_checkpoint, load_prose

__all__ = ["TrainedOperator", "load"]


class TrainedOperator:
    """A trained `OperatorModule` with its final metrics and training-data description.

    Everything needed to rebuild it (network record, data description ``spec``,
    normalisation) lives in the module's hyper-parameters and state dict.

    Attributes:
        module: the `OperatorModule` (model + normalisers).
        model: the bare ``nn.Module``.
        spec: the `DataSpec` of the data it was trained on.
        metrics: ``dict`` of final metrics (``test/rel_l2``, ``val/rel_l2``, ...).
        data: description of the training data (path, PDE, recipe).
    """

    def __init__(
        self, module: OperatorModule, *, metrics: dict | None = None, data: dict | None = None
    ):
        if module.spec is None:
            raise ValueError(
                "`module` does not record its data (`spec`); build the OperatorModule with "
                "spec=datamodule.spec."
            )
        self.module = module
        self.metrics = dict(metrics or {})
        self.data = dict(data or {})

    @property
    def model(self) -> nn.Module:
        return self.module.model

    @property
    def spec(self) -> DataSpec:
        return self.module.spec

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
        """Write a checkpoint that `opkit.load` restores with ``weights_only=True``.

        The write is atomic: on failure (a full disk, say) an existing file is left intact.
        """
        return save_checkpoint(self.module, path, metrics=self.metrics, data=self.data)


def load(
    path: str | Path, *, model: nn.Module | None = None, map_location="cpu"
) -> TrainedOperator:
    """Restore a `TrainedOperator` saved by ``.save`` (or a Lightning checkpoint of opkit).

    The file is read with ``torch.load(weights_only=True)``: nothing in it is executed. The
    network is rebuilt from its record when that names an ``opkit.`` (or ``torch.``)
    class; otherwise pass a freshly built ``model`` of the same architecture.

    A PROSE checkpoint is restored as a `TrainedProse` (see `opkit.trainers.load_prose`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an opkit checkpoint, or the weights do not fit the model.
    """
    if model is None and is_prose_checkpoint(path):
        return load_prose(path, map_location=map_location)
    module, metrics, data = load_checkpoint(path, model=model, map_location=map_location)
    return TrainedOperator(module, metrics=metrics, data=data)
