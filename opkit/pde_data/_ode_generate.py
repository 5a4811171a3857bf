"""The ``odes`` dataset: trajectories of the 15 PROSE systems in one opkit file.

Sample ``i`` (global index) belongs to equation ``e = i // k`` (``k =
ics_per_equation``, 1 in the cpu size, 20 in the paper size) and family ``e mod 15`` (the
order of :data:`~opkit.pde_data.ODE_SYSTEMS`), so every contiguous block of ``15 k``
samples holds each family ``k`` times and the splits are balanced. With ``k > 1`` the
coefficients of equation ``e`` are drawn once, from ``SeedSequence(seed, spawn_key=(e, 0,
1))``, and the attempts below draw only the initial condition. Attempt ``r = 0, 1,
...`` of sample ``i`` uses a ``torch.Generator`` seeded with ``sample_seed(seed, i)`` for
``r = 0`` (the seed every opkit dataset gives sample ``i``, stored in ``seed``) and with
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
* ``paper``: 25 600 training equations with 20 initial conditions each, 512 000
  trajectories (PROSE, Neural Networks 2024, and ``prose_ode``: ``ICs_per_equation``
  20, training set ``train_512000``), plus 6 000 / 6 000 trajectories (300 equations, 20
  per family) for validation and test.

In the cpu size 43 % of the Fabrikant and 52 % of the Sprott--Linz F samples needed
redraws (at most 12); the other families almost never. The longest equation has 92 tokens
(348 bytes; double pendulum).

Crash safety, resuming, shards and merging follow the rest of the opkit store
(:mod:`opkit.pde_data._store`): all chunks are allocated at creation, a batch's values are
flushed before its ``status``, a rerun resumes from the pending samples, and
:func:`opkit.pde_data.merge` joins shards byte-identically to an unsharded run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import _store as store
from ._ode_recipe import KIND, ODE_FAMILIES, ODEDatasetRecipe, solver_text
from ._ode_solve import solve_ode
from ._odes import MAX_DIM, MAX_PARAMS, ODE_SYSTEMS
from ._recipe import canonical, sample_seed
from ._store import STATUS_NONFINITE, STATUS_OK

__all__ = [
    "KIND",
    "PER_SAMPLE",
    "attempt_seed",
    "create_ode_file",
    "ode_attrs",
    "ode_bytes_per_sample",
    "recipe_of_file",
    "solve_batch",
    "solve_samples_ode",
]

EQUATION_WIDTH = 1024  # bytes per stored equation (fixed width keeps the file layout static)
_SPREAD = 16  # attempts tried at once per remaining sample after the first round


def attempt_seed(seed: int, index: int, attempt: int) -> int:
    """Seed of attempt ``attempt`` of sample ``index`` (see the module docstring)."""
    if attempt == 0:
        return sample_seed(seed, index)
    state = np.random.SeedSequence(seed, spawn_key=(int(index), int(attempt)))
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


# ------------------------------------------------------------------------ solving
def equation_seed(seed: int, equation: int) -> int:
    """Seed of the coefficients of equation ``equation`` when ``ics_per_equation > 1``."""
    state = np.random.SeedSequence(seed, spawn_key=(int(equation), 0, 1))
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _draw(
    system: Any, seed: int, ic_range: float, params: dict[str, float] | None = None
) -> tuple[dict[str, float], torch.Tensor]:
    """The coefficients (unless the equation's ``params`` are given) and the initial
    condition of one attempt, from one generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    if params is None:
        params = system.draw_params(g)
    u0 = (torch.rand(system.dim, dtype=torch.float64, generator=g) * 2 - 1) * ic_range
    return params, u0


def _equation_params(recipe: ODEDatasetRecipe, system: Any, seed: int, index: int):
    """The shared coefficients of sample ``index``'s equation (None: drawn per attempt)."""
    if recipe.ics_per_equation == 1:
        return None
    g = torch.Generator().manual_seed(equation_seed(seed, recipe.equation_of(index)))
    return system.draw_params(g)


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
        shared = {p: _equation_params(recipe, system, seed, int(indices[p])) for p in positions}
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
                _draw(system, attempt_seed(seed, indices[p], r), recipe.ic_range, shared[p])
                for p, r in jobs
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
PER_SAMPLE = ("u", "u0", "params", "attempt", "equation")


def solve_batch(
    recipe: ODEDatasetRecipe, seed: int, indices: Sequence[int], device: torch.device
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """`solve_samples_ode` as ``(values of PER_SAMPLE, status)`` for a `SampleWriter`."""
    out = solve_samples_ode(recipe, seed, indices, device)
    return {key: out[key] for key in PER_SAMPLE}, out["status"]


def ode_bytes_per_sample(recipe: ODEDatasetRecipe) -> int:
    """Bytes one sample takes in an ``odes`` file (all allocated at creation): ``u`` and
    its checksum, ``u0``, ``params``, ``equation``, the per-sample index variables, and
    about 48 bytes of HDF5 chunk index for each of the two variables chunked per sample."""
    u = 4 * recipe.n_t * MAX_DIM + 4
    rest = 8 * MAX_DIM + 8 * MAX_PARAMS + EQUATION_WIDTH + 2  # u0, params, equation, attempt
    index = 8 + 8 + 1 + 1 + 1 + 1  # sample, seed, status, split, family, dim
    return u + rest + index + 2 * 48


def create_ode_file(
    path: Path,
    *,
    recipe: ODEDatasetRecipe,
    rows: np.ndarray,
    seeds: np.ndarray,
    split: np.ndarray,
    attrs: dict[str, Any],
) -> None:
    """Create an ``odes`` file (layout in the module docstring) whose samples are all
    pending; the ODE counterpart of `opkit.pde_data._store.create_file`."""
    # no Python object per sample: memory is a few bytes per sample whatever n_samples
    family = np.fromiter((recipe.family_of(int(i)) for i in rows), np.int8, count=len(rows))
    dims = np.array([ODE_SYSTEMS[name].dim for name in ODE_FAMILIES], np.int8)
    dim = dims[family]
    with store.new_netcdf(path) as f:
        f.dimensions = {
            "sample": len(rows),
            "t": recipe.n_t,
            "component": MAX_DIM,
            "param": MAX_PARAMS,
            "equation_char": EQUATION_WIDTH,
        }
        store.create_index(f, rows, recipe.t.numpy())
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
            f.create_variable(name, dims, dtype, fillvalue=fill, dcpl=store.early_dcpl(), **kwargs)
        f.variables["u"].attrs["long_name"] = "state u(t), zero-padded to 5 components"
        f.variables["u0"].attrs["long_name"] = "initial condition, zero-padded"
        f.variables["params"].attrs["long_name"] = "coefficients (see param_names), zero-padded"
        f.variables["attempt"].attrs["long_name"] = "number of discarded draws (blow-ups)"
        f.variables["equation"].attrs["_Encoding"] = "utf-8"
        f.variables["equation"].attrs["long_name"] = "clean system, opkit.symbolic tokens"
        store.create_bookkeeping(f, seeds, split, failed="failed", seed_long_name=None)
        f.create_variable("family", ("sample",), "i1", data=family)
        f.create_variable("dim", ("sample",), "i1", data=dim)
        store.set_header(f, attrs)


def recipe_of_file(recipe_json: dict[str, Any]) -> ODEDatasetRecipe:
    """The recipe fields that fix an ``odes`` file's layout, from its ``recipe`` attribute."""
    return ODEDatasetRecipe(
        families=tuple(recipe_json["families"]),
        t_end=recipe_json["t"]["end"],
        n_t=recipe_json["t"]["n"],
        n_input=recipe_json["n_input"],
        ics_per_equation=recipe_json.get("ics_per_equation", 1),
        splits=(0, 0, 0),  # the layout does not depend on them
    )


def ode_attrs(recipe: ODEDatasetRecipe, recipe_json: dict) -> dict[str, Any]:
    """The global attributes that say what an ODE file holds (the rest are every file's)."""
    return {
        "field": "u",
        "pde_name": recipe.name,
        "pde_class": "opkit.pde_data.ODE_SYSTEMS",
        "pde_params": json.dumps(recipe_json["nominal_params"]),
        "solver": solver_text(recipe),
        "lengths": json.dumps([]),
        "recipe": canonical(recipe_json),
        "families": json.dumps(list(ODE_FAMILIES)),
        "param_names": json.dumps({f: list(ODE_SYSTEMS[f].param_names) for f in ODE_FAMILIES}),
        "n_input": np.int64(recipe.n_input),
    }
