"""The ``odes`` dataset: trajectories of the 15 PROSE systems in one opkit file.

Sample ``i`` (global index) belongs to family ``i mod 15`` (the order of
:data:`~opkit.pde_data.ODE_SYSTEMS`), so every contiguous block of 15 samples holds each
family once and the splits are balanced. Attempt ``r = 0, 1, ...`` of sample ``i`` uses a
``torch.Generator`` seeded with ``sample_seed(seed, i)`` for ``r = 0`` (the seed every
opkit dataset gives sample ``i``, stored in ``seed``) and with
``SeedSequence(seed, spawn_key=(i, r)).generate_state(1, uint64)[0] >> 1`` for ``r >= 1``.
An attempt draws, in this order, the coefficients (:meth:`AbstractODESystem.draw_params`:
``nominal * U(0.9, 1.1)`` rounded to 3 significant digits) and the initial condition
``U(-2, 2)^dim`` (one ``torch.rand(dim)``; Duffing's time coordinate too), then integrates
on ``t = linspace(0, 6, 192)`` in float64 (:func:`solve_ode`: Dormand--Prince 5(4), one
adaptive step size per sample, ``rtol = atol = 1e-10``). An attempt that becomes
non-finite or reaches ``max |u| >= 1e3`` (``1e5`` for Fabrikant) is discarded and the
next one is drawn, so sample ``i`` is a pure function of ``(seed, i)``; the number of
discarded attempts is stored in ``attempt``. A sample that fails ``max_attempts`` times
is stored with ``status = 1`` (all NaN).

File layout (netCDF-4 / HDF5, opens with ``xarray.open_dataset(path, engine="h5netcdf")``
or :func:`opkit.open_dataset`):

===============  =====================================  =====================================
variable         dims                                   meaning
===============  =====================================  =====================================
``u``            ``(sample, t, component)`` float32     trajectory, zero-padded to 5 components
``t``            ``(t,)`` float64                       ``linspace(0, 6, 192)``
``component``    ``(component,)`` int64                 ``0 .. 4``
``sample``       ``(sample,)`` int64                    global sample index ``i``
``seed``         ``(sample,)`` int64                    ``sample_seed(seed, i)``
``status``       ``(sample,)`` int8                     0 ok, 1 failed, -1 pending
``split``        ``(sample,)`` int8                     0 train, 1 val, 2 test (contiguous)
``family``       ``(sample,)`` int8                     index into the ``families`` attribute
``dim``          ``(sample,)`` int8                     the system's dimension (3, 4 or 5)
``attempt``      ``(sample,)`` int16                    discarded draws before the stored one
``u0``           ``(sample, component)`` float64        initial condition (zero-padded)
``params``       ``(sample, param)`` float64            coefficients, zero-padded; names in
                                                        the ``param_names`` attribute
``equation``     ``(sample, equation_char)`` S1         ``" ".join(opkit.symbolic.encode(...))``
                                                        of the clean system (xarray: a string)
===============  =====================================  =====================================

Attributes: those of every opkit file (``opkit_schema_version``, ``field = "u"``,
``pde_name = "odes"``, ``solver``, ``recipe`` (JSON), ``n_samples_total``, shards,
``n_failed``, ``complete``) plus ``families`` (JSON list of the 15 names),
``param_names`` (JSON ``{family: [names]}``) and ``n_input`` (64: ``t[:64]`` is the
model's input, ``t[64:]`` its target).

Sizes (``named_dataset("odes", size)``):

* ``cpu``: 3000 samples (200 per family), splits 2400 / 300 / 300.
* ``paper``: 25 600 training samples (PROSE, Neural Networks 2024: "25 600 distinct
  equations"; one trajectory per drawn equation here), plus 1 920 / 1 920 for
  validation and test (128 per family each).

Crash safety, resuming, shards and merging follow the rest of the opkit store
(:mod:`opkit.pde_data._store`): all chunks are allocated at creation, a batch's values are
flushed before its ``status``, a rerun resumes from the pending samples, and
:func:`opkit.pde_data.merge` joins shards byte-identically to an unsharded run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5netcdf
import h5py
import numpy as np
import torch
from tqdm import tqdm

from .._io import output_lock, replace_durably
from . import _store as store
from ._named import canonical, resolve_splits, sample_seed, split_codes
from ._ode_solve import solve_ode
from ._odes import MAX_DIM, MAX_PARAMS, ODE_SYSTEMS
from ._store import SCHEMA_VERSION, SPLIT_CODES, STATUS_NONFINITE, STATUS_OK, STATUS_PENDING

__all__ = ["ODEDatasetRecipe", "ODE_FAMILIES", "attempt_seed", "generate_odes", "merge_odes"]

ODE_FAMILIES: tuple[str, ...] = tuple(ODE_SYSTEMS)
EQUATION_WIDTH = 1024  # bytes per stored equation (fixed width keeps the file layout static)
KIND = "ode_trajectories"
_SPREAD = 16  # attempts tried at once per remaining sample after the first round


def attempt_seed(seed: int, index: int, attempt: int) -> int:
    """Seed of attempt ``attempt`` of sample ``index`` (see the module docstring)."""
    if attempt == 0:
        return sample_seed(seed, index)
    state = np.random.SeedSequence(seed, spawn_key=(int(index), int(attempt)))
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclasses.dataclass(frozen=True)
class ODEDatasetRecipe:
    """How the ``odes`` dataset is made; with ``(seed, n_samples)`` it fixes every byte.

    Args:
        name: dataset name (``"odes"``).
        families: system names (keys of :data:`ODE_SYSTEMS`); sample ``i`` is of family
            ``families[i % len(families)]``.
        t_end, n_t: output times ``linspace(0, t_end, n_t)`` (default 6 and 192).
        n_input: number of leading times that are the model's input (default 64).
        ic_range: initial conditions ``U(-ic_range, ic_range)`` per component (default 2).
        rtol, atol: tolerances of the integrator (default ``1e-10``).
        blow_up: redraw when ``max |u| >=`` this; ``None`` (default): each system's own
            (``1e3``, Fabrikant ``1e5``).
        max_attempts: attempts per sample before it is stored as failed (default 100).
        splits, seed, size, batch_size, description: as in :class:`DatasetRecipe`.

    Raises:
        ValueError: unknown family or invalid number (named in the message).
    """

    name: str = "odes"
    families: tuple[str, ...] = ODE_FAMILIES
    t_end: float = 6.0
    n_t: int = 192
    n_input: int = 64
    ic_range: float = 2.0
    rtol: float = 1e-10
    atol: float = 1e-10
    blow_up: float | None = None
    max_attempts: int = 100
    splits: tuple[int, int, int] = (2400, 300, 300)
    seed: int = 0
    size: str = "custom"
    batch_size: int = 1500
    description: str = ""

    def __post_init__(self) -> None:
        families = tuple(self.families)
        unknown = [f for f in families if f not in ODE_SYSTEMS]
        if not families or unknown:
            raise ValueError(
                f"`families` must be names from {list(ODE_SYSTEMS)}, got unknown {unknown}."
            )
        object.__setattr__(self, "families", families)
        for key in ("n_t", "n_input", "max_attempts", "batch_size"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"`{key}` must be a positive integer, got {v!r}.")
        if self.n_input >= self.n_t:
            raise ValueError(f"`n_input` (={self.n_input}) must be < `n_t` (={self.n_t}).")
        for key in ("t_end", "ic_range", "rtol", "atol"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
                raise ValueError(f"`{key}` must be a positive finite number, got {v!r}.")
        if self.blow_up is not None and not (self.blow_up > 0):
            raise ValueError(f"`blow_up` must be positive or None, got {self.blow_up!r}.")
        splits = tuple(self.splits)
        if len(splits) != 3 or any(not isinstance(s, int) or s < 0 for s in splits):
            raise ValueError(f"`splits` must be three non-negative integers, got {splits!r}.")
        object.__setattr__(self, "splits", splits)

    @property
    def n_samples(self) -> int:
        return sum(self.splits)

    @property
    def t(self) -> torch.Tensor:
        """``(n_t,)`` float64 output times."""
        return torch.linspace(0.0, float(self.t_end), self.n_t, dtype=torch.float64)

    def family_of(self, index: int) -> int:
        """Index into :data:`ODE_FAMILIES` of sample ``index``'s family."""
        return ODE_FAMILIES.index(self.families[index % len(self.families)])

    def to_json(self, *, n_samples: int, seed: int, splits: tuple[int, int, int], device: str):
        """The ``recipe`` attribute (compared on resume and merge)."""
        return {
            "kind": KIND,
            "name": self.name,
            "size": self.size,
            "families": list(self.families),
            "nominal_params": {f: ODE_SYSTEMS[f].params for f in self.families},
            "t": {"start": 0.0, "end": float(self.t_end), "n": self.n_t},
            "n_input": self.n_input,
            "initial_condition": f"U(-{self.ic_range}, {self.ic_range}) per component",
            "params": "nominal * U(0.9, 1.1), 3 significant digits (draw_params)",
            "solver": _solver_text(self),
            "blow_up": self.blow_up,
            "max_attempts": self.max_attempts,
            "dtype": "float64",
            "device": device,
            "n_samples": n_samples,
            "splits": dict(zip(SPLIT_CODES, splits)),
            "seed": seed,
            "sample_seed": "attempt 0: SeedSequence(seed, spawn_key=(i,)); attempt r >= 1: "
            "SeedSequence(seed, spawn_key=(i, r)); generate_state(1, uint64)[0] >> 1",
        }


