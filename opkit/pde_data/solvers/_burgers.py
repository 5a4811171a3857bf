"""Viscous Burgers equation on a periodic interval."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar

import torch

from ._base import SpectralPDE1D
from ._spectral import (
    ETDRK4,
    QUADRATIC_FLUX_SOLVER,
    check_real_param,
    quadratic_flux,
    rfft_wavenumbers,
)

__all__ = ["Burgers1D"]


@dataclasses.dataclass(frozen=True)
class Burgers1D(SpectralPDE1D):
    r"""Viscous Burgers equation ``u_t + u u_x = nu u_xx`` on the periodic ``[0, length)``.

    Solved pseudo-spectrally on ``x_j = j * length / n_x``: in Fourier space
    ``v_t = -nu k^2 v - (i k / 2) F[u^2]``, with the stiff diffusion integrated exactly by
    ETDRK4 (Cox & Matthews 2002) whose coefficients come from the contour integrals of
    Kassam & Trefethen (2005). The nonlinear term is dealiased by the 2/3 rule: ``u`` is
    formed from the modes ``|m| < n_x / 3`` only and ``F[u^2]`` is truncated to the same
    band (exactly alias-free for the quadratic flux); modes outside the band evolve by
    diffusion alone.

    Default step (``default_dt``): ``dt = dx = length / n_x``. ETDRK4 integrates the
    diffusion exactly, so ``nu`` does not limit the step; only the explicit advection does.
    On the dealiased band ``k <= k_max = 2 pi n_x / (3 length)`` the advective CFL number
    is ``max|u| dt k_max = 2.1 max|u|``; where it exceeds ETDRK4's imaginary-axis
    stability limit (about 2.8) the modes are ones that diffusion damps by
    ``exp(-nu k^2 dt)`` per step, ``nu k_max^2 dt >> 1`` at dataset settings. The rule
    assumes ``max|u| <~ 2`` (the GRF data); for larger amplitudes pass
    ``dt ~ dx / max|u|``. Measured for the ``burgers`` dataset (GRF1D(alpha=2, tau=5,
    sigma=25) data, ``nu = 1e-2``, ``n_x = 2048``, ``dt = 4.9e-4``) against ``dt / 4``:
    max error 2.9e-8 at ``t = 0.1``, while the fronts steepen, decaying to 1.9e-11 at the
    stored ``T = 1`` (``benchmarks/solvers.py``), below the float32 resolution of the file.

    Args:
        nu: kinematic viscosity, > 0.
        length: period of the domain (default 1.0).
        n_x: grid points (default 1024), >= 8.

    Raises:
        ValueError / TypeError: non-positive or non-finite ``nu`` or ``length``, ``n_x < 8``.

    Shapes:
        ``solve(u0, t)``: ``u0`` ``(batch, n_x)`` -> ``(batch, len(t), n_x)``.

    References:
        Kassam, A.-K. & Trefethen, L. N. (2005). Fourth-order time-stepping for stiff PDEs.
        SIAM J. Sci. Comput. 26(4), 1214-1233.
        Li, Z. et al. (2021). Fourier neural operator for parametric partial differential
        equations. ICLR (the Burgers benchmark: ``nu = 1e-2`` ... ``1e-3`` on ``[0, 1)``).

    Examples:
        >>> import math, torch
        >>> pde = Burgers1D(nu=0.1, n_x=256)
        >>> x = pde.coords()["x"]
        >>> u = pde.solve(torch.sin(2 * math.pi * x)[None], torch.linspace(0, 1, 11))
        >>> tuple(u.shape)
        (1, 11, 256)
    """

    nu: float
    length: float = 1.0
    n_x: int = 1024

    name: ClassVar[str] = "burgers"
    solver: ClassVar[str] = QUADRATIC_FLUX_SOLVER

    def __post_init__(self) -> None:
        check_real_param(self, "nu", positive=True)
        self._check_grid()

    @property
    def default_dt(self) -> float:
        """``dx`` (advective CFL rule, see the class docstring)."""
        return self.dx

    def residual(self, d: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``u_t + u u_x - nu u_xx`` from ``d["u"]``, ``d["u_t"]``, ``d["u_x"]``, ``d["u_xx"]``
        (each ``(N,)``) -> ``(N,)``; see `AbstractPDE1D.residual`."""
        return d["u_t"] + d["u"] * d["u_x"] - self.nu * d["u_xx"]

    def characteristic_speed(self, u: torch.Tensor) -> torch.Tensor:
        """``f(u) = u`` of the Lagrangian form ``X_t = f(u)``, ``D_t u = nu u_XX``."""
        return u

    def stepper(self, dtype: torch.dtype, device: torch.device) -> ETDRK4:
        k = rfft_wavenumbers(self.n_x, self.length)
        return ETDRK4(-self.nu * k**2, quadratic_flux(self.n_x, self.length, 1.0, dtype, device))
