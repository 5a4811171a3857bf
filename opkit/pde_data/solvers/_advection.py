"""Linear advection / convection-diffusion on a periodic interval, solved exactly."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import ClassVar

import torch

from ._base import AbstractPDE1D
from ._spectral import check_real_param, complex_dtype, irfft, rfft, short_rows

__all__ = ["Advection1D"]

# Recently used propagators, keyed by (PDE, times, dtype, device): `_propagator_factors`.
_PROPAGATORS: dict[tuple, torch.Tensor] = {}
# Bytes of spectra formed and transformed per call in `Advection1D._evolve`'s loop.
_CHUNK_BYTES = 256 * 1024


@dataclasses.dataclass(frozen=True)
class Advection1D(AbstractPDE1D):
    r"""Convection-diffusion ``u_t + c u_x = nu u_xx`` on the periodic ``[0, length)``.

    Solved exactly in Fourier space: the rfft mode ``m`` (wavenumber ``K = 2 pi m /
    length``) of the grid function is multiplied by ``exp((-i c K - nu K^2) t)``, so the
    result is the exact solution for the trigonometric interpolant of ``u0`` at any ``t``
    (no time stepping; ``dt`` is accepted for the contract and ignored). The phase
    ``c K t`` is reduced modulo ``2 pi`` in float64 before the exponential, so large
    ``c t`` (the LPINN benchmark goes to ``c = 50``) loses no accuracy. The Nyquist mode
    (even ``n_x``), ``cos(pi j)`` on the grid, cannot be translated by a real
    band-limited function; it only decays (its odd-derivative wavenumber is 0, the usual
    convention).

    `exact_solution` evaluates the exact solution for an initial condition given as a
    function at arbitrary points ``(x, t)``: for ``nu = 0`` it is ``u0(x - c t)``, for
    ``nu > 0`` the Fourier series above (exact when ``u0`` is a trigonometric polynomial
    of degree ``< n_x / 2``, e.g. the benchmark's ``sin x``).

    ``default_dt`` is the time the wave takes to cross a cell, ``dx / |c|`` (``dx`` if
    ``c = 0``): a natural output spacing, unused by the exact solver.

    Args:
        c: advection speed, finite (any sign; the LPINN convection benchmark uses
            ``beta = c`` from 1 to 50 with ``u0 = sin x`` on ``[0, 2 pi)``).
        nu: diffusion coefficient, >= 0 (default 0).
        length: period of the domain (default ``2 pi``).
        n_x: grid points, >= 8 (default 256).

    Raises:
        ValueError / TypeError: non-finite ``c``, negative or non-finite ``nu``,
            non-positive ``length``, ``n_x < 8``.

    Shapes:
        ``solve(u0, t)``: ``(batch, n_x)`` -> ``(batch, len(t), n_x)``.

    References:
        Krishnapriyan, A. et al. (2021). Characterizing possible failure modes in
        physics-informed neural networks. NeurIPS (the convection benchmark).

    Examples:
        >>> import torch
        >>> pde = Advection1D(c=30.0)
        >>> x = pde.coords()["x"]
        >>> u = pde.solve(torch.sin(x)[None], torch.linspace(0, 1, 3))
        >>> bool(torch.allclose(u[0, -1], torch.sin(x - 30.0), atol=1e-12))
        True
    """

    c: float
    nu: float = 0.0
    length: float = 2.0 * math.pi
    n_x: int = 256

    name: ClassVar[str] = "advection"
    solver: ClassVar[str] = "exact Fourier-mode evolution exp((-i c k - nu k^2) t), no dealiasing"

    def __post_init__(self) -> None:
        check_real_param(self, "c")
        check_real_param(self, "nu", nonneg=True)
        self._check_grid()

    @property
    def default_dt(self) -> float:
        """``dx / |c|`` (``dx`` if ``c == 0``); unused by the exact solver."""
        return self.dx / abs(self.c) if self.c != 0 else self.dx

    def residual(self, d: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``u_t + c u_x - nu u_xx`` from ``d["u_t"]``, ``d["u_x"]`` (and ``d["u_xx"]`` if
        ``nu > 0``), each ``(N,)`` -> ``(N,)``; see `AbstractPDE1D.residual`."""
        if self.nu == 0.0:
            return d["u_t"] + self.c * d["u_x"]
        return d["u_t"] + self.c * d["u_x"] - self.nu * d["u_xx"]

    def characteristic_speed(self, u: torch.Tensor) -> torch.Tensor:
        """``f(u) = c`` of the Lagrangian form ``X_t = f(u)``, ``D_t u = nu u_XX``."""
        return torch.full_like(u, self.c)

    def propagator(self, t: torch.Tensor) -> torch.Tensor:
        """``exp((-i c K - nu K^2) t)`` per rfft mode, ``(len(t), n_x // 2 + 1)`` complex128.

        Computed in float64 on the CPU with the phase reduced modulo ``2 pi``.
        """
        t = torch.as_tensor(t, dtype=torch.float64).detach().cpu().reshape(-1, 1)
        m = torch.arange(self.n_x // 2 + 1, dtype=torch.float64)
        m_odd = m.clone()
        if self.n_x % 2 == 0:
            m_odd[-1] = 0.0  # Nyquist: no real translation, decay only
        turns = torch.remainder(m_odd * (self.c / self.length) * t, 1.0)
        phase = 2.0 * math.pi * turns
        decay = torch.exp(-self.nu * (2.0 * math.pi * m / self.length) ** 2 * t)
        return torch.complex(decay * torch.cos(phase), -decay * torch.sin(phase))

    def _evolve(
        self, u0: torch.Tensor, t: torch.Tensor, dt: float, *, progress: bool
    ) -> torch.Tensor:
        """The exact solution at the times ``t`` (no steps: ``dt`` and ``progress`` unused)."""
        out = u0.new_empty(u0.shape[0], len(t), self.n_x)
        out[:, 0] = u0
        if len(t) == 1:
            return out
        factors = self._propagator_factors(t, u0.dtype, u0.device)  # (4, frames, modes)
        v0 = rfft(u0)
        n_modes = v0.shape[-1]
        parts = torch.stack([v0.real, v0.imag, v0.real, v0.imag], dim=1)[:, :, None]
        sign = factors.new_tensor([-1.0, 1.0]).view(2, 1, 1)
        # `cmul(v0, prop[i])` for one sample and a run of frames at a time (a chunk stays
        # in cache): the four real products in one broadcast multiply, then
        # re = ar cr + (-1) ai ci and im = ar ci + (+1) ai cr in one pass (a product by
        # -1 or +1 is exact, so this rounds as the subtraction and the sum do), written
        # interleaved as the complex spectra. Their rows are inverse-transformed in one
        # call (short rows keep their bits whatever the batch; long ones go one per call).
        chunk = max(1, _CHUNK_BYTES // (n_modes * v0.element_size()))
        spectra = v0.new_empty(min(chunk, len(t) - 1), n_modes)
        prods = factors.new_empty(4, *spectra.shape)
        batched = short_rows(self.n_x, u0.dtype)
        for i in range(0, len(t) - 1, chunk):
            k = min(chunk, len(t) - 1 - i)
            spec, prod, fac = spectra[:k], prods[:, :k], factors[:, i : i + k]
            re_im = torch.view_as_real(spec).permute(2, 0, 1)
            for b in range(u0.shape[0]):
                torch.mul(parts[b], fac, out=prod)  # ar cr, ai ci, ar ci, ai cr
                torch.addcmul(prod[0::2], sign, prod[1::2], out=re_im)
                if batched:
                    torch.fft.irfft(spec, self.n_x, out=out[b, 1 + i : 1 + i + k])
                else:
                    out[b, 1 + i : 1 + i + k] = irfft(spec, self.n_x)
        return out

    def _propagator_factors(
        self, t: torch.Tensor, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """`propagator` at ``t[1:]`` in ``u0``'s precision as the real factors
        ``[re, im, im, re]``, ``(4, len(t) - 1, n_x // 2 + 1)``; the last few are cached
        (the batches of a dataset share ``t``)."""
        times = t.detach().to("cpu", torch.float64)
        key = (self, times.numpy().tobytes(), dtype, str(device))
        if key not in _PROPAGATORS:
            prop = self.propagator(times).to(device=device, dtype=complex_dtype(dtype))[1:]
            _PROPAGATORS[key] = torch.stack([prop.real, prop.imag, prop.imag, prop.real])
            while len(_PROPAGATORS) > 8:
                del _PROPAGATORS[next(iter(_PROPAGATORS))]
        return _PROPAGATORS[key]

    def exact_solution(
        self,
        u0: Callable[[torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        t: torch.Tensor,
    ) -> torch.Tensor:
        """Exact solution for the initial condition ``u0(x)`` at points ``(x, t)``.

        Args:
            u0: a ``length``-periodic function of a float64 tensor, elementwise.
            x: positions (any real values; periodic), a tensor broadcastable with ``t``.
            t: times ``>= 0``, broadcastable with ``x``.

        Returns:
            float64 tensor of the broadcast shape of ``x`` and ``t``. For ``nu = 0`` it is
            ``u0((x - c t) mod length)`` for any ``u0``; for ``nu > 0`` the heat-damped
            Fourier series of ``u0`` sampled on the ``n_x`` grid, exact for trigonometric
            polynomials of degree ``< n_x / 2``.

        Raises:
            TypeError: if ``u0`` is not callable.
            ValueError: if ``t`` has negative entries.
        """
        if not callable(u0):
            raise TypeError(f"`u0` must be a callable u0(x), got {type(u0).__name__}.")
        x = torch.as_tensor(x, dtype=torch.float64)
        t = torch.as_tensor(t, dtype=torch.float64)
        if bool((t < 0).any()):
            raise ValueError("`t` must be >= 0 in exact_solution.")
        x, t = torch.broadcast_tensors(x, t)
        if self.nu == 0.0:
            return u0(torch.remainder(x - self.c * t, self.length)).to(torch.float64)
        grid = self.coords()["x"]
        coef = torch.fft.rfft(u0(grid).to(torch.float64)) / self.n_x
        m = torch.arange(self.n_x // 2 + 1, dtype=torch.float64)
        # Real series: u = sum_m w_m Re(coef_m exp(i K_m (x - c t))) exp(-nu K_m^2 t) with
        # w_0 = 1, w_m = 2 inside, and the Nyquist term cos(K x) exp(-nu K^2 t) (no shift).
        w = torch.full_like(m, 2.0)
        w[0] = 1.0
        shift = torch.ones_like(m)
        if self.n_x % 2 == 0:
            w[-1] = 1.0
            shift[-1] = 0.0
        kk = 2.0 * math.pi * m / self.length
        xf, tf = x.reshape(-1, 1), t.reshape(-1, 1)
        arg = kk * (xf - shift * self.c * tf)
        terms = coef.real * torch.cos(arg) - coef.imag * torch.sin(arg)
        out = (w * torch.exp(-self.nu * kk**2 * tf) * terms).sum(-1)
        return out.reshape(x.shape)
