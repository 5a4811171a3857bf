"""PINN problems: a PDE, its periodic domain, its initial condition and its reference solution.

A problem is a frozen dataclass that validates itself. It tells a trainer everything that is
not the network: where to put collocation points (``x_min``, ``length``, ``t_final``), the
residual as a function of a network, the initial condition, and a reference solution from
opkit's own solvers (or the exact one) on a uniform periodic grid, so that a PINN is scored
exactly like an operator (relative L2 on the reference grid).

The domain is periodic ``[x_min, x_min + length)``. The spectral solvers of
:mod:`opkit.pde_data` live on ``[0, length)``; a problem on ``[-1, 1)`` is the same PDE
relabelled by ``x -> x - x_min``, so its reference is the solver's solution for the initial
condition evaluated at ``x_min + x_solver``.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import ClassVar

import torch
from torch import nn

from ._residuals import (
    allen_cahn_residual,
    burgers_residual,
    convection_residual,
    kuramoto_sivashinsky_residual,
)

__all__ = [
    "AbstractPINNProblem",
    "AllenCahn",
    "KuramotoSivashinsky",
    "Convection",
    "Burgers",
]


def _positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{name}` must be a finite number {bound}, got {value!r}.")
    return float(value)


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}.")
    return float(value)


def _check_times(t: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=torch.float64)
    if t.ndim != 1 or t.numel() < 1 or float(t[0]) != 0.0:
        raise ValueError(
            f"`t` must be a 1-D increasing tensor of times starting at 0, got shape "
            f"{tuple(t.shape)}" + (f" with t[0] = {float(t[0])}." if t.numel() else ".")
        )
    if t.numel() > 1 and not bool((t[1:] > t[:-1]).all()):
        raise ValueError("`t` must be strictly increasing.")
    return t


class AbstractPINNProblem(abc.ABC):
    """Interface of a PINN problem (concrete problems are frozen dataclasses).

    Concrete problems define ``x_min``, ``length`` and ``t_final`` (fields or properties) and:

    - ``residual(net, t, x) -> (N,)``: the PDE residual at flattened points ``(N,)``;
    - ``initial_condition(x) -> u0``: any shape, elementwise;
    - ``reference(t, *, n_x) -> (x, u)``: the reference solution ``u`` of shape
      ``(len(t), n_x)`` (float64) on the grid ``x = x_min + i * length / n_x``;
    - ``supports_lagrangian``; if True also ``characteristic_speed(u)`` (the right-hand side
      ``f`` of ``X_t = f``) and ``nu`` (the diffusivity of ``D_t u = ν u_xx``).
    """

    supports_lagrangian: ClassVar[bool] = False
    x_min: float
    length: float
    t_final: float

    @abc.abstractmethod
    def residual(self, net: nn.Module, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Pointwise PDE residual of ``net`` at flattened points ``(N,)`` -> ``(N,)``."""

    @abc.abstractmethod
    def initial_condition(self, x: torch.Tensor) -> torch.Tensor:
        """``u(0, x)``, elementwise."""

    @abc.abstractmethod
    def reference(self, t: torch.Tensor, *, n_x: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, u)``: grid ``(n_x,)`` and reference ``(len(t), n_x)``, float64."""

    def grid(self, n_x: int) -> torch.Tensor:
        """The periodic grid ``x_min + i * length / n_x``, ``(n_x,)`` float64."""
        if isinstance(n_x, bool) or not isinstance(n_x, int) or n_x < 2:
            raise ValueError(f"`n_x` must be an integer >= 2, got {n_x!r}.")
        return self.x_min + torch.arange(n_x, dtype=torch.float64) * (self.length / n_x)

    def characteristic_speed(self, u: torch.Tensor) -> torch.Tensor:
        raise ValueError(
            f"{type(self).__name__} has no Lagrangian (characteristic) form; LPINNs apply to "
            "convection-diffusion problems such as Convection and Burgers."
        )

    def _spectral_reference(self, pde, t: torch.Tensor, n_x: int, dt: float | None):
        t = _check_times(t)
        x = self.grid(n_x)
        u0 = self.initial_condition(x)[None]
        u = pde.solve(u0, t, dt=dt)[0]
        return x, u


@dataclasses.dataclass(frozen=True)
class AllenCahn(AbstractPINNProblem):
    r"""Allen–Cahn ``u_t - ε u_xx + k (u³ - u) = 0`` on periodic ``[-1, 1)``, ``u0 = x² cos πx``.

    The defaults are the benchmark of Wang, Sankaran & Perdikaris (2022), where a plain
    PINN reaches a relative L2 error of 0.498 and a causal PINN 1.43e-3 (plain MLP) /
    1.39e-4 (modified MLP). The reference comes from ``opkit.pde_data.AllenCahn1D``
    (ETDRK4, pseudo-spectral) on the relabelled domain ``[0, 2)``.

    Args:
        eps: diffusion coefficient ε (default 1e-4).
        k: reaction rate (default 5.0).
        t_final: final time (default 1.0).
        x_min: left end of the periodic domain (default -1.0).
        length: period (default 2.0).
        solver_dt: time step of the reference solver (default None: the solver's default).

    Raises:
        ValueError: for a non-positive ``eps``, ``k``, ``t_final``, ``length`` or ``solver_dt``.
    """

    eps: float = 1e-4
    k: float = 5.0
    t_final: float = 1.0
    x_min: float = -1.0
    length: float = 2.0
    solver_dt: float | None = None

    def __post_init__(self) -> None:
        for name in ("eps", "k", "t_final", "length"):
            _positive(name, getattr(self, name))
        _finite("x_min", self.x_min)
        if self.solver_dt is not None:
            _positive("solver_dt", self.solver_dt)

    def residual(self, net, t, x):
        return allen_cahn_residual(net, t, x, eps=self.eps, k=self.k)

    def initial_condition(self, x):
        return x**2 * torch.cos(math.pi * x)

    def reference(self, t, *, n_x=512):
        from opkit.pde_data import AllenCahn1D

        pde = AllenCahn1D(eps=self.eps, k=self.k, length=self.length, n_x=n_x)
        return self._spectral_reference(pde, t, n_x, self.solver_dt)


@dataclasses.dataclass(frozen=True)
class KuramotoSivashinsky(AbstractPINNProblem):
    r"""Kuramoto–Sivashinsky ``u_t + α u u_x + β u_xx + γ u_xxxx = 0``, ``u0 = -sin πx``.

    Periodic ``[-1, 1)``; the defaults (``α = 5, β = 0.5, γ = 0.005``, ``T = 1``) are the
    regular case of Wang et al. 2022 (causal PINN with 10 time windows: relative L2
    3.49e-4). Reference: ``opkit.pde_data.KuramotoSivashinsky1D``.

    Args:
        alpha, beta, gamma: coefficients (defaults 5.0, 0.5, 0.005).
        t_final: final time (default 1.0).
        x_min, length: the periodic domain (defaults -1.0, 2.0).
        solver_dt: time step of the reference solver (default None: the solver's default).

    Raises:
        ValueError: for non-finite coefficients or non-positive ``t_final``/``length``.
    """

    alpha: float = 5.0
    beta: float = 0.5
    gamma: float = 0.005
    t_final: float = 1.0
    x_min: float = -1.0
    length: float = 2.0
    solver_dt: float | None = None

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            _finite(name, getattr(self, name))
        for name in ("gamma", "t_final", "length"):
            _positive(name, getattr(self, name))
        _finite("x_min", self.x_min)
        if self.solver_dt is not None:
            _positive("solver_dt", self.solver_dt)

    def residual(self, net, t, x):
        return kuramoto_sivashinsky_residual(
            net, t, x, alpha=self.alpha, beta=self.beta, gamma=self.gamma
        )

    def initial_condition(self, x):
        return -torch.sin(math.pi * x)

    def reference(self, t, *, n_x=512):
        from opkit.pde_data import KuramotoSivashinsky1D

        pde = KuramotoSivashinsky1D(
            length=self.length, n_x=n_x, alpha=self.alpha, beta=self.beta, gamma=self.gamma
        )
        return self._spectral_reference(pde, t, n_x, self.solver_dt)


_CONVECTION_ICS = ("sin", "bump")


@dataclasses.dataclass(frozen=True)
class Convection(AbstractPINNProblem):
    r"""Convection(–diffusion) ``u_t + β u_x - ν u_xx = 0`` on periodic ``[0, 2π)``.

    With ``u0="sin"`` (``u0 = sin x``) and ``ν = 0`` this is the failure-mode
    benchmark of Krishnapriyan et al. (2021), whose plain PINN reaches relative errors of
    1.08e-2, 0.75, 0.897 and 0.961 at ``β = 10, 20, 30, 40``. ``"bump"`` is the smooth
    periodic pulse ``exp((cos(θ - π) - 1) / (π/8)²)`` with ``θ = 2π (x - x_min) / L`` (a
    Gaussian of width π/8 made exactly periodic), a moving front. The reference is exact
    (``u0(x - βt)``) for ``ν = 0`` and ``opkit.pde_data.Advection1D`` (exact in Fourier
    space) otherwise.

    Lagrangian form: ``X_t = β``, ``D_t u = ν u_XX``.

    Args:
        beta: convection speed β (default 30.0).
        nu: diffusivity ν >= 0 (default 0.0).
        u0: the initial condition, ``"sin"`` (default) or ``"bump"``.
        t_final: final time (default 1.0).
        x_min, length: the periodic domain (defaults 0.0, 2π).

    Raises:
        ValueError: for non-finite ``beta``, negative ``nu``, an unknown initial condition or
            non-positive ``t_final``/``length``.
    """

    supports_lagrangian: ClassVar[bool] = True
    beta: float = 30.0
    nu: float = 0.0
    u0: str = "sin"
    t_final: float = 1.0
    x_min: float = 0.0
    length: float = 2 * math.pi

    def __post_init__(self) -> None:
        _finite("beta", self.beta)
        _positive("nu", self.nu, allow_zero=True)
        _positive("t_final", self.t_final)
        _positive("length", self.length)
        _finite("x_min", self.x_min)
        if self.u0 not in _CONVECTION_ICS:
            raise ValueError(f"`u0` must be one of {_CONVECTION_ICS}, got {self.u0!r}.")

    def residual(self, net, t, x):
        return convection_residual(net, t, x, beta=self.beta, nu=self.nu)

    def initial_condition(self, x):
        # Both are written in the phase 2π (x - x_min) / length so they are periodic.
        theta = (x - self.x_min) * (2 * math.pi / self.length)
        if self.u0 == "sin":
            return torch.sin(theta)
        return torch.exp((torch.cos(theta - math.pi) - 1) / (math.pi / 8) ** 2)

    def characteristic_speed(self, u):
        return torch.full_like(u, self.beta)

    def reference(self, t, *, n_x=256):
        t = _check_times(t)
        x = self.grid(n_x)
        if self.nu == 0.0:
            shifted = self.x_min + torch.remainder(
                x[None, :] - self.beta * t[:, None] - self.x_min, self.length
            )
            return x, self.initial_condition(shifted)
        from opkit.pde_data import Advection1D

        pde = Advection1D(c=self.beta, nu=self.nu, length=self.length, n_x=n_x)
        return self._spectral_reference(pde, t, n_x, None)


@dataclasses.dataclass(frozen=True)
class Burgers(AbstractPINNProblem):
    r"""Viscous Burgers ``u_t + u u_x - ν u_xx = 0`` on periodic ``[0, 2π)``.

    ``u0 = offset + sin x``: the sine steepens into a front (breaking time 1 without
    viscosity) that travels at speed ``offset`` — the moving-front case of the LPINN paper
    (Mojgani et al. 2022). Reference: ``opkit.pde_data.Burgers1D``.

    Lagrangian form: ``X_t = u``, ``D_t u = ν u_XX``.

    Args:
        nu: viscosity ν > 0 (default 0.01).
        offset: mean of the initial condition, the speed of the front (default 5.0).
        t_final: final time (default 1.0).
        x_min, length: the periodic domain (defaults 0.0, 2π).
        solver_dt: time step of the reference solver (default None: the solver's default;
            the explicit nonlinear term needs ``dt ≲ dx / max|u|``).

    Raises:
        ValueError: for a non-positive ``nu``, ``t_final`` or ``length``.
    """

    supports_lagrangian: ClassVar[bool] = True
    nu: float = 0.01
    offset: float = 5.0
    t_final: float = 1.0
    x_min: float = 0.0
    length: float = 2 * math.pi
    solver_dt: float | None = None

    def __post_init__(self) -> None:
        _positive("nu", self.nu)
        _finite("offset", self.offset)
        _positive("t_final", self.t_final)
        _positive("length", self.length)
        _finite("x_min", self.x_min)
        if self.solver_dt is not None:
            _positive("solver_dt", self.solver_dt)

    def residual(self, net, t, x):
        return burgers_residual(net, t, x, nu=self.nu)

    def initial_condition(self, x):
        return self.offset + torch.sin((x - self.x_min) * (2 * math.pi / self.length))

    def characteristic_speed(self, u):
        return u

    def reference(self, t, *, n_x=256):
        from opkit.pde_data import Burgers1D

        pde = Burgers1D(nu=self.nu, length=self.length, n_x=n_x)
        dt = self.solver_dt
        if dt is None:
            # The advection term is explicit: keep the CFL number max|u| dt / dx at 1/4.
            speed = abs(self.offset) + 1.0
            dt = min(pde.default_dt, 0.25 * (self.length / n_x) / speed)
        return self._spectral_reference(pde, t, n_x, dt)
