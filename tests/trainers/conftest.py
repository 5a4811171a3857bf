"""Small generated datasets shared by the training-layer tests (made once per session)."""

import math

import pytest
import torch

import opkit
from opkit.pde_data import GRF1D, Advection1D, Burgers1D, RandomFourierSeries


@pytest.fixture(scope="session")
def burgers_file(tmp_path_factory):
    """Operator pairs u(., 0) -> u(., 0.5) of Burgers (nu = 0.05) on 128 points."""
    out = tmp_path_factory.mktemp("data") / "burgers.h5"
    return opkit.pde_data.generate(
        Burgers1D(nu=0.05, length=1.0, n_x=128),
        160,
        out=out,
        seed=1,
        initial_condition=GRF1D(alpha=2.0, tau=5.0, sigma=25.0, length=1.0),
        t=[0.0, 0.5],
        splits=(120, 20, 20),
        progress=False,
    )


@pytest.fixture(scope="session")
def trajectory_file(tmp_path_factory):
    """Trajectories of convection-diffusion (c = 1, nu = 0.02), 12 frames, 64 points."""
    out = tmp_path_factory.mktemp("data") / "advection.h5"
    return opkit.pde_data.generate(
        Advection1D(c=1.0, nu=0.02, length=2 * math.pi, n_x=64),
        48,
        out=out,
        seed=2,
        initial_condition=RandomFourierSeries(n_modes=4, length=2 * math.pi),
        t=torch.linspace(0, 1.1, 12, dtype=torch.float64),
        splits=(32, 8, 8),
        progress=False,
    )


@pytest.fixture(scope="session")
def ns_file(tmp_path_factory):
    """Forced Navier-Stokes vorticity trajectories on 16 x 16, 12 frames."""
    from opkit.pde_data import GRF2D, NavierStokes2D

    out = tmp_path_factory.mktemp("data") / "ns.h5"
    return opkit.pde_data.generate(
        NavierStokes2D(nu=1e-3, n=16, forcing="fno"),
        12,
        out=out,
        seed=3,
        initial_condition=GRF2D(alpha=2.5, tau=7.0),
        t=torch.linspace(0, 0.55, 12, dtype=torch.float64),
        splits=(8, 2, 2),
        progress=False,
    )


@pytest.fixture(scope="session")
def odes_file(tmp_path_factory):
    """30 trajectories of the 15 PROSE ODE systems (two per family)."""
    out = tmp_path_factory.mktemp("data") / "odes.h5"
    return opkit.generate("odes", 30, out=out, seed=0, progress=False)
