"""Built-in named datasets (``burgers``, ``ks``, ``ns``, ...) and `DatasetRecipe`.

A *recipe* is everything that, with ``(seed, n_samples)``, fixes every byte of a dataset:
PDE and parameters, the initial-condition sampler, the fine solve grid and the stored
grid (``stride``), output times, burn-in, time step, splits and seed. Sample ``i`` is a pure
function of ``(seed, i)``: its generator is seeded with
``SeedSequence(seed, spawn_key=(i,)).generate_state(1, uint64)[0] >> 1`` (see
:func:`sample_seed`), and that seed is stored in the file's ``seed`` variable. Splits are
contiguous index ranges: train ``[0, n_train)``, then val, then test.

Each recipe has two sizes: ``"cpu"`` (minutes on 2 CPU cores; measured times at the end)
and ``"paper"`` (the published setting, meant for a GPU). ``**params`` override the PDE's
constructor arguments (e.g. ``nu=0.1``).

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
      (The solver's measurements: 512 points truncate modes of size 1e-7 and change the
      frames by ~1e-6; 1024 points are converged to ~1e-9 at 1.5 times the cost.)
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
      (20 000 Crank--Nicolson/Heun steps cost ~20 s per sample on a loaded CPU core, so
      the CPU size is a smoke-test size: each trajectory gives 11 windows of 10 -> 1
      frames; generate more with ``--n-samples`` or use the paper size on a GPU).
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
    * paper: 25 600 / 1 920 / 1 920 (the paper's 25 600 equations for training).

Measured generation times of the cpu sizes (``OMP_NUM_THREADS=1``, on a 2-core machine
shared with other jobs, load average 4-8; an idle machine is faster): ``burgers`` 500 s
(1300 samples, peak memory 330 MB), ``ks`` 127 s (260), ``ns`` 253 s (16). Shards can
run as parallel processes, one per free core (``--shard 0/2`` and ``1/2``, then ``opkit
data merge``; byte-identical to one run) -- on that saturated machine two parallel ``ks``
shards took 140 s, no gain, so the figures above are what a busy machine gives. With
torch's default two threads on such a shared machine every solver runs many times slower
(threads spin-wait for descheduled siblings); set ``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from typing import Any

import numpy as np
import torch

from .._records import jsonable, rebuild, record
from .solvers import AbstractPDE

__all__ = ["DatasetRecipe", "NAMED_DATASETS", "named_dataset", "sample_seed"]

SPLIT_NAMES = ("train", "val", "test")


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample ``index``'s generator: a pure function of ``(seed, index)``.

    ``numpy.random.SeedSequence(seed, spawn_key=(index,))`` hashes both into a 64-bit
    state; it is shifted to 63 bits so that it is a valid non-negative int64 and
    ``torch.Generator.manual_seed`` argument.
    """
    state = np.random.SeedSequence(seed, spawn_key=(int(index),)).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def recorded_pde(path: Any) -> AbstractPDE | None:
    """The PDE that generated an opkit file, rebuilt from its recipe.

    ``None`` when the file records no recipe (e.g. converted PDEBench data) or the PDE
    cannot be rebuilt from it (see :func:`opkit._records.rebuild`).
    """
    from ._store import read_header

    recipe = read_header(path).get("recipe")
    if not isinstance(recipe, dict) or "pde" not in recipe:
        return None
    try:
        return rebuild(recipe["pde"], base=AbstractPDE, what="recorded PDE")
    except ValueError:
        return None


def _positive_number(name: str, value: Any, *, allow_none: bool = False, strict: bool = True):
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (value <= 0 if strict else value < 0):
        expected = "a positive" if strict else "a non-negative"
        raise ValueError(
            f"`{name}` must be {expected} finite number{' or None' if allow_none else ''}, "
            f"got {value!r}."
        )
    return float(value)


