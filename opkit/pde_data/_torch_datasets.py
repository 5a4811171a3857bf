"""Lazy torch Datasets over opkit dataset files, and `data_spec`.

Items are read straight from the HDF5 file on demand (one sample's chunk per read); the
whole file is never loaded. Each process opens its own read-only handle on its first
``__getitem__`` -- DataLoader workers (``fork`` or ``spawn``) therefore never share an HDF5
handle, and constructing a dataset opens the file only briefly to read the small
``status``/``split`` variables. Samples with ``status != 0`` (blown up) are skipped; an
item with non-finite values (a file from elsewhere, or edited) or a damaged chunk (its
Fletcher-32 checksum fails) raises :class:`DatasetFileError` naming the file and sample.

Channels are frame-major and oldest first (see :class:`~opkit.pde_data.DataSpec`):
``x[c]`` with ``c = frame * n_fields + field``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
import torch
import xarray as xr
from torch.utils.data import Dataset

from .._checks import check_int
from ._spec import DataSpec
from ._store import (
    DatasetFileError,
    ProcessLocalFile,
    check_split,
    kept_positions,
    read_header,
)

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11

__all__ = ["OperatorPairs", "FrameWindows", "data_spec"]


class _SampleReader:
    """The file, its kept samples, and one lazily opened h5py handle per process."""

    def __init__(self, path: str | os.PathLike, split: str | None):
        check_split(split)
        header = read_header(path)
        self.path = str(path)
        self.split = split
        self.fields: list[str] = list(header["fields"])
        self.shape: tuple[int, ...] = header["shape"]  # (sample, t, *spatial)
        self.lengths = header.get("lengths")
        with h5py.File(self.path, "r") as f:
            self.positions = kept_positions(f, split)
            self.sample_index = f["sample"][:][self.positions]
            self.t = f["t"][:]
            self.coords = {d: f[d][:] for d in ("x", "y") if d in f}
        self.h5 = ProcessLocalFile(self.path)

    @property
    def n_t(self) -> int:
        return self.shape[1]

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[2:])

    def _sample_name(self, position: int) -> str:
        return f"sample {int(self._sample_at(position))} of {self.path!r}"

    def _sample_at(self, position: int) -> int:
        found = np.flatnonzero(self.positions == position)
        return int(self.sample_index[found[0]]) if len(found) else int(position)

    def read(self, rows: Any, frames: Any = slice(None)) -> np.ndarray:
        """Raw field values ``(n_fields, *f[rows, frames].shape)``; a damaged chunk raises."""
        f = self.h5.get()
        try:
            return np.stack([np.asarray(f[name][rows, frames]) for name in self.fields])
        except OSError as err:
            where = (
                self._sample_name(int(rows))
                if isinstance(rows, (int, np.integer))
                else f"samples at rows {rows} of {self.path!r}"
            )
            raise DatasetFileError(
                f"cannot read {where}: {err} -- the stored bytes are damaged (their checksum "
                "fails) or the file is truncated. Regenerate the file (or restore it from a "
                "copy)."
            ) from err

    def frames(self, position: int, frames: slice | list[int]) -> torch.Tensor:
        """``(n_frames * n_fields, *spatial)`` float32, frame-major.

        Raises:
            DatasetFileError: the sample's chunk is damaged, or it holds NaN/Inf although
                its status says ok.
        """
        arr = np.moveaxis(self.read(int(position), frames).astype(np.float32, copy=False), 0, 1)
        if not np.isfinite(arr).all():
            raise DatasetFileError(
                f"{self._sample_name(position)} holds NaN/Inf values although its status is "
                "0 (ok); it cannot be trained on. Regenerate the file, or set that sample's "
                "status to 1 to skip it."
            )
        return torch.from_numpy(np.ascontiguousarray(arr).reshape(-1, *arr.shape[2:]))

    def nonfinite_samples(self, block: int = 64) -> list[int]:
        """Global indices of the kept samples holding NaN/Inf (one pass over the file)."""
        bad: list[int] = []
        pos = self.positions
        for start in range(0, len(pos), block):
            rows = pos[start : start + block]
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            try:
                arr = self.read(slice(lo, hi))  # (n_fields, hi - lo, ...)
            except DatasetFileError:
                for r in rows:  # name the damaged sample
                    self.read(int(r))
                raise
            finite = np.isfinite(arr.reshape(arr.shape[0], hi - lo, -1)).all(axis=(0, 2))
            bad += [int(self.sample_index[start + j]) for j in np.flatnonzero(~finite[rows - lo])]
        return bad


def _frame_index(name: str, value: Any, n_t: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"`{name}` must be an integer frame index, got {value!r}.")
    if not -n_t <= value < n_t:
        raise ValueError(
            f"`{name}` (={value}) is out of range for trajectories of {n_t} frames; use "
            f"-{n_t} <= {name} < {n_t}."
        )
    return int(value) % n_t


class FileDataset(Dataset):
    """What the torch Datasets over one opkit file share (`OperatorPairs`, `FrameWindows`,
    `ODETrajectories`): the per-process handle ``_h5``, the index check and the context
    manager that closes the handle."""

    _h5: ProcessLocalFile

    @property
    def path(self) -> str:
        """The dataset file."""
        return self._h5.path

    def _check_index(self, i: int) -> None:
        n = len(self)  # type: ignore[arg-type]
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} items.")

    def close(self) -> None:
        """Close this process's file handle (it reopens on the next access)."""
        self._h5.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OperatorPairs(FileDataset):
    """Pairs ``(u(t_in), u(t_out))`` of each kept sample: an operator-learning map.

    Args:
        path: an opkit dataset file (:func:`opkit.generate`).
        split: ``"train"``, ``"val"``, ``"test"`` or ``None`` (all samples).
        input_frame: frame index of the input (default 0, the initial condition).
        output_frame: frame index of the target (default -1, the last frame).

    Items are ``(x, y)``, each ``(n_fields, *spatial)`` float32 (for Burgers:
    ``u(., 0) -> u(., 1)`` with shapes ``(1, n_x)``). Samples with ``status != 0`` are
    skipped; ``sample_index[i]`` is item ``i``'s global sample index.

    Raises:
        FileNotFoundError, DatasetFileError: the file is missing, foreign, truncated or
            incomplete.
        ValueError / TypeError: bad ``split`` or frame index.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        split: str | None = None,
        input_frame: int = 0,
        output_frame: int = -1,
    ):
        self._reader = _SampleReader(path, split)
        self._h5 = self._reader.h5
        n_t = self._reader.n_t
        self.input_frame = _frame_index("input_frame", input_frame, n_t)
        self.output_frame = _frame_index("output_frame", output_frame, n_t)

    @property
    def sample_index(self) -> np.ndarray:
        return self._reader.sample_index

    def nonfinite_samples(self) -> list[int]:
        """Indices (file ``sample``) of this split's kept samples that hold NaN/Inf."""
        return self._reader.nonfinite_samples()

    def __len__(self) -> int:
        return len(self._reader.positions)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_index(i)
        position = int(self._reader.positions[i])
        both = self._reader.frames(position, sorted({self.input_frame, self.output_frame}))
        n_fields = len(self._reader.fields)
        first = both[:n_fields]
        last = both[-n_fields:]
        if self.input_frame <= self.output_frame:
            return first, last
        return last, first


