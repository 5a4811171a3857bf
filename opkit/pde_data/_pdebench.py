"""Read PDEBench 1-D HDF5 files into the opkit dataset layout.

PDEBench (Takamoto et al., NeurIPS 2022 Datasets and Benchmarks) ships each 1-D dataset
as one HDF5 file with

- ``tensor``: ``(N, T, X)`` float32 solutions (``T`` snapshots, the first is ``u0``);
- ``x-coordinate``: ``(X,)`` cell centres of the uniform grid on ``[0, 1)``;
- ``t-coordinate``: ``(T + 1,)`` -- one entry *more* than snapshots. Its generators save
  ``arange(it_tot + 1) * dt_save`` with ``it_tot = T`` frames, so snapshot ``j`` is at
  ``t[j]`` and the last coordinate belongs to no snapshot; it is dropped here;
- root attributes with the PDE parameter: ``Nu`` (Burgers), ``beta`` (advection),
  ``Nu`` and ``rho`` (reaction--diffusion).

Burgers: PDEBench's generator (``burgers_multi_solution_Hydra.py``) integrates
``u_t + (u^2/2)_x = (epsilon / pi) u_xx`` and names/attributes the file with ``epsilon``
(``1D_Burgers_Sols_Nu0.001.hdf5`` has ``Nu = 0.001``). The viscosity of
``u_t + u u_x = nu u_xx`` is therefore ``nu = Nu / pi``, which ``pde_params`` records
(with the raw ``Nu`` kept as ``pdebench_Nu``). Advection is ``u_t + beta u_x = 0``
(``c = beta``); reaction--diffusion is ``u_t = Nu u_xx + rho u (1 - u)`` (no ``pi``).

Splits follow PDEBench's loaders: the first ``int(N * test_ratio)`` samples (default 10 %)
are the test split, the rest train; there is no validation split.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import xarray as xr
from tqdm import tqdm
from xarray.backends import BackendArray
from xarray.core import indexing

from ._store import (
    SCHEMA_VERSION,
    SPLIT_CODES,
    STATUS_NONFINITE,
    STATUS_OK,
    SampleWriter,
    create_file,
    finalize,
)

__all__ = ["read_pdebench", "convert_pdebench"]

_SOLVER = "PDEBench reference solver (Takamoto et al., NeurIPS 2022; see its data_gen)"


class _LazyH5Array(BackendArray):
    """A read-only view of one HDF5 dataset; opens the file per read (fork-safe)."""

    def __init__(self, path: str, name: str, shape: tuple[int, ...], dtype: np.dtype):
        self.path, self.name = path, name
        self.shape, self.dtype = shape, np.dtype(dtype)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._read
        )

    def _read(self, key: tuple) -> np.ndarray:
        with h5py.File(self.path, "r") as f:
            return np.asarray(f[self.name][key], dtype=self.dtype)


def _pde_from_attrs(attrs: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    lower = name.lower()
    if "beta" in attrs or "advection" in lower:
        return "advection", {"c": float(attrs["beta"])} if "beta" in attrs else {}
    if "rho" in attrs or "reacdiff" in lower:
        return "reaction_diffusion", {
            k: float(attrs[a]) for k, a in (("nu", "Nu"), ("rho", "rho")) if a in attrs
        }
    if "Nu" in attrs or "burgers" in lower:
        if "Nu" not in attrs:
            return "burgers", {}
        nu = float(attrs["Nu"])
        return "burgers", {"nu": nu / math.pi, "pdebench_Nu": nu}
    return "unknown", {}


def _layout(path: Path) -> dict[str, Any]:
    """Validate a PDEBench 1-D file and read its small parts."""
    if not path.is_file():
        raise FileNotFoundError(f"PDEBench file {str(path)!r} does not exist.")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(
            f"{str(path)!r} is not a readable HDF5 file (truncated or another format): {err}"
        ) from err
    with f:
        missing = [k for k in ("tensor", "x-coordinate", "t-coordinate") if k not in f]
        if missing:
            raise ValueError(
                f"{str(path)!r} is not a PDEBench 1-D file: it lacks {missing} (expected "
                "datasets 'tensor' (N, T, X), 'x-coordinate' (X,), 't-coordinate' (T+1,)). "
                "2-D/3-D PDEBench files are not supported."
            )
        shape = tuple(int(s) for s in f["tensor"].shape)
        if len(shape) != 3:
            raise ValueError(
                f"{str(path)!r}: 'tensor' has shape {shape}; a PDEBench 1-D file has (N, T, X)."
            )
        x = np.asarray(f["x-coordinate"][:], np.float64).reshape(-1)
        t = np.asarray(f["t-coordinate"][:], np.float64).reshape(-1)
        attrs = {k: (v.item() if np.ndim(v) == 0 else v) for k, v in f.attrs.items()}
        dtype = f["tensor"].dtype
    n, n_t, n_x = shape
    if len(x) != n_x:
        raise ValueError(f"{str(path)!r}: 'x-coordinate' has {len(x)} points, 'tensor' {n_x}.")
    if len(t) == n_t + 1:
        t = t[:n_t]  # the generator's extra coordinate belongs to no snapshot
    elif len(t) != n_t:
        raise ValueError(
            f"{str(path)!r}: 't-coordinate' has {len(t)} entries for {n_t} snapshots; "
            f"expected {n_t + 1} (PDEBench) or {n_t}."
        )
    return {"shape": shape, "x": x, "t": t, "attrs": attrs, "dtype": dtype}


def _status(path: Path, n: int, *, block: int, progress: bool) -> np.ndarray:
    status = np.empty(n, np.int8)
    with (
        h5py.File(path, "r") as f,
        tqdm(total=n, disable=not progress, unit="sample", desc="check finite") as bar,
    ):
        for s in range(0, n, block):
            chunk = f["tensor"][s : s + block]
            finite = np.isfinite(chunk).reshape(len(chunk), -1).all(axis=1)
            status[s : s + block] = np.where(finite, STATUS_OK, STATUS_NONFINITE)
            bar.update(len(chunk))
    return status


def _attrs(path: Path, layout: dict[str, Any], status: np.ndarray, test_ratio: float):
    pde_name, pde_params = _pde_from_attrs(layout["attrs"], path.name)
    x = layout["x"]
    length = float((x[1] - x[0]) * len(x)) if len(x) > 1 else 1.0
    n, n_t, n_x = layout["shape"]
    raw = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in layout["attrs"].items()}
    return {
        "title": f"PDEBench {path.name}",
        "opkit_schema_version": np.int64(SCHEMA_VERSION),
        "opkit_version": _opkit_version(),
        "field": "u",
        "pde_name": pde_name,
        "pde_class": "PDEBench",
        "pde_params": json.dumps(pde_params),
        "solver": _SOLVER,
        "lengths": json.dumps([length]),
        "recipe": json.dumps(
            {
                "name": f"pdebench:{path.name}",
                "source": "pdebench",
                "file": path.name,
                "pdebench_attrs": raw,
                "n_samples": n,
                "splits": {"train": n - int(n * test_ratio), "val": 0, "test": int(n * test_ratio)},
                "split_rule": "PDEBench: the first int(N * test_ratio) samples are the test split",
                "test_ratio": test_ratio,
            },
            sort_keys=True,
            default=str,
        ),
        "n_samples_total": np.int64(n),
        "shard_index": np.int64(0),
        "shard_count": np.int64(1),
        "n_failed": np.int64(int((status == STATUS_NONFINITE).sum())),
    }


def _opkit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("opkit-pde")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def _splits(n: int, test_ratio: float) -> np.ndarray:
    split = np.full(n, SPLIT_CODES["train"], np.int8)
    split[: int(n * test_ratio)] = SPLIT_CODES["test"]
    return split


def _check_ratio(test_ratio: Any) -> float:
    ok = isinstance(test_ratio, (int, float)) and not isinstance(test_ratio, bool)
    if not ok or not 0.0 <= test_ratio < 1.0:
        raise ValueError(f"`test_ratio` must be a number in [0, 1), got {test_ratio!r}.")
    return float(test_ratio)


def read_pdebench(
    path: str | os.PathLike,
    *,
    test_ratio: float = 0.1,
    check_finite: bool = True,
    progress: bool = False,
) -> xr.Dataset:
    """Open a PDEBench 1-D HDF5 file as an ``xarray.Dataset`` in the opkit layout.

    The field ``u`` ``(sample, t, x)`` is read lazily (nothing large is loaded until
    indexed or ``.load()`` is called); ``seed`` is -1 (unknown), ``status`` flags samples
    with NaN/Inf, and ``split`` follows PDEBench (first ``int(N * test_ratio)`` test, the
    rest train). Attributes match :func:`opkit.open_dataset`'s (``pde_name``,
    ``pde_params`` JSON with Burgers' ``nu = Nu / pi``, ``lengths``, ``recipe``, ...).

    Args:
        path: a PDEBench 1-D file (``1D_Burgers_Sols_Nu0.001.hdf5``, ``1D_Advection_
            Sols_beta0.1.hdf5``, ``ReacDiff_Nu0.5_Rho1.0.hdf5``).
        test_ratio: PDEBench's test fraction (default 0.1, its loaders' default).
        check_finite: scan the data once to fill ``status`` (block-wise; default True).
            ``False`` marks every sample ok without reading the data.
        progress: show a progress bar for the scan.

    Returns:
        ``xarray.Dataset`` with dims ``sample, t, x``.

    Raises:
        FileNotFoundError: no such file. ValueError: not HDF5, or not the PDEBench 1-D
            layout (the message lists what is missing), or bad ``test_ratio``.
    """
    test_ratio = _check_ratio(test_ratio)
    path = Path(path)
    layout = _layout(path)
    n, n_t, n_x = layout["shape"]
    status = _status(path, n, block=64, progress=progress) if check_finite else np.zeros(n, np.int8)
    data = indexing.LazilyIndexedArray(
        _LazyH5Array(str(path), "tensor", layout["shape"], np.float32)
    )
    ds = xr.Dataset(
        {
            "u": (("sample", "t", "x"), data),
            "seed": ("sample", np.full(n, -1, np.int64)),
            "status": ("sample", status),
            "split": ("sample", _splits(n, test_ratio)),
        },
        coords={"sample": np.arange(n, dtype=np.int64), "t": layout["t"], "x": layout["x"]},
        attrs={**_attrs(path, layout, status, test_ratio), "complete": np.int8(1)},
    )
    return ds


def convert_pdebench(
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    test_ratio: float = 0.1,
    overwrite: bool = False,
    progress: bool = True,
    block: int = 64,
) -> Path:
    """Write a PDEBench 1-D file as an opkit dataset file (for the opkit torch Datasets).

    Streams ``block`` samples at a time (never the whole file), with the same crash-safe
    ``.partial`` protocol as :func:`opkit.generate`; the result opens with
    :func:`opkit.open_dataset` and equals :func:`read_pdebench`'s dataset.

    Raises:
        FileNotFoundError / ValueError: as :func:`read_pdebench`; ``out`` exists and
            ``overwrite`` is false.
    """
    test_ratio = _check_ratio(test_ratio)
    path, out = Path(path), Path(out)
    if out.exists() and not overwrite:
        raise ValueError(f"output {str(out)!r} already exists; pass overwrite=True to replace it.")
    layout = _layout(path)
    n = layout["shape"][0]
    status = _status(path, n, block=block, progress=False)
    partial = Path(f"{out}.partial")
    creating = Path(f"{partial}.creating")
    create_file(
        creating,
        field="u",
        sample=np.arange(n, dtype=np.int64),
        t=layout["t"],
        coords={"x": layout["x"]},
        seed=np.full(n, -1, np.int64),
        split=_splits(n, test_ratio),
        attrs=_attrs(path, layout, status, test_ratio),
    )
    os.replace(creating, partial)
    with (
        SampleWriter(partial, "u") as writer,
        h5py.File(path, "r") as src,
        tqdm(total=n, disable=not progress, unit="sample", desc="convert") as bar,
    ):
        for s in range(0, n, block):
            stop = min(s + block, n)
            writer.write(np.arange(s, stop), src["tensor"][s:stop], status[s:stop])
            bar.update(stop - s)
    finalize(partial, out)
    return out
