"""`OperatorDataModule`'s random periodic shifts: exact rolls, on only where the PDE allows."""

import types

import pytest
import torch

from opkit.trainers import OperatorDataModule
from opkit.trainers._datamodule import random_periodic_shift


def _is_roll(a: torch.Tensor, b: torch.Tensor) -> tuple[int, ...] | None:
    """The shift s with ``a == roll(b, -s)`` over the trailing spatial dims, if any."""
    n_spatial = 2 if a.ndim == 3 else 1
    dims = tuple(range(-n_spatial, 0))
    shape = a.shape[-n_spatial:]
    for s in torch.cartesian_prod(*[torch.arange(n) for n in shape]).reshape(-1, n_spatial):
        s = tuple(int(v) for v in s)
        if torch.equal(a, torch.roll(b, tuple(-v for v in s), dims)):
            return s
    return None


@pytest.mark.parametrize("spatial", [(12,), (6, 5)])
def test_each_item_and_its_target_roll_by_the_same_random_shift(spatial):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, *spatial, generator=g)
    y = torch.randn(16, 2, *spatial, generator=g)
    xs, ys = random_periodic_shift(x, y, n_spatial=len(spatial), generator=g)
    shifts = []
    for i in range(16):
        s = _is_roll(xs[i], x[i])
        assert s is not None and _is_roll(ys[i], y[i]) == s
        shifts.append(s)
    assert len(set(shifts)) > 4  # items get their own shifts


def test_shift_augment_auto_follows_the_recorded_pde(burgers_file, ns_file):
    assert OperatorDataModule(str(burgers_file)).shift_augment  # Burgers: invariant
    assert not OperatorDataModule(str(ns_file), in_frames=2).shift_augment  # forced flow
    assert not OperatorDataModule(str(burgers_file), shift_augment=False).shift_augment
    assert OperatorDataModule(str(ns_file), in_frames=2, shift_augment=True).shift_augment
    with pytest.raises(ValueError, match="shift_augment"):
        OperatorDataModule(str(burgers_file), shift_augment="yes")


def test_only_training_batches_are_shifted(burgers_file):
    dm = OperatorDataModule(str(burgers_file), batch_size=8)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    dm.trainer = types.SimpleNamespace(training=False)
    xv, yv = dm.on_after_batch_transfer((x, y), 0)
    assert torch.equal(xv, x) and torch.equal(yv, y)
    dm.trainer = types.SimpleNamespace(training=True)
    torch.manual_seed(1)
    xt, yt = dm.on_after_batch_transfer((x, y), 0)
    assert not torch.equal(xt, x)
    for i in range(len(x)):
        s = _is_roll(xt[i], x[i])
        assert s is not None and _is_roll(yt[i], y[i]) == s


def test_train_stride_coarsens_training_batches_only(burgers_file):
    """``train_stride=4``: a training batch is every 4th point of its shifted items (a roll
    of the full item, then the stride); evaluation batches keep the data's grid."""
    dm = OperatorDataModule(str(burgers_file), batch_size=8, train_stride=4)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    dm.trainer = types.SimpleNamespace(training=False)
    assert dm.on_after_batch_transfer((x, y), 0)[0].shape == x.shape
    dm.trainer = types.SimpleNamespace(training=True, current_epoch=0)
    xt, yt = dm.on_after_batch_transfer((x, y), 0)
    assert xt.shape == (*x.shape[:-1], x.shape[-1] // 4) and yt.shape[-1] == y.shape[-1] // 4
    for i in range(len(x)):  # the same shift s for input and target: full[s + 4 j]
        s = next(s for s in range(x.shape[-1]) if torch.equal(xt[i], x[i].roll(-s, -1)[..., ::4]))
        assert torch.equal(yt[i], y[i].roll(-s, -1)[..., ::4])
    with pytest.raises(ValueError, match="must divide every spatial size"):
        OperatorDataModule(str(burgers_file), train_stride=3)  # 128 points
    with pytest.raises(ValueError, match="train_stride"):
        OperatorDataModule(str(burgers_file), train_stride=0)
