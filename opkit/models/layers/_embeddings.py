"""Exactly periodic input features (DeepONet's trunk, the periodic PINN networks)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..._checks import check_int

__all__ = ["PeriodicEmbedding"]


class PeriodicEmbedding(nn.Module):
    r"""Exact periodic embedding ``[z_free..., 1, cos(k ω z_p), sin(k ω z_p)]`` of chosen columns.

    Each column ``j`` with a period ``L_j`` is replaced by the harmonics
    ``cos(k ω_j z_j), sin(k ω_j z_j)`` for ``k = 1..n_harmonics`` with ``ω_j = 2π / L_j``;
    columns with period ``None`` (time, say) pass through unchanged and come first; a
    constant feature ``1`` sits between them when ``constant=True`` (the layout of Wang et
    al. 2022's released code, ``[t, 1, cos(kωx), sin(kωx)]``). Any network applied to the
    output is then *exactly* periodic in those columns, so no boundary loss is needed.
    The cosines of all periodic columns come first (column-major: column 0's harmonics
    ``k = 1..M``, then column 1's), then the sines in the same order.

    Args:
        in_features: number of input columns (default: ``len(periods)``).
        periods: one entry per input column, a positive period or ``None`` (keyword).
        n_harmonics: ``M``, the number of harmonics per periodic column (default 1).
        constant: include the constant feature ``1`` (default True).

    Shapes: ``(..., in_features) -> (..., out_features)`` with
    ``out_features = n_free + constant + 2 * n_harmonics * n_periodic``.

    Raises:
        ValueError: if ``periods`` does not have ``in_features`` entries, a period is not
            positive, no column is periodic, or ``n_harmonics < 1``.

    References:
        Dong & Ni, "A method for representing periodic functions and enforcing exactly
        periodic boundary conditions with deep neural networks", JCP 435 (2021).
        Lu et al., "A comprehensive and fair comparison of two neural operators (with
        practical extensions) based on FAIR data", CMAME 393 (2022) (DeepONet's periodic
        trunk features).

    Examples:
        >>> emb = PeriodicEmbedding(periods=(None, 2.0), n_harmonics=2)
        >>> emb(torch.zeros(5, 2)).shape
        torch.Size([5, 6])
        >>> PeriodicEmbedding(periods=(1.0,), n_harmonics=8, constant=False).out_features
        16
    """

    def __init__(
        self,
        in_features: int | None = None,
        *,
        periods: Sequence[float | None],
        n_harmonics: int = 1,
        constant: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(periods, (str, bytes)) or not isinstance(periods, Sequence):
            raise ValueError(
                f"`periods` must be a sequence with one period (or None) per input column, "
                f"got {periods!r}."
            )
        periods = tuple(None if p is None else float(p) for p in periods)
        if in_features is None:
            in_features = len(periods)
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.n_harmonics = check_int("n_harmonics", n_harmonics, minimum=1)
        if len(periods) != in_features:
            raise ValueError(
                f"`periods` must give one entry (a period or None) per input column "
                f"({in_features}), got {periods}."
            )
        if any(p is not None and not (math.isfinite(p) and p > 0) for p in periods):
            raise ValueError(f"every entry of `periods` must be None or > 0, got {periods}.")
        if all(p is None for p in periods):
            raise ValueError(
                f"`periods` has no periodic column ({periods}); give at least one period or "
                "use no embedding."
            )
        self.periods = periods
        self.constant = bool(constant)
        self._free = [j for j, p in enumerate(periods) if p is None]
        self._periodic = [j for j, p in enumerate(periods) if p is not None]
        self._omegas = [2 * math.pi / periods[j] for j in self._periodic]
        # Integer harmonics are exact in every dtype; ω is applied afterwards as a Python
        # float, so it is rounded to the input's dtype rather than frozen at float32.
        harmonics = torch.arange(1, n_harmonics + 1, dtype=torch.float32)
        self.register_buffer("harmonics", harmonics, persistent=False)
        self.out_features = (
            len(self._free) + int(self.constant) + 2 * n_harmonics * len(self._periodic)
        )

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """``(..., in_features) -> (..., out_features)``.

        Raises:
            ValueError: the last axis of ``coords`` is not ``in_features`` long.
        """
        if coords.ndim < 1 or coords.shape[-1] != self.in_features:
            raise ValueError(
                f"`coords` must have shape (N, {self.in_features}) (any leading dims), got "
                f"{tuple(coords.shape)}."
            )
        if len(self._periodic) == self.in_features:
            periodic = coords
        else:
            periodic = coords[..., self._periodic]
        scaled = periodic[..., None] * self.harmonics  # (..., n_periodic, M)
        if len(set(self._omegas)) == 1:
            angle = self._omegas[0] * scaled.flatten(-2)
        else:
            omegas = torch.tensor(self._omegas, dtype=coords.dtype, device=coords.device)
            angle = (omegas[:, None] * scaled).flatten(-2)
        parts = [coords[..., self._free]] if self._free else []
        if self.constant:
            parts.append(torch.ones_like(coords[..., :1]))
        parts += [torch.cos(angle), torch.sin(angle)]
        return torch.cat(parts, dim=-1)

    def extra_repr(self) -> str:
        return f"periods={self.periods}, n_harmonics={self.n_harmonics}, constant={self.constant}"
