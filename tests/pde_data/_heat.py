"""Small PDEs with exact solutions for the dataset tests (store, generate, torch Datasets).

``Heat1D``/``Heat2D`` solve ``u_t = nu * Laplacian(u)`` on the periodic box exactly in
Fourier space; ``FourierIC`` draws ``sum_k (a_k cos + b_k sin)(2 pi k x / L) / k^2`` so the
tests can evaluate the exact solution from the coefficients independently of any FFT.
``Riccati1D`` integrates ``u_t = u^2`` pointwise with explicit Euler: samples with
``max u0 * T > 1`` blow up to Inf, the others stay finite -- a genuine numerical blow-up.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import ClassVar

import torch

from opkit.pde_data import AbstractPDE
from opkit.pde_data.solvers._base import check_solve_inputs


def one_torch_thread():
    """Generator for a fixture: run torch single-threaded, then restore the setting.

    On a CPU shared with other jobs, torch's intra-op threads spin-wait on descheduled
    siblings and the many tiny FFTs of these tests run 10-50x slower with 2 threads
    than with 1 (measured: 204 s vs 4 s for the small KS generation).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _grid(n: int, length: float) -> torch.Tensor:
    return torch.arange(n, dtype=torch.float64) * (length / n)


@dataclasses.dataclass(frozen=True)
class FourierIC:
    """Random Fourier series with ``n_modes`` modes per dimension and 1/k^2 decay."""

    n_modes: int = 4
    length: float = 1.0
    offset: float = 0.0

    def coefficients(self, n_samples: int, *, generator: torch.Generator, ndim: int = 1):
        shape = (n_samples, 2) + (self.n_modes,) * ndim
        return torch.randn(shape, generator=generator, dtype=torch.float64)

    def evaluate(self, coef: torch.Tensor, coords: list[torch.Tensor], t=0.0, nu=0.0):
        """Exact heat solution at time ``t`` from coefficients (no FFT), float64."""
        k = torch.arange(1, self.n_modes + 1, dtype=torch.float64)
        w = 2 * math.pi * k / self.length
        if len(coords) == 1:
            (x,) = coords
            decay = torch.exp(-nu * w**2 * t) / k**2
            cos = torch.cos(w[:, None] * x[None]) * decay[:, None]
            sin = torch.sin(w[:, None] * x[None]) * decay[:, None]
            return self.offset + coef[:, 0] @ cos + coef[:, 1] @ sin
        x, y = coords
        wx = w[:, None, None, None] * x[None, None, :, None]
        wy = w[None, :, None, None] * y[None, None, None, :]
        decay = torch.exp(-nu * (w[:, None] ** 2 + w[None, :] ** 2) * t) / (k[:, None] * k[None])
        basis_c = torch.cos(wx + wy) * decay[..., None, None]
        basis_s = torch.sin(wx + wy) * decay[..., None, None]
        return (
            self.offset
            + torch.einsum("bij,ijxy->bxy", coef[:, 0], basis_c)
            + torch.einsum("bij,ijxy->bxy", coef[:, 1], basis_s)
        )

    def sample(self, n_samples, n_x, n_y=None, *, generator, dtype=torch.float64, device=None):
        ndim = 1 if n_y is None else 2
        coef = self.coefficients(n_samples, generator=generator, ndim=ndim)
        coords = [_grid(n_x, self.length)] + ([_grid(n_y, self.length)] if ndim == 2 else [])
        return self.evaluate(coef, coords).to(dtype=dtype, device=device)


@dataclasses.dataclass(frozen=True)
class Heat1D(AbstractPDE):
    """``u_t = nu u_xx``, periodic ``[0, length)``, exact in Fourier space."""

    name: ClassVar[str] = "heat"
    solver: ClassVar[str] = "exact Fourier-space exponential (test problem)"

    nu: float = 0.1
    length: float = 1.0
    n_x: int = 32
    seconds_per_solve: float = 0.0  # makes runs slow enough to kill mid-way in tests

    @property
    def spatial_shape(self):
        return (self.n_x,)

    @property
    def default_dt(self):
        return 0.5

    def coords(self):
        return {"x": _grid(self.n_x, self.length)}

    def solve(self, u0, t, *, dt=None):
        t, dt = check_solve_inputs(self, u0, t, dt)
        time.sleep(self.seconds_per_solve)
        k = torch.fft.rfftfreq(self.n_x, d=self.length / self.n_x, dtype=torch.float64)
        w2 = (2 * math.pi * k.to(u0.device)) ** 2
        u_hat = torch.fft.rfft(u0, dim=-1)
        decay = torch.exp(-self.nu * w2[None, :] * t[:, None]).to(u_hat.dtype)
        return torch.fft.irfft(u_hat[:, None, :] * decay[None], n=self.n_x, dim=-1).to(u0.dtype)


@dataclasses.dataclass(frozen=True)
class Heat2D(AbstractPDE):
    """``u_t = nu (u_xx + u_yy)`` on the periodic square, field named ``vorticity``."""

    name: ClassVar[str] = "heat2d"
    field: ClassVar[str] = "vorticity"
    solver: ClassVar[str] = "exact Fourier-space exponential (test problem)"

    nu: float = 0.05
    length: float = 1.0
    n: int = 8

    @property
    def spatial_shape(self):
        return (self.n, self.n)

    @property
    def default_dt(self):
        return 0.5

    def coords(self):
        return {"x": _grid(self.n, self.length), "y": _grid(self.n, self.length)}

    def solve(self, u0, t, *, dt=None):
        t, dt = check_solve_inputs(self, u0, t, dt)
        kx = torch.fft.fftfreq(self.n, d=self.length / self.n, dtype=torch.float64)
        ky = torch.fft.rfftfreq(self.n, d=self.length / self.n, dtype=torch.float64)
        w2 = (2 * math.pi) ** 2 * (kx[:, None] ** 2 + ky[None, :] ** 2)
        u_hat = torch.fft.rfft2(u0)
        decay = torch.exp(-self.nu * w2[None] * t[:, None, None]).to(u_hat.dtype)
        out = torch.fft.irfft2(u_hat[:, None] * decay[None], s=(self.n, self.n))
        return out.to(u0.dtype)


@dataclasses.dataclass(frozen=True)
class Riccati1D(AbstractPDE):
    """``u_t = u^2`` pointwise, explicit Euler with step ``dt``; blows up where u0 T > 1."""

    name: ClassVar[str] = "riccati"
    solver: ClassVar[str] = "explicit Euler (test problem)"

    length: float = 1.0
    n_x: int = 16

    @property
    def spatial_shape(self):
        return (self.n_x,)

    @property
    def default_dt(self):
        return 1e-2

    def coords(self):
        return {"x": _grid(self.n_x, self.length)}

    def solve(self, u0, t, *, dt=None):
        t, dt = check_solve_inputs(self, u0, t, dt)
        u, now, frames = u0.clone(), 0.0, [u0.clone()]
        for target in t[1:].tolist():
            while now < target - 1e-12:
                h = min(dt, target - now)
                u = u + h * u * u
                now += h
            frames.append(u.clone())
        return torch.stack(frames, dim=1)
