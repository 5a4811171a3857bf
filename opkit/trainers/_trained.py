"""`TrainedOperator`: what `opkit.fit` returns for an operator (a thin view)."""

from __future__ import annotations

import torch

from ..pde_data import DataSpec
from ._operator import OperatorModule
from ._task import AbstractTrained

__all__ = ["TrainedOperator"]


class TrainedOperator(AbstractTrained):
    """A trained `OperatorModule` with its final metrics and training-data identity.

    Everything needed to rebuild it (network record, data description ``spec``,
    normalisation) lives in the module's hyper-parameters and state dict.

    Attributes:
        module: the `OperatorModule` (model + normalisers).
        model: the bare ``nn.Module``.
        spec: the `DataSpec` of the data it was trained on.
        metrics: ``dict`` of final metrics (``test/rel_l2``, ``val/rel_l2``, ...).
        data: the training data's identity (see `opkit.trainers.data_source`).
    """

    task = "operator"

    def __init__(self, module: OperatorModule, *, metrics: dict | None = None, data=None):
        if module.spec is None:
            raise ValueError(
                "`module` does not record its data (`spec`); build the OperatorModule with "
                "spec=datamodule.spec."
            )
        super().__init__(module, metrics=metrics, data=data)

    @property
    def spec(self) -> DataSpec:
        return self.module.spec

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
        if x.is_floating_point() and not bool(torch.isfinite(x).all()):
            raise ValueError("`x` holds NaN/Inf values; the model predicts from finite inputs.")
        p = next(self.module.parameters())
        self.module.eval()
        x = x.to(device=p.device, dtype=p.dtype)
        y = self.module(x) if n_frames is None else self.module.predict_frames(x, n_frames)
        if squeeze and y.shape[1] == 1:
            y = y[:, 0]
        return y
