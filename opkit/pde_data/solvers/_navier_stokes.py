"""Incompressible Navier-Stokes in vorticity form on the unit torus."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch

from ._base import AbstractPDE, check_solve_inputs
from ._spectral import (
    check_grid_size,
    check_real_dtype,
    check_real_param,
    complex_dtype,
    dealias_mask,
    fft_wavenumbers,
    irfft2,
    rfft2,
    rfft_wavenumbers,
    step_progress,
    step_schedule,
)

__all__ = ["NavierStokes2D"]


def fno_forcing(n: int) -> torch.Tensor:
    """The FNO paper's forcing ``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))`` on ``n x n``."""
    x = torch.arange(n, dtype=torch.float64) / n
    s = 2.0 * math.pi * (x[:, None] + x[None, :])
    return 0.1 * (torch.sin(s) + torch.cos(s))


@dataclasses.dataclass(frozen=True, eq=False)
class NavierStokes2D(AbstractPDE):
    r"""2-D incompressible Navier-Stokes, vorticity form, on the unit torus ``[0, 1)^2``.

        ``w_t + u . grad w = nu Lap w + f``,   ``u = (psi_y, -psi_x)``,   ``-Lap psi = w``.

    Grid ``(x_i, y_j) = (i, j) / n``; arrays are ``(..., n_x, n_y)`` with ``x`` first.

    Scheme (pseudo-spectral, one step of size ``h`` in Fourier space, ``K^2 = |k|^2``)::

        N(w)  = -F[u . grad w]          (2/3-rule dealiased, see below)
        w*    = [(1 - h nu K^2 / 2) w^n + h (N(w^n) + f)] / (1 + h nu K^2 / 2)
        w^n+1 = [(1 - h nu K^2 / 2) w^n + h (N(w^n) + N(w*)) / 2 + h f] / (1 + h nu K^2 / 2)

    i.e. Crank-Nicolson for the viscous term and Heun's explicit trapezoidal
    predictor-corrector for the advection: second order in time (measured in the
    tests). The FNO paper's generator (``ns_2d.py``) uses the same Crank-Nicolson
    viscous step with a forward-Euler advection (first order); this adds the corrector,
    which doubles the cost per step and gains an order. Dealiasing: ``w`` is truncated to
    ``|m_x|, |m_y| < n / 3`` before forming the velocity and the gradient, and the
    product is truncated to the same square band (as ``ns_2d.py``). ``psi``'s mean is 0.
    The mean of ``w`` is conserved (it must be 0 for a periodic velocity; the GRF data
    have zero mean).

    2-D transforms are composed 1-D FFTs (`opkit.pde_data.solvers._spectral.rfft2`), so a
    sample's result is bitwise independent of the rest of its batch.

    Default step (``default_dt``): ``1e-3 * min(1, 64 / n)``, an advective CFL rule: the
    CFL number ``max|u| dt / dx`` is ``0.064 max|u|`` at every ``n``. Crank-Nicolson is
    unconditionally stable for the viscous term. At ``n = 64`` this is the dataset's
    ``dt = 1e-3``; at ``n = 256`` it is ``2.5e-4`` (the FNO paper used ``1e-4``).
    Measured on the ``ns`` CPU setting (``nu = 1e-3``, FNO forcing, GRF2D initial
    vorticity, 64 x 64, ``T = 20``; ``benchmarks/solvers.py``): ``max|u|`` is 0.05 at
    ``t = 0`` and 0.2 at ``t = 20`` (CFL 0.013); ``dt = 1e-3`` is within 6e-9 (relative to
    ``max|w|``) of ``dt / 4`` at ``t = 5``; and the 64 x 64 solution differs from a
    128 x 128 solve of the same band-limited ``w0`` by 3e-9 (relative L2) at ``t = 1`` and
    4e-11 at ``t = 20``: at this viscosity 64 x 64 is resolved to round-off.

    Args:
        nu: viscosity, > 0 (the FNO data: ``1e-3``, ``1e-4``, ``1e-5``).
        n: grid points per direction, >= 8 (dataset: 64 on CPU, 256 as in the paper).
        forcing: ``None`` (unforced), ``"fno"`` for ``0.1 (sin 2 pi (x + y) +
            cos 2 pi (x + y))``, or a real tensor ``(n, n)`` (or array / nested list) of
            zero mean on the grid (a torus cannot sustain net vorticity production);
            stored as a float64 CPU copy.

    Raises:
        ValueError / TypeError: non-positive or non-finite ``nu``, ``n < 8``, an unknown
            forcing name, a forcing tensor of the wrong shape, non-finite or non-zero mean.

    Shapes:
        ``solve(w0, t)``: ``(batch, n, n)`` -> ``(batch, len(t), n, n)``.

    References:
        Li, Z. et al. (2021). Fourier neural operator for parametric partial differential
        equations. ICLR (the Navier-Stokes benchmark and its generator ``ns_2d.py``).
        Canuto, C., Hussaini, M. Y., Quarteroni, A. & Zang, T. A. (2006). Spectral Methods:
        Fundamentals in Single Domains. Springer (2/3 rule, IMEX time stepping).

    Examples:
        >>> import torch
        >>> from opkit.pde_data import GRF2D
        >>> pde = NavierStokes2D(nu=1e-3, n=32, forcing="fno")
        >>> w0 = GRF2D().sample(2, 32, generator=torch.Generator().manual_seed(0))
        >>> w = pde.solve(w0, torch.linspace(0, 0.1, 3))
        >>> tuple(w.shape)
        (2, 3, 32, 32)
    """

    nu: float
    n: int
    forcing: str | torch.Tensor | None = None

    name: ClassVar[str] = "ns"
    field: ClassVar[str] = "vorticity"
    solver: ClassVar[str] = (
        "Fourier pseudo-spectral, Crank-Nicolson viscosity + Heun explicit advection "
        "(2nd order), 2/3-rule dealiasing"
    )

    def __post_init__(self) -> None:
        check_real_param(self, "nu", positive=True)
        check_grid_size(self, "n")
        f = self.forcing
        if f is None:
            return
        if isinstance(f, str):
            if f != "fno":
                raise ValueError(
                    f"NavierStokes2D: `forcing` must be None, 'fno' or a tensor (n, n), "
                    f"got the string {f!r}."
                )
            return
        if not isinstance(f, torch.Tensor):
            # Nested lists (how `params()` records a tensor) and arrays are accepted too.
            try:
                f = torch.as_tensor(f, dtype=torch.float64)
            except (TypeError, ValueError, RuntimeError):
                raise TypeError(
                    "NavierStokes2D: `forcing` must be None, 'fno' or a real tensor / array of "
                    f"shape ({self.n}, {self.n}), got {type(f).__name__}."
                ) from None
        if tuple(f.shape) != (self.n, self.n) or not f.is_floating_point():
            raise ValueError(
                f"NavierStokes2D: a forcing tensor must be real with shape ({self.n}, "
                f"{self.n}) (the grid), got {tuple(f.shape)} {f.dtype}."
            )
        f64 = f.detach().to("cpu", torch.float64)
        if not bool(torch.isfinite(f64).all()):
            raise ValueError("NavierStokes2D: `forcing` contains NaN or Inf.")
        scale = float(f64.abs().max())
        if abs(float(f64.mean())) > 1e-6 * max(scale, 1e-300):
            raise ValueError(
                f"NavierStokes2D: `forcing` must have zero mean (got mean {float(f64.mean()):.3e}"
                f" with max |f| = {scale:.3e}): on the torus the mean vorticity cannot change. "
                "Pass forcing - forcing.mean()."
            )
        # Frozen copy on the CPU: the dataclass must not alias a tensor the caller mutates.
        object.__setattr__(self, "forcing", f64.clone())

    def _key(self) -> tuple:
        f = self.forcing
        f_key = tuple(f.flatten().tolist()) if isinstance(f, torch.Tensor) else f
        return (self.nu, self.n, f_key)

    # Written out because the generated ones would compare tensors elementwise.
    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def spatial_shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def default_dt(self) -> float:
        """``1e-3 * min(1, 64 / n)`` (advective CFL rule, see the class docstring)."""
        return 1e-3 * min(1.0, 64.0 / self.n)

    def coords(self) -> dict[str, torch.Tensor]:
        """``{"x": x, "y": y}``, both ``arange(n) / n`` (float64, ``(n,)``)."""
        x = torch.arange(self.n, dtype=torch.float64) / self.n
        return {"x": x, "y": x.clone()}

    @property
    def translation_invariant(self) -> bool:
        """True only when unforced: a forcing pins the flow to positions."""
        return self.forcing is None

    def forcing_field(self) -> torch.Tensor | None:
        """The forcing on the grid, ``(n, n)`` float64, or None when unforced."""
        if self.forcing is None:
            return None
        if isinstance(self.forcing, str):
            return fno_forcing(self.n)
        return self.forcing.clone()

    def solve(
        self, u0: torch.Tensor, t: torch.Tensor, *, dt: float | None = None, progress: bool = False
    ) -> torch.Tensor:
        """Solve a batch of initial vorticities.

        Args:
            u0: ``(batch, n, n)`` float32/float64 initial vorticity on the grid `coords`.
            t: 1-D strictly increasing output times with ``t[0] == 0``.
            dt: largest time step (default `default_dt`); each output interval is split
                into equal steps ``<= dt`` so outputs land exactly on ``t``.
            progress: show a tqdm bar over the time steps (default False).

        Returns:
            ``(batch, len(t), n, n)`` vorticity in ``u0``'s dtype and device; frame 0 is
            ``u0``. A sample that blows up comes back non-finite; the others are
            unaffected.

        Raises:
            TypeError / ValueError: bad ``u0``, ``t`` or ``dt`` (see `check_solve_inputs`).
        """
        t, dt = check_solve_inputs(self, u0, t, dt)
        check_real_dtype(u0)
        n, nu = self.n, self.nu
        dev, cdt = u0.device, complex_dtype(u0.dtype)

        kx = fft_wavenumbers(n, 1.0)[:, None]
        ky = rfft_wavenumbers(n, 1.0)[None, :]
        kx_d = fft_wavenumbers(n, 1.0, odd=True)[:, None]
        ky_d = rfft_wavenumbers(n, 1.0, odd=True)[None, :]
        mask = dealias_mask(n, full=True)[:, None] * dealias_mask(n)[None, :]
        k2 = kx**2 + ky**2
        inv_k2 = torch.where(k2 > 0, 1.0 / torch.where(k2 > 0, k2, 1.0), 0.0)
        # One broadcast product gives the spectra of (u, v, w_x, w_y); each coefficient is
        # purely imaginary, which keeps the product batch-invariant.
        ky_d, kx_d = torch.broadcast_tensors(ky_d, kx_d)
        grad = torch.stack([1j * ky_d * inv_k2, -1j * kx_d * inv_k2, 1j * kx_d, 1j * ky_d])
        grad = grad * mask.to(torch.complex128)
        grad = grad.to(device=dev, dtype=cdt)
        mask_c = mask.to(device=dev, dtype=cdt)
        f = self.forcing_field()
        f_hat = None if f is None else rfft2(f[None])[0].to(device=dev, dtype=cdt)

        def nonlinear(w: torch.Tensor) -> torch.Tensor:
            fields = irfft2(w.unsqueeze(1) * grad, n)  # (batch, 4, n, n)
            u, v, wx, wy = fields.unbind(1)
            return -mask_c * rfft2(u * wx + v * wy)

        w = rfft2(u0)
        frames = [u0]
        schedule = step_schedule(t, dt)
        # The steps run in inference mode (the same kernels, so the same bits, with less
        # dispatch work per operation) unless gradients are to flow through the solve; the
        # frames are transformed outside it, so the result is a normal tensor.
        fast = not u0.requires_grad
        with step_progress(schedule, progress) as bar:
            for n_steps, h in schedule:
                denom = 1.0 + 0.5 * h * nu * k2
                a = ((1.0 - 0.5 * h * nu * k2) / denom).to(device=dev, dtype=cdt)
                b = (h / denom).to(device=dev, dtype=cdt)
                b_half = (0.5 * h / denom).to(device=dev, dtype=cdt)
                bf = None if f_hat is None else b * f_hat
                with torch.inference_mode(fast):
                    for _ in range(n_steps):
                        nw = nonlinear(w)
                        aw = a * w
                        pred = aw + b * nw
                        if bf is not None:
                            pred = pred + bf
                        w = aw + b_half * (nw + nonlinear(pred))
                        if bf is not None:
                            w = w + bf
                        bar.update()
                frames.append(irfft2(w, n))
        return torch.stack(frames, dim=1)
