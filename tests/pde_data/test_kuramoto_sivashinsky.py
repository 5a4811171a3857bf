"""KuramotoSivashinsky1D: exact linear modes, temporal order, burn-in, both settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from opkit.pde_data import KuramotoSivashinsky1D
from tests.problems import ks_linear_modes, torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _kt_initial(pde: KuramotoSivashinsky1D) -> torch.Tensor:
    """Kassam & Trefethen's ``cos(x / 16) (1 + sin(x / 16))`` on ``[0, 32 pi)``."""
    x = pde.coords()["x"]
    return (torch.cos(x / 16) * (1 + torch.sin(x / 16)))[None]


def test_linear_equation_exact_modes():
    """alpha = 0: each Fourier mode grows or decays as exp((beta k^2 - gamma k^4) t).

    Modes m = 1 .. 3 are unstable (k^2 < beta / gamma), m = 6 strongly damped.
    """
    length, beta, gamma = 20.0, 1.0, 1.0
    pde = KuramotoSivashinsky1D(length=length, n_x=64, alpha=0.0, beta=beta, gamma=gamma)
    modes = {1: 0.3, 2: -0.2, 3: 0.1, 6: 1.0}
    x = pde.coords()["x"]
    u0 = ks_linear_modes(x, 0.0, length=length, beta=beta, gamma=gamma, modes=modes)
    u = pde.solve(u0[None], torch.tensor([0.0, 1.0, 3.0]))
    for i, ti in enumerate([0.0, 1.0, 3.0]):
        exact = ks_linear_modes(x, ti, length=length, beta=beta, gamma=gamma, modes=modes)
        assert torch.allclose(u[0, i], exact, rtol=0, atol=1e-12 * float(exact.abs().max()))


def test_temporal_order_against_fine_step():
    """Fitted slope >= 3.5 against a converged dt = 1/256 run.

    Regime: K&T's problem (length 32 pi, 64 points) on t in [0, 5], the smooth transient
    before chaos sets in; the stiff modes (|dt L| up to 1e3) carry no energy, so ETDRK4
    shows its classical order (measured 3.9).
    """
    pde = KuramotoSivashinsky1D(length=32 * math.pi, n_x=64)
    u0 = _kt_initial(pde)
    t = torch.tensor([0.0, 5.0])
    ref = pde.solve(u0, t, dt=1 / 256)[0, -1]
    dts = [0.5, 0.25, 0.125, 1 / 16]
    errs = [float((pde.solve(u0, t, dt=dt)[0, -1] - ref).abs().max()) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert slope >= 3.5, (slope, errs)


def test_burn_in_is_a_shift_of_time():
    pde = KuramotoSivashinsky1D(length=32 * math.pi, n_x=64)
    u0 = _kt_initial(pde)
    after = pde.solve(u0, torch.tensor([0.0, 1.0, 2.0]), burn_in=3.0, dt=0.05)
    direct = pde.solve(u0, torch.tensor([0.0, 3.0, 4.0, 5.0]), dt=0.05)
    assert torch.allclose(after, direct[:, 1:], rtol=0, atol=1e-12)


def test_mean_is_conserved():
    pde = KuramotoSivashinsky1D(length=22.0, n_x=64)
    x = pde.coords()["x"]
    u0 = (0.4 + torch.cos(2 * math.pi * x / 22) + 0.1 * torch.sin(6 * math.pi * x / 22))[None]
    u = pde.solve(u0, torch.linspace(0, 20, 5))
    assert torch.allclose(u.mean(-1), torch.full((1, 5), 0.4, dtype=torch.float64), atol=1e-12)
    assert float(u[0, -1].std()) > 0.5  # the instability has grown to O(1)


def test_causal_pinn_setting_runs_and_is_converged():
    """alpha = 5, beta = 0.5, gamma = 0.005 on length 2 (causal-PINN KS).

    The default dt (5e-4) is within 2e-7 of a dt / 2 run during the initial transient
    (measured 6e-8 at t = 0.25, falling to 1e-10 at t = 1 as the state settles).
    """
    pde = KuramotoSivashinsky1D(length=2.0, n_x=128, alpha=5.0, beta=0.5, gamma=0.005)
    assert pde.default_dt == pytest.approx(5e-4)
    x = pde.coords()["x"]
    u0 = (torch.cos(math.pi * x) * (1 + torch.sin(math.pi * x)))[None]
    t = torch.linspace(0, 0.25, 3)
    u = pde.solve(u0, t)
    finer = pde.solve(u0, t, dt=pde.default_dt / 2)
    assert bool(torch.isfinite(u).all())
    assert float((u - finer).abs().max()) < 2e-7
    assert float(u[0, -1].abs().max()) > 2.0  # grown by the instability from max|u0| = 1.3


def test_burn_in_validation():
    pde = KuramotoSivashinsky1D(length=22.0, n_x=32)
    u0 = torch.zeros(1, 32, dtype=torch.float64)
    with pytest.raises(ValueError, match="burn_in"):
        pde.solve(u0, torch.tensor([0.0, 1.0]), burn_in=-1.0)
    with pytest.raises(TypeError, match="burn_in"):
        pde.solve(u0, torch.tensor([0.0, 1.0]), burn_in="100")
