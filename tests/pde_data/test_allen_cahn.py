"""AllenCahn1D: exact uniform and two-front solutions, temporal order, the PINN setting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from opkit.pde_data import AllenCahn1D
from tests.problems import allen_cahn_two_kinks, allen_cahn_uniform, torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def test_uniform_states_follow_the_reaction_ode():
    """u(x, 0) = c: u' = k (u - u^3), exact c e^{kt} / sqrt(1 + c^2 (e^{2kt} - 1)).

    Default dt (4e-3): within 1e-7 (measured 4e-8 for c = 1.7, where u' = -16 at t = 0);
    dt = 1e-3 is 4^4 = 256 times closer (fourth order).
    """
    pde = AllenCahn1D(eps=1e-3, k=5.0, n_x=16)
    cs = [0.01, 0.5, -0.3, 1.7]
    u0 = torch.tensor(cs, dtype=torch.float64)[:, None].expand(4, 16).contiguous()
    t = torch.tensor([0.0, 0.2, 1.0], dtype=torch.float64)
    for dt, tol in [(None, 1e-7), (1e-3, 1e-9)]:
        u = pde.solve(u0, t, dt=dt)
        for j, tj in enumerate(t.tolist()):
            exact = [allen_cahn_uniform(c, k=5.0, t=tj) for c in cs]
            exact = torch.tensor(exact, dtype=torch.float64)[:, None].expand(4, 16)
            assert torch.allclose(u[:, j], exact, rtol=0, atol=tol), (dt, tj)


def test_two_front_stationary_state():
    """Two tanh fronts of width sqrt(2 eps / k) = 0.045, 22 widths apart: stationary."""
    eps, k, length = 1e-3, 1.0, 2.0
    pde = AllenCahn1D(eps=eps, k=k, length=length, n_x=256)
    u0 = allen_cahn_two_kinks(pde.coords()["x"], eps=eps, k=k, length=length)
    u = pde.solve(u0[None], torch.tensor([0.0, 2.0]))
    assert float((u[0, -1] - u0).abs().max()) < 1e-9


def test_temporal_order_against_fine_step():
    """Fitted slope >= 3.5 against a dt = 1/1024 run (measured 4.1).

    Regime: eps = 1e-3, k = 1 on 64 points, u0 = x^2 cos(pi x), t = 1: the cubic term's
    Jacobian (|3 k u^2| <= 3) gives |dt N'| <= 0.6, the stiff diffusion carries no energy.
    """
    pde = AllenCahn1D(eps=1e-3, k=1.0, n_x=64)
    x = pde.coords()["x"] - 1.0
    u0 = (x**2 * torch.cos(math.pi * x))[None]
    t = torch.tensor([0.0, 1.0])
    ref = pde.solve(u0, t, dt=1 / 1024)[0, -1]
    dts = [0.2, 0.1, 0.05, 0.025]
    errs = [float((pde.solve(u0, t, dt=dt)[0, -1] - ref).abs().max()) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert slope >= 3.5, (slope, errs)


def test_causal_pinn_benchmark_default_step_is_converged():
    """x in [-1, 1) relabelled to [0, 2): u0 = x^2 cos(pi x), eps = 1e-4, k = 5, t = 1.

    The default dt (4e-3) is within 1e-7 of dt / 2 (measured 5e-9 against dt / 32). By
    t = 1 the region |x| < 1/2 where u0 > 0 has gone to the +1 phase and the rest to -1,
    except at x = 0, where u0 = x^2 starts at the unstable state 0 and only diffusion
    pushes it up (the known notch of this benchmark's solution).
    """
    pde = AllenCahn1D(n_x=256)
    x = pde.coords()["x"] - 1.0
    u0 = (x**2 * torch.cos(math.pi * x))[None]
    t = torch.tensor([0.0, 0.5, 1.0])
    u = pde.solve(u0, t)
    half = pde.solve(u0, t, dt=pde.default_dt / 2)
    assert float((u - half).abs().max()) < 1e-7
    end = u[0, -1]
    assert float(end.abs().max()) < 1.01
    # Grid index j is x = j / 128 - 1: x = -0.75, -0.25, 0, 0.25, 0.75.
    assert float(end[32]) == pytest.approx(-1.0, abs=1e-3)
    assert float(end[96]) > 0.95 and float(end[160]) > 0.95
    assert 0.0 < float(end[128]) < 0.1
    assert float(end[224]) == pytest.approx(-1.0, abs=1e-3)
    # Symmetric u0 stays symmetric under x -> -x.
    mirrored = torch.roll(torch.flip(u[0, -1], [0]), 1)
    assert torch.allclose(u[0, -1], mirrored, atol=1e-10)


def test_dealiasing_keeps_every_mode_alias_free():
    """With zero-padding, a single mode cos(m x) with 3m >= n_x/2 still produces the exact
    cubic response: cos^3 = (3 cos(m x) + cos(3 m x)) / 4, the 3m part truncated."""
    n = 32
    pde = AllenCahn1D(eps=1e-3, k=1.0, length=2 * math.pi, n_x=n)
    stepper = pde.stepper(torch.float64, torch.device("cpu"))
    x = pde.coords()["x"]
    m = 7  # 3 m = 21 > n / 2 = 16: plain pseudo-spectral evaluation would alias it to 11
    v = torch.fft.rfft(torch.cos(m * x))[None]
    got = stepper.nonlinear(v)
    expected = -1.0 * torch.fft.rfft(0.75 * torch.cos(m * x))[None]
    assert torch.allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n_x", [512, 4096])  # rows batched into one FFT call, and not
def test_cubic_term_is_the_written_formula_bit_for_bit(dtype, n_x):
    # the term is -k/2 F[(2 w)^3], w the inverse transform onto 2 n_x points; it is
    # evaluated as -4k F[w^3] (powers of two scale exactly), which must not move one bit:
    # the generated datasets are promised byte for byte
    from opkit.pde_data.solvers._allen_cahn import _CubicReaction
    from opkit.pde_data.solvers._spectral import irfft, rfft

    k = 5.0
    term = _CubicReaction(n_x, k, dtype, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    z = torch.zeros(3, term.input_modes, dtype=cdtype)
    parts = 30 * torch.randn(2, 3, term.band, generator=g, dtype=torch.float64)
    z[:, : term.band] = torch.complex(parts[0], parts[1]).to(cdtype)
    rows = torch.zeros_like(z)
    term.evaluate(z, rows, rows[:, : term.band])
    w = irfft(z, 2 * n_x)  # opkit's batch-invariant transforms (long rows one by one)
    written = (-k / 2) * rfft((2 * w) ** 3)[:, : term.band]
    assert torch.equal(torch.view_as_real(rows[:, : term.band]), torch.view_as_real(written))
