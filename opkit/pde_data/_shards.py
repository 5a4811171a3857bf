"""Shards: a dataset generated as ``N`` files of contiguous sample blocks, and `merge`.

Shard ``k`` of ``N`` holds the global sample indices `shard_rows` and is written to
`shard_path`; since sample ``i`` depends only on ``(seed, i)``, the merged file is
identical to an unsharded run's.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from tqdm import tqdm

from .._io import output_lock
from ._ode_generate import KIND as ODE_KIND
from ._ode_generate import PER_SAMPLE, create_ode_file, recipe_of_file
from ._recipe import differences
from ._store import (
    STATUS_NONFINITE,
    DatasetExistsError,
    SampleWriter,
    check_output_folder,
    create_atomically,
    create_file,
    finalize,
    partial_path,
    read_header,
)

__all__ = ["merge", "parse_shard", "shard_path", "shard_rows"]

log = logging.getLogger("opkit.pde_data")

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
    check_output_folder(out)
    with output_lock(out):
        return _merge(shards, out, overwrite=overwrite, progress=progress)


def _ordered_shards(shards: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
    """The shard files in shard order and the first one's header, after checking that they
    belong together and cover every shard exactly once."""
    headers = [read_header(p) for p in shards]
    first = headers[0]
    for p, h in zip(shards, headers):
        if h.get("recipe") != first.get("recipe"):
            raise ValueError(
                f"{str(p)!r} does not belong with {str(shards[0])!r}: their recipes differ "
                f"({differences(first.get('recipe', {}), h.get('recipe', {}))})."
            )
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
    return [found[k] for k in range(n_shards)], first


def _merge(shards: Sequence[Any], out: Path, *, overwrite: bool, progress: bool) -> Path:
    if out.exists() and not overwrite:
        raise DatasetExistsError(
            f"output {str(out)!r} already exists; pass overwrite=True (CLI: --overwrite) to "
            "replace it."
        )
    ordered, first = _ordered_shards(shards)
    n_total = int(first["n_samples_total"])
    rows = [shard_rows(n_total, k, len(ordered)) for k in range(len(ordered))]
    seeds, splits = [], []
    for k, p in enumerate(ordered):
        with h5py.File(p, "r") as f:
            if not np.array_equal(f["sample"][:], np.arange(rows[k].start, rows[k].stop)):
                raise ValueError(f"{str(p)!r} does not hold the sample indices of shard {k}.")
            seeds.append(f["seed"][:])
            splits.append(f["split"][:])
            if k == 0:
                raw_attrs = {key: f.attrs[key] for key in f.attrs}
                t = f["t"][:]
                coords = {d: f[d][:] for d in ("x", "y") if d in f}
    attrs = {k: v for k, v in raw_attrs.items() if k not in ("complete", "_NCProperties")}
    attrs.update(shard_index=np.int64(0), shard_count=np.int64(1), n_failed=np.int64(0))
    sample = np.arange(n_total, dtype=np.int64)
    seed, split = np.concatenate(seeds), np.concatenate(splits)
    fields: str | tuple[str, ...]
    if first.get("recipe", {}).get("kind") == ODE_KIND:  # the PROSE ODE trajectories
        fields = PER_SAMPLE
        ode_recipe = recipe_of_file(first["recipe"])

        def create(path: Path) -> None:
            create_ode_file(
                path, recipe=ode_recipe, rows=sample, seeds=seed, split=split, attrs=attrs
            )
    else:
        fields = first["field"]

        def create(path: Path) -> None:
            create_file(
                path,
                field=fields,
                sample=sample,
                t=t,
                coords=coords,
                seed=seed,
                split=split,
                attrs=attrs,
            )

    partial = partial_path(out)
    create_atomically(partial, create)
    block = 64
    with (
        SampleWriter(partial, fields) as writer,
        tqdm(total=n_total, disable=not progress, unit="sample", desc="merge") as bar,
    ):
        for k, p in enumerate(ordered):
            with h5py.File(p, "r") as src:
                for s in range(0, len(rows[k]), block):
                    stop = min(s + block, len(rows[k]))
                    if isinstance(fields, str):
                        values: Any = src[fields][s:stop]
                    else:
                        values = {key: src[key][s:stop] for key in fields}
                    positions = np.arange(rows[k].start + s, rows[k].start + stop)
                    writer.write(positions, values, src["status"][s:stop])
                    bar.update(stop - s)
    n_failed = finalize(partial, out)
    if n_failed:
        log.info("merged %s: %d samples have status=%d", out, n_failed, STATUS_NONFINITE)
    return out
