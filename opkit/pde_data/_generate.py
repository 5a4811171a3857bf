"""`generate`: named datasets or any PDE -> one crash-safe, resumable HDF5 file; `merge`.

Determinism: sample ``i`` is a pure function of ``(seed, i)`` (its own ``torch.Generator``
seeded with :func:`~opkit.pde_data._named.sample_seed`), and the solvers are
batch-invariant on CPU, so batch size, sharding and resuming never change a stored byte.
On a GPU, results are deterministic for a fixed device and batch size only as far as the
GPU's FFTs are; the device is part of the recipe, so a run is never resumed or merged
across device types.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from tqdm import tqdm

from .._io import output_lock, replace_durably
from .._records import record
from ._named import (
    DatasetRecipe,
    canonical,
    named_dataset,
    resolve_splits,
    sample_seed,
    split_codes,
)
from ._ode_generate import merge_odes, ode_attrs, write_odes
from ._ode_recipe import KIND as ODE_KIND
from ._ode_recipe import ODEDatasetRecipe
from ._store import (
    SCHEMA_VERSION,
    STATUS_NONFINITE,
    DatasetFileError,
    SampleWriter,
    create_file,
    finalize,
    read_header,
)
from .solvers import AbstractPDE

__all__ = [
    "DatasetExistsError",
    "NonFiniteSampleError",
    "generate",
    "merge",
    "parse_shard",
    "shard_path",
]

log = logging.getLogger("opkit.pde_data")


class DatasetExistsError(ValueError):
    """The output file already exists (pass ``overwrite=True`` to replace it)."""


class NonFiniteSampleError(RuntimeError):
    """A sample blew up (non-finite values) while generating with ``throw=True``."""


# ------------------------------------------------------------------------------ shards
_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(shard: Any) -> tuple[int, int] | None:
    """``None``, ``(k, N)`` or the string ``"k/N"`` -> ``(k, N)`` with ``0 <= k < N``.

    Raises:
        ValueError: anything else (the message shows the expected form).
    """
    if shard is None:
        return None
    if isinstance(shard, str):
        match = _SHARD_RE.match(shard)
        if not match:
            raise ValueError(
                f"`shard` must look like 'k/N' (e.g. '0/4' for the first of 4 shards), got "
                f"{shard!r}."
            )
        shard = (int(match.group(1)), int(match.group(2)))
    if (
        not isinstance(shard, (tuple, list))
        or len(shard) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
    ):
        raise ValueError(f"`shard` must be (k, N) or 'k/N' with integers, got {shard!r}.")
    k, n = shard
    if n < 1 or not 0 <= k < n:
        raise ValueError(
            f"`shard` (k={k}, N={n}) must satisfy 0 <= k < N: shards are numbered 0..N-1."
        )
    return (k, n)


def shard_path(out: str | os.PathLike, k: int, n: int) -> Path:
    """``data/burgers.h5`` -> ``data/burgers.shard-0-of-4.h5`` (the file shard ``k`` writes)."""
    out = Path(out)
    return out.with_name(f"{out.stem}.shard-{k}-of-{n}{out.suffix}")


def shard_rows(n_samples: int, k: int, n: int) -> range:
    """The contiguous block of global sample indices that shard ``k`` of ``n`` holds."""
    return range(k * n_samples // n, (k + 1) * n_samples // n)


def _partial(target: Path) -> Path:
    return Path(f"{target}.partial")


# --------------------------------------------------------------------------- generate
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
        progress: show a tqdm progress bar over samples.
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
    if isinstance(name_or_pde, str) and name_or_pde == "odes":
        name_or_pde = named_dataset("odes", size=size, **params)
    if isinstance(name_or_pde, ODEDatasetRecipe):  # the PROSE ODE trajectories
        pde_only = {"initial_condition": initial_condition, "t": t, "dt": dt}
        pde_only.update(burn_in=burn_in, stride=stride, **params)
        given = sorted(k for k, v in pde_only.items() if v is not None)
        if given:
            raise TypeError(f"{given} apply to PDE datasets, not to the ODE dataset 'odes'.")
        return _generate_odes(
            name_or_pde,
            n_samples,
            out=out,
            seed=seed,
            batch_size=batch_size,
            shard=shard,
            device=device,
            throw=throw,
            progress=progress,
            overwrite=overwrite,
            wait=wait,
            splits=splits,
        )
    plan = _plan(
        name_or_pde,
        n_samples,
        out=out,
        seed=seed,
        batch_size=batch_size,
        shard=shard,
        device=device,
        size=size,
        overwrite=overwrite,
        overrides={
            "initial_condition": initial_condition,
            "t": t,
            "dt": dt,
            "burn_in": burn_in,
            "stride": stride,
        },
        splits=splits,
        params=params,
    )
    _check_folder(plan.target)
    # One writer per output: the lock is taken before any file of this output is touched
    # (two writers used to truncate each other's `.partial.creating`).
    with output_lock(plan.target, wait=bool(wait)):
        _check_outputs(plan)
        if check_disk:
            _check_disk_space(plan)
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
    plan = _plan(
        name,
        n_samples,
        out=path,
        seed=seed,
        batch_size=None,
        shard=None,
        device=None,
        size=size,
        overwrite=True,
        overrides={},
        splits=None,
        params=params,
    )
    stored = header.get("recipe")
    return isinstance(stored, dict) and stored == json.loads(canonical(plan.recipe_json))


def estimated_bytes(plan: _Plan) -> int:
    """The size of the finished file: float32 fields plus the per-sample variables."""
    n_t = len(plan.recipe.t)
    points = int(np.prod([len(v) for v in plan.recipe.stored_coords().values()]))
    per_sample = 4 * n_t * points + 4 + 8 + 8 + 2  # field, checksum, seed, sample, codes
    return len(plan.rows) * per_sample + (1 << 20)  # + HDF5 metadata, coordinates


def _check_disk_space(plan: _Plan) -> None:
    if _partial(plan.target).exists():
        return  # its chunks are allocated at creation: resuming needs no more space
    need = estimated_bytes(plan)
    free = shutil.disk_usage(plan.target.parent).free
    if need > free:
        raise ValueError(
            f"{str(plan.target)!r} needs about {need / 2**30:.2f} GiB but its folder has "
            f"{free / 2**30:.2f} GiB free; free some space, choose another `out`, or pass "
            "check_disk=False (CLI: --no-disk-check) if the estimate is wrong."
        )


def _generate_odes(
    recipe: ODEDatasetRecipe,
    n_samples: int | None,
    *,
    out: Any,
    seed: Any,
    batch_size: Any,
    shard: Any,
    device: Any,
    throw: bool,
    progress: bool,
    overwrite: bool,
    wait: bool,
    splits: Any,
) -> Path:
    """:func:`generate` for an ``ODEDatasetRecipe``: the same checks, shards, lock and resume
    rules as for a PDE; the file is written by ``_ode_generate.write_odes``."""
    plan = _ode_plan(
        recipe,
        n_samples,
        out=out,
        seed=seed,
        batch_size=batch_size,
        shard=shard,
        device=device,
        overwrite=overwrite,
        splits=splits,
    )
    target = plan.target

    def refuse(bad: np.ndarray) -> None:
        raise NonFiniteSampleError(
            f"sample(s) {bad[:10].tolist()} of {recipe.name!r} failed {recipe.max_attempts} "
            f"draws (seed {plan.seed}); the file {str(_partial(target))!r} keeps the samples "
            "written before them. Use throw=False to record them with status=1."
        )

    _check_folder(target)
    with output_lock(target, wait=bool(wait)):
        _check_outputs(plan)
        return write_odes(
            recipe,
            target=target,
            partial=_partial(target),
            rows=plan.rows,
            seed=plan.seed,
            splits=plan.splits,
            batch_size=plan.batch_size,
            device=plan.device,
            recipe_json=plan.recipe_json,
            attrs=plan.attrs,
            progress=bool(progress),
            overwrite=bool(overwrite),
            on_failure=refuse if throw else None,
        )


def _ode_plan(
    recipe: ODEDatasetRecipe,
    n_samples: Any,
    *,
    out: Any,
    seed: Any,
    batch_size: Any,
    shard: Any,
    device: Any,
    overwrite: bool,
    splits: Any,
) -> _Plan:
    """The `_Plan` of an ODE file (its ``recipe`` is the ``ODEDatasetRecipe``)."""
    return _build_plan(
        recipe,
        n_samples,
        out=out,
        seed=seed,
        batch_size=batch_size,
        shard=shard,
        device=device,
        overwrite=overwrite,
        splits=splits,
        default_splits=recipe.splits,
        attrs_of=lambda json_, n, kn: ode_attrs(
            recipe, json_, n_samples=n, shard=kn, version=_opkit_version()
        ),
    )


def _build_plan(
    recipe: Any,
    n_samples: Any,
    *,
    out: Any,
    seed: Any,
    batch_size: Any,
    shard: Any,
    device: Any,
    overwrite: bool,
    splits: Any,
    default_splits: tuple[int, int, int],
    attrs_of,
) -> _Plan:
    """The checks and the `_Plan` every dataset kind shares (sizes, seed, shard, device,
    output path); ``attrs_of(recipe_json, n_samples, (k, n_shards))`` gives the file's
    global attributes."""
    n = recipe.n_samples if n_samples is None else _check_positive_int("n_samples", n_samples)
    split_counts = resolve_splits(splits, n, default=default_splits)
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
    recipe_json = recipe.to_json(n_samples=n, seed=seed, splits=split_counts, device=dev.type)
    return _Plan(
        recipe=recipe,
        seed=seed,
        n_samples=n,
        rows=shard_rows(n, k, n_shards),
        splits=split_counts,
        batch_size=batch,
        device=dev,
        target=target,
        attrs=attrs_of(recipe_json, n, (k, n_shards)),
        recipe_json=recipe_json,
        overwrite=bool(overwrite),
    )


@dataclasses.dataclass(frozen=True)
class _Plan:
    recipe: DatasetRecipe
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


def _check_positive_int(name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


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
    n_samples: Any,
    *,
    out: Any,
    seed: Any,
    batch_size: Any,
    shard: Any,
    device: Any,
    size: str,
    overwrite: bool,
    overrides: dict[str, Any],
    splits: Any,
    params: dict[str, Any],
) -> _Plan:
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if isinstance(overrides.get("t"), torch.Tensor):
        overrides["t"] = tuple(overrides["t"].detach().cpu().double().tolist())
    default_splits = None
    if isinstance(name_or_pde, str):
        recipe = named_dataset(name_or_pde, size=size, **params)
        if isinstance(recipe, ODEDatasetRecipe):  # "odes" (e.g. from recipe_matches)
            return _ode_plan(
                recipe,
                n_samples,
                out=out,
                seed=seed,
                batch_size=batch_size,
                shard=shard,
                device=device,
                overwrite=overwrite,
                splits=splits,
            )
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
            if n_samples is None:
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
    plan = _build_plan(
        recipe,
        n_samples,
        out=out,
        seed=seed,
        batch_size=batch_size,
        shard=shard,
        device=device,
        overwrite=overwrite,
        splits=splits,
        default_splits=default_splits or recipe.splits,
        attrs_of=lambda json_, n, kn: _attrs(recipe, json_, n_samples=n, shard=kn),
    )
    _check_sampler(plan)
    return plan


def _opkit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("opkit")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def _attrs(recipe: DatasetRecipe, recipe_json: dict, *, n_samples: int, shard: tuple[int, int]):
    pde = recipe.pde
    return {
        "title": f"opkit dataset {recipe.name!r} ({recipe.size})",
        "opkit_schema_version": np.int64(SCHEMA_VERSION),
        "opkit_version": _opkit_version(),
        "field": pde.field,
        "pde_name": pde.name,
        "pde_class": (pde_record := record(pde))["class_path"],
        "pde_params": json.dumps(pde_record["init_args"]),
        "solver": pde.solver,
        "lengths": json.dumps(list(recipe.lengths())),
        "recipe": canonical(recipe_json),
        "n_samples_total": np.int64(n_samples),
        "shard_index": np.int64(shard[0]),
        "shard_count": np.int64(shard[1]),
        "n_failed": np.int64(0),
    }


def _differences(old: dict, new: dict) -> str:
    keys = sorted(set(old) | set(new))
    diffs = []
    for key in keys:
        if old.get(key) != new.get(key):
            a, b = json.dumps(old.get(key), default=str), json.dumps(new.get(key), default=str)
            diffs.append(f"{key}: {a[:80]} in the file vs {b[:80]} now")
    return "; ".join(diffs)


def _check_folder(target: Path) -> None:
    """Refuse outputs that cannot be written, before any work."""
    if target.is_dir():
        raise ValueError(
            f"`out` ({str(target)!r}) is a directory; give a file name such as "
            f"{str(target / 'data.h5')!r}."
        )
    if not target.parent.is_dir():
        raise ValueError(
            f"the folder of `out` ({str(target.parent)!r}) does not exist; create it first."
        )
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise PermissionError(
            f"cannot write to the folder of `out` ({str(target.parent)!r}): permission "
            "denied; choose a writable folder."
        )


def _check_outputs(plan: _Plan) -> None:
    target, partial = plan.target, _partial(plan.target)
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
            f"{str(partial)!r} was started with different arguments ({_differences(old, new)}). "
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


def _create(partial: Path, **kwargs: Any) -> None:
    """Create ``partial`` through ``partial.creating``: only a fully created file becomes
    the ``.partial`` that resuming trusts, and a failed creation leaves nothing behind."""
    creating = Path(f"{partial}.creating")
    try:
        create_file(creating, **kwargs)
        replace_durably(creating, partial)
    except BaseException:
        creating.unlink(missing_ok=True)
        raise


def _run(plan: _Plan, *, throw: bool, progress: bool) -> Path:
    recipe, target, partial = plan.recipe, plan.target, _partial(plan.target)
    if partial.exists() and plan.overwrite:
        try:
            same = read_header(partial, allow_partial=True).get("recipe") == json.loads(
                plan.attrs["recipe"]
            )
        except (DatasetFileError, FileNotFoundError):
            same = False
        if not same:
            partial.unlink()
    if not partial.exists():
        rows = np.arange(plan.rows.start, plan.rows.stop, dtype=np.int64)
        _create(
            partial,
            field=recipe.pde.field,
            sample=rows,
            t=recipe.burn_in + np.asarray(recipe.t, np.float64),
            coords=recipe.stored_coords(),
            seed=np.array([sample_seed(plan.seed, int(i)) for i in rows], np.int64),
            split=split_codes(plan.splits)[rows],
            attrs=plan.attrs,
        )
    with SampleWriter(partial, recipe.pde.field) as writer:
        pending = writer.pending()
        total = len(plan.rows)
        if len(pending) < total:
            log.info("resuming %s: %d of %d samples done", partial, total - len(pending), total)
        seeds = writer.seeds()
        with tqdm(
            total=total,
            initial=total - len(pending),
            disable=not progress,
            unit="sample",
            desc=f"generate {recipe.name}",
        ) as bar:
            for start in range(0, len(pending), plan.batch_size):
                positions = pending[start : start + plan.batch_size]
                values, status = solve_samples(
                    recipe, [int(s) for s in seeds[positions]], plan.device
                )
                if throw and status.any():
                    bad = positions[status.astype(bool)] + plan.rows.start
                    raise NonFiniteSampleError(
                        f"sample(s) {bad[:10].tolist()} of {recipe.name!r} became non-finite "
                        f"(seed {plan.seed}); the file {str(partial)!r} keeps the "
                        f"{total - len(pending) + start} samples written before them. Use a "
                        "smaller dt, or throw=False to record them with status=1."
                    )
                writer.write(positions, values, status)
                bar.update(len(positions))
    n_failed = finalize(partial, target)
    if n_failed:
        warnings.warn(
            f"{n_failed} of {len(plan.rows)} samples of {recipe.name!r} became non-finite "
            f"(blown up); they are stored with status=1 in {str(target)!r} and skipped by the "
            "opkit torch Datasets. A smaller dt usually avoids this.",
            RuntimeWarning,
            stacklevel=3,
        )
    return target


# ------------------------------------------------------------------------------- merge
def merge(
    shards: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Join the shard files of one dataset into ``out`` (as if generated unsharded).

    The shards must all be complete, made with the same recipe (everything but the shard
    number) and together cover every sample index exactly once. The fields, seeds,
    statuses and splits of ``out`` are then identical to an unsharded run's.

    Args:
        shards: the shard files (any order), e.g. ``burgers.shard-0-of-4.h5`` ...
        out: the merged file (written as ``out.partial``, renamed when complete).
        overwrite: replace an existing ``out``.
        progress: show a tqdm progress bar over samples.

    Returns:
        ``Path(out)``.

    Raises:
        ValueError: no shards, shards of different datasets, missing or overlapping shards,
            ``out`` exists (:class:`DatasetExistsError`).
        DatasetFileError: a shard is not a complete opkit file.
    """
    if isinstance(shards, (str, os.PathLike)) or not len(shards):
        raise ValueError(f"`shards` must be a non-empty list of shard files, got {shards!r}.")
    out = Path(out)
    _check_folder(out)
    with output_lock(out):
        return _merge(shards, out, overwrite=overwrite, progress=progress)


