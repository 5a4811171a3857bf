r"""Causal training of PINNs (Wang, Sankaran & Perdikaris 2022).

The residual loss is split by time: with collocation times sorted ``t_1 < ... < t_{N_t}`` and
``L(t_i)`` the mean squared residual at ``t_i``, the loss is

.. math::

    \mathcal{L} = \lambda_{ic} L_{ic} + \frac{1}{N_t} \sum_i w_i L(t_i), \qquad
    w_i = \exp\Big(-\epsilon \big(\lambda_{ic} L_{ic} + \sum_{k<i} L(t_k)\big)\Big),

where the weighted initial-condition loss plays the part of the residual at ``t_0`` and the
weights carry **no gradient**: a time is only trained once everything before it is solved.
``ε`` follows a schedule ``[1e-2, 1e-1, 1, 10, 100]`` and moves to the next value when
``min_i w_i > δ = 0.99`` (all residuals small enough at the current causality strength).
"""

from __future__ import annotations

import dataclasses
import math

import torch

__all__ = ["CausalSchedule", "causal_weights", "causal_loss", "per_time_losses"]


@dataclasses.dataclass(frozen=True)
class CausalSchedule:
    """The causality parameters ``ε`` and the tolerance ``δ`` that advances them.

    Args:
        epsilons: increasing positive causality strengths (default ``(1e-2, 1e-1, 1, 10,
            100)``, the published schedule).
        delta: tolerance in ``(0, 1)``; training moves to the next ``ε`` (or finishes after
            the last) once ``min_i w_i > delta`` (default 0.99).

    Raises:
        ValueError: for an empty, non-positive or non-increasing ``epsilons`` or a ``delta``
            outside ``(0, 1)``.
    """

    epsilons: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0, 100.0)
    delta: float = 0.99

    def __post_init__(self) -> None:
        eps = tuple(float(e) for e in self.epsilons)
        if not eps or any(not (math.isfinite(e) and e > 0) for e in eps):
            raise ValueError(f"`epsilons` must be positive finite numbers, got {self.epsilons}.")
        if any(b <= a for a, b in zip(eps[:-1], eps[1:])):
            raise ValueError(f"`epsilons` must be strictly increasing, got {self.epsilons}.")
        if not (isinstance(self.delta, (int, float)) and 0 < self.delta < 1):
            raise ValueError(f"`delta` must lie in (0, 1), got {self.delta!r}.")
        object.__setattr__(self, "epsilons", eps)

    def __len__(self) -> int:
        return len(self.epsilons)

    def converged(self, weights: torch.Tensor) -> bool:
        """Whether ``min(weights) > delta`` (time to move to the next ``ε``)."""
        return bool(weights.min() > self.delta)


def per_time_losses(residual: torch.Tensor, n_t: int) -> torch.Tensor:
    """Mean squared residual per collocation time, ``(n_t * n_x,) -> (n_t,)``.

    The residual must be ordered time-major (all points of ``t_1``, then ``t_2``, ...).

    Raises:
        ValueError: if ``residual.numel()`` is not a multiple of ``n_t``.
    """
    if residual.numel() % n_t != 0:
        raise ValueError(
            f"`residual` has {residual.numel()} entries, not a multiple of n_t = {n_t}; order "
            "the collocation points as an (n_t, n_x) block."
        )
    return residual.reshape(n_t, -1).pow(2).mean(dim=1)


def causal_weights(
    losses: torch.Tensor, eps: float, *, initial: torch.Tensor | float = 0.0
) -> torch.Tensor:
    r"""``w_i = exp(-ε (initial + Σ_{k<i} losses_k))``, detached from the graph.

    Args:
        losses: per-time losses ``(n_t,)`` on sorted times.
        eps: causality strength ``ε > 0``.
        initial: the loss at ``t_0`` that precedes ``losses[0]`` (the weighted
            initial-condition loss), default 0.

    Returns:
        ``(n_t,)`` weights in ``(0, 1]``, without gradient.

    Raises:
        ValueError: for ``losses`` that is not 1-D or a non-positive ``eps``.

    Examples:
        >>> causal_weights(torch.tensor([1.0, 2.0, 3.0]), 0.5)
        tensor([1.0000, 0.6065, 0.2231])
    """
    if losses.ndim != 1:
        raise ValueError(f"`losses` must be 1-D (one loss per time), got {tuple(losses.shape)}.")
    if not (isinstance(eps, (int, float)) and eps > 0):
        raise ValueError(f"`eps` must be a positive number, got {eps!r}.")
    with torch.no_grad():
        losses = losses.detach()
        exclusive = torch.cumsum(losses, dim=0) - losses
        initial = torch.as_tensor(initial, dtype=losses.dtype, device=losses.device).detach()
        return torch.exp(-eps * (initial + exclusive))


def causal_loss(
    losses: torch.Tensor, eps: float, *, initial_loss: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The causal PINN loss ``initial_loss + mean_i(w_i losses_i)`` and the weights.

    Args:
        losses: per-time residual losses ``(n_t,)`` on sorted times (with gradient).
        eps: causality strength ``ε``.
        initial_loss: the weighted initial-condition loss ``λ_ic L_ic`` (a scalar with
            gradient); it also enters the weights as the residual at ``t_0``.

    Returns:
        ``(loss, weights)``: a scalar and the ``(n_t,)`` weights (no gradient).
    """
    w = causal_weights(losses, eps, initial=initial_loss)
    return initial_loss + (w * losses).mean(), w
