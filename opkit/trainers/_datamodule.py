"""`OperatorDataModule`: opkit HDF5 files -> batches for `OperatorModule`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset, TensorDataset

from .._checks import check_int
from ..pde_data import (
    DatasetFileError,
    DataSpec,
    FrameWindows,
    OperatorPairs,
    data_spec,
    open_dataset,
    recorded_pde,
)
from ._datasets import BUILTIN_DATASETS, data_source, resolve_dataset

__all__ = ["OperatorDataModule"]

Mode = Literal["auto", "pairs", "windows"]


class OperatorDataModule(L.LightningDataModule):
    """Batches from an opkit dataset file, split by the file's own ``split`` variable.

    Two modes (``mode="auto"`` picks ``pairs`` for files with two frames, else ``windows``):

    - ``pairs``: operator pairs ``u(t_0) -> u(t_end)`` (e.g. the FNO Burgers map);
    - ``windows``: sliding windows of ``in_frames`` frames -> the next ``out_frames``
      (autoregressive training); validation and test add a second loader of whole
      trajectories for rollout scoring (``val/rollout_rel_l2``).

    Reading is lazy (one HDF5 handle per worker process). Normalisation statistics are
    computed on the training split only (:meth:`statistics`) and end up in the model's
    checkpoint through `OperatorModule`.

    Args:
        path: an opkit HDF5 file (``opkit.generate`` writes them), or a built-in dataset
            name (``"burgers"``, ``"ks"``, ``"ns"``) generated on first use into the cache
            folder (``$OPKIT_CACHE``, default ``~/.cache/opkit``), as `opkit.fit` does.
        size: size of a built-in dataset: ``"cpu"`` (default) or ``"paper"``.
        in_frames, out_frames: window sizes in ``windows`` mode (1 and 1 in ``pairs``).
        mode: ``"auto"``, ``"pairs"`` or ``"windows"``.
        batch_size: training batch size (evaluation uses the same).
        num_workers: DataLoader worker processes.
        normalization: ``"standard"`` (mean/std of the field), ``"minmax"`` (the field's min-max
            to [0, 1], DyMixOp's recipe) or ``"none"``.
        unroll: training targets hold ``unroll * out_frames`` frames (unrolled training).
        max_train_samples: use only the first N training items (quick runs).
        in_memory: hold each split in RAM after one pass over the file (``True``), read
            every batch from the file (``False``), or decide by size (``None``, default:
            in RAM when a split's items take less than 1 GiB). Small operator datasets
            train several times faster from RAM; large ones stay lazy.
        shift_augment: train on randomly shifted copies of each batch: every training item
            (input frames and targets alike) is rolled by its own random whole number of
            grid points along each spatial axis. Exact for PDEs whose periodic shifts map
            solutions to solutions (``AbstractPDE.translation_invariant``); it teaches
            models without built-in shift equivariance (DeepONet) the symmetry, and changes
            nothing for exactly equivariant ones (FNO, up to its grid positional
            embedding). ``"auto"`` (default) turns it on when the
            file's recorded PDE has the symmetry (opkit's 1-D PDEs, unforced
            Navier–Stokes) and off otherwise (forced flows, files without a recipe); True
            / False force it. The effect on DeepONet is measured in
            ``benchmarks/`` (the Burgers suite).
        train_stride: train on every ``train_stride``-th grid point along each spatial axis
            (the grid coarsened by that factor, after the shift augmentation, so that the
            shifted batches still visit every point); validation, testing and prediction
            use the full grid. For discretisation-invariant models (FNO, DyMixOp: the same
            weights act on any grid) a training item then costs about ``train_stride **
            ndim`` times less: the FNO paper's zero-shot super-resolution (Li et al. 2021,
            Sec. 5.4), used to train. Every spatial size must be a multiple of it; 1
            (default) trains on the data's grid.
        seed: the seed of training's random draws: the order of the training items in
            epoch ``e`` and the shifts of its ``k``-th batch are functions of ``(seed, e,
            k)`` only, so a run resumed from an epoch-boundary checkpoint repeats the
            uninterrupted run exactly. Default: the seed given to
            ``lightning.seed_everything`` (``opkit fit``'s ``seed_everything``), else 0.

    Each split is checked once for non-finite values when it is first loaded: samples
    marked ok that hold NaN/Inf are an error naming them (they would otherwise poison the
    normalisation or turn the validation metrics into ``nan``).

    Raises:
        ValueError: the file is not a complete opkit dataset, the windows do not fit into
            its trajectories, or a split holds non-finite values (when it is loaded).
    """

    def __init__(
        self,
        path: str,
        *,
        size: str = "cpu",
        in_frames: int = 1,
        out_frames: int = 1,
        mode: Mode = "auto",
        batch_size: int = 32,
        num_workers: int = 0,
        normalization: Literal["standard", "minmax", "none"] = "standard",
        unroll: int = 1,
        max_train_samples: int | None = None,
        in_memory: bool | None = None,
        shift_augment: bool | Literal["auto"] = "auto",
        train_stride: int = 1,
        seed: int | None = None,
    ):
        super().__init__()
        if mode not in ("auto", "pairs", "windows"):
            raise ValueError(f"`mode` must be 'auto', 'pairs' or 'windows', got {mode!r}.")
        if normalization not in ("standard", "minmax", "none"):
            raise ValueError(
                f"`normalization` must be 'standard', 'minmax' or 'none', got {normalization!r}."
            )
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {batch_size}.")
        if unroll < 1:
            raise ValueError(f"`unroll` must be >= 1, got {unroll}.")
        if shift_augment not in (True, False, "auto"):
            raise ValueError(
                f"`shift_augment` must be True, False or 'auto', got {shift_augment!r}."
            )
        self.path = _data_path(path, size=size)
        self.name = str(path) if str(path) in BUILTIN_DATASETS else None
        with open_dataset(self.path) as ds:
            self.n_t = int(ds.sizes["t"])
            self.field = _field_name(ds)
        if mode == "auto":
            mode = "pairs" if self.n_t == 2 else "windows"
        if mode == "pairs":
            in_frames = out_frames = 1
        elif in_frames + out_frames * unroll > self.n_t:
            raise ValueError(
                f"windows of `in_frames` (={in_frames}) + `unroll` (={unroll}) x `out_frames` "
                f"(={out_frames}) frames do not fit in trajectories of {self.n_t} frames; "
                "use fewer frames."
            )
        self.mode = mode
        self.in_frames, self.out_frames, self.unroll = in_frames, out_frames, unroll
        self.batch_size, self.num_workers = batch_size, num_workers
        self.normalization = normalization
        self.max_train_samples = max_train_samples
        self.in_memory = in_memory
        self.spec: DataSpec = data_spec(self.path, in_frames=in_frames, out_frames=out_frames)
        self.train_stride = train_stride
        if shift_augment == "auto":
            pde = recorded_pde(self.path)
            shift_augment = pde is not None and pde.translation_invariant
        self.shift_augment: bool = bool(shift_augment)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"`seed` must be a non-negative int or None, got {seed!r}.")
        self.seed = seed
        self._sets: dict[str, Dataset] = {}
        self._checked: set[str] = set()
        self._stats: dict[str, torch.Tensor] | None = None
        self._batch_counter = (-1, 0)  # (epoch, training batches seen in it)

    @property
    def train_stride(self) -> int:
        """The coarsening of the training grid (see ``train_stride``); settable, checked."""
        return self._train_stride

    @train_stride.setter
    def train_stride(self, value: int) -> None:
        stride = check_int("train_stride", value, minimum=1)
        if any(n % stride for n in self.spec.spatial_shape):
            raise ValueError(
                f"`train_stride` (={value}) must divide every spatial size of {self.path} "
                f"(grid {self.spec.spatial_shape}), so that the coarse training grid is "
                "uniform and periodic; use a divisor (1: the data's grid)."
            )
        self._train_stride = stride

    @property
    def training_seed(self) -> int:
        """The seed of the training draws (see ``seed``)."""
        if self.seed is not None:
            return self.seed
        return int(os.environ.get("PL_GLOBAL_SEED", 0))

    def _epoch(self) -> int:
        trainer = self._trainer_or_none()
        return int(getattr(trainer, "current_epoch", 0)) if trainer is not None else 0

    def _trainer_or_none(self):
        try:
            return self.trainer
        except RuntimeError:
            return None

    # -- datasets ----------------------------------------------------------------------
    def _check_finite(self, split: str) -> None:
        """Once per split: refuse samples marked ok that hold NaN/Inf, naming them."""
        if split in self._checked:
            return
        with OperatorPairs(self.path, split=split) as pairs:
            bad = pairs.nonfinite_samples()
        if bad:
            shown = bad if len(bad) <= 20 else [*bad[:20], "..."]
            raise DatasetFileError(
                f"the {split} split of {self.path!r} holds NaN/Inf values in sample(s) {shown} "
                f"({len(bad)} in all) although their status is 0 (ok): they would poison the "
                "normalisation and the metrics. Regenerate the file, or set their `status` to "
                "1 so that opkit skips them."
            )
        self._checked.add(split)

    def dataset(self, split: str, *, whole: bool = False) -> Dataset:
        """The items of ``split``: windows (or pairs), or with ``whole`` the trajectories
        ``(first in_frames frames, all later frames)`` for rollouts; cached.

        Raises:
            ValueError: the split is empty or holds non-finite values.
        """
        key = f"{split}/{'whole' if whole else 'items'}"
        if key not in self._sets:
            self._check_finite(split)
            if self.mode == "pairs":
                ds: Dataset = OperatorPairs(self.path, split=split)
            elif whole:
                ds = FrameWindows(
                    self.path,
                    split=split,
                    in_frames=self.in_frames,
                    out_frames=self.n_t - self.in_frames,
                )
            else:
                m = self.out_frames * (self.unroll if split == "train" else 1)
                ds = FrameWindows(self.path, split=split, in_frames=self.in_frames, out_frames=m)
            if split == "train" and not whole and self.max_train_samples is not None:
                ds = Subset(ds, range(min(len(ds), int(self.max_train_samples))))
            if len(ds) == 0:
                raise ValueError(
                    f"split {split!r} of {self.path} is empty; generate the file with a "
                    f"non-empty {split} split."
                )
            if self._keep_in_memory(ds):
                ds = _materialize(ds)
            self._sets[key] = ds
        return self._sets[key]

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        trainer = self._trainer_or_none()
        if self.shift_augment and trainer is not None and trainer.training:
            epoch = int(getattr(trainer, "current_epoch", 0))
            last_epoch, count = self._batch_counter
            k = count if epoch == last_epoch else 0
            self._batch_counter = (epoch, k + 1)
            x, y = batch
            gen = torch.Generator(device=x.device).manual_seed(
                step_seed(self.training_seed, epoch, k, 1)
            )
            batch = random_periodic_shift(x, y, n_spatial=self.spec.ndim, generator=gen)
        if self.train_stride > 1 and trainer is not None and trainer.training:
            batch = tuple(coarsen(t, self.train_stride, self.spec.ndim) for t in batch)
        return batch

    def _keep_in_memory(self, ds: Dataset) -> bool:
        if self.in_memory is not None:
            return bool(self.in_memory)
        x, y = ds[0]
        return len(ds) * (x.numel() + y.numel()) * x.element_size() < _IN_MEMORY_BYTES

    def setup(self, stage: str | None = None) -> None:
        # Datasets open their HDF5 handle lazily, so building them here is cheap and safe
        # before worker processes fork.
        self.dataset("train")

    def loader(self, ds: Dataset, shuffle: bool = False) -> DataLoader:
        """A DataLoader over ``ds`` with this module's batch size and workers; shuffled
        in an order that depends only on ``(seed, epoch)``."""
        sampler = EpochShuffle(len(ds), lambda: (self.training_seed, self._epoch()))
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            sampler=sampler if shuffle else None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.dataset("train"), shuffle=True)

    def _eval_loaders(self, split: str):
        loaders = [self.loader(self.dataset(split), shuffle=False)]
        if self.mode == "windows" and self.n_t > self.in_frames + self.out_frames:
            loaders.append(self.loader(self.dataset(split, whole=True), shuffle=False))
        return loaders

    def val_dataloader(self):
        return self._eval_loaders("val")

    def test_dataloader(self):
        return self._eval_loaders("test")

    def predict_dataloader(self):
        return self.loader(self.dataset("test"), shuffle=False)

    # -- statistics --------------------------------------------------------------------
    def source(self) -> dict:
        """Where the training data came from (`opkit.trainers.data_source`)."""
        return data_source(self.path, name=self.name, max_train_samples=self.max_train_samples)

    def statistics(self) -> dict[str, torch.Tensor]:
        """Normalisation statistics of the *training* split.

        Returns ``{"in_shift", "in_scale", "out_shift", "out_scale"}``, each ``(n_fields,)``.
        An opkit file stores one field (its ``field`` variable), so the statistics are
        taken over all of that field's training values and hold one entry per field of
        the model's channels (all equal); `FieldNormalizer` applies them per field. In
        ``pairs`` mode inputs and outputs get their own statistics; in ``windows`` mode
        both use the statistics of all training frames (rollouts feed outputs back in).
        """
        if self._stats is None:
            self._stats = self._compute_statistics()
        return self._stats

    def _compute_statistics(self) -> dict[str, torch.Tensor]:
        n_fields = self.spec.n_fields
        ones, zeros = torch.ones(n_fields), torch.zeros(n_fields)
        if self.normalization == "none":
            return {"in_shift": zeros, "in_scale": ones, "out_shift": zeros, "out_scale": ones}
        self._check_finite("train")
        with open_dataset(self.path) as ds:
            keep = (ds["split"] == 0) & (ds["status"] == 0)
            arr = ds[self.field].isel(sample=keep.values.nonzero()[0])
            if self.max_train_samples is not None and self.mode == "pairs":
                arr = arr.isel(sample=slice(0, int(self.max_train_samples)))
            if self.mode == "pairs":
                parts = {"in": arr.isel(t=[0]), "out": arr.isel(t=[self.n_t - 1])}
            else:
                parts = {"in": arr, "out": arr}
            out = {}
            for name, part in parts.items():
                v = torch.as_tensor(part.values, dtype=torch.float64)
                # (sample, t, [field,] *spatial): one field per variable in opkit files.
                v = v.reshape(-1)
                if self.normalization == "standard":
                    shift, scale = v.mean(), v.std()
                else:
                    shift, scale = v.min(), v.max() - v.min()
                out[f"{name}_shift"] = shift.float().repeat(n_fields)
                out[f"{name}_scale"] = scale.float().clamp_min(1e-8).repeat(n_fields)
        return out

    def training_tensors(self, max_items: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to ``max_items`` training pairs ``(x, y)`` stacked in memory (for POD etc.)."""
        ds = self.dataset("train")
        n = min(len(ds), max_items)
        xs, ys = zip(*(ds[i] for i in range(n)))
        return torch.stack(xs), torch.stack(ys)

    def example(self, split: str = "val") -> tuple[torch.Tensor, torch.Tensor]:
        """The first item ``(x, y)`` of a split (used for plots)."""
        return self.dataset(split)[0]


_IN_MEMORY_BYTES = 1 << 30


def step_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from integers (seed, epoch, step, purpose...)."""
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


class EpochShuffle(Sampler[int]):
    """A random order of ``range(n)`` that depends only on ``(seed, epoch)``.

    ``key()`` returns ``(seed, epoch)`` when iteration starts, so an epoch replayed after a
    resume draws the same order (torch's default sampler draws from the global RNG, which
    a checkpoint does not restore).
    """

    def __init__(self, n: int, key):
        self.n, self.key = n, key

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        seed, epoch = self.key()
        gen = torch.Generator().manual_seed(step_seed(seed, epoch, 0))
        return iter(torch.randperm(self.n, generator=gen).tolist())


def coarsen(x: torch.Tensor, stride: int, n_spatial: int) -> torch.Tensor:
    """Every ``stride``-th point of ``x`` along its ``n_spatial`` trailing axes,
    ``(..., n_1, ..., n_d) -> (..., n_1 / stride, ..., n_d / stride)``."""
    return x[(..., *[slice(None, None, stride)] * n_spatial)]


def random_periodic_shift(
    *fields: torch.Tensor, n_spatial: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, ...]:
    """Roll every item of a batch by its own random whole number of grid points.

    Args:
        fields: tensors ``(batch, channels, *spatial)`` with the same batch size and grid,
            rolled alike (input frames and targets of one item move together).
        n_spatial: number of trailing spatial dims (1 or 2); each axis gets its own shift,
            uniform over the grid points.
        generator: random source (default: torch's global one, on the tensors' device).

    Returns:
        the rolled tensors, in order.
    """
    x = fields[0]
    b, shape = x.shape[0], x.shape[x.ndim - n_spatial :]
    out = list(fields)
    for axis, n in enumerate(shape):
        shift = torch.randint(0, n, (b,), device=x.device, generator=generator)
        index = (torch.arange(n, device=x.device)[None, :] + shift[:, None]) % n  # (b, n)
        dim = x.ndim - n_spatial + axis
        for k, t in enumerate(out):
            view = [b] + [1] * (t.ndim - 1)
            view[dim] = n
            out[k] = torch.gather(t, dim, index.reshape(view).expand(t.shape))
    return tuple(out)


def _materialize(ds: Dataset) -> TensorDataset:
    """Read every item of a lazy dataset once into RAM (one pass over the file)."""
    xs, ys = [], []
    for x, y in DataLoader(ds, batch_size=256, shuffle=False):
        xs.append(x)
        ys.append(y)
    return TensorDataset(torch.cat(xs), torch.cat(ys))


def _data_path(path: str, *, size: str) -> str:
    """``path``, or the cached file of a built-in name (generated on first use)."""
    text = str(path)
    if text in BUILTIN_DATASETS:
        return str(resolve_dataset(text, size=size))  # checks `size`
    if not Path(text).exists():
        name = next((n for n in BUILTIN_DATASETS if Path(text).stem.startswith(n)), "NAME")
        raise ValueError(
            f"`path` {text!r} does not exist. Make it with `opkit generate {name} --out "
            f"{text}`, or give a built-in name ({', '.join(BUILTIN_DATASETS)}; e.g. "
            "`path: burgers`), generated on first use into the cache folder."
        )
    return text


def _field_name(ds) -> str:
    """The field variable named by the file's ``field`` attribute (``u``, ``vorticity``...)."""
    field = ds.attrs.get("field")
    if field not in ds.data_vars:
        raise ValueError(
            f"the dataset's `field` attribute ({field!r}) names none of its variables "
            f"{list(ds.data_vars)}; it was not written by opkit (convert foreign data with "
            "opkit.pde_data.convert_pdebench)."
        )
    return field