class FrameWindows(FileDataset):
    """Sliding windows over each kept trajectory, for autoregressive training.

    Window ``j`` of a trajectory starts at frame ``s = j * stride``; its input is frames
    ``s .. s+in_frames-1`` and its target the next ``out_frames`` frames. Items are
    ``(x, y)`` with ``x`` ``(in_frames * n_fields, *spatial)`` and ``y``
    ``(out_frames * n_fields, *spatial)``, float32, frame-major and oldest first. Items
    run over windows first, then samples: item ``i`` is window ``i % n_windows`` of
    kept sample ``i // n_windows``.

    Args:
        path: an opkit dataset file.
        split: ``"train"``, ``"val"``, ``"test"`` or ``None``.
        in_frames: frames given to the model (default 1).
        out_frames: frames to predict (default 1).
        stride: frames between the starts of consecutive windows (default 1).

    Raises:
        FileNotFoundError, DatasetFileError: the file is missing, foreign, truncated or
            incomplete.
        ValueError: bad ``split``, non-positive sizes, or windows longer than the
            trajectories (``in_frames + out_frames > n_t``).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        split: str | None = None,
        in_frames: int = 1,
        out_frames: int = 1,
        stride: int = 1,
    ):
        self.in_frames = check_int("in_frames", in_frames)
        self.out_frames = check_int("out_frames", out_frames)
        self.stride = check_int("stride", stride)
        self._reader = _SampleReader(path, split)
        self._h5 = self._reader.h5
        n_t = self._reader.n_t
        if self.in_frames + self.out_frames > n_t:
            raise ValueError(
                f"windows of `in_frames` + `out_frames` = {self.in_frames} + {self.out_frames} "
                f"frames do not fit in trajectories of {n_t} frames; ask for fewer frames."
            )
        self.n_windows = (n_t - self.in_frames - self.out_frames) // self.stride + 1

    def __len__(self) -> int:
        return len(self._reader.positions) * self.n_windows

    def locate(self, i: int) -> tuple[int, int]:
        """``(global sample index, first frame)`` of item ``i``."""
        sample, window = divmod(i, self.n_windows)
        return int(self._reader.sample_index[sample]), window * self.stride

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_index(i)
        sample, window = divmod(i % len(self), self.n_windows)
        start = window * self.stride
        k, m = self.in_frames, self.out_frames
        frames = self._reader.frames(
            int(self._reader.positions[sample]), slice(start, start + k + m)
        )
        split_at = k * len(self._reader.fields)
        return frames[:split_at], frames[split_at:]


def _uniform_step(t: np.ndarray) -> float | None:
    """The frame spacing if the times are uniform, else None.

    Uniform up to float32 rounding (relative 1e-5 of the mean step): files written with
    float32 times (``torch.linspace`` without ``dtype``) still have a ``dt``.
    """
    if len(t) < 2:
        return None
    steps = np.diff(np.asarray(t, np.float64))
    mean = float(steps.mean())
    if mean <= 0 or not np.allclose(steps, mean, rtol=1e-5, atol=0.0):
        return None
    return mean


def _lengths_from_coords(coords: dict[str, np.ndarray]) -> tuple[float, ...]:
    # Uniform periodic grid x_i = x_0 + i * L / n: L = n * dx (cell-centred grids too).
    return tuple(float((c[1] - c[0]) * len(c)) for c in coords.values())


def data_spec(
    path_or_dataset: Any, *, in_frames: int | None = None, out_frames: int | None = None
) -> DataSpec:
    """The :class:`DataSpec` (grid, domain lengths, frames, dt) of a dataset.

    Args:
        path_or_dataset: an opkit file path, an ``xarray.Dataset`` in the opkit layout
            (``open_dataset`` / ``read_pdebench``), or an :class:`OperatorPairs` /
            :class:`FrameWindows` (whose frame counts are then used).
        in_frames, out_frames: frames in and out per model call (default 1, or the torch
            dataset's; giving a value that contradicts the torch dataset is an error).

    Returns:
        ``DataSpec(spatial_shape, lengths, n_fields, in_frames, out_frames, dt)``: lengths
        come from the file's ``lengths`` attribute (else ``n * dx`` of the coordinates);
        ``dt`` is the frame spacing if uniform (``None`` for :class:`OperatorPairs`).

    Raises:
        TypeError: an unsupported object.
        ValueError: contradicting frame counts or a dataset without the opkit layout.
    """
    dt_override: Any = "unset"
    if isinstance(path_or_dataset, (OperatorPairs, FrameWindows)):
        ds = path_or_dataset
        own = (1, 1) if isinstance(ds, OperatorPairs) else (ds.in_frames, ds.out_frames)
        for name, given, value in zip(("in_frames", "out_frames"), (in_frames, out_frames), own):
            if given is not None and given != value:
                raise ValueError(
                    f"`{name}` (={given}) contradicts the dataset's {name} (={value}); omit it."
                )
        in_frames, out_frames = own
        if isinstance(ds, OperatorPairs):
            dt_override = None
        path_or_dataset = ds.path
    in_frames = 1 if in_frames is None else check_int("in_frames", in_frames)
    out_frames = 1 if out_frames is None else check_int("out_frames", out_frames)
    if isinstance(path_or_dataset, (str, os.PathLike)):
        header = read_header(Path(path_or_dataset))
        with h5py.File(path_or_dataset, "r") as f:
            t = f["t"][:]
            coords = {d: f[d][:] for d in ("x", "y") if d in f}
        lengths = header.get("lengths")
        n_fields = len(header["fields"])
        spatial = tuple(header["shape"][2:])
    elif isinstance(path_or_dataset, xr.Dataset):
        ds = path_or_dataset
        fields = [
            name
            for name, var in ds.data_vars.items()
            if var.dims[:2] == ("sample", "t") and var.ndim >= 3
        ]
        if not fields or "t" not in ds.coords:
            raise ValueError(
                "the xarray.Dataset is not in the opkit layout: it needs a field variable with "
                f"dims (sample, t, x[, y]) and a `t` coordinate; got {dict(ds.sizes)}."
            )
        t = ds["t"].values
        dims = ds[fields[0]].dims[2:]
        coords = {d: ds[d].values for d in dims}
        raw = ds.attrs.get("lengths")
        lengths = json.loads(raw) if isinstance(raw, str) else raw
        n_fields = len(fields)
        spatial = tuple(int(ds.sizes[d]) for d in dims)
    else:
        raise TypeError(
            "`path_or_dataset` must be a file path, an xarray.Dataset, OperatorPairs or "
            f"FrameWindows, got {type(path_or_dataset).__name__}."
        )
    if lengths is None or len(lengths) != len(spatial):
        lengths = _lengths_from_coords(coords)
    dt = _uniform_step(t) if dt_override == "unset" else dt_override
    if dt is not None and not math.isfinite(dt):
        dt = None
    return DataSpec(
        spatial_shape=spatial,
        lengths=tuple(float(v) for v in lengths),
        n_fields=n_fields,
        in_frames=in_frames,
        out_frames=out_frames,
        dt=dt,
    )
