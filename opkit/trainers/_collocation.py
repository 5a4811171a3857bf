"""`CollocationDataModule`: collocation batches for `PINNModule`, in the unit square."""

from __future__ import annotations

import lightning as L
import torch

from .._checks import check_int
from ..models.pinns import SAMPLERS, collocation_points

__all__ = ["CollocationDataModule"]


class _CollocationStream(torch.utils.data.IterableDataset):
    """An endless stream of collocation batches (``steps_per_epoch`` per epoch)."""

    def __init__(self, n_t, n_x, n_ic, sampler, steps, seed):
        super().__init__()
        self.n_t, self.n_x, self.n_ic, self.sampler = n_t, n_x, n_ic, sampler
        self.steps, self.seed = steps, seed
        self._generator: torch.Generator | None = None

    def __iter__(self):
        if self._generator is None:
            rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
            # Each process draws its own points; the stream continues across epochs.
            self._generator = torch.Generator().manual_seed(self.seed + 1_000_003 * rank)
        x_ic = torch.arange(self.n_ic, dtype=torch.float32) / self.n_ic
        for _ in range(self.steps):
            t, x = collocation_points(
                self.n_t, self.n_x, sampler=self.sampler, generator=self._generator
            )
            yield {"t": t, "x": x, "x_ic": x_ic}

    def __len__(self) -> int:
        return self.steps


class CollocationDataModule(L.LightningDataModule):
    """Collocation batches for `PINNModule`, in the unit square.

    Each training batch is ``{"t": (n_t,), "x": (n_t, n_x), "x_ic": (n_ic,)}``: sorted times
    in ``[0, 1]``, positions in ``[0, 1)`` and the uniform initial-condition points
    ``i / n_ic``; :class:`~opkit.trainers.PINNModule` maps them to its window and domain.
    An "epoch" is ``steps_per_epoch`` batches (the validation cadence); validation yields a
    single placeholder batch (the module scores the whole solution on the reference grid).

    Args:
        n_t: collocation times per batch (default 32).
        n_x: positions per time (default 64).
        n_ic: initial-condition points (default 256).
        sampler: ``"random"`` (default, fresh uniform points every step), ``"grid"``,
            ``"sobol"``, ``"halton"`` or ``"lhs"`` (see
            :func:`~opkit.models.pinns.collocation_points`).
        steps_per_epoch: batches per epoch (default 1000).
        seed: seed of the stream (default 0); each process of a multi-device run adds an
            offset from its rank.

    Raises:
        ValueError: for sizes below the minimum or an unknown sampler.
    """

    def __init__(
        self,
        n_t: int = 32,
        n_x: int = 64,
        *,
        n_ic: int = 256,
        sampler: str = "random",
        steps_per_epoch: int = 1000,
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_int("n_t", n_t, minimum=2)
        check_int("n_x", n_x, minimum=1)
        check_int("n_ic", n_ic, minimum=2)
        check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        if sampler not in SAMPLERS:
            raise ValueError(f"`sampler` must be one of {SAMPLERS}, got {sampler!r}.")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"`seed` must be an integer, got {seed!r}.")
        self.save_hyperparameters()
        self._train = _CollocationStream(n_t, n_x, n_ic, sampler, steps_per_epoch, seed)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(self._train, batch_size=None)

    def _single(self):
        return torch.utils.data.DataLoader([torch.zeros(1)], batch_size=None)

    def val_dataloader(self):
        return self._single()

    def test_dataloader(self):
        return self._single()

    def predict_dataloader(self):
        return self._single()