def _solver_text(recipe: ODEDatasetRecipe) -> str:
    return (
        f"Dormand-Prince 5(4), per-sample adaptive steps, rtol={recipe.rtol:g}, "
        f"atol={recipe.atol:g}, float64 (opkit.pde_data._ode_solve)"
    )


def ode_recipe(size: str) -> ODEDatasetRecipe:
    """The built-in ``odes`` recipe of a size (``"cpu"`` or ``"paper"``)."""
    splits = {"cpu": (2400, 300, 300), "paper": (25600, 1920, 1920)}[size]
    return ODEDatasetRecipe(
        size=size,
        splits=splits,
        description="PROSE (Liu, Zhang & Schaeffer, 2024): 15 ODE systems, t in [0, 6], "
        "64 input and 128 target times, coefficients within 10 % of nominal.",
    )


# ------------------------------------------------------------------------ solving
def _draw(system: Any, seed: int, ic_range: float) -> tuple[dict[str, float], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    params = system.draw_params(g)
    u0 = (torch.rand(system.dim, dtype=torch.float64, generator=g) * 2 - 1) * ic_range
    return params, u0


def _equation(system: Any, params: dict[str, float]) -> str:
    from opkit import symbolic

    text = " ".join(symbolic.encode(system.expression(params)))
    if len(text.encode()) > EQUATION_WIDTH:
        raise RuntimeError(f"equation of {system.name} longer than {EQUATION_WIDTH} bytes.")
    return text


def solve_samples_ode(
    recipe: ODEDatasetRecipe, seed: int, indices: Sequence[int], device: torch.device
) -> dict[str, np.ndarray]:
    """Solve the samples with global indices ``indices``; every stored variable per sample.

    Returns a dict of arrays over the samples: ``u`` ``(n, n_t, 5)`` float32, ``u0``
    ``(n, 5)`` float64, ``params`` ``(n, MAX_PARAMS)`` float64, ``attempt`` int16,
    ``status`` int8, ``equation`` ``(n, EQUATION_WIDTH)`` S1.
    """
    n = len(indices)
    out = {
        "u": np.full((n, recipe.n_t, MAX_DIM), np.nan, np.float32),
        "u0": np.full((n, MAX_DIM), np.nan, np.float64),
        "params": np.full((n, MAX_PARAMS), np.nan, np.float64),
        "attempt": np.zeros(n, np.int16),
        "status": np.full(n, STATUS_NONFINITE, np.int8),
        "equation": np.zeros((n, EQUATION_WIDTH), "S1"),
    }
    t = recipe.t.to(device)
    by_family: dict[int, list[int]] = {}
    for pos, i in enumerate(indices):
        by_family.setdefault(recipe.family_of(int(i)), []).append(pos)
    for fam, positions in by_family.items():
        system = ODE_SYSTEMS[ODE_FAMILIES[fam]]
        todo, first = list(positions), 0
        while todo and first < recipe.max_attempts:
            # The first round tries attempt 0 of every sample; later rounds try the next
            # `spread` attempts of each remaining sample at once (few samples, so nearly free
            # in a batched solve). Each sample keeps its lowest successful attempt, exactly as
            # if the attempts had been tried one after another.
            spread = 1 if first == 0 else _SPREAD
            last = min(first + spread, recipe.max_attempts)
            jobs = [(p, r) for p in todo for r in range(first, last)]
            draws = [
                _draw(system, attempt_seed(seed, indices[p], r), recipe.ic_range) for p, r in jobs
            ]
            u0 = torch.stack([d[1] for d in draws]).to(device)
            params = {
                k: torch.tensor([d[0][k] for d in draws], dtype=torch.float64, device=device)
                for k in system.param_names
            }
            u, status = solve_ode(
                system, u0, t, params, rtol=recipe.rtol, atol=recipe.atol, blow_up=recipe.blow_up
            )
            u, status = u.cpu().numpy(), status.cpu().numpy()
            done = set()
            for j, (p, r) in enumerate(jobs):
                if status[j] != 0 or p in done:
                    continue
                done.add(p)
                d = system.dim
                out["u"][p] = 0.0
                out["u"][p, :, :d] = u[j].astype(np.float32)
                out["u0"][p] = 0.0
                out["u0"][p, :d] = draws[j][1].numpy()
                out["params"][p] = 0.0
                out["params"][p, : len(system.param_names)] = list(draws[j][0].values())
                out["attempt"][p] = r
                out["status"][p] = STATUS_OK
                eq = np.frombuffer(_equation(system, draws[j][0]).encode(), "S1")
                out["equation"][p, : len(eq)] = eq
            todo, first = [p for p in todo if p not in done], last
        for p in todo:  # gave up: recorded as failed
            out["attempt"][p] = recipe.max_attempts
    return out


# ------------------------------------------------------------------------ the file
_PER_SAMPLE = ("u", "u0", "params", "attempt", "equation")


def _early_dcpl() -> h5py.h5p.PropDCID:
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return dcpl


def _create(
    path: Path,
    *,
    recipe: ODEDatasetRecipe,
    rows: np.ndarray,
    seeds: np.ndarray,
    split: np.ndarray,
    attrs: dict[str, Any],
) -> None:
    n = len(rows)
    family = np.array([recipe.family_of(int(i)) for i in rows], np.int8)
    dim = np.array([ODE_SYSTEMS[ODE_FAMILIES[f]].dim for f in family], np.int8)
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {
            "sample": n,
            "t": recipe.n_t,
            "component": MAX_DIM,
            "param": MAX_PARAMS,
            "equation_char": EQUATION_WIDTH,
        }
        v = f.create_variable("sample", ("sample",), "i8", data=rows.astype(np.int64))
        v.attrs["long_name"] = "global sample index i (the sample is a function of (seed, i))"
        v = f.create_variable("t", ("t",), "f8", data=recipe.t.numpy())
        v.attrs["long_name"] = "time"
        f.create_variable("component", ("component",), "i8", data=np.arange(MAX_DIM))
        f.create_variable("param", ("param",), "i8", data=np.arange(MAX_PARAMS))
        specs = {
            "u": (("sample", "t", "component"), "f4", np.float32(np.nan), (1, recipe.n_t, MAX_DIM)),
            "u0": (("sample", "component"), "f8", np.nan, None),
            "params": (("sample", "param"), "f8", np.nan, None),
            "attempt": (("sample",), "i2", None, None),
            "equation": (("sample", "equation_char"), "S1", b"\x00", (1, EQUATION_WIDTH)),
        }
        for name, (dims, dtype, fill, chunks) in specs.items():
            kwargs = {"chunks": chunks} if chunks else {}
            if name == "u":  # Fletcher-32 checksums per sample, as every opkit field
                kwargs["fletcher32"] = store.CHECKSUMS
            f.create_variable(name, dims, dtype, fillvalue=fill, dcpl=_early_dcpl(), **kwargs)
        f.variables["u"].attrs["long_name"] = "state u(t), zero-padded to 5 components"
        f.variables["u0"].attrs["long_name"] = "initial condition, zero-padded"
        f.variables["params"].attrs["long_name"] = "coefficients (see param_names), zero-padded"
        f.variables["attempt"].attrs["long_name"] = "number of discarded draws (blow-ups)"
        f.variables["equation"].attrs["_Encoding"] = "utf-8"
        f.variables["equation"].attrs["long_name"] = "clean system, opkit.symbolic tokens"
        f.create_variable("seed", ("sample",), "i8", data=seeds.astype(np.int64))
        v = f.create_variable("status", ("sample",), "i1", data=np.full(n, STATUS_PENDING, np.int8))
        v.attrs["flag_values"] = np.array([-1, 0, 1], np.int8)
        v.attrs["flag_meanings"] = "pending ok failed"
        v = f.create_variable("split", ("sample",), "i1", data=split.astype(np.int8))
        v.attrs["flag_values"] = np.array(list(SPLIT_CODES.values()), np.int8)
        v.attrs["flag_meanings"] = " ".join(SPLIT_CODES)
        f.create_variable("family", ("sample",), "i1", data=family)
        f.create_variable("dim", ("sample",), "i1", data=dim)
        for key, value in attrs.items():
            f.attrs[key] = value
        f.attrs["complete"] = np.int8(0)


def _sync(f: h5py.File) -> None:
    f.flush()
    if store.FSYNC:  # the values reach the disk before the status that vouches for them
        os.fsync(f.id.get_vfd_handle())


def _write(f: h5py.File, positions: np.ndarray, values: dict[str, np.ndarray]) -> None:
    """Store rows ``positions`` (contiguous, increasing): all values, sync, then status."""
    rows = slice(int(positions[0]), int(positions[-1]) + 1)
    for name in _PER_SAMPLE:
        f[name][rows] = values[name]
    _sync(f)
    f["status"][rows] = values["status"]
    _sync(f)


def _create_partial(partial: Path, **kwargs: Any) -> None:
    """Create ``partial`` through ``partial.creating`` (only a complete file becomes the
    ``.partial`` that resuming trusts; a failed creation leaves nothing)."""
    creating = Path(f"{partial}.creating")
    try:
        _create(creating, **kwargs)
        replace_durably(creating, partial)
    except BaseException:
        creating.unlink(missing_ok=True)
        raise


def _runs(positions: np.ndarray) -> list[np.ndarray]:
    """Split increasing positions into contiguous runs."""
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    return [r for r in np.split(positions, breaks) if len(r)]


def _attrs(recipe: ODEDatasetRecipe, recipe_json: dict, *, n_samples: int, shard: tuple[int, int]):
    from ._generate import _opkit_version

    return {
        "title": f"opkit dataset {recipe.name!r} ({recipe.size})",
        "opkit_schema_version": np.int64(SCHEMA_VERSION),
        "opkit_version": _opkit_version(),
        "field": "u",
        "pde_name": recipe.name,
        "pde_class": "opkit.pde_data.ODE_SYSTEMS",
        "pde_params": json.dumps(recipe_json["nominal_params"]),
        "solver": _solver_text(recipe),
        "lengths": json.dumps([]),
        "recipe": canonical(recipe_json),
        "families": json.dumps(list(ODE_FAMILIES)),
        "param_names": json.dumps({f: list(ODE_SYSTEMS[f].param_names) for f in ODE_FAMILIES}),
        "n_input": np.int64(recipe.n_input),
        "n_samples_total": np.int64(n_samples),
        "shard_index": np.int64(shard[0]),
        "shard_count": np.int64(shard[1]),
        "n_failed": np.int64(0),
    }


def generate_odes(
    recipe: ODEDatasetRecipe,
    n_samples: int | None = None,
    *,
    out: str | os.PathLike,
    seed: int | None = None,
    batch_size: int | None = None,
    shard: tuple[int, int] | str | None = None,
    device: str | torch.device | None = None,
    throw: bool = False,
    progress: bool = True,
    overwrite: bool = False,
    wait: bool = False,
    splits: Sequence[float] | None = None,
) -> Path:
    """Generate an ``odes`` file (called by :func:`opkit.generate` for ODE recipes).

    Same arguments, guarantees and errors as :func:`opkit.pde_data.generate`; a sample
    that still fails after ``recipe.max_attempts`` draws is stored with ``status = 1``
    (``throw=True``: :class:`NonFiniteSampleError` instead).
    """
    from ._generate import (
        DatasetExistsError,
        NonFiniteSampleError,
        _check_folder,
        _check_positive_int,
        _differences,
        _partial,
        _resolve_device,
        parse_shard,
        shard_path,
        shard_rows,
    )
    from ._store import DatasetFileError, finalize, read_header

    if not isinstance(recipe, ODEDatasetRecipe):
        raise TypeError(f"`recipe` must be an ODEDatasetRecipe, got {type(recipe).__name__}.")
    n = recipe.n_samples if n_samples is None else _check_positive_int("n_samples", n_samples)
    split_counts = resolve_splits(splits, n, default=recipe.splits)
    seed = recipe.seed if seed is None else seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}.")
    seed = int(seed)
    batch = (
        recipe.batch_size if batch_size is None else _check_positive_int("batch_size", batch_size)
    )
    shard_kn = parse_shard(shard)
    if shard_kn is not None and shard_kn[1] > n:
        raise ValueError(
            f"`shard` asks for {shard_kn[1]} shards of only {n} samples; use at most {n} shards."
        )
    dev = _resolve_device(device)
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"`out` must be a file path, got {type(out).__name__}.")
    out = Path(out)
    if out.suffix == ".partial":
        raise ValueError(f"`out` must be the final file name, not a .partial file: {out}.")
    k, n_shards = shard_kn or (0, 1)
    target = shard_path(out, k, n_shards) if shard_kn else out
    rows = shard_rows(n, k, n_shards)
    recipe_json = recipe.to_json(n_samples=n, seed=seed, splits=split_counts, device=dev.type)
    attrs = _attrs(recipe, recipe_json, n_samples=n, shard=(k, n_shards))
    _check_folder(target)
    # One writer per output (OUT.lock), taken before any file of this output is touched.
    with output_lock(target, wait=bool(wait)):
        partial = _partial(target)
        if target.exists() and not overwrite:
            raise DatasetExistsError(
                f"output {str(target)!r} already exists; pass overwrite=True (CLI: --overwrite) "
                "to replace it, or choose another `out`."
            )
        if partial.exists():
            try:
                header = read_header(partial, allow_partial=True)
                old = {
                    **header.get("recipe", {}),
                    "shard": [header["shard_index"], header["shard_count"]],
                }
            except (DatasetFileError, FileNotFoundError, KeyError) as err:
                if not overwrite:
                    raise DatasetFileError(
                        f"cannot resume from {str(partial)!r}: {err} Delete it to start over."
                    ) from err
                old = None
            new = {**recipe_json, "shard": [k, n_shards]}
            if old is None or json.loads(canonical(old)) != json.loads(canonical(new)):
                if not overwrite:
                    raise ValueError(
                        f"{str(partial)!r} was started with different arguments "
                        f"({_differences(old, new)}). Rerun with the same arguments to resume it, "
                        "or delete it (or pass overwrite=True) to start over."
                    )
                partial.unlink()
        if not partial.exists():
            row_ids = np.arange(rows.start, rows.stop, dtype=np.int64)
            _create_partial(
                partial,
                recipe=recipe,
                rows=row_ids,
                seeds=np.array([sample_seed(seed, int(i)) for i in row_ids], np.int64),
                split=split_codes(split_counts)[row_ids],
                attrs=attrs,
            )
        with h5py.File(partial, "r+") as f:
            pending = np.flatnonzero(f["status"][:] == STATUS_PENDING)
            total = len(rows)
            with tqdm(
                total=total,
                initial=total - len(pending),
                disable=not progress,
                unit="sample",
                desc=f"generate {recipe.name}",
            ) as bar:
                for start in range(0, len(pending), batch):
                    positions = pending[start : start + batch]
                    values = solve_samples_ode(recipe, seed, (positions + rows.start).tolist(), dev)
                    if throw and (values["status"] != STATUS_OK).any():
                        bad = positions[values["status"] != STATUS_OK] + rows.start
                        raise NonFiniteSampleError(
                            f"sample(s) {bad[:10].tolist()} of {recipe.name!r} failed "
                            f"{recipe.max_attempts} draws (seed {seed}); the file {str(partial)!r} "
                            "keeps the samples written before them. Use throw=False to record "
                            "them with status=1."
                        )
                    offset = 0
                    for run in _runs(positions):
                        part = {key: v[offset : offset + len(run)] for key, v in values.items()}
                        _write(f, run, part)
                        offset += len(run)
                    bar.update(len(positions))
        n_failed = finalize(partial, target)
        if n_failed:
            warnings.warn(
                f"{n_failed} of {len(rows)} samples of {recipe.name!r} failed "
                f"{recipe.max_attempts} draws; they are stored with status=1 in "
                f"{str(target)!r} and skipped by ODETrajectories.",
                RuntimeWarning,
                stacklevel=3,
            )
        return target


