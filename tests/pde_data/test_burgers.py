"""Burgers1D against Cole-Hopf, its temporal order, and its invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from opkit.pde_data import Burgers1D
from tests.problems import burgers_cole_hopf_sine, torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _sine(pde: Burgers1D, amplitude: float = 1.0) -> torch.Tensor:
    x = pde.coords()["x"]
    return amplitude * torch.sin(2 * math.pi * x / pde.length)[None]


def test_cole_hopf_exact_solution_default_step():
    """nu = 0.1, u0 = sin 2 pi x, t = 1, float64, default dt: max error < 1e-8.

    Measured 4e-12 at t = 1 and 1.4e-8 at t = 0.25, where the profile is steepest.
    """
    pde = Burgers1D(nu=0.1, n_x=128)
    t = torch.tensor([0.0, 0.25, 0.5, 1.0], dtype=torch.float64)
    u = pde.solve(_sine(pde), t)
    x = pde.coords()["x"]
    errs = [
        float((u[0, i] - burgers_cole_hopf_sine(x, ti, nu=0.1)).abs().max())
        for i, ti in enumerate(t.tolist())
    ]
    assert errs[-1] < 1e-8, errs
    assert max(errs) < 5e-8, errs


def test_cole_hopf_steep_front_other_domain():
    """nu = 0.02 on length 2 with amplitude 1.5: a steep front (width ~ nu / 1.5 = 5 dx)."""
    pde = Burgers1D(nu=0.02, length=2.0, n_x=512)
    u = pde.solve(_sine(pde, 1.5), torch.tensor([0.0, 0.5]), dt=pde.default_dt / 4)
    exact = burgers_cole_hopf_sine(pde.coords()["x"], 0.5, nu=0.02, amplitude=1.5, length=2.0)
    assert float(exact.abs().max()) > 0.9  # the front has formed, not decayed away
    assert float((u[0, -1] - exact).abs().max()) < 1e-8


def test_temporal_order_against_cole_hopf():
    """ETDRK4 order >= 3.5 as the fitted log-log slope of the error against dt.

    Regime free of stiff order reduction: nu = 0.1, a smooth (analytic) solution resolved
    to 1e-12 in space on 64 points, and steps dt = 0.2 .. 0.025 at which the stiff modes
    (nu k^2 dt up to 174) carry no energy; the energetic modes have |dt L| <= 1.
    """
    pde = Burgers1D(nu=0.1, n_x=64)
    exact = burgers_cole_hopf_sine(pde.coords()["x"], 1.0, nu=0.1)
    dts = [0.2, 0.1, 0.05, 0.025]
    errs = []
    for dt in dts:
        u = pde.solve(_sine(pde), torch.tensor([0.0, 1.0]), dt=dt)
        errs.append(float((u[0, -1] - exact).abs().max()))
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert slope >= 3.5, (slope, errs)


def test_mean_conserved_and_energy_decays():
    g = torch.Generator().manual_seed(0)
    pde = Burgers1D(nu=0.01, n_x=256)
    u0 = torch.randn(2, 256, dtype=torch.float64, generator=g)
    u0 = torch.fft.irfft(torch.fft.rfft(u0) * (torch.arange(129) < 10), n=256)
    u = pde.solve(u0, torch.linspace(0, 0.5, 6))
    assert torch.allclose(u.mean(-1), u0.mean(-1, keepdim=True).expand(2, 6), atol=1e-13)
    energy = (u**2).mean(-1)
    assert bool((energy[:, 1:] < energy[:, :-1]).all())


def test_frame_zero_is_input_and_shapes():
    pde = Burgers1D(nu=0.05, n_x=32)
    u0 = _sine(pde).repeat(3, 1)
    u = pde.solve(u0, torch.tensor([0.0, 0.1]))
    assert u.shape == (3, 2, 32) and u.dtype == torch.float64
    assert torch.equal(u[:, 0], u0)


def test_default_dt_rule():
    assert Burgers1D(nu=1e-2, n_x=2048).default_dt == pytest.approx(1 / 2048)
    assert Burgers1D(nu=1e-2, length=2.0, n_x=1024).default_dt == pytest.approx(2 / 1024)