@dataclasses.dataclass(frozen=True)
class DatasetRecipe:
    """How a dataset is made; with ``(seed, n_samples)`` it fixes every stored byte.

    Sample ``i`` is ``initial_condition.sample(1, *pde.spatial_shape, generator=g_i)`` with
    ``g_i = torch.Generator().manual_seed(sample_seed(seed, i))``, solved in ``dtype`` by
    ``pde.solve`` first over ``[0, burn_in]`` (if ``burn_in > 0``) and then at the times
    ``t``; the frames are stored at ``burn_in + t`` on every ``stride``-th grid point
    (per spatial dimension), as float32.

    Args:
        name: dataset name (``"burgers"``); files and ``opkit data info`` show it.
        pde: the solver on the *fine* grid (``pde.spatial_shape``).
        initial_condition: a sampler with ``sample(n, *spatial_shape, generator=, dtype=)``
            (``GRF1D``, ``GRF2D``, ``RandomFourierSeries``).
        t: output times after the burn-in; 1-D, strictly increasing, starting at 0.
        dt: solver time step (``None``: ``pde.default_dt``).
        burn_in: time integrated before the first stored frame (transients of chaotic
            systems); default 0.
        stride: keep every ``stride``-th grid point (must divide the grid size); default 1.
        splits: ``(train, val, test)`` sample counts; contiguous index ranges in this order.
        seed: default seed of the dataset.
        size: ``"cpu"``, ``"paper"`` or ``"custom"`` (informational).
        dtype: dtype of the solve (float64 by default; the file stores float32).
        batch_size: default number of samples solved (and flushed to disk) together.
        description: where the recipe comes from; which paper setting it reproduces.

    Raises:
        TypeError / ValueError: on any invalid field (named in the message).
    """

    name: str
    pde: AbstractPDE
    initial_condition: Any
    t: tuple[float, ...]
    dt: float | None = None
    burn_in: float = 0.0
    stride: int = 1
    splits: tuple[int, int, int] = (1, 0, 0)
    seed: int = 0
    size: str = "custom"
    dtype: torch.dtype = torch.float64
    batch_size: int = 32
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"`name` must be a non-empty string, got {self.name!r}.")
        if not isinstance(self.pde, AbstractPDE):
            raise TypeError(
                f"`pde` must be an opkit.pde_data.AbstractPDE instance (e.g. Burgers1D(...)), "
                f"got {type(self.pde).__name__}."
            )
        sample = getattr(self.initial_condition, "sample", None)
        if not callable(sample) or "generator" not in inspect.signature(sample).parameters:
            raise TypeError(
                "`initial_condition` must be a sampler with a "
                "sample(n_samples, *spatial, generator=..., dtype=...) method (e.g. GRF1D()), "
                f"got {type(self.initial_condition).__name__}."
            )
        ic_length = getattr(self.initial_condition, "length", None)
        pde_length = getattr(self.pde, "length", None)
        if isinstance(ic_length, (int, float)) and isinstance(pde_length, (int, float)):
            if not math.isclose(ic_length, pde_length, rel_tol=1e-12):
                raise ValueError(
                    f"the initial condition's `length` (={ic_length}) differs from the PDE's "
                    f"`length` (={pde_length}); construct the sampler with "
                    f"length={pde_length}."
                )
        t = torch.as_tensor(self.t, dtype=torch.float64).detach().cpu()
        if t.ndim != 1 or t.numel() < 1 or not bool(torch.isfinite(t).all()):
            raise ValueError(f"`t` must be a non-empty 1-D sequence of finite times, got {t}.")
        if float(t[0]) != 0.0 or (t.numel() > 1 and not bool((t[1:] > t[:-1]).all())):
            raise ValueError(
                f"`t` must start at 0 and increase strictly (times after the burn-in), got "
                f"{t.tolist()[:8]}{'...' if t.numel() > 8 else ''}."
            )
        object.__setattr__(self, "t", tuple(float(v) for v in t.tolist()))
        object.__setattr__(self, "dt", _positive_number("dt", self.dt, allow_none=True))
        object.__setattr__(self, "burn_in", _positive_number("burn_in", self.burn_in, strict=False))
        if not isinstance(self.stride, int) or isinstance(self.stride, bool) or self.stride < 1:
            raise ValueError(f"`stride` must be a positive integer, got {self.stride!r}.")
        shape = tuple(self.pde.spatial_shape)
        if any(n % self.stride for n in shape):
            raise ValueError(
                f"`stride` (={self.stride}) must divide the PDE's grid {shape} so that the "
                "stored grid is uniform and periodic; choose a divisor."
            )
        splits = tuple(self.splits)
        if (
            len(splits) != 3
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in splits)
            or sum(splits) < 1
        ):
            raise ValueError(
                f"`splits` must be three non-negative integers (train, val, test) with a "
                f"positive sum, got {self.splits!r}."
            )
        object.__setattr__(self, "splits", splits)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer, got {self.seed!r}.")
        if self.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"`dtype` must be torch.float32 or torch.float64, got {self.dtype}.")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer, got {self.batch_size!r}.")

    @property
    def n_samples(self) -> int:
        """Default number of samples: the sum of the splits."""
        return sum(self.splits)

    @property
    def resolved_dt(self) -> float:
        """The solver step actually used (``dt`` or the PDE's default)."""
        return float(self.pde.default_dt if self.dt is None else self.dt)

    @property
    def stored_shape(self) -> tuple[int, ...]:
        """Spatial shape of the stored frames (the PDE's grid divided by ``stride``)."""
        return tuple(n // self.stride for n in self.pde.spatial_shape)

    def stored_coords(self) -> dict[str, np.ndarray]:
        """Stored grid coordinates (every ``stride``-th point of ``pde.coords()``)."""
        slices = (slice(None, None, self.stride),)
        return {k: v.detach().cpu().numpy()[slices] for k, v in self.pde.coords().items()}

    def lengths(self) -> tuple[float, ...]:
        """Periodic domain length per spatial dimension, from the PDE's coordinates."""
        out = []
        for v in self.pde.coords().values():
            v = v.detach().cpu().double()
            out.append(float((v[1] - v[0]) * v.numel()))
        return tuple(out)

    def to_json(self, *, n_samples: int, seed: int, splits: tuple[int, int, int], device: str):
        """The dict recorded as the file's ``recipe`` attribute (and compared on resume)."""
        return {
            "name": self.name,
            "size": self.size,
            "pde": record(self.pde),
            "solver": self.pde.solver,
            "initial_condition": record(self.initial_condition),
            "t": list(self.t),
            "burn_in": self.burn_in,
            "dt": self.resolved_dt,
            "grid_solved": list(self.pde.spatial_shape),
            "stride": self.stride,
            "grid_stored": list(self.stored_shape),
            "dtype": jsonable(self.dtype),
            "device": device,
            "n_samples": n_samples,
            "splits": dict(zip(SPLIT_NAMES, splits)),
            "seed": seed,
            "sample_seed": "SeedSequence(seed, spawn_key=(i,)).generate_state(1, uint64)[0] >> 1",
        }


def resolve_splits(splits: Any, n_samples: int, *, default: tuple[int, int, int]):
    """Split counts ``(train, val, test)`` for ``n_samples`` samples.

    ``splits`` is ``None`` (scale ``default`` proportionally to ``n_samples``), three
    integers summing to ``n_samples``, or three non-negative fractions summing to 1.
    Rounding gives ``val`` and ``test`` their nearest integer; ``train`` takes the rest.
    """
    if splits is None:
        weights = tuple(float(s) for s in default)
    else:
        values = tuple(splits) if isinstance(splits, (tuple, list)) else None
        numbers = values is not None and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values
        )
        if not numbers or len(values) != 3:
            raise ValueError(
                f"`splits` must be three non-negative numbers (train, val, test), got {splits!r}."
            )
        if all(isinstance(v, int) for v in values):
            if sum(values) != n_samples:
                raise ValueError(
                    f"`splits` {values} must add up to `n_samples` (={n_samples}); or give "
                    "fractions such as (0.8, 0.1, 0.1)."
                )
            return values
        if not math.isclose(sum(values), 1.0, abs_tol=1e-9):
            raise ValueError(f"fractional `splits` {values} must add up to 1.")
        weights = tuple(float(v) for v in values)
    total = sum(weights)
    val = round(n_samples * weights[1] / total)
    test = round(n_samples * weights[2] / total)
    return (n_samples - val - test, val, test)


