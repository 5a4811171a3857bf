"""The recipes of the built-in datasets, one function ``NAME(size) -> recipe`` each.

Each recipe has two sizes: ``"cpu"`` (sized for a CPU) and ``"paper"`` (the published
setting, meant for a GPU). The catalogue (`opkit.pde_data.named_dataset`) applies
``**params``, which override the PDE's constructor arguments (e.g. ``nu=0.1``).

``burgers`` -- Li et al., FNO (ICLR 2021), section 5.1.
    ``u_t + (u^2/2)_x = nu u_xx`` on the periodic ``[0, 1)``, learning ``u(., 0) -> u(., 1)``.
    ``u0 ~ GRF1D(alpha=2, tau=5, sigma=25)``, i.e. ``N(0, 625 (-Laplacian + 25 I)^-2)``.
    Stored: ``t = [0, 1]`` (2 frames). Splits 1000 / 100 / 200 (train / val / test), seed 0.

    * cpu: ``nu = 1e-2``, solved on 2048 points, stored on 1024 (stride 2).
    * paper: ``nu = 1e-3``, solved on 8192 points, stored on 1024 (stride 8).

    The paper states ``nu = 0.1``; with that viscosity the solution at ``t = 1`` keeps
    only about 1.5 % of the input's amplitude (measured: ``std u(1) / std u0`` = 1.6 %
    at ``nu = 0.1``, 32 % at ``1e-2``, 39 % at ``1e-3``; mean of 8 samples), so the map is
    nearly trivial, while the FNO repository's own data generator uses ``nu = 1e-3``; we
    follow the generator. ``nu`` stays a parameter: ``opkit generate burgers --param
    nu=0.1`` reproduces the paper's statement.

``ks`` -- Lai et al., DyMixOp (arXiv:2508.13490), 1-D Kuramoto--Sivashinsky benchmark.
    ``u_t + u u_x + u_xx + u_xxxx = 0`` (standard coefficients) on the periodic
    ``[0, 64 pi)``. ``u0`` a random Fourier series of small amplitude; integrated for a
    burn-in of 100 time units (onto the chaotic attractor) and then stored once per time
    unit: 21 frames whose ``t`` coordinate holds the true times ``100, 101, ..., 120``.

    * cpu: solved on 1024 points, stored on 256 (stride 4); 200 / 20 / 40 trajectories.
      (512 points truncate modes of size 1e-7 and change the frames by ~1e-6; 1024 points
      are converged to ~1e-9; see `KuramotoSivashinsky1D`.)
    * paper: solved on 4096 points, stored on 256 (stride 16, DyMixOp's training
      resolution ``res_step=16``); 1000 / 0 / 200 trajectories as in DyMixOp's config
      (its file ``1dKS_1200x22x1x4096_dt1_t[100_120]``). DyMixOp does not publish the
      domain length or initial-condition law; ``64 pi`` and the Fourier-series law are our
      assumptions.

``ns`` -- Li et al., FNO (ICLR 2021), section 5.3.
    Vorticity form on the unit torus, ``nu = 1e-3``, forcing
    ``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))`` (``forcing="fno"``),
    ``w0 ~ GRF2D(alpha=2.5, tau=7)``; one frame per time unit from ``t = 0``.

    * cpu: 64 x 64 grid, ``dt = 1e-3``, ``T = 20`` (21 frames); 12 / 2 / 2 samples
      (20 000 Crank--Nicolson/Heun steps per sample, so the CPU size is a smoke-test size:
      each trajectory gives 11 windows of 10 -> 1 frames; generate more with
      ``--n-samples`` or use the paper size on a GPU).
    * paper: solved on 256 x 256 with ``dt = 1e-4``, stored on 64 x 64 (stride 4) as FNO
      did, ``T = 50`` (51 frames, FNO's ``nu = 1e-3`` horizon); 1000 / 100 / 200.

``allen_cahn`` and ``advection`` -- generic 1-D families without a paper setting
(``paper`` only solves on a finer grid). Both: ``u0 ~ GRF1D(alpha=2, tau=5)`` (the FNO
default amplitude, pointwise std ~0.4), frames ``t = 0, 0.1, ..., 1`` (11), splits
400 / 50 / 50.

    * ``allen_cahn``: ``u_t = eps u_xx + k (u - u^3)``, ``eps = 1e-4``, ``k = 5`` on a
      period of 2; cpu solved on 512 points, stored on 256 (paper: 2048 -> 256).
    * ``advection``: ``u_t + c u_x = nu u_xx``, ``c = 1``, ``nu = 0`` on ``[0, 2 pi)``;
      cpu 256 points (paper: 1024 -> 256).

``odes`` -- Liu, Zhang & Schaeffer, PROSE (Neural Networks 2024): trajectories of the 15
ODE systems of :data:`~opkit.pde_data.ODE_SYSTEMS` (sample ``i`` of family ``i mod 15``),
coefficients within +-10 % of nominal, ``u0 ~ U(-2, 2)``, ``t = linspace(0, 6, 192)`` (64
input, 128 target times); an :class:`~opkit.pde_data.ODEDatasetRecipe` (layout and
redraw rule in :mod:`opkit.pde_data._ode_generate`).

    * cpu: 3000 samples (200 per family), 2400 / 300 / 300.
    * paper: 25 600 training equations with 20 initial conditions each (the authors'
      ``ICs_per_equation``: 512 000 training trajectories), 6 000 / 6 000 trajectories
      (300 equations, 20 per family, 20 initial conditions each) for validation and test.

Shards can run as parallel processes, one per free core (``--shard 0/2`` and ``1/2``,
then ``opkit data merge``; byte-identical to one run). On a machine shared with other jobs
set ``OMP_NUM_THREADS=1``: with torch's default threads every solver runs many times
slower (threads spin-wait for descheduled siblings).
"""

