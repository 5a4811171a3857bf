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

# Recently used propagators, keyed by (PDE, times, dtype, device): `_propagators`.
_PROPAGATORS: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


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
        prop, i_prop = self._propagators(t, u0.dtype, u0.device)  # (frames, modes) each
        v0 = rfft(u0)
        zero = torch.zeros_like(v0.real)
        ar, ai = torch.complex(v0.real, zero), torch.complex(v0.imag, zero)
        # `cmul(v0, prop[i])` for all frames of a sample at once, as ar prop + ai (i prop):
        # the complex products by ar + 0i and ai + 0i are the real products ar cr, ar ci,
        # -ai ci, ai cr (exact zeros added), so the two sums are cmul's, rounded alike in
        # every code path. The frames are then inverse-transformed in one call (short rows
        # keep their bits whatever the batch; long ones go one per call).
        spectra = v0.new_empty(len(t) - 1, v0.shape[-1])
        batched = short_rows(self.n_x, u0.dtype)
        for b in range(u0.shape[0]):
            torch.mul(ar[b], prop, out=spectra)
            spectra.addcmul_(ai[b], i_prop)
            if batched:
                torch.fft.irfft(spectra, self.n_x, out=out[b, 1:])
            else:
                out[b, 1:] = irfft(spectra, self.n_x)
        return out

    def _propagators(
        self, t: torch.Tensor, dtype: torch.dtype, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`propagator` at ``t[1:]`` in ``u0``'s complex precision and ``i`` times it
        (``-im + i re``, exact), each ``(len(t) - 1, n_x // 2 + 1)``; the last few are
        cached (the batches of a dataset share ``t``)."""
        times = t.detach().to("cpu", torch.float64)
        key = (self, times.numpy().tobytes(), dtype, str(device))
        if key not in _PROPAGATORS:
            prop = self.propagator(times).to(device=device, dtype=complex_dtype(dtype))[1:]
            _PROPAGATORS[key] = (prop, torch.complex(-prop.imag, prop.real))
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
