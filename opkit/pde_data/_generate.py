"""`generate`: named datasets or any PDE -> one crash-safe, resumable HDF5 file.

Determinism: sample ``i`` is a pure function of ``(seed, i)`` (its own ``torch.Generator``
seeded with :func:`~opkit.pde_data.sample_seed`), and the solvers are batch-invariant on
CPU, so batch size, sharding and resuming never change a stored byte. On a GPU, results
are deterministic for a fixed device and batch size only as far as the GPU's FFTs are;
the device is part of the recipe, so a run is never resumed or merged across device types.

The ``odes`` dataset (an `ODEDatasetRecipe`) takes the same path: the same checks, shards,
lock and resume rules; only its file layout and sample solver (`_ode_generate`) differ.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from .._checks import check_int
from .._io import output_lock
from .._records import record
from ._catalogue import named_dataset
from ._ode_generate import (
    PER_SAMPLE,
    create_ode_file,
    ode_attrs,
    ode_bytes_per_sample,
    solve_batch,
)
from ._ode_recipe import ODEDatasetRecipe
from ._recipe import (
    DatasetRecipe,
    canonical,
    differences,
    resolve_splits,
    sample_seed,
    split_codes,
)
from ._shards import parse_shard, shard_path, shard_rows
from ._store import (
    SCHEMA_VERSION,
    STATUS_OK,
    DatasetExistsError,
    DatasetFileError,
    SampleWriter,
    check_output_folder,
    create_atomically,
    create_file,
    discard_stale_partial,
    finalize,
    partial_path,
    read_header,
)
from .solvers import AbstractPDE

__all__ = [
    "DatasetExistsError",
    "NonFiniteSampleError",
    "generate",
    "recipe_matches",
]

log = logging.getLogger("opkit.pde_data")


class NonFiniteSampleError(RuntimeError):
    """A sample blew up (non-finite values) while generating with ``throw=True``."""


def generate(
    name_or_pde: str | AbstractPDE | DatasetRecipe,
    n_samples: int | None = None,
    *,
    out: str | os.PathLike,
    seed: int | None = None,
    batch_size: int | None = None,
    shard: tuple[int, int] | str | None = None,
    device: str | torch.device | None = None,
    size: str = "cpu",
    throw: bool = False,
    progress: bool = True,
    overwrite: bool = False,
    wait: bool = False,
    check_disk: bool = True,
    initial_condition: Any = None,
    t: Sequence[float] | torch.Tensor | None = None,
    dt: float | None = None,
    burn_in: float | None = None,
    stride: int | None = None,
    splits: Sequence[float] | None = None,
    **params: Any,
) -> Path:
    """Generate a dataset file: a named benchmark or any PDE with an initial-condition law.

    The file is written as ``OUT.partial`` and renamed to ``OUT`` when complete; progress
    is recorded after every flushed batch, so rerunning the same call after a crash or
    kill resumes where it stopped. Sample ``i`` depends only on ``(seed, i)``.

    Args:
        name_or_pde: a built-in name (``"burgers"``, ``"ks"``, ``"ns"``, ``"allen_cahn"``,
            ``"advection"``; see :func:`named_dataset`), a :class:`DatasetRecipe`, or an
            :class:`AbstractPDE` instance (then ``initial_condition`` and ``t`` are required).
        n_samples: number of samples; default: the recipe's (the sum of its splits; for a
            PDE instance it is required). Named splits are scaled proportionally.
        out: output path (``data/burgers.h5``). With ``shard=(k, N)`` the file written is
            ``data/burgers.shard-k-of-N.h5`` (see :func:`shard_path`).
        seed: dataset seed (default: the recipe's, 0).
        batch_size: samples solved and flushed together (default: the recipe's). It never
            changes the result, only speed, memory and how much a crash loses.
        shard: ``(k, N)`` or ``"k/N"``: generate only the ``k``-th of ``N`` contiguous
            blocks of sample indices (join the shards with :func:`merge`).
        device: where to solve (``"cpu"`` default, ``"cuda"``); initial conditions are
            always drawn on the CPU.
        size: ``"cpu"`` (default) or ``"paper"`` for named datasets.
        throw: raise :class:`NonFiniteSampleError` on the first blown-up sample instead of
            recording it with ``status = 1`` and going on.
        progress: before the work, one line on stderr saying what is made (dataset,
            size, samples, file, estimated size on disk, a rough time from the recipe:
            :func:`announcement`), then a tqdm bar over samples with samples/s and the
            time left.
        overwrite: replace an existing complete ``out`` (and a ``.partial`` made with
            other arguments) instead of raising.
        wait: when another process is writing the same output (it holds ``OUT.lock``),
            wait for it to finish instead of raising :class:`~opkit._io.OutputLockedError`.
        check_disk: refuse (before any work) a file larger than the free space of its
            folder (estimated from the sizes; CLI: ``--no-disk-check`` turns it off).
        initial_condition: sampler of initial conditions (``GRF1D(...)`` etc.); overrides
            the named recipe's.
        t: output times after the burn-in (1-D, increasing, starting at 0); overrides.
        dt: solver time step (default: the recipe's, else the PDE's ``default_dt``).
        burn_in: time solved before the first stored frame (default 0 / the recipe's).
        stride: store every ``stride``-th grid point (default 1 / the recipe's).
        splits: ``(train, val, test)`` counts summing to ``n_samples`` or fractions
            summing to 1 (default: the recipe's, scaled; ``(0.8, 0.1, 0.1)`` for a PDE).
        **params: override the named recipe's PDE parameters (``nu=0.1``).

    Returns:
        The path of the finished file.

    Raises:
        ValueError: unknown name/parameter, non-positive ``n_samples``/``batch_size``, bad
            shard, ``out`` already exists (:class:`DatasetExistsError`), a ``.partial``
            made with other arguments, an unreadable ``.partial``.
        TypeError: wrong argument types (e.g. a PDE instance together with ``**params``).
        NonFiniteSampleError: a sample blew up and ``throw=True`` (the file stays partial
            and resumable; nothing already written is lost).
        OutputLockedError: another process is writing the same output (``wait=False``);
            nothing of its files is touched.

    Examples:
        >>> import opkit, torch
        >>> from opkit.pde_data import Burgers1D, GRF1D
        >>> opkit.generate("burgers", 8, out="data/burgers.h5", nu=0.05, progress=False)
        PosixPath('data/burgers.h5')
        >>> opkit.generate(Burgers1D(nu=0.05, n_x=256), 16, out="data/b256.h5",
        ...                initial_condition=GRF1D(), t=torch.linspace(0, 1, 11))
        PosixPath('data/b256.h5')
    """
    request = _Request(n_samples, out, seed, batch_size, shard, device, bool(overwrite), splits)
    overrides = {"initial_condition": initial_condition, "t": t, "dt": dt}
    overrides.update(burn_in=burn_in, stride=stride)
    plan = _plan(name_or_pde, request, size=size, overrides=overrides, params=params)
    check_output_folder(plan.target)
    # One writer per output: the lock is taken before any file of this output is touched
    # (two writers used to truncate each other's `.partial.creating`).
    with output_lock(plan.target, wait=bool(wait)):
        _check_outputs(plan)
        if check_disk:
            _check_disk_space(plan)
        if progress:
            tqdm.write(announcement(plan), file=sys.stderr)
        return _run(plan, throw=bool(throw), progress=bool(progress))


def recipe_matches(
    path: str | os.PathLike,
    name: str,
    n_samples: int | None = None,
    *,
    seed: int | None = None,
    size: str = "cpu",
    **params: Any,
) -> bool:
    """Whether ``path`` is a complete file of what ``generate(name, n_samples, out=path,
    seed=seed, size=size, **params)`` makes (same recipe: name, size, seed, PDE
    parameters, grids, splits).

    The built-in cache checks this before trusting a cached file.
    """
    try:
        header = read_header(path)
    except (DatasetFileError, FileNotFoundError):
        return False
    request = _Request(n_samples, path, seed, overwrite=True)
    plan = _plan(name, request, size=size, overrides={}, params=params)
    stored = header.get("recipe")
    return isinstance(stored, dict) and stored == json.loads(canonical(plan.recipe_json))


def estimated_bytes(plan: _Plan) -> int:
    """The size of the finished file (every chunk is allocated when it is created): the
    per-sample variables of its kind plus 1 MiB of HDF5 metadata and coordinates."""
    if isinstance(plan.recipe, ODEDatasetRecipe):
        per_sample = ode_bytes_per_sample(plan.recipe)
    else:
        n_t = len(plan.recipe.t)
        points = int(np.prod([len(v) for v in plan.recipe.stored_coords().values()]))
        per_sample = 4 * n_t * points + 4 + 8 + 8 + 2  # field, checksum, seed, sample, codes
    return len(plan.rows) * per_sample + (1 << 20)


def _bytes_text(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps it >= 1 (``2.0 MiB``, ``512 B``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


# A rough cost of the pseudo-spectral solvers (float64, batched, on an unloaded CPU): a
# fixed cost per time step of a batch (torch's per-operation overhead) plus a cost per grid
# point and step of each sample. Only the announcement uses them, to say whether a dataset
# takes seconds, minutes or hours; the bar then shows the measured rate.
_SECONDS_PER_BATCH_STEP = 2e-3
_SECONDS_PER_POINT_STEP = 2.5e-7


def announcement(plan: _Plan) -> str:
    """The line printed before generating: what is made, where, how large, how long.

    The time is ``batches x steps x (c_step + batch x grid points x c_point)`` with fixed
    costs per batch step and per point step, ``steps = (burn_in + t[-1]) / dt`` of the
    recipe (``dt``: the recipe's or the PDE's default): an order of magnitude on an
    unloaded CPU, not a measurement. ODE datasets give no time.
    """
    recipe, n = plan.recipe, len(plan.rows)
    label = f" (size {recipe.size!r})" if getattr(recipe, "size", "custom") != "custom" else ""
    head = (
        f"generate {recipe.name}{label}: {n} samples into {plan.target}, about "
        f"{_bytes_text(estimated_bytes(plan))} on disk"
    )
    tail = "; progress below, resumable if interrupted"
    if not isinstance(recipe, DatasetRecipe):
        return head + tail
    dt = recipe.dt if recipe.dt is not None else recipe.pde.default_dt
    steps = max(1, math.ceil((recipe.burn_in + float(recipe.t[-1])) / dt - 1e-9))
    points = math.prod(recipe.pde.spatial_shape)
    batch = min(plan.batch_size, n)
    per_step = _SECONDS_PER_BATCH_STEP + batch * points * _SECONDS_PER_POINT_STEP
    seconds = math.ceil(n / batch) * steps * per_step
    return (
        f"{head}, roughly {_duration(seconds)} on a CPU ({steps:,} solver steps on "
        f"{points:,} points per sample){tail}"
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _check_disk_space(plan: _Plan) -> None:
    if partial_path(plan.target).exists():
        return  # its chunks are allocated at creation: resuming needs no more space
    need = estimated_bytes(plan)
    free = shutil.disk_usage(plan.target.parent).free
    if need > free:
        raise ValueError(
            f"{str(plan.target)!r} needs about {_bytes_text(need)} "
            f"({len(plan.rows)} samples) but its folder has {_bytes_text(free)} free; free "
            "some space, choose another `out` or fewer samples, or pass check_disk=False "
            "(CLI: --no-disk-check) if the estimate is wrong."
        )


@dataclasses.dataclass(frozen=True)
class _Request:
    """The arguments of `generate` that every dataset kind resolves the same way."""

    n_samples: Any
    out: Any
    seed: Any
    batch_size: Any = None
    shard: Any = None
    device: Any = None
    overwrite: bool = False
    splits: Any = None


@dataclasses.dataclass(frozen=True)
class _Plan:
    recipe: DatasetRecipe | ODEDatasetRecipe
    seed: int
    n_samples: int
    rows: range  # global sample indices this file holds
    splits: tuple[int, int, int]
    batch_size: int
    device: torch.device
    target: Path
    attrs: dict[str, Any]
    recipe_json: dict[str, Any]
    overwrite: bool


def _resolve_device(device: Any) -> torch.device:
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"`device` must name a torch device ('cpu', 'cuda'), got {device!r}."
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"`device` is {device!r} but CUDA is not available; use device='cpu'.")
    return dev


def _plan(
    name_or_pde: Any,
    request: _Request,
    *,
    size: str,
    overrides: dict[str, Any],
    params: dict[str, Any],
) -> _Plan:
    """The resolved, checked `_Plan` of a `generate` call (nothing is written)."""
    if isinstance(name_or_pde, str) and name_or_pde == "odes":
        name_or_pde = named_dataset("odes", size=size, **params)
    if isinstance(name_or_pde, ODEDatasetRecipe):  # the PROSE ODE trajectories
        given = sorted(k for k, v in {**overrides, **params}.items() if v is not None)
        if given:
            raise TypeError(f"{given} apply to PDE datasets, not to the ODE dataset 'odes'.")
        return _build_plan(name_or_pde, request, default_splits=name_or_pde.splits)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if isinstance(overrides.get("t"), torch.Tensor):
        overrides["t"] = tuple(overrides["t"].detach().cpu().double().tolist())
    default_splits = None
    if isinstance(name_or_pde, str):
        recipe = named_dataset(name_or_pde, size=size, **params)
    elif isinstance(name_or_pde, (AbstractPDE, DatasetRecipe)):
        if params:
            raise TypeError(
                f"unexpected keyword argument(s) {sorted(params)}: PDE parameters go to the "
                f"PDE's constructor, e.g. {type(name_or_pde).__name__}(...), when passing an "
                "instance."
            )
        if isinstance(name_or_pde, DatasetRecipe):
            recipe = name_or_pde
        else:
            missing = [k for k in ("initial_condition", "t") if k not in overrides]
            if missing:
                needs = " and ".join(f"{m}=" for m in missing)
                raise TypeError(
                    f"generate() with a PDE instance needs {needs} (an "
                    "initial-condition sampler such as GRF1D() and the output times)."
                )
            if request.n_samples is None:
                raise TypeError("generate() with a PDE instance needs `n_samples`.")
            recipe = DatasetRecipe(
                name=name_or_pde.name,
                pde=name_or_pde,
                initial_condition=overrides.pop("initial_condition"),
                t=overrides.pop("t"),
            )
            default_splits = (8, 1, 1)
    else:
        raise TypeError(
            "`name_or_pde` must be a dataset name, a DatasetRecipe or an AbstractPDE instance, "
            f"got {type(name_or_pde).__name__}."
        )
    if overrides:
        recipe = dataclasses.replace(recipe, **overrides)
    plan = _build_plan(recipe, request, default_splits=default_splits or recipe.splits)
    _check_sampler(plan)
    return plan


def _build_plan(
    recipe: DatasetRecipe | ODEDatasetRecipe,
    request: _Request,
    *,
    default_splits: tuple[int, int, int],
) -> _Plan:
    """The checks and the `_Plan` every dataset kind shares (sizes, seed, shard, device,
    output path)."""
    n_samples, batch_size, out = request.n_samples, request.batch_size, request.out
    n = recipe.n_samples if n_samples is None else check_int("n_samples", n_samples)
    split_counts = resolve_splits(request.splits, n, default=default_splits)
    seed = recipe.seed if request.seed is None else request.seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}.")
    seed = int(seed)
    batch = recipe.batch_size if batch_size is None else check_int("batch_size", batch_size)
    shard_kn = parse_shard(request.shard)
    if shard_kn is not None and shard_kn[1] > n:
        raise ValueError(
            f"`shard` asks for {shard_kn[1]} shards of only {n} samples; use at most {n} shards."
        )
    dev = _resolve_device(request.device)
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"`out` must be a file path, got {type(out).__name__}.")
    out = Path(out)
    if out.suffix == ".partial":
        raise ValueError(f"`out` must be the final file name, not a .partial file: {out}.")
    k, n_shards = shard_kn or (0, 1)
    recipe_json = recipe.to_json(n_samples=n, seed=seed, splits=split_counts, device=dev.type)
    return _Plan(
        recipe=recipe,
        seed=seed,
        n_samples=n,
        rows=shard_rows(n, k, n_shards),
        splits=split_counts,
        batch_size=batch,
        device=dev,
        target=shard_path(out, k, n_shards) if shard_kn else out,
        attrs=_attrs(recipe, recipe_json, n_samples=n, shard=(k, n_shards)),
        recipe_json=recipe_json,
        overwrite=bool(request.overwrite),
    )


def _opkit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("opkit-pde")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def _attrs(
    recipe: DatasetRecipe | ODEDatasetRecipe,
    recipe_json: dict,
    *,
    n_samples: int,
    shard: tuple[int, int],
) -> dict[str, Any]:
    """The global attributes of a file: every file's, around what its kind holds."""
    if isinstance(recipe, ODEDatasetRecipe):
        held = ode_attrs(recipe, recipe_json)
    else:
        pde = recipe.pde
        held = {
            "field": pde.field,
            "pde_name": pde.name,
            "pde_class": (pde_record := record(pde))["class_path"],
            "pde_params": json.dumps(pde_record["init_args"]),
            "solver": pde.solver,
            "lengths": json.dumps(list(recipe.lengths())),
            "recipe": canonical(recipe_json),
        }
    return {
        "title": f"opkit dataset {recipe.name!r} ({recipe.size})",
        "opkit_schema_version": np.int64(SCHEMA_VERSION),
        "opkit_version": _opkit_version(),
        **held,
        "n_samples_total": np.int64(n_samples),
        "shard_index": np.int64(shard[0]),
        "shard_count": np.int64(shard[1]),
        "n_failed": np.int64(0),
    }


def _check_outputs(plan: _Plan) -> None:
    target, partial = plan.target, partial_path(plan.target)
    if target.exists() and not plan.overwrite:
        raise DatasetExistsError(
            f"output {str(target)!r} already exists; pass overwrite=True (CLI: --overwrite) "
            "to replace it, or choose another `out`."
        )
    if not partial.exists():
        return
    try:
        header = read_header(partial, allow_partial=True)
    except (DatasetFileError, FileNotFoundError) as err:
        if plan.overwrite:
            return
        raise DatasetFileError(
            f"cannot resume from {str(partial)!r}: {err} Delete it to start over."
        ) from err
    old = {
        **header.get("recipe", {}),
        "shard": [header.get("shard_index"), header.get("shard_count")],
    }
    shard = [int(plan.attrs["shard_index"]), int(plan.attrs["shard_count"])]
    new = {**plan.recipe_json, "shard": shard}
    if json.loads(canonical(old)) != json.loads(canonical(new)) and not plan.overwrite:
        raise ValueError(
            f"{str(partial)!r} was started with different arguments ({differences(old, new)}). "
            "Rerun with the same arguments to resume it, or delete it (or pass "
            "overwrite=True) to start over."
        )


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


def _draw(recipe: DatasetRecipe, seeds: Sequence[int]) -> torch.Tensor:
    shape = tuple(recipe.pde.spatial_shape)
    draws = [
        recipe.initial_condition.sample(1, *shape, generator=_generator(s), dtype=recipe.dtype)
        for s in seeds
    ]
    return torch.cat(draws)


def _check_sampler(plan: _Plan) -> None:
    # One draw is cheap and catches a sampler/PDE mismatch before anything is written.
    recipe = plan.recipe
    shape = tuple(recipe.pde.spatial_shape)
    u0 = _draw(recipe, [sample_seed(plan.seed, plan.rows.start if plan.rows else 0)])
    if tuple(u0.shape) != (1, *shape) or not bool(torch.isfinite(u0).all()):
        raise ValueError(
            f"`initial_condition` ({type(recipe.initial_condition).__name__}) drew a sample of "
            f"shape {tuple(u0.shape)}{'' if torch.isfinite(u0).all() else ' with NaN/Inf'}; "
            f"expected finite values of shape (1, {', '.join(map(str, shape))}) for the "
            f"PDE's grid."
        )


def solve_samples(
    recipe: DatasetRecipe, seeds: Sequence[int], device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    """Solve the samples with the given seeds; returns stored float32 values and status.

    Returns ``(values, status)``: ``(len(seeds), len(t), *stored_shape)`` float32 and
    ``(len(seeds),)`` int8 (1 where the sample has non-finite values).
    """
    pde, dtype = recipe.pde, recipe.dtype
    u0 = _draw(recipe, seeds).to(device)
    dt = recipe.resolved_dt
    t = torch.tensor(recipe.t, dtype=torch.float64, device=device)
    blown = torch.zeros(len(seeds), dtype=torch.bool, device=device)
    if recipe.burn_in > 0:
        burn = torch.tensor([0.0, recipe.burn_in], dtype=torch.float64, device=device)
        u0 = pde.solve(u0, burn, dt=dt)[:, -1]
        blown = ~torch.isfinite(u0).flatten(1).all(1)
        # A blown-up burn-in must not stop its batch-mates: restart it from zeros (its
        # frames are overwritten with NaN below) since solve() rejects non-finite input.
        u0 = torch.where(blown.view(-1, *[1] * pde.ndim), torch.zeros_like(u0), u0)
    u = pde.solve(u0, t, dt=dt)
    if u.dtype != dtype or tuple(u.shape) != (len(seeds), len(recipe.t), *pde.spatial_shape):
        raise RuntimeError(
            f"{type(pde).__name__}.solve returned {tuple(u.shape)} {u.dtype}; the PDE contract "
            f"asks for {(len(seeds), len(recipe.t), *pde.spatial_shape)} {dtype}."
        )
    u = u[(slice(None), slice(None)) + (slice(None, None, recipe.stride),) * pde.ndim]
    # The check runs on what is stored: finite float64 values beyond float32's range
    # (~3.4e38) become inf in the cast and must not be marked ok.
    values = u.to(torch.float32)
    blown = blown | ~torch.isfinite(values).flatten(1).all(1)
    values[blown] = float("nan")
    return values.cpu().numpy(), blown.to(torch.int8).cpu().numpy()


@dataclasses.dataclass(frozen=True)
class _Kind:
    """What differs between writing a PDE file and the ``odes`` file (the rest of `_run`
    is shared): the per-sample variables, how the file is created, how a batch of global
    sample indices is solved, and what a failed sample is called."""

    fields: str | tuple[str, ...]
    create: Callable[[Path, np.ndarray, np.ndarray, np.ndarray], None]  # path, rows, seeds, split
    solve: Callable[[list[int]], tuple[Any, np.ndarray]]  # indices -> (values, status)
    failure: Callable[[np.ndarray, int, Path], str]  # (bad indices, written, partial)
    warning: Callable[[int, Path], str]  # (n_failed, target)


def _pde_kind(plan: _Plan) -> _Kind:
    recipe = plan.recipe
    assert isinstance(recipe, DatasetRecipe)

    def create(path: Path, rows: np.ndarray, seeds: np.ndarray, split: np.ndarray) -> None:
        create_file(
            path,
            field=recipe.pde.field,
            sample=rows,
            t=recipe.burn_in + np.asarray(recipe.t, np.float64),
            coords=recipe.stored_coords(),
            seed=seeds,
            split=split,
            attrs=plan.attrs,
        )

    return _Kind(
        fields=recipe.pde.field,
        create=create,
        solve=lambda indices: solve_samples(
            recipe, [sample_seed(plan.seed, i) for i in indices], plan.device
        ),
        failure=lambda bad, written, partial: (
            f"sample(s) {bad[:10].tolist()} of {recipe.name!r} became non-finite "
            f"(seed {plan.seed}); the file {str(partial)!r} keeps the {written} samples "
            "written before them. Use a smaller dt, or throw=False to record them with "
            "status=1."
        ),
        warning=lambda n_failed, target: (
            f"{n_failed} of {len(plan.rows)} samples of {recipe.name!r} became non-finite "
            f"(blown up); they are stored with status=1 in {str(target)!r} and skipped by the "
            "opkit torch Datasets. A smaller dt usually avoids this."
        ),
    )


def _ode_kind(plan: _Plan) -> _Kind:
    recipe = plan.recipe
    assert isinstance(recipe, ODEDatasetRecipe)

    def create(path: Path, rows: np.ndarray, seeds: np.ndarray, split: np.ndarray) -> None:
        create_ode_file(path, recipe=recipe, rows=rows, seeds=seeds, split=split, attrs=plan.attrs)

    return _Kind(
        fields=PER_SAMPLE,
        create=create,
        solve=lambda indices: solve_batch(recipe, plan.seed, indices, plan.device),
        failure=lambda bad, written, partial: (
            f"sample(s) {bad[:10].tolist()} of {recipe.name!r} failed {recipe.max_attempts} "
            f"draws (seed {plan.seed}); the file {str(partial)!r} keeps the samples written "
            "before them. Use throw=False to record them with status=1."
        ),
        warning=lambda n_failed, target: (
            f"{n_failed} of {len(plan.rows)} samples of {recipe.name!r} failed "
            f"{recipe.max_attempts} draws; they are stored with status=1 in {str(target)!r} "
            "and skipped by ODETrajectories."
        ),
    )


def _run(plan: _Plan, *, throw: bool, progress: bool) -> Path:
    """Write (or resume) the planned file; the output lock is held by the caller."""
    kind = _ode_kind(plan) if isinstance(plan.recipe, ODEDatasetRecipe) else _pde_kind(plan)
    target, partial = plan.target, partial_path(plan.target)
    if plan.overwrite:
        discard_stale_partial(partial, plan.attrs["recipe"])
    if not partial.exists():
        rows = np.arange(plan.rows.start, plan.rows.stop, dtype=np.int64)
        seeds = np.fromiter((sample_seed(plan.seed, int(i)) for i in rows), np.int64, len(rows))
        split = split_codes(plan.splits)[rows]
        # Looked up at call time: the tests make `create_file` fail like a full disk.
        create_atomically(partial, lambda path: kind.create(path, rows, seeds, split))
    with SampleWriter(partial, kind.fields) as writer:
        pending = writer.pending()
        total = len(plan.rows)
        if len(pending) < total:
            log.info("resuming %s: %d of %d samples done", partial, total - len(pending), total)
        with tqdm(
            total=total,
            initial=total - len(pending),
            disable=not progress,
            unit="sample",
            desc=f"generate {plan.recipe.name}",
            # samples/s even when below 1 (tqdm would switch to s/sample), and time left
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
            "[{elapsed} elapsed, {remaining} left, {rate_noinv_fmt}]",
        ) as bar:
            for start in range(0, len(pending), plan.batch_size):
                positions = pending[start : start + plan.batch_size]
                values, status = kind.solve([plan.rows.start + int(p) for p in positions])
                failed = np.asarray(status) != STATUS_OK
                if throw and failed.any():
                    written = total - len(pending) + start
                    bad = positions[failed] + plan.rows.start
                    raise NonFiniteSampleError(kind.failure(bad, written, partial))
                writer.write(positions, values, status)
                bar.update(len(positions))
    n_failed = finalize(partial, target)
    if n_failed:
        warnings.warn(kind.warning(n_failed, target), RuntimeWarning, stacklevel=3)
    return target
