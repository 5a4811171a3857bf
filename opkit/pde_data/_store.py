"""The on-disk layout of an opkit dataset: create, fill, finalise, validate, open.

An opkit dataset is one netCDF-4 compatible HDF5 file written with ``h5netcdf``, so that
``xarray.open_dataset(path, engine="h5netcdf")`` (or :func:`open_dataset`) opens it:

======================  ==============================  =====================================
variable                dims                            meaning
======================  ==============================  =====================================
``u`` / ``vorticity``   ``(sample, t, x[, y])`` float32 the field; one sample per HDF5 chunk,
                                                        each with a Fletcher-32 checksum
``sample``              ``(sample,)`` int64             global sample index ``i``
``t``                   ``(t,)`` float64                time of each stored frame
``x`` (``y``)           ``(x,)`` float64                grid coordinates, periodic [0, length)
``seed``                ``(sample,)`` int64             the seed of sample ``i``'s generator
``status``              ``(sample,)`` int8              0 ok, 1 non-finite (blown up);
                                                        -1 "not yet written" (``.partial``)
``split``               ``(sample,)`` int8              0 train, 1 val, 2 test
======================  ==============================  =====================================

Global attributes: ``opkit_schema_version``, ``opkit_version``, ``field``, ``pde_name``,
``pde_class``, ``pde_params`` (JSON), ``solver``, ``lengths`` (JSON, domain length per
spatial dimension), ``recipe`` (JSON of everything that determines the stored bytes),
``n_samples_total``, ``shard_index``/``shard_count``, ``n_failed`` and ``complete`` (0/1).

Crash safety. Every chunk of every variable is allocated (and filled with NaN / -1) when the
file is created, so filling it in later only writes raw bytes into places that already
exist: the HDF5 metadata never changes while samples are written and a killed writer
cannot leave a file that HDF5 refuses to open. A batch is made durable in two flushed steps
-- first its field values, then its ``status`` -- so a sample whose status is not -1 is
always fully on disk (each step is fsynced, so this holds across a power loss too).
``status == -1`` is the progress record that resuming reads.

Bit rot. The field's chunks carry HDF5's Fletcher-32 checksum filter (read transparently by
h5py, xarray/h5netcdf and the netCDF tools); reading a damaged sample raises
:class:`DatasetFileError` naming the file and the sample. Files written before the filter
was added (schema 1 without it) read as before, unchecked.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import h5netcdf
import h5py
import numpy as np
import xarray as xr

from .._io import replace_durably

__all__ = [
    "SCHEMA_VERSION",
    "SPLIT_CODES",
    "STATUS_OK",
    "STATUS_NONFINITE",
    "STATUS_PENDING",
    "DatasetExistsError",
    "DatasetFileError",
    "open_dataset",
    "dataset_info",
]

SCHEMA_VERSION = 1
SPLIT_CODES: dict[str, int] = {"train": 0, "val": 1, "test": 2}
STATUS_PENDING, STATUS_OK, STATUS_NONFINITE = -1, 0, 1
SPATIAL_DIMS = ("x", "y")
# Fletcher-32 on the field and fsync of every flushed batch; switched off only by
# benchmarks/store_cost.py to measure what they cost.
CHECKSUMS = True
FSYNC = True


class DatasetFileError(ValueError):
    """A file is not a readable, complete opkit dataset (foreign, truncated or partial)."""


class DatasetExistsError(ValueError):
    """The output file already exists (pass ``overwrite=True`` to replace it)."""


# ----------------------------------------------------------------------------- writing
def partial_path(target: Path) -> Path:
    """``OUT.partial``: the file a writer fills before it is renamed to ``OUT``."""
    return Path(f"{target}.partial")


def check_output_folder(target: Path) -> None:
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


def create_atomically(partial: Path, create: Callable[[Path], None]) -> None:
    """Create ``partial`` by ``create(path)`` through ``partial.creating``: only a fully
    created file becomes the ``.partial`` that resuming trusts, and a failed creation
    leaves nothing behind."""
    creating = Path(f"{partial}.creating")
    try:
        create(creating)
        replace_durably(creating, partial)
    except BaseException:
        creating.unlink(missing_ok=True)
        raise


def discard_stale_partial(partial: Path, recipe: str) -> None:
    """Delete ``partial`` unless it was started with the recipe ``recipe`` (the canonical
    JSON of the file's ``recipe`` attribute); an unreadable one is deleted too."""
    if not partial.exists():
        return
    try:
        same = read_header(partial, allow_partial=True).get("recipe") == json.loads(recipe)
    except (DatasetFileError, FileNotFoundError):
        same = False
    if not same:
        partial.unlink()


class _NewFile(h5netcdf.File):
    """An ``h5netcdf.File`` that can be given up after a failed close (see `new_netcdf`)."""

    def abandon(self) -> None:
        """Mark the file closed without closing it again (its ``__del__`` then does
        nothing): h5netcdf keeps the closed state in ``_closed`` and has no public setter."""
        self._closed = True


@contextlib.contextmanager
def new_netcdf(path: Path) -> Iterator[h5netcdf.File]:
    """``h5netcdf.File(path, "w")`` for creating a file, safe when the disk fills.

    When HDF5 fails to close a file (ENOSPC while flushing), h5netcdf leaves the file
    marked open and its ``__del__`` closes it again, which crashes the interpreter
    (segmentation fault). Here a failed creation or close marks it closed, so the
    error reaches the caller (who deletes the file) and opkit's one-line message.
    """
    f = _NewFile(path, "w")
    try:
        yield f
        f.close()
    except BaseException:
        try:
            f.close()
        except Exception:  # the original error is the one to report
            pass
        finally:
            f.abandon()  # no second close from __del__ (see above)
        raise


def early_dcpl() -> h5py.h5p.PropDCID:
    """Allocate (and fill) every chunk at creation time: later writes then never touch the
    HDF5 metadata (see the module docstring on crash safety)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return dcpl


def create_index(f: h5netcdf.File, sample: np.ndarray, t: np.ndarray) -> None:
    """The ``sample`` and ``t`` variables every opkit file starts with."""
    v = f.create_variable("sample", ("sample",), "i8", data=np.asarray(sample, np.int64))
    v.attrs["long_name"] = "global sample index i (the sample is a function of (seed, i))"
    v = f.create_variable("t", ("t",), "f8", data=np.asarray(t, np.float64))
    v.attrs["long_name"] = "time"


def create_bookkeeping(
    f: h5netcdf.File,
    seed: np.ndarray,
    split: np.ndarray,
    *,
    failed: str,
    seed_long_name: str | None,
) -> None:
    """The per-sample ``seed``, ``status`` (all pending; ``failed`` names status 1) and
    ``split`` variables every opkit file has."""
    n = len(seed)
    v = f.create_variable("seed", ("sample",), "i8", data=np.asarray(seed, np.int64))
    if seed_long_name is not None:
        v.attrs["long_name"] = seed_long_name
    v = f.create_variable("status", ("sample",), "i1", data=np.full(n, STATUS_PENDING, np.int8))
    v.attrs["flag_values"] = np.array([-1, 0, 1], np.int8)
    v.attrs["flag_meanings"] = f"pending ok {failed}"
    v = f.create_variable("split", ("sample",), "i1", data=np.asarray(split, np.int8))
    v.attrs["flag_values"] = np.array(list(SPLIT_CODES.values()), np.int8)
    v.attrs["flag_meanings"] = " ".join(SPLIT_CODES)


def set_header(f: h5netcdf.File, attrs: Mapping[str, Any]) -> None:
    """The global attributes, and ``complete = 0`` (set to 1 by :func:`finalize`)."""
    for key, value in attrs.items():
        f.attrs[key] = value
    f.attrs["complete"] = np.int8(0)


def create_file(
    path: Path,
    *,
    field: str,
    sample: np.ndarray,
    t: np.ndarray,
    coords: Mapping[str, np.ndarray],
    seed: np.ndarray,
    split: np.ndarray,
    attrs: Mapping[str, Any],
) -> None:
    """Create a dataset file whose samples are all pending (``status == -1``).

    Args:
        path: file to create (overwritten if it exists; callers check first).
        field: name of the field variable (``"u"``, ``"vorticity"``).
        sample: ``(n,)`` global sample indices.
        t: ``(n_t,)`` frame times.
        coords: ``{"x": (n_x,)[, "y": (n_y,)]}`` grid coordinates.
        seed, split: ``(n,)`` per-sample seeds (int64) and split codes (int8).
        attrs: global attributes (str / int / float values); ``complete`` is set to 0.
    """
    n = int(len(sample))
    spatial = tuple(coords)
    if spatial not in (("x",), ("x", "y")):
        raise ValueError(f"`coords` must be keyed ('x',) or ('x', 'y'), got {spatial}.")
    shape = (n, len(t), *(len(coords[d]) for d in spatial))
    with new_netcdf(path) as f:
        f.dimensions = {"sample": n, "t": len(t), **{d: len(coords[d]) for d in spatial}}
        create_index(f, sample, t)
        for d in spatial:
            v = f.create_variable(d, (d,), "f8", data=np.asarray(coords[d], np.float64))
            v.attrs["long_name"] = f"{d} coordinate (periodic grid)"
        f.create_variable(
            field,
            ("sample", "t", *spatial),
            "f4",
            chunks=(1, *shape[1:]),
            fillvalue=np.float32(np.nan),
            dcpl=early_dcpl(),
            fletcher32=CHECKSUMS,
        )
        seed_name = "seed of the sample's torch.Generator"
        create_bookkeeping(f, seed, split, failed="non_finite", seed_long_name=seed_name)
        set_header(f, attrs)


class SampleWriter:
    """Writes finished samples into a file made by :func:`create_file` (``with`` only).

    ``fields`` names the per-sample variable (``"u"``) or several of them (the ``odes``
    file's ``("u", "u0", ...)``); `write` then takes one array or a dict of arrays.
    """

    def __init__(self, path: Path, fields: str | tuple[str, ...]):
        self.path, self.fields = Path(path), fields

    def __enter__(self) -> SampleWriter:
        self._f = h5py.File(self.path, "r+")
        return self

    def _sync(self) -> None:
        self._f.flush()
        if FSYNC:
            # h5py's flush hands the bytes to the OS; fsync puts them on the disk, so that
            # a status never reaches the disk before its sample's values.
            os.fsync(self._f.id.get_vfd_handle())

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def pending(self) -> np.ndarray:
        """Positions (row numbers) whose status is still pending."""
        return np.flatnonzero(self._f["status"][:] == STATUS_PENDING)

    def write(
        self,
        positions: np.ndarray,
        values: np.ndarray | Mapping[str, np.ndarray],
        status: np.ndarray,
    ) -> None:
        """Store rows ``positions`` (increasing) durably: values first, then status.

        ``values`` is the field's ``(len(positions), ...)`` array (stored as float32) or,
        with several ``fields``, a dict of such arrays by variable name.
        """
        positions = np.asarray(positions, np.int64)
        if len(positions) == 0:
            return
        contiguous = bool(np.all(np.diff(positions) == 1))
        rows = slice(int(positions[0]), int(positions[-1]) + 1) if contiguous else positions
        if isinstance(self.fields, str):
            self._f[self.fields][rows] = np.asarray(values, np.float32)
        else:
            for name in self.fields:
                self._f[name][rows] = values[name]  # type: ignore[index]
        self._sync()
        self._f["status"][rows] = np.asarray(status, np.int8)
        self._sync()


def finalize(partial: Path, out: Path) -> int:
    """Mark a fully written ``partial`` complete and rename it to ``out``.

    Returns the number of failed (non-finite) samples. Raises ``RuntimeError`` if samples
    are still pending (an internal error: callers finalise only finished files).
    """
    with h5py.File(partial, "r+") as f:
        status = f["status"][:]
        if (status == STATUS_PENDING).any():
            raise RuntimeError(
                f"{partial}: {(status == STATUS_PENDING).sum()} samples are still pending."
            )
        n_failed = int((status == STATUS_NONFINITE).sum())
        f.attrs["n_failed"] = np.int64(n_failed)
        f.attrs["complete"] = np.int8(1)
    replace_durably(partial, out) if FSYNC else os.replace(partial, out)
    return n_failed


# ----------------------------------------------------------------------------- reading
def _open_unlocked(path: Path) -> h5py.File:
    """Open read-only, also while a running ``generate`` holds the file open for writing.

    That is safe for opkit files: their HDF5 metadata does not change while samples are
    written (only raw chunk bytes and ``status`` values do).
    """
    try:
        return h5py.File(path, "r")
    except OSError as err:
        if "unable to lock file" not in str(err).lower():
            raise
        return h5py.File(path, "r", locking=False)


class ProcessLocalFile:
    """A read-only h5py handle of ``path``, opened on first use, one per process.

    A handle inherited through ``fork`` belongs to the parent and is never used or closed
    here; pickling (to ``spawn`` workers) drops the handle. So DataLoader workers never
    share an HDF5 handle.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._file: h5py.File | None = None
        self._pid: int | None = None

    @property
    def is_open(self) -> bool:
        """Whether this process holds an open handle."""
        return self._file is not None and self._pid == os.getpid()

    def get(self) -> h5py.File:
        """This process's handle (opened now if needed)."""
        if not self.is_open:
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file  # type: ignore[return-value]

    def close(self) -> None:
        """Close this process's handle (it reopens on the next `get`)."""
        if self.is_open:
            self._file.close()  # type: ignore[union-attr]
        self._file = self._pid = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_file": None, "_pid": None}


def check_split(split: str | None) -> None:
    """Raise unless ``split`` is ``"train"``, ``"val"``, ``"test"`` or None."""
    if split is not None and split not in SPLIT_CODES:
        raise ValueError(
            f"`split` must be one of {list(SPLIT_CODES)} or None (all splits), got {split!r}."
        )


def kept_positions(f: h5py.File, split: str | None) -> np.ndarray:
    """Row positions of the samples with ``status == 0`` (in ``split``, if given)."""
    keep = f["status"][:] == STATUS_OK
    if split is not None:
        keep &= f["split"][:] == SPLIT_CODES[split]
    return np.flatnonzero(keep)


def read_header(path: str | os.PathLike, *, allow_partial: bool = False) -> dict[str, Any]:
    """Validate that ``path`` is an opkit dataset and return its global attributes.

    The JSON attributes (``pde_params``, ``recipe``, ``lengths``) come back decoded, and
    ``"shape"`` (of the field variable), ``"dims"`` and ``"fields"`` are added.
    With ``allow_partial`` a file that a running ``generate`` is writing can be read too.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DatasetFileError: not HDF5 / truncated, not an opkit file, a newer schema, or
            incomplete (unless ``allow_partial``).
    """
    path = Path(path)
    if not path.is_file():
        hint = ""
        if Path(f"{path}.partial").is_file():
            hint = (
                f" An unfinished {path}.partial exists: rerun the same `opkit generate`"
                " command to finish it."
            )
        raise FileNotFoundError(f"dataset file {str(path)!r} does not exist.{hint}")
    try:
        f = _open_unlocked(path) if allow_partial else h5py.File(path, "r")
    except OSError as err:
        if "unable to lock file" in str(err).lower():
            raise DatasetFileError(
                f"{str(path)!r} is locked by another process (is an `opkit generate` still "
                f"writing it?): {err}. Wait for it to finish or stop it."
            ) from err
        raise DatasetFileError(
            f"{str(path)!r} is not a readable HDF5 file (truncated, damaged or another "
            f"format): {err}. Regenerate it with `opkit generate`, or delete it."
        ) from err
    with f:
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
        version = attrs.get("opkit_schema_version")
        if version is None:
            raise DatasetFileError(
                f"{str(path)!r} is an HDF5 file but not an opkit dataset (it has no "
                "`opkit_schema_version` attribute). For PDEBench files use "
                "opkit.pde_data.read_pdebench; otherwise create the file with opkit.generate."
            )
        if int(version) > SCHEMA_VERSION:
            raise DatasetFileError(
                f"{str(path)!r} uses opkit schema version {version}, newer than this opkit "
                f"reads ({SCHEMA_VERSION}); upgrade opkit."
            )
        field = attrs.get("field")
        if field not in f or any(k not in f for k in ("status", "split", "seed", "t")):
            raise DatasetFileError(
                f"{str(path)!r} claims to be an opkit dataset but lacks its field {field!r} "
                "or one of the variables status/split/seed/t; regenerate it."
            )
        complete = int(attrs.get("complete", 0)) == 1
        if not complete and not allow_partial:
            n_pending = int((f["status"][:] == STATUS_PENDING).sum())
            raise DatasetFileError(
                f"{str(path)!r} is an incomplete opkit dataset ({n_pending} of "
                f"{f['status'].shape[0]} samples missing; generation was interrupted). Rerun "
                "the same `opkit generate` command to resume it."
            )
        dset = f[field]
        attrs["shape"] = tuple(int(s) for s in dset.shape)
        # ODE trajectories (``opkit.pde_data._ode_generate``) store components, not a grid.
        inner = ("component",) if "component" in f else SPATIAL_DIMS[: dset.ndim - 2]
        attrs["dims"] = ("sample", "t", *inner)
    for key in ("pde_params", "recipe", "lengths"):
        if isinstance(attrs.get(key), str):
            try:
                attrs[key] = json.loads(attrs[key])
            except json.JSONDecodeError as err:
                raise DatasetFileError(
                    f"{str(path)!r}: its `{key}` attribute is not valid JSON ({err}: "
                    f"{attrs[key][:60]!r}); the file was edited or damaged. Regenerate it "
                    "with `opkit generate`."
                ) from err
    attrs["fields"] = [field]
    return attrs


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        # netCDF stores numeric attributes as 1-D arrays; a single value reads as a scalar.
        return value.reshape(-1)[0].item() if value.size == 1 else value.tolist()
    return value


def open_dataset(path: str | os.PathLike, **kwargs: Any) -> xr.Dataset:
    """Open a complete opkit dataset file as a lazily loaded ``xarray.Dataset``.

    The file is validated first (see module docstring for its layout). The returned
    dataset keeps the file open until closed; use it as a context manager
    (``with opkit.open_dataset(path) as ds: ...``).

    Args:
        path: an ``.h5`` file written by :func:`opkit.generate` or :func:`merge`.
        **kwargs: passed to ``xarray.open_dataset`` (engine is always ``"h5netcdf"``).

    Returns:
        ``xarray.Dataset`` with dims ``sample, t, x[, y]``, the field variable (``u`` or
        ``vorticity``, float32), ``seed``, ``status``, ``split`` and the global attributes
        (JSON attributes stay JSON strings, as netCDF stores them).

    Raises:
        FileNotFoundError: the file does not exist.
        DatasetFileError (a ``ValueError``): the file is foreign, truncated or incomplete.
    """
    read_header(path)
    return xr.open_dataset(Path(path), engine="h5netcdf", **kwargs)


def dataset_info(path: str | os.PathLike) -> str:
    """A human-readable summary of a dataset file (complete, partial or a shard)."""
    path = Path(path)
    h = read_header(path, allow_partial=True)
    with _open_unlocked(path) as f:
        status = f["status"][:]
        split = f["split"][:]
        sample = f["sample"][:]
        t = f["t"][:]
    shape = h["shape"]
    recipe = h.get("recipe", {})
    lines = [
        f"{path}",
        f"  dataset   {recipe.get('name', h.get('pde_name'))} (size {recipe.get('size', '?')}), "
        f"schema {h['opkit_schema_version']}, written by opkit {h.get('opkit_version', '?')}",
        f"  complete  {'yes' if int(h.get('complete', 0)) == 1 else 'NO (partial)'}",
        f"  PDE       {h.get('pde_class')} {json.dumps(h.get('pde_params'))}",
        f"  solver    {h.get('solver')}",
        f"  field     {h['field']} float32 {dict(zip(h['dims'], shape))}",
        f"  lengths   {h.get('lengths')}",
        f"  t         {len(t)} frames in [{t[0]:g}, {t[-1]:g}]",
    ]
    if len(sample):
        lines.append(f"  samples   {len(sample)} (global indices {sample[0]}..{sample[-1]})")
    if int(h.get("shard_count", 1)) > 1:
        lines.append(
            f"  shard     {h['shard_index']}/{h['shard_count']} of {h['n_samples_total']} samples"
        )
    counts = ", ".join(f"{name} {int((split == c).sum())}" for name, c in SPLIT_CODES.items())
    lines.append(f"  splits    {counts}")
    lines.append(
        f"  status    ok {int((status == STATUS_OK).sum())}, non-finite "
        f"{int((status == STATUS_NONFINITE).sum())}, pending "
        f"{int((status == STATUS_PENDING).sum())}"
    )
    if recipe:
        lines.append(f"  recipe    {json.dumps(recipe, sort_keys=True)}")
    return "\n".join(lines)
