"""Advection1D: exact Fourier evolution and the pointwise exact solution."""

from __future__ import annotations

import math

import pytest
import torch

from opkit.pde_data import Advection1D


@pytest.mark.parametrize("c", [1.0, 30.0, 50.0, -7.5])
def test_convection_benchmark_is_exact(c):
    """LPINN convection: u0 = sin x on [0, 2 pi), u = sin(x - c t)."""
    pde = Advection1D(c=c)
    x = pde.coords()["x"]
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    u = pde.solve(torch.sin(x)[None], t)
    exact = torch.sin(x[None, :] - c * t[:, None])
    assert float((u[0] - exact).abs().max()) < 1e-12


def test_convection_diffusion_decay_and_translation():
    nu, c, length = 0.05, 2.0, 3.0
    pde = Advection1D(c=c, nu=nu, length=length, n_x=64)
    x = pde.coords()["x"]
    k1, k5 = 2 * math.pi / length, 10 * math.pi / length
    u0 = torch.cos(k1 * x) + 0.5 * torch.sin(k5 * x)
    t = torch.tensor([0.0, 0.3, 2.0], dtype=torch.float64)
    u = pde.solve(u0[None], t)
    for i, ti in enumerate(t.tolist()):
        exact = math.exp(-nu * k1**2 * ti) * torch.cos(k1 * (x - c * ti)) + 0.5 * math.exp(
            -nu * k5**2 * ti
        ) * torch.sin(k5 * (x - c * ti))
        assert float((u[0, i] - exact).abs().max()) < 1e-13


def test_exact_solution_at_points_matches_solver():
    c = 50.0
    pde = Advection1D(c=c)
    xs = torch.tensor([0.0, 0.3, -2.0, 10.0], dtype=torch.float64)
    ts = torch.tensor([0.0, 0.1, 0.7, 1.0], dtype=torch.float64)
    got = pde.exact_solution(torch.sin, xs, ts)
    assert torch.allclose(got, torch.sin(xs - c * ts), atol=1e-12)
    # nu > 0: the damped Fourier series of a trigonometric polynomial is exact.
    diff = Advection1D(c=3.0, nu=0.1, n_x=32)

    def u0(x):
        return torch.sin(x) + 0.2 * torch.cos(4 * x)

    grid = diff.coords()["x"]
    t = torch.tensor([0.0, 0.4, 1.3], dtype=torch.float64)
    by_solver = diff.solve(u0(grid)[None], t)[0]
    by_formula = diff.exact_solution(u0, grid[None, :], t[:, None])
    assert by_formula.shape == (3, 32)
    assert torch.allclose(by_solver, by_formula, atol=1e-13)
    pointwise = math.exp(-0.1 * 1.3) * math.sin(0.5 - 3.9) + 0.2 * math.exp(-1.6 * 1.3) * math.cos(
        4 * (0.5 - 3.9)
    )
    assert diff.exact_solution(
        u0, torch.tensor(0.5, dtype=torch.float64), 1.3
    ).item() == pytest.approx(pointwise, abs=1e-13)


def test_nyquist_mode_only_decays():
    pde = Advection1D(c=1.3, nu=0.01, length=2 * math.pi, n_x=16)
    u0 = torch.cos(math.pi * torch.arange(16, dtype=torch.float64))  # (-1)^j
    u = pde.solve(u0[None], torch.tensor([0.0, 1.0]))
    assert torch.allclose(u[0, -1], u0 * math.exp(-0.01 * 64), atol=1e-14)


def test_dt_is_ignored_and_inputs_checked():
    pde = Advection1D(c=2.0, n_x=16)
    u0 = torch.sin(pde.coords()["x"])[None]
    t = torch.tensor([0.0, 1.0])
    assert torch.equal(pde.solve(u0, t, dt=0.5), pde.solve(u0, t))
    assert pde.default_dt == pytest.approx(2 * math.pi / 16 / 2.0)
    with pytest.raises(TypeError, match="callable"):
        pde.exact_solution(u0, t, t)
    with pytest.raises(ValueError, match="`t`"):
        pde.exact_solution(torch.sin, t, -t - 1)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n_x", [64, 101, 4608])
def test_solve_is_the_per_frame_product_bitwise(n_x, dtype):
    """`solve` (frames in chunks, one inverse transform per chunk) gives the bits of
    ``irfft(cmul(rfft(u0), propagator(t)[i]))`` frame by frame."""
    from opkit.pde_data.solvers._spectral import cmul, irfft, rfft

    pde = Advection1D(c=-3.7, nu=0.02, n_x=n_x)
    g = torch.Generator().manual_seed(5)
    u0 = torch.randn(3, n_x, dtype=torch.float64, generator=g).to(dtype)
    t = torch.linspace(0, 2, 41, dtype=torch.float64)
    got = pde.solve(u0, t)
    cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    prop = pde.propagator(t).to(cdtype)
    v0 = rfft(u0)
    want = torch.stack([u0] + [irfft(cmul(v0, prop[i]), n_x) for i in range(1, len(t))], 1)
    assert got.dtype == dtype
    assert got.numpy().tobytes() == want.numpy().tobytes()