def _merge(shards: Sequence[Any], out: Path, *, overwrite: bool, progress: bool) -> Path:
    if out.exists() and not overwrite:
        raise DatasetExistsError(
            f"output {str(out)!r} already exists; pass overwrite=True (CLI: --overwrite) to "
            "replace it."
        )
    headers = [read_header(p) for p in shards]
    first = headers[0]
    for p, h in zip(shards, headers):
        if h.get("recipe") != first.get("recipe"):
            raise ValueError(
                f"{str(p)!r} does not belong with {str(shards[0])!r}: their recipes differ "
                f"({_differences(first.get('recipe', {}), h.get('recipe', {}))})."
            )
    n_total = int(first["n_samples_total"])
    n_shards = int(first["shard_count"])
    found: dict[int, Any] = {}
    for p, h in zip(shards, headers):
        k = int(h["shard_index"])
        if int(h["shard_count"]) != n_shards:
            raise ValueError(f"{str(p)!r} is shard {k} of {h['shard_count']}, not of {n_shards}.")
        if k in found:
            raise ValueError(f"shard {k}/{n_shards} given twice: {str(found[k])!r} and {str(p)!r}.")
        found[k] = p
    missing = sorted(set(range(n_shards)) - set(found))
    if missing:
        raise ValueError(
            f"shards {missing} of {n_shards} are missing (got {sorted(found)}); generate them "
            "with --shard k/N and pass all of them."
        )
    ordered = [found[k] for k in range(n_shards)]
    if first.get("recipe", {}).get("kind") == ODE_KIND:  # the PROSE ODE trajectories
        rows = [shard_rows(n_total, k, n_shards) for k in range(n_shards)]
        return merge_odes(ordered, rows, out, partial=_partial(out), progress=progress)
    seeds, splits = [], []
    for k, p in enumerate(ordered):
        with h5py.File(p, "r") as f:
            sample = f["sample"][:]
            rows = shard_rows(n_total, k, n_shards)
            if not np.array_equal(sample, np.arange(rows.start, rows.stop)):
                raise ValueError(f"{str(p)!r} does not hold the sample indices of shard {k}.")
            seeds.append(f["seed"][:])
            splits.append(f["split"][:])
            if k == 0:
                raw_attrs = {key: f.attrs[key] for key in f.attrs}
                t = f["t"][:]
                coords = {d: f[d][:] for d in ("x", "y") if d in f}
    field = first["field"]
    attrs = {k: v for k, v in raw_attrs.items() if k not in ("complete", "_NCProperties")}
    attrs.update(shard_index=np.int64(0), shard_count=np.int64(1), n_failed=np.int64(0))
    partial = _partial(out)
    _create(
        partial,
        field=field,
        sample=np.arange(n_total, dtype=np.int64),
        t=t,
        coords=coords,
        seed=np.concatenate(seeds),
        split=np.concatenate(splits),
        attrs=attrs,
    )
    block = 64
    with (
        SampleWriter(partial, field) as writer,
        tqdm(total=n_total, disable=not progress, unit="sample", desc="merge") as bar,
    ):
        for k, p in enumerate(ordered):
            rows = shard_rows(n_total, k, n_shards)
            with h5py.File(p, "r") as f:
                for s in range(0, len(rows), block):
                    stop = min(s + block, len(rows))
                    writer.write(
                        np.arange(rows.start + s, rows.start + stop),
                        f[field][s:stop],
                        f["status"][s:stop],
                    )
                    bar.update(stop - s)
    n_failed = finalize(partial, out)
    if n_failed:
        log.info("merged %s: %d samples have status=%d", out, n_failed, STATUS_NONFINITE)
    return out
