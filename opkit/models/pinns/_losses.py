r"""The training losses of a PINN, as objects: plain, causal and Lagrangian.

A loss receives the network, the problem and the collocation points of one step
(:class:`CollocationPoints`, already mapped to the problem's domain and the current time
window) and returns a :class:`LossTerms`. A trainer (:class:`opkit.trainers.PINNModule`)
never asks which kind it holds: it calls the loss, and for losses that train in stages
(the causal loss's ``ε`` schedule) it reads ``n_stages`` and ``stage_converged``.

- :class:`PlainLoss`: ``λ_ic L_ic + mean_i L(t_i)`` (Raissi et al. 2019);
- :class:`CausalLoss`: ``λ_ic L_ic + mean_i w_i L(t_i)`` with the causal weights of Wang,
  Sankaran & Perdikaris (2022), staged by a :class:`CausalSchedule`;
- :class:`LagrangianLoss`: the LPINN loss of Mojgani et al. (2022) for a
  :class:`LagrangianPINN`.

Each is a frozen dataclass, so a trainer records it as ``{"class_path", "init_args"}``.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import NamedTuple

import torch
from torch import nn

from ..._checks import check_positive
from ._causal import CausalSchedule, causal_loss, per_time_losses
from ._derivatives import evaluate_field
from ._lagrangian import LagrangianPINN, lagrangian_loss
from ._problems import PINNProblem

__all__ = [
    "AbstractPINNLoss",
    "CollocationPoints",
    "LossTerms",
    "PlainLoss",
    "CausalLoss",
    "LagrangianLoss",
]


class CollocationPoints(NamedTuple):
    """The points of one training step, in the problem's domain and the window's local time.

    Attributes:
        t, x: flattened residual points ``(n_t * n_x,)``, time-major (all points of the
            first time, then the second ...).
        n_t: number of distinct times.
        x_ic: initial-condition points ``(n_ic,)`` (the labels of a Lagrangian PINN).
        u_ic: the initial condition of the window at ``x_ic``, ``(n_ic,)``.
    """

    t: torch.Tensor
    x: torch.Tensor
    n_t: int
    x_ic: torch.Tensor
    u_ic: torch.Tensor


class LossTerms(NamedTuple):
    """``loss`` (scalar, with gradient), ``logs`` (detached scalars, logged as
    ``train/<key>``: at least ``ic_loss`` and ``residual``) and the causal ``weights``
    ``(n_t,)`` (None for losses without them)."""

    loss: torch.Tensor
    logs: dict[str, torch.Tensor]
    weights: torch.Tensor | None


class AbstractPINNLoss(abc.ABC):
    """Interface of a PINN loss (concrete losses are frozen dataclasses).

    - ``__call__(net, problem, points, *, stage=0, weighted=True) -> LossTerms``;
    - ``n_stages``: the number of stages training goes through (default 1);
    - ``stage_converged(terms)``: whether the stage is done (default False: never);
    - ``check(network, problem, *, n_windows)``: raise before training for a network,
      problem or number of windows the loss cannot train.
    """

    n_stages: int = 1

    @abc.abstractmethod
    def __call__(
        self,
        net: nn.Module,
        problem: PINNProblem,
        points: CollocationPoints,
        *,
        stage: int = 0,
        weighted: bool = True,
    ) -> LossTerms:
        """The loss of one step; ``weighted=False`` drops stage-dependent weights (the
        L-BFGS refinement at the end of a window)."""

    def stage_converged(self, terms: LossTerms) -> bool:
        """Whether training may move to the next stage after a step with these terms."""
        return False

    def check(self, network: nn.Module, problem: PINNProblem, *, n_windows: int) -> None:
        """Raise ``TypeError``/``ValueError`` for what this loss cannot train."""
        if isinstance(network, LagrangianPINN):
            raise ValueError(
                f"a LagrangianPINN is trained by LagrangianLoss, not {type(self).__name__}."
            )


def _eulerian_terms(net, problem, points, ic_weight):
    """Per-time residual losses ``(n_t,)`` and the weighted initial-condition loss."""
    residual = problem.residual(net, points.t, points.x)
    losses = per_time_losses(residual, points.n_t)
    u_ic = evaluate_field(net, torch.zeros_like(points.x_ic), points.x_ic)
    ic = ic_weight * (u_ic - points.u_ic).pow(2).mean()
    return losses, ic


@dataclasses.dataclass(frozen=True)
class PlainLoss(AbstractPINNLoss):
    r"""The plain PINN loss ``ic_weight * L_ic + mean_i L(t_i)``.

    ``L(t_i)`` is the mean squared residual at the ``i``-th collocation time and ``L_ic``
    the mean squared error of ``u(0, x)`` against the initial condition.

    Args:
        ic_weight: ``λ_ic`` (default 100.0, the causal-PINN Allen–Cahn code).

    Raises:
        ValueError: for a negative or non-finite ``ic_weight``.
    """

    ic_weight: float = 100.0

    def __post_init__(self) -> None:
        check_positive("ic_weight", self.ic_weight, strict=False)

    def __call__(self, net, problem, points, *, stage=0, weighted=True) -> LossTerms:
        losses, ic = _eulerian_terms(net, problem, points, self.ic_weight)
        logs = {"ic_loss": ic.detach(), "residual": losses.mean().detach()}
        return LossTerms(ic + losses.mean(), logs, None)


@dataclasses.dataclass(frozen=True)
class CausalLoss(AbstractPINNLoss):
    r"""The causal PINN loss ``ic_weight * L_ic + mean_i w_i L(t_i)`` (Wang et al. 2022).

    ``w_i = exp(-ε (ic_weight L_ic + Σ_{k<i} L(t_k)))`` without gradient; ``ε`` is stage
    ``s`` of the ``schedule``, and a stage is done once ``min_i w_i > δ``. With
    ``weighted=False`` the weights are dropped (the plain loss).

    Args:
        schedule: the ``ε`` values and the tolerance ``δ`` (default: the published
            ``(1e-2, 1e-1, 1, 10, 100)``, ``δ = 0.99``).
        ic_weight: ``λ_ic`` (default 100.0; the causal-PINN KS code uses 1e3).

    Raises:
        TypeError: for a ``schedule`` that is not a :class:`CausalSchedule`.
        ValueError: for a negative or non-finite ``ic_weight``.

    Examples:
        >>> CausalLoss(CausalSchedule(epsilons=(1.0, 10.0))).n_stages
        2
    """

    schedule: CausalSchedule = dataclasses.field(default_factory=CausalSchedule)
    ic_weight: float = 100.0

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, CausalSchedule):
            raise TypeError(f"`schedule` must be a CausalSchedule, got {self.schedule!r}.")
        check_positive("ic_weight", self.ic_weight, strict=False)

    @property
    def n_stages(self) -> int:  # type: ignore[override]
        return len(self.schedule)

    def __call__(self, net, problem, points, *, stage=0, weighted=True) -> LossTerms:
        losses, ic = _eulerian_terms(net, problem, points, self.ic_weight)
        logs = {"ic_loss": ic.detach(), "residual": losses.mean().detach()}
        if not weighted:
            return LossTerms(ic + losses.mean(), logs, None)
        eps = self.schedule.epsilons[stage]
        loss, w = causal_loss(losses, eps, initial_loss=ic)
        logs.update({"eps": torch.tensor(eps), "min_weight": w.min()})
        return LossTerms(loss, logs, w)

    def stage_converged(self, terms: LossTerms) -> bool:
        return terms.weights is not None and self.schedule.converged(terms.weights)


@dataclasses.dataclass(frozen=True)
class LagrangianLoss(AbstractPINNLoss):
    r"""The LPINN loss ``γ_X rms(r_X) + γ_u rms(r_u) + γ_ic (rms(e_X) + rms(e_u))``.

    For a :class:`LagrangianPINN` on a problem with a Lagrangian form (advection, Burgers);
    see :func:`lagrangian_loss`. The labels are the initial positions, so it trains one
    time window.

    Args:
        weights: ``(γ_X, γ_u, γ_ic)`` (default ``(10, 1, 100)``, the released code's
            balance on root-mean-square norms).

    Raises:
        ValueError: for weights that are not three non-negative numbers.
    """

    weights: tuple[float, float, float] = (10.0, 1.0, 100.0)

    def __post_init__(self) -> None:
        w = tuple(self.weights)
        if len(w) != 3:
            raise ValueError(f"`weights` must be three non-negative numbers, got {w!r}.")
        for name, value in zip(("γ_X", "γ_u", "γ_ic"), w):
            check_positive(f"weights ({name})", value, strict=False)
        object.__setattr__(self, "weights", tuple(float(v) for v in w))

    def check(self, network, problem, *, n_windows):
        if not isinstance(network, LagrangianPINN):
            raise TypeError(
                "LagrangianLoss needs a LagrangianPINN network (two branches), got "
                f"{type(network).__name__}."
            )
        if not problem.supports_lagrangian:
            raise ValueError(
                f"{type(problem.pde).__name__} has no Lagrangian form; use an advection or "
                "Burgers problem, or PlainLoss/CausalLoss."
            )
        if n_windows != 1:
            raise ValueError(
                f"the Lagrangian loss trains one window (labels are the initial positions), "
                f"got n_windows={n_windows}."
            )

    def __call__(self, net, problem, points, *, stage=0, weighted=True) -> LossTerms:
        loss, parts = lagrangian_loss(
            net, problem, points.t, points.x, points.x_ic, u0=points.u_ic, weights=self.weights
        )
        logs = {
            "ic_loss": parts["ic_x"] + parts["ic_u"],
            "residual": parts["res_x"] + parts["res_u"],
        }
        return LossTerms(loss, logs, None)