from __future__ import annotations

import math

from ._initial_conditions import GRF1D, GRF2D, RandomFourierSeries
from ._ode_recipe import ODEDatasetRecipe
from ._recipe import DatasetRecipe
from .solvers import (
    AbstractPDE1D,
    Advection1D,
    AllenCahn1D,
    Burgers1D,
    KuramotoSivashinsky1D,
    NavierStokes2D,
)

__all__ = ["advection", "allen_cahn", "burgers", "ks", "ns", "odes"]


def burgers(size: str) -> DatasetRecipe:
    nu, n_fine, stride = {"cpu": (1e-2, 2048, 2), "paper": (1e-3, 8192, 8)}[size]
    return DatasetRecipe(
        name="burgers",
        size=size,
        pde=Burgers1D(nu=nu, length=1.0, n_x=n_fine),
        initial_condition=GRF1D(alpha=2.0, tau=5.0, sigma=25.0, length=1.0),
        t=(0.0, 1.0),
        stride=stride,
        splits=(1000, 100, 200),
        batch_size=50,
        description="FNO (Li et al., ICLR 2021) Burgers: u(.,0) -> u(.,1), GRF initial data.",
    )


def ks(size: str) -> DatasetRecipe:
    length = 64 * math.pi
    n_fine, stride, splits = {
        "cpu": (1024, 4, (200, 20, 40)),
        "paper": (4096, 16, (1000, 0, 200)),
    }[size]
    return DatasetRecipe(
        name="ks",
        size=size,
        pde=KuramotoSivashinsky1D(length=length, n_x=n_fine),
        initial_condition=RandomFourierSeries(n_modes=8, amplitude=0.1, length=length),
        t=tuple(float(k) for k in range(21)),
        burn_in=100.0,
        stride=stride,
        splits=splits,
        batch_size=50,
        description="DyMixOp (Lai et al., 2025) KS benchmark: frames t = 100..120 after burn-in.",
    )


def ns(size: str) -> DatasetRecipe:
    n_fine, stride, dt, horizon, splits, batch = {
        "cpu": (64, 1, 1e-3, 20, (12, 2, 2), 4),
        "paper": (256, 4, 1e-4, 50, (1000, 100, 200), 8),
    }[size]
    return DatasetRecipe(
        name="ns",
        size=size,
        pde=NavierStokes2D(nu=1e-3, n=n_fine, forcing="fno"),
        initial_condition=GRF2D(alpha=2.5, tau=7.0, length=1.0),
        t=tuple(float(k) for k in range(horizon + 1)),
        dt=dt,
        stride=stride,
        splits=splits,
        batch_size=batch,
        description="FNO (Li et al., ICLR 2021) Navier-Stokes, nu=1e-3, forced, 1 frame/time unit.",
    )


def _generic_1d(pde: AbstractPDE1D, size: str, stride: int, description: str) -> DatasetRecipe:
    """The recipe the generic 1-D families share: GRF data on the PDE's period (the FNO
    default amplitude), frames ``t = 0, 0.1, ..., 1``, splits 400 / 50 / 50."""
    return DatasetRecipe(
        name=pde.name,
        size=size,
        pde=pde,
        initial_condition=GRF1D(alpha=2.0, tau=5.0, sigma=None, length=pde.length),
        t=tuple(k * 0.1 for k in range(11)),
        stride=stride,
        splits=(400, 50, 50),
        batch_size=100,
        description=description,
    )


def allen_cahn(size: str) -> DatasetRecipe:
    n_fine, stride = {"cpu": (512, 2), "paper": (2048, 8)}[size]
    return _generic_1d(
        AllenCahn1D(eps=1e-4, k=5.0, length=2.0, n_x=n_fine),
        size,
        stride,
        "Allen-Cahn u_t = eps u_xx + k (u - u^3), GRF initial data, t in [0, 1].",
    )


def advection(size: str) -> DatasetRecipe:
    n_fine, stride = {"cpu": (256, 1), "paper": (1024, 4)}[size]
    return _generic_1d(
        Advection1D(c=1.0, nu=0.0, length=2 * math.pi, n_x=n_fine),
        size,
        stride,
        "Linear advection u_t + c u_x = nu u_xx, GRF initial data, t in [0, 1].",
    )


def odes(size: str) -> ODEDatasetRecipe:
    splits, ics = {"cpu": ((2400, 300, 300), 1), "paper": ((512000, 6000, 6000), 20)}[size]
    return ODEDatasetRecipe(
        size=size,
        splits=splits,
        ics_per_equation=ics,
        description="PROSE (Liu, Zhang & Schaeffer, 2024): 15 ODE systems, t in [0, 6], "
        "64 input and 128 target times, coefficients within 10 % of nominal.",
    )
