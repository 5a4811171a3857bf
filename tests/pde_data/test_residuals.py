"""Each 1-D PDE states its equation once, as `residual(d)`: zero on exact solutions (the
derivatives given by hand), non-zero on perturbed ones, and consistent with `solve`."""

import math

import pytest
import torch

from opkit.pde_data import (
    DERIVATIVE_KEYS,
    Advection1D,
    AllenCahn1D,
    Burgers1D,
    KuramotoSivashinsky1D,
)

F64 = torch.float64


class _Only(dict):
    """A derivative mapping that records which entries the residual read."""

    def __init__(self, values):
        super().__init__(values)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


def _tx(n=50):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, dtype=F64, generator=g), 2 * math.pi * torch.rand(
        n, dtype=F64, generator=g
    )


def _wave(t, x, *, a, k, lam, c):
    """u = a exp(lam t) sin(k (x - c t)) and its derivatives, by hand."""
    e, ph = a * torch.exp(lam * t), k * (x - c * t)
    s, co = e * torch.sin(ph), e * torch.cos(ph)
    return {
        "u": s,
        "u_t": lam * s - c * k * co,
        "u_x": k * co,
        "u_xx": -(k**2) * s,
        "u_xxx": -(k**3) * co,
        "u_xxxx": k**4 * s,
    }


def _perturb(d, size=1e-2):
    return {key: v + size * (i + 1) for i, (key, v) in enumerate(d.items())}


def test_linear_pdes_vanish_on_their_fourier_modes():
    t, x = _tx()
    k = 2.0
    adv = Advection1D(c=3.0, nu=0.1)
    exact = _wave(t, x, a=0.7, k=k, lam=-adv.nu * k**2, c=adv.c)
    assert adv.residual(exact).abs().max() < 1e-13
    assert adv.residual(_perturb(exact)).abs().min() > 1e-3
    # The pure transport reads no second derivative.
    d = _Only(_wave(t, x, a=1.0, k=k, lam=0.0, c=-5.0))
    assert Advection1D(c=-5.0).residual(d).abs().max() < 1e-12
    assert d.read == {"u_t", "u_x"}
    # KS without the nonlinear term: growth rate beta k^2 - gamma k^4.
    ks = KuramotoSivashinsky1D(length=2 * math.pi, n_x=64, alpha=0.0, beta=0.5, gamma=0.05)
    exact = _wave(t, x, a=1.3, k=k, lam=ks.beta * k**2 - ks.gamma * k**4, c=0.0)
    assert ks.residual(exact).abs().max() < 1e-12
    assert ks.residual(_perturb(exact)).abs().min() > 1e-3


def test_nonlinear_pdes_vanish_on_exact_solutions():
    t, x = _tx()
    # Burgers: the viscous travelling front u = c - A tanh(A (x - x0 - c t) / (2 nu)).
    nu, c, A = 0.2, 1.5, 0.8
    z = A * (x - 3 - c * t) / (2 * nu)
    T, S = torch.tanh(z), 1 - torch.tanh(z) ** 2
    dz = A / (2 * nu)
    front = {
        "u": c - A * T,
        "u_t": A * S * dz * c,
        "u_x": -A * S * dz,
        "u_xx": 2 * A * T * S * dz**2,
    }
    burgers = Burgers1D(nu=nu, length=2 * math.pi)
    assert burgers.residual(front).abs().max() < 1e-12
    assert burgers.residual(_perturb(front)).abs().max() > 1e-3
    # Allen-Cahn: the standing kink u = tanh(x sqrt(k / (2 eps))).
    ac = AllenCahn1D(eps=0.01, k=5.0)
    w = math.sqrt(ac.k / (2 * ac.eps))
    T = torch.tanh(w * (x - math.pi))
    kink = {"u": T, "u_t": torch.zeros_like(T), "u_xx": -2 * w**2 * T * (1 - T**2)}
    assert ac.residual(kink).abs().max() < 1e-10
    assert ac.residual(_perturb(kink)).abs().max() > 1e-3


@pytest.mark.parametrize(
    "pde",
    [
        Burgers1D(nu=0.05, length=2 * math.pi, n_x=128),
        AllenCahn1D(eps=0.01, k=1.0, length=2 * math.pi, n_x=128),
        KuramotoSivashinsky1D(length=2 * math.pi, n_x=128, alpha=0.5, beta=0.2, gamma=0.05),
        Advection1D(c=2.0, nu=0.05, length=2 * math.pi, n_x=128),
    ],
    ids=lambda p: type(p).__name__,
)
def test_residual_is_the_equation_that_solve_integrates(pde):
    # The spectral derivatives of the solver's own solution make the residual small: the
    # residual and `solve` state the same PDE (a sign or coefficient slip would not).
    x = pde.coords()["x"]
    u0 = (torch.sin(x) + 0.5 * torch.cos(2 * x))[None]
    dt = 1e-3
    t = torch.tensor([0.0, 0.5 - dt, 0.5, 0.5 + dt], dtype=F64)
    u = pde.solve(u0, t, dt=dt / 4)[0]
    k = torch.fft.rfftfreq(pde.n_x, d=pde.dx).to(F64) * 2 * math.pi
    v = torch.fft.rfft(u[2])

    def dx(n):
        return torch.fft.irfft((1j * k) ** n * v, n=pde.n_x)

    d = {"u": u[2], "u_t": (u[3] - u[1]) / (2 * dt)}
    d.update({"u_" + "x" * n: dx(n) for n in range(1, 5)})
    assert set(d) == set(DERIVATIVE_KEYS)
    # The solvers integrate the Galerkin-truncated equation (dealiased products): compare
    # on the modes they keep, |m| < n_x / 3.
    r = torch.fft.rfft(pde.residual(d))
    r[pde.n_x // 3 :] = 0
    r = torch.fft.irfft(r, n=pde.n_x)
    assert r.abs().max() < 1e-5 * d["u_t"].abs().max().clamp_min(1.0)
    assert pde.residual(_perturb(d)).abs().max() > 1e-3
