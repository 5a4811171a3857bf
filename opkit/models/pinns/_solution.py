"""A trained PINN as a solution on a grid (scored by ``opkit.evaluate`` against the problem's
reference)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._derivatives import evaluate_field
from ._lagrangian import LagrangianPINN, lagrangian_to_eulerian
from ._problems import PINNProblem

__all__ = ["field_on_grid", "solution_on_grid"]


@torch.no_grad()
def field_on_grid(
    net: nn.Module, t: torch.Tensor, x: torch.Tensor, *, chunk: int = 65536
) -> torch.Tensor:
    """``u(t_i, x_j)`` of an Eulerian network -> ``(len(t), len(x))``, in chunks of points.

    Raises:
        ValueError: if ``t`` or ``x`` is not 1-D.
    """
    if t.ndim != 1 or x.ndim != 1:
        raise ValueError(f"`t` and `x` must be 1-D, got {tuple(t.shape)} and {tuple(x.shape)}.")
    param = next(net.parameters())
    tt, xx = torch.meshgrid(
        t.to(param.dtype).to(param.device), x.to(param.dtype).to(param.device), indexing="ij"
    )
    tt, xx = tt.reshape(-1), xx.reshape(-1)
    out = [
        evaluate_field(net, tt[i : i + chunk], xx[i : i + chunk]) for i in range(0, len(tt), chunk)
    ]
    return torch.cat(out).reshape(len(t), len(x))


def solution_on_grid(
    networks: nn.Module | Sequence[nn.Module],
    problem: PINNProblem,
    t: torch.Tensor,
    x: torch.Tensor,
    *,
    n_labels: int = 1024,
) -> torch.Tensor:
    """The PINN solution ``u(t_i, x_j)`` -> ``(len(t), len(x))`` (time windows allowed).

    Args:
        networks: one network, or one per time window of equal length
            ``problem.t_final / len(networks)``; window ``k`` is evaluated at the local time
            ``t - k T_w``. Each is Eulerian (``(t, x) -> u``) or a :class:`LagrangianPINN`
            (interpolated back to the grid).
        problem: the problem (domain, final time).
        t: times ``(n_t,)`` in ``[0, t_final]``; x: positions ``(n_x,)``.
        n_labels: Lagrangian labels per time for LPINNs (default 1024).

    Raises:
        ValueError: for times outside ``[0, t_final]`` or an empty list of networks.
    """
    nets = [networks] if isinstance(networks, nn.Module) else list(networks)
    if not nets:
        raise ValueError("`networks` is empty; pass at least one trained network.")
    t = torch.as_tensor(t, dtype=torch.float64)
    tol = 1e-9 * max(problem.t_final, 1.0)
    if t.ndim != 1 or bool((t < -tol).any()) or bool((t > problem.t_final + tol).any()):
        raise ValueError(
            f"`t` must be 1-D times in [0, t_final = {problem.t_final}], got "
            f"shape {tuple(t.shape)} and range [{float(t.min())}, {float(t.max())}]."
        )
    window = problem.t_final / len(nets)
    # The window that owns each time; a time on a boundary belongs to the earlier window
    # (its end), which also keeps t_final inside the last window.
    index = torch.clamp(torch.ceil(t / window - 1e-9).long() - 1, 0, len(nets) - 1)
    out = torch.empty(len(t), len(x), dtype=torch.float64)
    for k, net in enumerate(nets):
        mask = index == k
        if not bool(mask.any()):
            continue
        local = t[mask] - k * window
        if isinstance(net, LagrangianPINN):
            u = lagrangian_to_eulerian(net, problem, local, x, n_labels=n_labels)
        else:
            u = field_on_grid(net, local, x)
        out[mask] = u.to(torch.float64).cpu()
    return out
