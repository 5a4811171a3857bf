"""Small problems with exact solutions, shared by the solver tests (torchdiffeq style)."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from scipy import special

__all__ = [
    "allen_cahn_two_kinks",
    "allen_cahn_uniform",
    "bernoulli_ode",
    "burgers_cole_hopf_sine",
    "forced_shear_vorticity",
    "ks_linear_modes",
    "taylor_green_vorticity",
    "torch_threads",
]


def burgers_cole_hopf_sine(
    x: torch.Tensor, t: float, *, nu: float, amplitude: float = 1.0, length: float = 1.0
) -> torch.Tensor:
    r"""Exact solution of ``u_t + u u_x = nu u_xx``, ``u(x, 0) = A sin(2 pi x / L)``.

    Cole-Hopf: ``u = -2 nu phi_x / phi`` with ``phi_t = nu phi_xx`` and
    ``phi_0 = exp(-(1 / 2 nu) \int_0^x u_0) = e^{-a} e^{a cos(theta)}``, ``theta = 2 pi x / L``,
    ``a = A L / (4 pi nu)``. The generating function of the modified Bessel functions,
    ``e^{a cos(theta)} = I_0(a) + 2 sum_n I_n(a) cos(n theta)``, makes the heat solution an
    explicit Fourier series, so::

        u = (4 pi nu / L) * 2 sum_n n I_n(a) e_n sin(n theta)
            / (I_0(a) + 2 sum_n I_n(a) e_n cos(n theta)),   e_n = exp(-nu (2 pi n / L)^2 t).

    Exponentially scaled Bessel functions (``ive``) keep this finite for small ``nu``; the
    series is cut where ``I_n(a) / I_0(a) < 1e-30``.

    Returns:
        float64 tensor of ``x``'s shape.
    """
    a = amplitude * length / (4.0 * math.pi * nu)
    xs = np.asarray(x.detach().cpu().numpy(), dtype=np.float64)
    theta = 2.0 * math.pi * xs / length
    i0 = special.ive(0, a)
    num = np.zeros_like(xs)
    den = np.full_like(xs, i0)
    n = 1
    while True:
        i_n = special.ive(n, a)
        if i_n < 1e-30 * i0 and n > 2:
            break
        e_n = math.exp(-nu * (2.0 * math.pi * n / length) ** 2 * t)
        num += 2.0 * n * i_n * e_n * np.sin(n * theta)
        den += 2.0 * i_n * e_n * np.cos(n * theta)
        n += 1
    return torch.from_numpy(4.0 * math.pi * nu / length * num / den)


def bernoulli_ode(u0: torch.Tensor, lam: torch.Tensor, t: float) -> torch.Tensor:
    """Exact solution of ``u' = lam u - u^2`` (elementwise), the ETDRK4 test problem.

    ``u(t) = lam u0 e^{lam t} / (lam + u0 (e^{lam t} - 1))``; for ``lam = 0`` the limit
    ``u0 / (1 + u0 t)``. Complex ``u0`` and ``lam`` allowed.
    """
    e = torch.exp(lam * t)
    small = lam.abs() < 1e-300
    lam_safe = torch.where(small, torch.ones_like(lam), lam)
    general = lam_safe * u0 * e / (lam_safe + u0 * (e - 1))
    return torch.where(small, u0 / (1 + u0 * t), general)


def taylor_green_vorticity(n: int, *, m: int, nu: float, t: float) -> torch.Tensor:
    """Decaying Taylor-Green vortex on the unit torus, vorticity ``(n, n)`` float64.

    ``w = 2 K sin(K x) sin(K y) e^{-2 nu K^2 t}`` with ``K = 2 pi m``; the streamfunction
    ``psi = w / (2 K^2)`` makes ``u . grad w`` vanish identically (``w`` is a Laplacian
    eigenfunction), so this solves forced-free Navier-Stokes exactly.
    """
    x = torch.arange(n, dtype=torch.float64) / n
    k = 2.0 * math.pi * m
    w = 2.0 * k * torch.sin(k * x)[:, None] * torch.sin(k * x)[None, :]
    return w * math.exp(-2.0 * nu * k**2 * t)


def forced_shear_vorticity(n: int, *, amplitude: float, nu: float, t: float) -> torch.Tensor:
    """Exact Navier-Stokes vorticity with the FNO forcing ``f = 0.1 g``, ``(n, n)`` float64.

    ``g = sin 2 pi (x + y) + cos 2 pi (x + y)``. Any vorticity ``w(x + y)`` has velocity
    ``(G', -G')`` and ``u . grad w = G' w' - G' w' = 0``, so ``w = A(t) g`` with
    ``A' = -lam A + 0.1``, ``lam = 8 pi^2 nu``:
    ``A(t) = A0 e^{-lam t} + (0.1 / lam)(1 - e^{-lam t})``.
    """
    x = torch.arange(n, dtype=torch.float64) / n
    s = 2.0 * math.pi * (x[:, None] + x[None, :])
    lam = 8.0 * math.pi**2 * nu
    a = amplitude * math.exp(-lam * t) + 0.1 / lam * (1.0 - math.exp(-lam * t))
    return a * (torch.sin(s) + torch.cos(s))


def allen_cahn_uniform(c: float, *, k: float, t: float) -> float:
    """Exact spatially uniform Allen-Cahn solution: ``u' = k (u - u^3)``, ``u(0) = c``.

    ``u(t) = c e^{k t} / sqrt(1 + c^2 (e^{2 k t} - 1))``.
    """
    e = math.exp(k * t)
    return c * e / math.sqrt(1.0 + c * c * (e * e - 1.0))


def allen_cahn_two_kinks(x: torch.Tensor, *, eps: float, k: float, length: float) -> torch.Tensor:
    """Stationary two-front Allen-Cahn state on the periodic ``[0, length)``.

    A single front ``tanh(x / w)``, ``w = sqrt(2 eps / k)``, solves ``eps u_xx + k(u - u^3)
    = 0`` on the line. Fronts at ``length / 4`` and ``3 length / 4`` (opposite signs)
    interact only through tails ``~ e^{-length / w}``; for ``length / w > 40`` that is below
    1e-17, so the profile is stationary to round-off.
    """
    w = math.sqrt(2.0 * eps / k)
    return -torch.tanh((x - length / 4) / w) * torch.tanh((x - 3 * length / 4) / w)


def ks_linear_modes(
    x: torch.Tensor, t: float, *, length: float, beta: float, gamma: float, modes: dict
) -> torch.Tensor:
    """Exact solution of linear KS (``alpha = 0``): ``u_t + beta u_xx + gamma u_xxxx = 0``.

    ``u0 = sum_m a_m cos(2 pi m x / length)`` evolves as ``a_m e^{(beta K^2 - gamma K^4) t}``.
    """
    out = torch.zeros_like(x, dtype=torch.float64)
    for m, a in modes.items():
        kk = 2.0 * math.pi * m / length
        out = out + a * math.exp((beta * kk**2 - gamma * kk**4) * t) * torch.cos(kk * x)
    return out


@contextlib.contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` intra-op threads, restoring the previous count.

    The solver tests use one thread: their FFTs are small, and on a shared, oversubscribed
    CPU two threads synchronising per FFT made them 20-30x slower (measured). The
    batch-invariance tests also run with two threads, where work is split across threads.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)
