"""A PINN problem: a PDE of :mod:`opkit.pde_data`, its space-time domain and initial condition.

The PDE is stated once, in :mod:`opkit.pde_data`: its ``residual(d)`` (written in terms of a
field's derivatives) is the PINN's loss here, and its ``solve`` gives the reference solution
a PINN is scored against (relative L2 on a uniform periodic grid, like an operator).

The domain is ``[x_min, x_min + pde.length) x [0, t_final]``, periodic in ``x``. The solvers
of :mod:`opkit.pde_data` live on ``[0, length)``; a problem on ``[-1, 1)`` is the same PDE
relabelled by ``x -> x - x_min``, so its reference is the solver's solution for the initial
condition evaluated at ``x_min + x_solver``.

``AllenCahn()``, ``KuramotoSivashinsky()``, ``Convection(beta)`` and ``Burgers()`` build the
published benchmark problems.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from opkit.pde_data import (
    AbstractPDE1D,
    Advection1D,
    AllenCahn1D,
    Burgers1D,
    KuramotoSivashinsky1D,
)

from ..._checks import check_int, check_positive
from ._derivatives import FieldDerivatives
from ._initial_conditions import (
    AbstractInitialCondition,
    MonomialCosine,
    PeriodicBump,
    SineWave,
)

__all__ = ["PINNProblem", "AllenCahn", "KuramotoSivashinsky", "Convection", "Burgers"]


@dataclasses.dataclass(frozen=True)
class PINNProblem:
    r"""A PDE, its domain and its initial condition: everything a PINN trainer needs but the
    network.

    Args:
        pde: a 1-D PDE of :mod:`opkit.pde_data` (``Advection1D``, ``Burgers1D``,
            ``AllenCahn1D``, ``KuramotoSivashinsky1D``); its ``residual`` is the PINN's
            residual, its ``length`` the period of the domain, its ``n_x`` the default
            reference grid.
        initial_condition: ``u0(x)``, e.g. :class:`SineWave`.
        t_final: final time (keyword, default 1.0).
        x_min: left end of the periodic domain ``[x_min, x_min + pde.length)`` (keyword,
            default 0.0).
        solver_dt: time step of the reference solver (keyword; default None: the PDE's
            ``default_dt``, capped by ``solver_cfl``).
        solver_cfl: when given, the reference step is at most ``solver_cfl * dx / max|u0|``
            (an explicit advection term with a large solution, e.g. Burgers with a mean
            flow; default None).

    Raises:
        TypeError: for a ``pde`` without a residual or a non-callable initial condition.
        ValueError: for a non-positive ``t_final``, ``solver_dt`` or ``solver_cfl`` or a
            non-finite ``x_min``.

    Examples:
        >>> from opkit.pde_data import Advection1D
        >>> problem = PINNProblem(Advection1D(c=1.0), SineWave(), t_final=0.5)
        >>> x, u = problem.reference(torch.tensor([0.0, 0.5]), n_x=8)
        >>> bool(torch.allclose(u[1], torch.sin(x - 0.5)))
        True
    """

    pde: AbstractPDE1D
    initial_condition: AbstractInitialCondition
    _: dataclasses.KW_ONLY
    t_final: float = 1.0
    x_min: float = 0.0
    solver_dt: float | None = None
    solver_cfl: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.pde, AbstractPDE1D):
            raise TypeError(
                f"`pde` must be a 1-D PDE of opkit.pde_data (Advection1D, Burgers1D, "
                f"AllenCahn1D, KuramotoSivashinsky1D), got {type(self.pde).__name__}."
            )
        if not callable(self.initial_condition):
            raise TypeError(
                f"`initial_condition` must be a callable u0(x) such as SineWave(), got "
                f"{type(self.initial_condition).__name__}."
            )
        check_positive("t_final", self.t_final)
        x_min = self.x_min
        ok = isinstance(x_min, (int, float)) and not isinstance(x_min, bool)
        if not ok or not math.isfinite(x_min):
            raise ValueError(f"`x_min` must be a finite number, got {x_min!r}.")
        for name in ("solver_dt", "solver_cfl"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))

    # -- the domain ------------------------------------------------------------------------
    @property
    def length(self) -> float:
        """The period of the domain, ``pde.length``."""
        return float(self.pde.length)

    def grid(self, n_x: int) -> torch.Tensor:
        """The periodic grid ``x_min + i * length / n_x``, ``(n_x,)`` float64."""
        check_int("n_x", n_x, minimum=2)
        return self.x_min + torch.arange(n_x, dtype=torch.float64) * (self.length / n_x)

    # -- the physics -----------------------------------------------------------------------
    def residual(self, net: nn.Module, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``pde.residual`` of the network's field at flattened points ``(N,)`` -> ``(N,)``.

        Gradients are enabled inside, so this also works under ``torch.no_grad()``; the
        graph is kept, so ``residual.pow(2).mean()`` back-propagates to the parameters.

        Raises:
            TypeError/ValueError: for points that are not 1-D tensors of equal length or a
                network that does not map ``(N, 2)`` to ``(N, 1)``.
        """
        with torch.enable_grad():
            return self.pde.residual(FieldDerivatives(net, t, x))

    @property
    def supports_lagrangian(self) -> bool:
        """Whether the PDE has a Lagrangian form ``X_t = f(u)``, ``D_t u = ν u_XX``
        (``characteristic_speed`` and ``nu``: advection and Burgers)."""
        return callable(getattr(self.pde, "characteristic_speed", None))

    @property
    def nu(self) -> float:
        """The diffusivity ``ν`` of the Lagrangian form."""
        self._need_lagrangian()
        return float(self.pde.nu)

    def characteristic_speed(self, u: torch.Tensor) -> torch.Tensor:
        """``f(u)`` of the Lagrangian form ``X_t = f(u)``."""
        self._need_lagrangian()
        return self.pde.characteristic_speed(u)

    def _need_lagrangian(self) -> None:
        if not self.supports_lagrangian:
            raise ValueError(
                f"{type(self.pde).__name__} has no Lagrangian (characteristic) form; LPINNs "
                "apply to convection-diffusion problems such as Convection and Burgers."
            )

    # -- the reference ---------------------------------------------------------------------
    def reference(
        self, t: torch.Tensor, *, n_x: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, u)``: the grid ``(n_x,)`` and ``pde.solve``'s solution ``(len(t), n_x)``,
        float64.

        Args:
            t: 1-D increasing times starting at 0.
            n_x: grid size (default: ``pde.n_x``).

        Raises:
            ValueError: for bad times or grid size.
        """
        n_x = self.pde.n_x if n_x is None else n_x
        x = self.grid(n_x)
        pde = self.pde if n_x == self.pde.n_x else dataclasses.replace(self.pde, n_x=n_x)
        u0 = self.initial_condition(x).to(torch.float64)[None]
        dt = self.solver_dt
        if dt is None and self.solver_cfl is not None:
            speed = float(u0.abs().max())
            dt = pde.default_dt
            if speed > 0:
                dt = min(dt, self.solver_cfl * (self.length / n_x) / speed)
        u = pde.solve(u0, torch.as_tensor(t, dtype=torch.float64), dt=dt)[0]
        return x, u


def AllenCahn(  # noqa: N802 - the benchmark's name, a factory of PINNProblem
    eps: float = 1e-4,
    k: float = 5.0,
    *,
    t_final: float = 1.0,
    x_min: float = -1.0,
    length: float = 2.0,
    solver_dt: float | None = None,
) -> PINNProblem:
    r"""Allen–Cahn ``u_t - ε u_xx + k (u³ - u) = 0`` on periodic ``[-1, 1)``, ``u0 = x² cos πx``.

    The defaults are the benchmark of Wang, Sankaran & Perdikaris (2022), where a plain
    PINN reaches a relative L2 error of 0.498 and a causal PINN 1.43e-3 (plain MLP) /
    1.39e-4 (modified MLP). Reference: ``AllenCahn1D`` (ETDRK4) on 512 points.

    Raises:
        ValueError: for a non-positive ``eps``, ``k``, ``t_final``, ``length`` or ``solver_dt``.
    """
    pde = AllenCahn1D(eps=eps, k=k, length=length, n_x=512)
    return PINNProblem(pde, MonomialCosine(), t_final=t_final, x_min=x_min, solver_dt=solver_dt)


def KuramotoSivashinsky(  # noqa: N802 - the benchmark's name, a factory of PINNProblem
    alpha: float = 5.0,
    beta: float = 0.5,
    gamma: float = 0.005,
    *,
    t_final: float = 1.0,
    x_min: float = -1.0,
    length: float = 2.0,
    solver_dt: float | None = None,
) -> PINNProblem:
    r"""Kuramoto–Sivashinsky ``u_t + α u u_x + β u_xx + γ u_xxxx = 0``, ``u0 = -sin πx``.

    Periodic ``[-1, 1)``; the defaults (``α = 5, β = 0.5, γ = 0.005``, ``T = 1``) are the
    regular case of Wang et al. 2022 (causal PINN with 10 time windows: relative L2
    3.49e-4). Reference: ``KuramotoSivashinsky1D`` on 512 points.
    """
    pde = KuramotoSivashinsky1D(length=length, n_x=512, alpha=alpha, beta=beta, gamma=gamma)
    u0 = SineWave(amplitude=-1.0, wavenumber=math.pi)
    return PINNProblem(pde, u0, t_final=t_final, x_min=x_min, solver_dt=solver_dt)


def Convection(  # noqa: N802 - the benchmark's name, a factory of PINNProblem
    beta: float = 30.0,
    nu: float = 0.0,
    u0: str = "sin",
    *,
    t_final: float = 1.0,
    x_min: float = 0.0,
    length: float = 2 * math.pi,
) -> PINNProblem:
    r"""Convection(–diffusion) ``u_t + β u_x - ν u_xx = 0`` on periodic ``[0, 2π)``.

    With ``u0="sin"`` (one period of a sine on the domain) and ``ν = 0`` this is the
    failure-mode benchmark of Krishnapriyan et al. (2021), whose plain PINN reaches
    relative errors of 1.08e-2, 0.75, 0.897 and 0.961 at ``β = 10, 20, 30, 40``.
    ``"bump"`` is a :class:`PeriodicBump` of width ``length / 16`` in the middle of the
    domain, a moving front. Reference: ``Advection1D`` (exact in Fourier space) on 256
    points. Lagrangian form: ``X_t = β``, ``D_t u = ν u_XX``.

    Raises:
        ValueError: for non-finite ``beta``, negative ``nu``, an unknown ``u0`` or
            non-positive ``t_final``/``length``.
    """
    ics = {
        "sin": lambda: SineWave(wavenumber=2 * math.pi / length, shift=x_min),
        "bump": lambda: PeriodicBump(center=x_min + length / 2, width=length / 16, period=length),
    }
    if u0 not in ics:
        raise ValueError(f"`u0` must be one of {tuple(ics)}, got {u0!r}.")
    pde = Advection1D(c=beta, nu=nu, length=length, n_x=256)
    return PINNProblem(pde, ics[u0](), t_final=t_final, x_min=x_min)


def Burgers(  # noqa: N802 - the benchmark's name, a factory of PINNProblem
    nu: float = 0.01,
    offset: float = 5.0,
    *,
    t_final: float = 1.0,
    x_min: float = 0.0,
    length: float = 2 * math.pi,
    solver_dt: float | None = None,
) -> PINNProblem:
    r"""Viscous Burgers ``u_t + u u_x - ν u_xx = 0`` on periodic ``[0, 2π)``, ``u0 = c + sin x``.

    ``c`` is the ``offset``.
    The sine steepens into a front (breaking time 1 without viscosity) that travels at
    speed ``offset`` — the moving-front case of the LPINN paper (Mojgani et al. 2022).
    Reference: ``Burgers1D`` on 256 points with the step capped at a CFL number
    ``max|u0| dt / dx`` of 1/4 (the advection term is explicit). Lagrangian form:
    ``X_t = u``, ``D_t u = ν u_XX``.

    Raises:
        ValueError: for a non-positive ``nu``, ``t_final`` or ``length``.
    """
    pde = Burgers1D(nu=nu, length=length, n_x=256)
    u0 = SineWave(wavenumber=2 * math.pi / length, shift=x_min, offset=offset)
    return PINNProblem(pde, u0, t_final=t_final, x_min=x_min, solver_dt=solver_dt, solver_cfl=0.25)
