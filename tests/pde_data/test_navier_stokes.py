"""NavierStokes2D: exact Taylor-Green and forced shear flows, second order, resolution."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from opkit.pde_data import GRF2D, NavierStokes2D
from opkit.pde_data.solvers._navier_stokes import fno_forcing
from tests.problems import forced_shear_vorticity, taylor_green_vorticity, torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _cn_factor(z: float) -> float:
    """Crank-Nicolson's amplification of y' = -(z / dt) y over one step."""
    return (1 - z / 2) / (1 + z / 2)


def test_taylor_green_decay_unforced():
    """w = 2K sin Kx sin Ky e^{-2 nu K^2 t}: the nonlinear term vanishes identically.

    The solver must reproduce Crank-Nicolson's discrete decay r^N to round-off, and the
    exact solution to CN's O(dt^2) error |r^N - e^{-2 nu K^2 t}|.
    """
    nu, m, n, dt = 0.01, 2, 16, 1e-3
    pde = NavierStokes2D(nu=nu, n=n)
    w0 = taylor_green_vorticity(n, m=m, nu=nu, t=0.0)
    t = torch.tensor([0.0, 0.5, 1.0])
    w = pde.solve(w0[None], t, dt=dt)
    z = 2 * nu * (2 * math.pi * m) ** 2 * dt
    for i, ti in enumerate(t.tolist()):
        steps = round(ti / dt)
        discrete = w0 * _cn_factor(z) ** steps
        assert float((w[0, i] - discrete).abs().max()) < 1e-12
        exact = taylor_green_vorticity(n, m=m, nu=nu, t=ti)
        cn_error = abs(_cn_factor(z) ** steps - math.exp(-z * steps)) * float(w0.abs().max())
        assert float((w[0, i] - exact).abs().max()) <= 1.01 * cn_error + 1e-12
    assert cn_error < 1e-5  # second order: 7e-6 at dt = 1e-3
    assert float(w[0, -1].abs().max()) < 0.1 * float(w0.abs().max())  # it did decay


def test_forced_shear_flow_with_fno_forcing():
    """w = A(t) (sin + cos) 2 pi (x + y) with the FNO forcing: nonlinearity zero.

    Exact: A' = -lam A + 0.1. CN's discrete solution is A_N = A* + (A0 - A*) r^N with the
    same fixed point A* = 0.1 / lam; the solver must match it to round-off and the exact
    solution to CN's O(dt^2) error.
    """
    nu, n, dt, a0 = 0.05, 16, 1e-3, 0.5
    pde = NavierStokes2D(nu=nu, n=n, forcing="fno")
    w0 = forced_shear_vorticity(n, amplitude=a0, nu=nu, t=0.0)
    w = pde.solve(w0[None], torch.tensor([0.0, 1.0, 2.0]), dt=dt)
    lam = 8 * math.pi**2 * nu
    shape = w0 / a0
    for i, ti in enumerate([0.0, 1.0, 2.0]):
        steps = round(ti / dt)
        a_discrete = 0.1 / lam + (a0 - 0.1 / lam) * _cn_factor(lam * dt) ** steps
        assert float((w[0, i] - a_discrete * shape).abs().max()) < 1e-12
        exact = forced_shear_vorticity(n, amplitude=a0, nu=nu, t=ti)
        err = float((w[0, i] - exact).abs().max())
        assert err <= 1.01 * abs(a_discrete * shape - exact).max() + 1e-13
        assert err < 1e-6
    # The forcing drives the amplitude towards 0.1 / lam = 0.025 (from 0.5).
    assert float(w[0, -1].abs().max()) < 0.5 * float(w0.abs().max())


def test_taylor_green_plus_forcing_is_not_trivial():
    """A Taylor-Green vortex under the shear forcing interacts nonlinearly; the tensor
    forcing equal to "fno" must give the identical result."""
    n = 16
    w0 = taylor_green_vorticity(n, m=1, nu=0.01, t=0.0)[None]
    t = torch.tensor([0.0, 0.2])
    by_name = NavierStokes2D(nu=0.01, n=n, forcing="fno").solve(w0, t, dt=1e-2)
    x = torch.arange(n, dtype=torch.float64) / n
    s = 2 * math.pi * (x[:, None] + x[None, :])
    f = 0.1 * (torch.sin(s) + torch.cos(s))
    by_tensor = NavierStokes2D(nu=0.01, n=n, forcing=f).solve(w0, t, dt=1e-2)
    assert torch.equal(by_name, by_tensor)
    unforced = NavierStokes2D(nu=0.01, n=n).solve(w0, t, dt=1e-2)
    assert float((by_name - unforced).abs().max()) > 1e-3


def test_second_order_in_time():
    """Fitted slope of the error against dt is 2 (CN + Heun), nonlinear GRF flow.

    32 x 32, nu = 1e-3, FNO forcing and initial law, t = 0.5; reference dt = 2.5e-4.
    """
    pde = NavierStokes2D(nu=1e-3, n=32, forcing="fno")
    w0 = GRF2D().sample(2, 32, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([0.0, 0.5])
    ref = pde.solve(w0, t, dt=2.5e-4)[:, -1]
    dts = [0.02, 0.01, 0.005]
    errs = [float((pde.solve(w0, t, dt=dt)[:, -1] - ref).abs().max()) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert 1.8 <= slope <= 2.3, (slope, errs)


def test_vorticity_mean_is_conserved_and_enstrophy_decays_unforced():
    pde = NavierStokes2D(nu=1e-3, n=32)
    g = torch.Generator().manual_seed(4)
    w0 = GRF2D().sample(1, 32, generator=g) + 0.3
    w = pde.solve(w0, torch.linspace(0, 0.5, 3), dt=5e-3)
    assert torch.allclose(w.mean(dim=(-1, -2)), torch.full((1, 3), 0.3, dtype=torch.float64))
    enstrophy = (w**2).mean(dim=(-1, -2))
    assert bool((enstrophy[0, 1:] < enstrophy[0, :-1]).all())


@pytest.mark.slow
def test_cpu_dataset_resolution_64_vs_128():
    """The ns dataset's CPU setting: 64 x 64, dt = 1e-3, nu = 1e-3, FNO forcing, T = 20,
    against 128 x 128 from the same (band-limited) initial vorticity. Measured relative L2
    difference at T = 20: 4e-11 (benchmarks/solvers.py); the issue expected about 1e-4.
    """
    g = torch.Generator().manual_seed(0)
    w64 = GRF2D().sample(1, 64, generator=g)
    hat = torch.fft.fft2(w64)
    pad = torch.zeros(1, 128, 128, dtype=torch.complex128)
    idx = torch.fft.fftfreq(64, 1 / 64).long()
    pad[:, idx[:, None], idx[None, :]] = hat * 4
    w128 = torch.fft.ifft2(pad).real
    t = torch.tensor([0.0, 20.0])
    a = NavierStokes2D(nu=1e-3, n=64, forcing="fno").solve(w64, t, dt=1e-3)[:, -1]
    b = NavierStokes2D(nu=1e-3, n=128, forcing="fno").solve(w128, t, dt=1e-3)[:, -1]
    rel = float((a - b[:, ::2, ::2]).norm() / b[:, ::2, ::2].norm())
    assert rel < 1e-8, rel


def test_forcing_validation():
    with pytest.raises(ValueError, match="forcing"):
        NavierStokes2D(nu=1e-3, n=16, forcing="kolmogorov")
    with pytest.raises(ValueError, match=r"\(16, 16\)"):
        NavierStokes2D(nu=1e-3, n=16, forcing=torch.zeros(8, 8))
    with pytest.raises(ValueError, match="zero mean"):
        NavierStokes2D(nu=1e-3, n=16, forcing=torch.ones(16, 16))
    with pytest.raises(ValueError, match="NaN"):
        NavierStokes2D(nu=1e-3, n=16, forcing=torch.full((16, 16), float("nan")))
    with pytest.raises(TypeError, match="forcing"):
        NavierStokes2D(nu=1e-3, n=16, forcing=object())
    with pytest.raises(ValueError, match="shape"):
        NavierStokes2D(nu=1e-3, n=16, forcing=3.0)
    # Arrays and nested lists (how params() records a tensor) are accepted.
    f = fno_forcing(16)
    assert NavierStokes2D(1e-3, 16, f.numpy()) == NavierStokes2D(1e-3, 16, f.tolist())


def test_default_dt_rule_and_equality():
    assert NavierStokes2D(nu=1e-3, n=64).default_dt == pytest.approx(1e-3)
    assert NavierStokes2D(nu=1e-3, n=32).default_dt == pytest.approx(1e-3)
    assert NavierStokes2D(nu=1e-3, n=256).default_dt == pytest.approx(2.5e-4)
    f = torch.zeros(8, 8)
    assert NavierStokes2D(1e-3, 8, f) == NavierStokes2D(1e-3, 8, f.clone())
    assert hash(NavierStokes2D(1e-3, 8, "fno")) == hash(NavierStokes2D(1e-3, 8, "fno"))
    assert NavierStokes2D(1e-3, 8) != NavierStokes2D(1e-3, 8, "fno")


def test_solve_returns_a_normal_tensor_and_stays_differentiable():
    # the steps run in inference mode unless the initial value requires grad
    pde = NavierStokes2D(nu=1e-3, n=16, forcing="fno")
    u0 = torch.randn(2, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([0.0, 0.01, 0.02], dtype=torch.float64)
    u = pde.solve(u0, t)
    assert not u.is_inference()
    g = u0.clone().requires_grad_()
    out = pde.solve(g, t)
    assert torch.equal(out.detach(), u)  # the same bits either way
    out[:, -1].square().sum().backward()
    assert g.grad is not None and bool(g.grad.abs().sum() > 0)
