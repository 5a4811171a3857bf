"""`DatasetRecipe`: what, with ``(seed, n_samples)``, fixes every byte of a dataset.

A *recipe* is the PDE and its parameters, the initial-condition sampler, the fine solve
grid and the stored grid (``stride``), output times, burn-in, time step, splits and seed.
Sample ``i`` is a pure function of ``(seed, i)``: its generator is seeded with
``SeedSequence(seed, spawn_key=(i,)).generate_state(1, uint64)[0] >> 1`` (see
:func:`sample_seed`), and that seed is stored in the file's ``seed`` variable. Splits are
contiguous index ranges: train ``[0, n_train)``, then val, then test.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from typing import Any

import numpy as np
import torch

from .._checks import check_positive
from .._records import jsonable, rebuild, record
from .solvers import AbstractPDE

__all__ = [
    "DatasetRecipe",
    "canonical",
    "differences",
    "recorded_pde",
    "resolve_splits",
    "sample_seed",
    "split_codes",
]

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
        object.__setattr__(self, "dt", check_positive("dt", self.dt, allow_none=True))
        object.__setattr__(self, "burn_in", check_positive("burn_in", self.burn_in, strict=False))
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


def differences(old: dict, new: dict) -> str:
    """The keys where two recipe dicts differ, one ``key: old vs new`` each (for errors)."""
    keys = sorted(set(old) | set(new))
    diffs = []
    for key in keys:
        if old.get(key) != new.get(key):
            a, b = json.dumps(old.get(key), default=str), json.dumps(new.get(key), default=str)
            diffs.append(f"{key}: {a[:80]} in the file vs {b[:80]} now")
    return "; ".join(diffs)
