"""PDE residuals as plain functions of a network.

Every function takes a network mapping ``(N, 2)`` coordinates ``(t, x)`` to ``(N, 1)``, the
collocation points ``t, x`` of shape ``(N,)`` and the PDE's coefficients, and returns the
pointwise residual ``(N,)`` (zero for an exact solution). Derivatives come from
:func:`~opkit.models.pinns.derivatives` with the graph kept, so ``residual.pow(2).mean()``
can be back-propagated to the network's parameters. Gradients are enabled inside, so the
functions also work under ``torch.no_grad()`` (validation).
"""

from __future__ import annotations

import torch
from torch import nn

from ._derivatives import derivatives

__all__ = [
    "evaluate_field",
    "allen_cahn_residual",
    "kuramoto_sivashinsky_residual",
    "convection_residual",
    "burgers_residual",
]


def _points(t: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(t, torch.Tensor) and isinstance(x, torch.Tensor)):
        raise TypeError(
            f"`t` and `x` must be torch.Tensors, got {type(t).__name__} and {type(x).__name__}."
        )
    if t.ndim != 1 or t.shape != x.shape:
        raise ValueError(
            f"`t` and `x` must be 1-D with the same length (flattened collocation points), got "
            f"{tuple(t.shape)} and {tuple(x.shape)}; flatten a grid with .reshape(-1)."
        )
    # Collocation points are data: cut any history and make them differentiable leaves.
    return t.detach().requires_grad_(True), x.detach().requires_grad_(True)


def evaluate_field(net: nn.Module, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The network's scalar field ``u(t, x)`` at points ``(N,)`` -> ``(N,)``.

    Raises:
        ValueError: if the network does not return ``(N, 1)`` (or ``(N,)``).
    """
    out = net(torch.stack([t, x], dim=-1))
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape != t.shape:
        raise ValueError(
            f"the network must map (N, 2) coordinates (t, x) to (N, 1), got output shape "
            f"{tuple(out.shape)} for N = {t.shape[0]}."
        )
    return out


def _first(net, t, x):
    """``(u, u_t, u_x)`` with both first derivatives from one backward pass."""
    t, x = _points(t, x)
    u = evaluate_field(net, t, x)
    u_t, u_x = torch.autograd.grad(
        u, (t, x), torch.ones_like(u), create_graph=True, allow_unused=True
    )
    # A field that does not depend on t (or x) has a derivative of exactly zero there.
    u_t = torch.zeros_like(t) if u_t is None else u_t
    u_x = torch.zeros_like(x) if u_x is None else u_x
    return x, u, u_t, u_x


def allen_cahn_residual(
    net: nn.Module, t: torch.Tensor, x: torch.Tensor, *, eps: float = 1e-4, k: float = 5.0
) -> torch.Tensor:
    r"""Allen–Cahn: ``u_t - eps u_xx + k (u³ - u)`` at ``(t, x)`` -> ``(N,)``.

    The defaults (``eps = 1e-4``, ``k = 5``) are the benchmark of Wang et al. 2022.
    """
    with torch.enable_grad():
        x, u, u_t, u_x = _first(net, t, x)
        (u_xx,) = derivatives(u_x, x, 1)
        return u_t - eps * u_xx + k * (u**3 - u)


def kuramoto_sivashinsky_residual(
    net: nn.Module,
    t: torch.Tensor,
    x: torch.Tensor,
    *,
    alpha: float = 5.0,
    beta: float = 0.5,
    gamma: float = 0.005,
) -> torch.Tensor:
    r"""Kuramoto–Sivashinsky: ``u_t + α u u_x + β u_xx + γ u_xxxx`` at ``(t, x)`` -> ``(N,)``.

    The defaults are the "regular" case of Wang et al. 2022 (``α = 5, β = 0.5, γ = 0.005``).
    """
    with torch.enable_grad():
        x, u, u_t, u_x = _first(net, t, x)
        u_xx, _, u_xxxx = derivatives(u_x, x, 3)
        return u_t + alpha * u * u_x + beta * u_xx + gamma * u_xxxx


def convection_residual(
    net: nn.Module, t: torch.Tensor, x: torch.Tensor, *, beta: float, nu: float = 0.0
) -> torch.Tensor:
    r"""Convection(–diffusion): ``u_t + β u_x - ν u_xx`` at ``(t, x)`` -> ``(N,)``."""
    with torch.enable_grad():
        x, u, u_t, u_x = _first(net, t, x)
        if nu == 0.0:
            return u_t + beta * u_x
        (u_xx,) = derivatives(u_x, x, 1)
        return u_t + beta * u_x - nu * u_xx


def burgers_residual(
    net: nn.Module, t: torch.Tensor, x: torch.Tensor, *, nu: float
) -> torch.Tensor:
    r"""Viscous Burgers: ``u_t + u u_x - ν u_xx`` at ``(t, x)`` -> ``(N,)``."""
    with torch.enable_grad():
        x, u, u_t, u_x = _first(net, t, x)
        (u_xx,) = derivatives(u_x, x, 1)
        return u_t + u * u_x - nu * u_xx
