r"""Lagrangian PINNs (Mojgani, Balajewicz & Hassanzadeh 2022).

For a convection–diffusion equation ``u_t + f(u) u_x = ν u_xx`` the information travels
along characteristics ``X(x0, t)`` with ``X_t = f(u)``, and along them ``D_t u = ν u_XX``.
An LPINN learns both as functions of the Lagrangian label ``x0`` and ``t``:

- the *characteristic branch* ``X(x0, t) = x0 + s D(x0, t)`` (``s`` a fixed scale);
- the *state branch* ``u(x0, t)``.

With both branch networks periodic in ``x0`` (a :class:`PeriodicEmbedding` of the label),
``u`` is exactly periodic and ``X(x0 + L, t) = X(x0, t) + L`` exactly: writing the branch as
a displacement is what makes the characteristic periodic (the released code fits ``X``
itself with a periodic network, which cannot hold ``X(x0, 0) = x0`` at both ends).

The residuals are ``r_X = X_t - f(u)`` and ``r_u = u_t - ν u_XX`` with the Eulerian
derivatives from the chain rule, ``u_X = u_{x0} / X_{x0}``, ``u_XX = (u_X)_{x0} / X_{x0}``;
the initial conditions are ``X(x0, 0) = x0`` and ``u(x0, 0) = u0(x0)``. The loss is the
paper's weighted sum of norms, ``γ_X ‖r_X‖ + γ_u ‖r_u‖ + γ_ic (‖X(·,0) - x0‖ + ‖u(·,0) - u0‖)``,
taken here as root-mean-square norms so that the weights do not depend on the number of
points; ``(γ_X, γ_u, γ_ic) = (10, 1, 100)`` give the released code's balance
(``(10, 1, 1000)`` on plain 2-norms over its 100 x 256 residual and 256 initial points).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..._checks import check_int, check_positive
from ._derivatives import derivatives
from ._problems import PINNProblem

__all__ = [
    "LagrangianPINN",
    "lagrangian_residuals",
    "lagrangian_loss",
    "lagrangian_to_eulerian",
]


def _column(net: nn.Module, coords: torch.Tensor, name: str) -> torch.Tensor:
    out = net(coords)
    if out.ndim == 2 and out.shape[1] == 1:
        return out[:, 0]
    raise ValueError(
        f"the {name} branch must map (N, 2) coordinates (t, x0) to (N, 1), got {tuple(out.shape)}."
    )


class LagrangianPINN(nn.Module):
    r"""The two-branch Lagrangian PINN: ``(t, x0) -> (X, u)``.

    Args:
        characteristic: network ``(N, 2) -> (N, 1)`` over ``(t, x0)`` for the displacement
            ``X - x0`` of the characteristic curves; give it a ``PeriodicEmbedding`` of the
            label so that ``X(x0 + L) = X(x0) + L`` exactly.
        state: network ``(N, 2) -> (N, 1)`` over ``(t, x0)`` for the state ``u`` carried
            along the characteristics (also periodic in ``x0``).
        displacement_scale: ``s`` in ``X = x0 + s D(t, x0)`` (default 1.0). Set it to the
            distance information travels, ``|β| T`` for convection or ``max|u0| T`` for
            Burgers, so that the branch learns an O(1) function (output normalisation, the
            counterpart of a solution of order one for the state branch); with ``s = 1``
            and ``β = 30`` the branch must grow outputs of 30 from a Glorot start first.

    Shapes: ``forward(coords)``: ``(N, 2)`` ordered ``(t, x0)`` -> ``(N, 2)`` ordered
    ``(X, u)``.

    Raises:
        TypeError: if a branch is not an ``nn.Module``.

    References:
        Mojgani, Balajewicz & Hassanzadeh, "Lagrangian PINNs: a causality-conforming solution
        to failure modes of physics-informed neural networks", arXiv:2205.02902 (2022);
        published in CMAME 404 (2023). The released code uses tanh networks of width 50 with
        5 (state) and 2 (characteristic) hidden layers over ``(cos x0, sin x0, t)``.

    Examples:
        >>> from opkit.models.pinns import MLP, PeriodicEmbedding
        >>> def branch():
        ...     emb = PeriodicEmbedding(periods=(None, 2 * math.pi))
        ...     return MLP(width=16, depth=2, embedding=emb)
        >>> net = LagrangianPINN(branch(), branch())
        >>> net(torch.rand(4, 2)).shape
        torch.Size([4, 2])
    """

    def __init__(
        self, characteristic: nn.Module, state: nn.Module, *, displacement_scale: float = 1.0
    ) -> None:
        super().__init__()
        for name, branch in (("characteristic", characteristic), ("state", state)):
            if not isinstance(branch, nn.Module):
                raise TypeError(f"`{name}` must be an nn.Module, got {type(branch).__name__}.")
        self.displacement_scale = check_positive("displacement_scale", displacement_scale)
        self.characteristic = characteristic
        self.state = state

    @classmethod
    def init_args_from_problem(
        cls,
        problem: PINNProblem,
        *,
        width: int = 50,
        depth: int = 4,
        characteristic_depth: int = 2,
        n_harmonics: int = 1,
        activation: str = "tanh",
        displacement_scale: float | None = None,
    ) -> dict:
        """Constructor arguments for ``problem`` (what `opkit.fit` builds): two tanh `MLP`
        branches of ``width`` with ``depth`` (state) and ``characteristic_depth``
        (characteristic) hidden layers over a periodic embedding of the label (the released
        code's networks: width 50, 5 and 2 layers), and ``displacement_scale`` the distance
        information travels, ``|c| T`` for a PDE with an advection speed ``c``, else
        ``max|u0| T`` (as nested records)."""
        from ._networks import periodic_embedding_record

        if displacement_scale is None:
            speed = getattr(problem.pde, "c", None)
            if speed is None:
                x = torch.linspace(0, float(problem.length), 257, dtype=torch.float64)[:-1]
                speed = float(problem.initial_condition(x + problem.x_min).abs().max())
            displacement_scale = max(abs(float(speed)), 1e-3) * float(problem.t_final)

        def branch(n_layers: int) -> dict:
            return {
                "class_path": "opkit.models.pinns.MLP",
                "init_args": {
                    "width": width,
                    "depth": n_layers,
                    "activation": activation,
                    "embedding": periodic_embedding_record(problem, n_harmonics),
                },
            }

        return {
            "characteristic": branch(characteristic_depth),
            "state": branch(depth),
            "displacement_scale": displacement_scale,
        }

    def positions(self, coords: torch.Tensor) -> torch.Tensor:
        """``X(t, x0)`` at coordinates ``(N, 2)`` -> ``(N,)``."""
        d = _column(self.characteristic, coords, "characteristic")
        return coords[:, 1] + self.displacement_scale * d

    def values(self, coords: torch.Tensor) -> torch.Tensor:
        """``u(t, x0)`` at coordinates ``(N, 2)`` -> ``(N,)``."""
        return _column(self.state, coords, "state")

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise ValueError(
                f"`coords` must have shape (N, 2) = (t, x0), got {tuple(coords.shape)}."
            )
        return torch.stack([self.positions(coords), self.values(coords)], dim=-1)


def _check_lagrangian(net: nn.Module, problem: PINNProblem) -> None:
    if not isinstance(net, LagrangianPINN):
        raise TypeError(f"`net` must be a LagrangianPINN, got {type(net).__name__}.")
    if not getattr(problem, "supports_lagrangian", False):
        raise ValueError(
            f"{type(getattr(problem, 'pde', problem)).__name__} has no Lagrangian form; LPINNs "
            "apply to convection-diffusion problems (Convection, Burgers)."
        )


def lagrangian_residuals(
    net: LagrangianPINN, problem: PINNProblem, t: torch.Tensor, x0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(r_X, r_u) = (X_t - f(u), u_t - ν u_XX)`` at flattened points ``(N,)``.

    Raises:
        TypeError/ValueError: for a network that is not a ``LagrangianPINN``, a problem without
            a Lagrangian form, or ``t``/``x0`` that are not 1-D of equal length.
    """
    _check_lagrangian(net, problem)
    if t.ndim != 1 or t.shape != x0.shape:
        raise ValueError(
            f"`t` and `x0` must be 1-D of equal length, got {tuple(t.shape)} and {tuple(x0.shape)}."
        )
    with torch.enable_grad():
        t = t.detach().requires_grad_(True)
        x0 = x0.detach().requires_grad_(True)
        coords = torch.stack([t, x0], dim=-1)
        X = net.positions(coords)
        u = net.values(coords)
        nu = float(problem.nu)
        if nu == 0.0:
            (X_t,) = torch.autograd.grad(X, t, torch.ones_like(X), create_graph=True)
            (u_t,) = torch.autograd.grad(u, t, torch.ones_like(u), create_graph=True)
            return X_t - problem.characteristic_speed(u), u_t
        # One backward pass per branch gives both first derivatives.
        X_t, X_x0 = torch.autograd.grad(X, (t, x0), torch.ones_like(X), create_graph=True)
        u_t, u_x0 = torch.autograd.grad(u, (t, x0), torch.ones_like(u), create_graph=True)
        r_x = X_t - problem.characteristic_speed(u)
        u_X = u_x0 / X_x0
        (u_X_x0,) = derivatives(u_X, x0, 1)
        u_XX = u_X_x0 / X_x0
        return r_x, u_t - nu * u_XX


def _rms(v: torch.Tensor) -> torch.Tensor:
    # sqrt(mean(v^2)) has an infinite gradient at 0; a tiny floor keeps it finite there.
    return torch.sqrt(v.pow(2).mean() + torch.finfo(v.dtype).tiny)


def lagrangian_loss(
    net: LagrangianPINN,
    problem: PINNProblem,
    t: torch.Tensor,
    x0: torch.Tensor,
    x0_ic: torch.Tensor,
    *,
    u0: torch.Tensor | None = None,
    weights: tuple[float, float, float] = (10.0, 1.0, 100.0),
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""The LPINN loss ``γ_X rms(r_X) + γ_u rms(r_u) + γ_ic (rms(e_X) + rms(e_u))``.

    Args:
        net, problem: the LPINN and its problem.
        t, x0: flattened collocation points ``(N,)``.
        x0_ic: labels of the initial-condition points ``(M,)``.
        u0: initial values at ``x0_ic`` (default: ``problem.initial_condition(x0_ic)``).
        weights: ``(γ_X, γ_u, γ_ic)`` (default ``(10, 1, 100)``, see module docstring).

    Returns:
        ``(loss, parts)`` with ``parts`` holding the detached ``res_x``, ``res_u``, ``ic_x``,
        ``ic_u`` root-mean-square norms.

    Raises:
        ValueError: for a ``weights`` that is not three non-negative numbers.
    """
    if len(weights) != 3 or any(not (math.isfinite(w) and w >= 0) for w in weights):
        raise ValueError(f"`weights` must be three non-negative numbers, got {weights!r}.")
    r_x, r_u = lagrangian_residuals(net, problem, t, x0)
    coords0 = torch.stack([torch.zeros_like(x0_ic), x0_ic], dim=-1)
    target = problem.initial_condition(x0_ic) if u0 is None else u0
    e_x = net.positions(coords0) - x0_ic
    e_u = net.values(coords0) - target
    parts = {"res_x": _rms(r_x), "res_u": _rms(r_u), "ic_x": _rms(e_x), "ic_u": _rms(e_u)}
    g_x, g_u, g_ic = weights
    loss = g_x * parts["res_x"] + g_u * parts["res_u"] + g_ic * (parts["ic_x"] + parts["ic_u"])
    return loss, {k: v.detach() for k, v in parts.items()}


@torch.no_grad()
def lagrangian_to_eulerian(
    net: LagrangianPINN,
    problem: PINNProblem,
    t: torch.Tensor,
    x: torch.Tensor,
    *,
    n_labels: int = 1024,
) -> torch.Tensor:
    r"""The LPINN's solution on an Eulerian grid, ``u(t_i, x_j)`` -> ``(len(t), len(x))``.

    At each time the labels ``x0 = x_min + k L / n_labels`` are carried to ``X(x0, t)``,
    wrapped into the periodic domain, sorted, and ``u`` is linearly interpolated (periodically)
    at ``x`` — the paper's interpolation back to a stationary grid.

    Args:
        net, problem: the trained LPINN and its problem.
        t: times ``(n_t,)``; x: grid points ``(n_x,)`` inside the periodic domain.
        n_labels: number of Lagrangian labels (default 1024); use several times the grid
            size so the interpolation error stays below the network's.

    Raises:
        ValueError: for ``n_labels < 4`` or ``t``/``x`` that are not 1-D.
    """
    _check_lagrangian(net, problem)
    check_int("n_labels", n_labels, minimum=4)
    if t.ndim != 1 or x.ndim != 1:
        raise ValueError(f"`t` and `x` must be 1-D, got {tuple(t.shape)} and {tuple(x.shape)}.")
    param = next(net.parameters())
    dtype, device = param.dtype, param.device
    length, x_min = float(problem.length), float(problem.x_min)
    labels = x_min + torch.arange(n_labels, dtype=dtype, device=device) * (length / n_labels)
    tt = t.to(dtype=dtype, device=device)
    coords = torch.stack(torch.broadcast_tensors(tt[:, None], labels[None, :]), dim=-1)
    out = net(coords.reshape(-1, 2)).reshape(len(tt), n_labels, 2)
    xi = torch.remainder(out[..., 0] - x_min, length)
    xi, order = torch.sort(xi, dim=1)
    u = torch.gather(out[..., 1], 1, order)
    # Periodic extension by one point on each side so every query has two neighbours.
    xi = torch.cat([xi[:, -1:] - length, xi, xi[:, :1] + length], dim=1)
    u = torch.cat([u[:, -1:], u, u[:, :1]], dim=1)
    q = torch.remainder(x.to(dtype=dtype, device=device) - x_min, length)
    q = q[None, :].expand(len(tt), -1).contiguous()
    hi = torch.searchsorted(xi, q, right=True).clamp(1, xi.shape[1] - 1)
    lo = hi - 1
    x_lo, x_hi = torch.gather(xi, 1, lo), torch.gather(xi, 1, hi)
    u_lo, u_hi = torch.gather(u, 1, lo), torch.gather(u, 1, hi)
    w = ((q - x_lo) / (x_hi - x_lo).clamp_min(torch.finfo(dtype).tiny)).clamp(0, 1)
    return u_lo + w * (u_hi - u_lo)