def split_codes(splits: tuple[int, int, int]) -> np.ndarray:
    """Per-sample split codes: contiguous ranges train, val, test."""
    return np.repeat(np.arange(3, dtype=np.int8), splits)


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


# ------------------------------------------------------------------------ named recipes
SIZES = ("cpu", "paper")


def _burgers(size: str) -> DatasetRecipe:
    from ._initial_conditions import GRF1D
    from .solvers import Burgers1D

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


def _ks(size: str) -> DatasetRecipe:
    from ._initial_conditions import RandomFourierSeries
    from .solvers import KuramotoSivashinsky1D

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


def _ns(size: str) -> DatasetRecipe:
    from ._initial_conditions import GRF2D
    from .solvers import NavierStokes2D

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


def _allen_cahn(size: str) -> DatasetRecipe:
    from ._initial_conditions import GRF1D
    from .solvers import AllenCahn1D

    n_fine, stride = {"cpu": (512, 2), "paper": (2048, 8)}[size]
    return DatasetRecipe(
        name="allen_cahn",
        size=size,
        pde=AllenCahn1D(eps=1e-4, k=5.0, length=2.0, n_x=n_fine),
        initial_condition=GRF1D(alpha=2.0, tau=5.0, sigma=None, length=2.0),
        t=tuple(k * 0.1 for k in range(11)),
        stride=stride,
        splits=(400, 50, 50),
        batch_size=100,
        description="Allen-Cahn u_t = eps u_xx + k (u - u^3), GRF initial data, t in [0, 1].",
    )