def merge_odes(shards: Sequence[Path], headers: list[dict], out: Path, *, progress: bool) -> Path:
    """Join ``odes`` shard files (validated by :func:`opkit.pde_data.merge`) into ``out``."""
    from ._generate import _partial, shard_rows
    from ._store import finalize

    first = headers[0]
    n_total, n_shards = int(first["n_samples_total"]), int(first["shard_count"])
    order = sorted(range(len(shards)), key=lambda j: int(headers[j]["shard_index"]))
    ordered = [Path(shards[j]) for j in order]
    seeds, splits = [], []
    for k, p in enumerate(ordered):
        with h5py.File(p, "r") as f:
            rows = shard_rows(n_total, k, n_shards)
            if not np.array_equal(f["sample"][:], np.arange(rows.start, rows.stop)):
                raise ValueError(f"{str(p)!r} does not hold the sample indices of shard {k}.")
            seeds.append(f["seed"][:])
            splits.append(f["split"][:])
            if k == 0:
                raw = {key: f.attrs[key] for key in f.attrs}
    attrs = {k: v for k, v in raw.items() if k not in ("complete", "_NCProperties")}
    attrs.update(shard_index=np.int64(0), shard_count=np.int64(1), n_failed=np.int64(0))
    recipe_json = json.loads(
        attrs["recipe"] if isinstance(attrs["recipe"], str) else attrs["recipe"].decode()
    )
    recipe = ODEDatasetRecipe(
        families=tuple(recipe_json["families"]),
        t_end=recipe_json["t"]["end"],
        n_t=recipe_json["t"]["n"],
        n_input=recipe_json["n_input"],
    )
    partial = _partial(out)
    _create_partial(
        partial,
        recipe=recipe,
        rows=np.arange(n_total, dtype=np.int64),
        seeds=np.concatenate(seeds),
        split=np.concatenate(splits),
        attrs=attrs,
    )
    block = 256
    with (
        h5py.File(partial, "r+") as dst,
        tqdm(total=n_total, disable=not progress, unit="sample", desc="merge") as bar,
    ):
        for k, p in enumerate(ordered):
            rows = shard_rows(n_total, k, n_shards)
            with h5py.File(p, "r") as src:
                for s in range(0, len(rows), block):
                    stop = min(s + block, len(rows))
                    values = {key: src[key][s:stop] for key in (*_PER_SAMPLE, "status")}
                    _write(dst, np.arange(rows.start + s, rows.start + stop), values)
                    bar.update(stop - s)
    finalize(partial, out)
    return out