def _advection(size: str) -> DatasetRecipe:
    from ._initial_conditions import GRF1D
    from .solvers import Advection1D

    n_fine, stride = {"cpu": (256, 1), "paper": (1024, 4)}[size]
    length = 2 * math.pi
    return DatasetRecipe(
        name="advection",
        size=size,
        pde=Advection1D(c=1.0, nu=0.0, length=length, n_x=n_fine),
        initial_condition=GRF1D(alpha=2.0, tau=5.0, sigma=None, length=length),
        t=tuple(k * 0.1 for k in range(11)),
        stride=stride,
        splits=(400, 50, 50),
        batch_size=100,
        description="Linear advection u_t + c u_x = nu u_xx, GRF initial data, t in [0, 1].",
    )


def _odes(size: str) -> Any:
    from ._ode_recipe import ode_recipe

    return ode_recipe(size)


_BUILDERS = {
    "burgers": _burgers,
    "ks": _ks,
    "ns": _ns,
    "allen_cahn": _allen_cahn,
    "advection": _advection,
    "odes": _odes,
}
NAMED_DATASETS: tuple[str, ...] = tuple(_BUILDERS)


def named_dataset(name: str, size: str = "cpu", **params: Any) -> DatasetRecipe:
    """The recipe of a built-in dataset (see the module docstring for each one).

    Args:
        name: one of :data:`NAMED_DATASETS` (``"burgers"``, ``"ks"``, ``"ns"``,
            ``"allen_cahn"``, ``"advection"``, ``"odes"``: an ``ODEDatasetRecipe``).
        size: ``"cpu"`` (default; minutes on a laptop) or ``"paper"`` (the published size).
        **params: override the PDE's constructor arguments, e.g. ``nu=0.1`` for Burgers.

    Returns:
        A frozen :class:`DatasetRecipe` (``pde``, ``initial_condition``, ``t``, ``dt``,
        ``burn_in``, ``stride``, ``splits``, ``seed``, ``description``, ...).

    Raises:
        ValueError: unknown name, size or parameter (the message lists the valid ones), or
            a parameter value the PDE rejects.

    Examples:
        >>> recipe = named_dataset("burgers", size="cpu", nu=0.05)
        >>> recipe.pde.nu, recipe.stored_shape, recipe.splits
        (0.05, (1024,), (1000, 100, 200))
    """
    if name not in _BUILDERS:
        raise ValueError(
            f"unknown dataset name {name!r}; built-in datasets are {', '.join(NAMED_DATASETS)} "
            "(or pass an AbstractPDE instance with initial_condition= and t=)."
        )
    if size not in SIZES:
        raise ValueError(f"`size` must be one of {SIZES}, got {size!r}.")
    recipe = _BUILDERS[name](size)
    if not isinstance(recipe, DatasetRecipe):  # "odes": an ODEDatasetRecipe, no PDE to tune
        if params:
            raise ValueError(
                f"dataset {name!r} takes no parameters, got {sorted(params)}; its systems "
                "and coefficient laws are fixed (see opkit.pde_data.ODE_SYSTEMS)."
            )
        return recipe
    if params:
        valid = [f.name for f in dataclasses.fields(recipe.pde)]  # type: ignore[arg-type]
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for dataset {name!r} "
                f"({type(recipe.pde).__name__}); valid parameters: {', '.join(valid)}."
            )
        pde = dataclasses.replace(recipe.pde, **params)
        ic = recipe.initial_condition
        if "length" in params and "length" in {f.name for f in dataclasses.fields(ic)}:
            # The sampler lives on the same periodic domain as the PDE.
            ic = dataclasses.replace(ic, length=params["length"])
        recipe = dataclasses.replace(recipe, pde=pde, initial_condition=ic)
    return recipe
