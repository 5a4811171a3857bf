"""Lazy torch Datasets: contents, splits, skipped failures, DataLoader workers, DataSpec."""

from __future__ import annotations

import pickle
import warnings

import h5py
import numpy as np
import pytest
import torch
from _heat import FourierIC, Heat1D, Heat2D, Riccati1D, one_torch_thread
from torch.utils.data import DataLoader

from opkit.pde_data import (
    DatasetFileError,
    DataSpec,
    FrameWindows,
    OperatorPairs,
    data_spec,
    generate,
    open_dataset,
)

T = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


@pytest.fixture(scope="module")
def heat_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("tds") / "heat.h5"
    return generate(
        Heat1D(nu=0.1, length=2.0, n_x=32),
        10,
        out=out,
        initial_condition=FourierIC(length=2.0),
        t=T,
        stride=2,
        splits=(6, 2, 2),
        progress=False,
    )


@pytest.fixture(scope="module")
def field(heat_file):
    with h5py.File(heat_file) as f:
        return f["u"][:]


def test_operator_pairs_match_the_file(heat_file, field):
    ds = OperatorPairs(heat_file)
    assert len(ds) == 10
    for i in range(10):
        x, y = ds[i]
        assert x.shape == y.shape == (1, 16) and x.dtype == torch.float32
        np.testing.assert_array_equal(x[0].numpy(), field[i, 0])
        np.testing.assert_array_equal(y[0].numpy(), field[i, -1])
    test = OperatorPairs(heat_file, split="test", input_frame=4, output_frame=1)
    assert len(test) == 2 and test.sample_index.tolist() == [8, 9]
    x, y = test[-1]
    np.testing.assert_array_equal(x[0].numpy(), field[9, 4])
    np.testing.assert_array_equal(y[0].numpy(), field[9, 1])
    assert len(OperatorPairs(heat_file, split="train")) == 6
    with pytest.raises(IndexError):
        test[2]


def test_frame_windows_are_frame_major_and_oldest_first(heat_file, field):
    ds = FrameWindows(heat_file, split="val", in_frames=2, out_frames=3, stride=1)
    assert ds.n_windows == 2 and len(ds) == 4  # 6 frames: windows start at 0 and 1
    for i in range(4):
        x, y = ds[i]
        sample, start = ds.locate(i)
        assert sample in (6, 7)
        assert x.shape == (2, 16) and y.shape == (3, 16)
        np.testing.assert_array_equal(x.numpy(), field[sample, start : start + 2])
        np.testing.assert_array_equal(y.numpy(), field[sample, start + 2 : start + 5])
    strided = FrameWindows(heat_file, in_frames=1, out_frames=1, stride=2)
    assert strided.n_windows == 3 and [strided.locate(i)[1] for i in range(3)] == [0, 2, 4]
    # consecutive frames are one exact heat step apart: each Fourier mode decays by
    # exp(-nu k^2 dt); the target is the input propagated by that factor
    x, y = strided[1]
    k = 2 * np.pi * np.fft.rfftfreq(16, d=2.0 / 16)
    pred = np.fft.irfft(np.fft.rfft(x[0].double().numpy()) * np.exp(-0.1 * k**2 * 0.1), n=16)
    np.testing.assert_allclose(pred, y[0].numpy(), atol=1e-6)


def test_blown_up_samples_are_skipped(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = generate(
            Riccati1D(),
            16,
            out=tmp_path / "r.h5",
            initial_condition=FourierIC(n_modes=2, offset=-1.0),
            t=[0.0, 1.0, 2.0],
            progress=False,
        )
    with open_dataset(out) as ds:
        ok = np.flatnonzero(ds["status"].values == 0)
        u = ds["u"].values
    assert 0 < len(ok) < 16
    pairs = OperatorPairs(out)
    assert pairs.sample_index.tolist() == ok.tolist()
    windows = FrameWindows(out, in_frames=1, out_frames=1)
    assert len(windows) == 2 * len(ok)
    for i in range(len(pairs)):
        x, y = pairs[i]
        assert torch.isfinite(x).all() and torch.isfinite(y).all()
        np.testing.assert_array_equal(y[0].numpy(), u[ok[i], -1])


def _collect(loader):
    xs, ys = [], []
    for x, y in loader:
        xs.append(x)
        ys.append(y)
    return torch.cat(xs), torch.cat(ys)


def test_dataloader_workers_return_every_item_once(heat_file, field):
    pairs = OperatorPairs(heat_file, split="train")
    pairs[0]  # the parent opens its own handle before forking: workers must not reuse it
    loader = DataLoader(pairs, batch_size=4, shuffle=True, num_workers=2)
    x, y = _collect(loader)
    assert x.shape == (6, 1, 16)
    order = np.argsort([float(v) for v in x[:, 0, 0]])
    expected = np.argsort(field[:6, 0, 0])
    np.testing.assert_array_equal(x[order, 0].numpy(), field[:6, 0][expected])
    np.testing.assert_array_equal(y[order, 0].numpy(), field[:6, -1][expected])
    windows = FrameWindows(heat_file, in_frames=3, out_frames=2)
    loader = DataLoader(windows, batch_size=3, num_workers=2)
    x, y = _collect(loader)
    assert x.shape == (len(windows), 3, 16) and len(windows) == 10 * 2
    for i in range(len(windows)):
        sample, start = windows.locate(i)
        np.testing.assert_array_equal(x[i].numpy(), field[sample, start : start + 3])
        np.testing.assert_array_equal(y[i].numpy(), field[sample, start + 3 : start + 5])
    pairs.close()


def test_pickling_drops_the_handle(heat_file, field):
    ds = FrameWindows(heat_file, in_frames=1, out_frames=1)
    ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    assert not clone._reader.h5.is_open
    np.testing.assert_array_equal(clone[3][1].numpy(), field[0, 4:5])
    with OperatorPairs(heat_file) as pairs:
        pairs[0]
    assert not pairs._reader.h5.is_open


def test_two_dimensional_items(tmp_path):
    out = generate(
        Heat2D(n=8),
        3,
        out=tmp_path / "v.h5",
        initial_condition=FourierIC(n_modes=2),
        t=[0.0, 0.5, 1.0],
        progress=False,
    )
    x, y = FrameWindows(out, in_frames=2, out_frames=1)[0]
    assert x.shape == (2, 8, 8) and y.shape == (1, 8, 8)
    with h5py.File(out) as f:
        np.testing.assert_array_equal(y[0].numpy(), f["vorticity"][0, 2])
    spec = data_spec(out, in_frames=2, out_frames=1)
    assert spec == DataSpec((8, 8), (1.0, 1.0), 1, 2, 1, 0.5)


def test_frame_spacing_is_found_through_float32_rounding():
    from opkit.pde_data._torch_datasets import _uniform_step

    t32 = torch.linspace(0, 1.1, 12).numpy()  # float32: steps differ in the 7th digit
    assert _uniform_step(t32) == pytest.approx(0.1, rel=1e-6)
    assert _uniform_step(np.array([0.0, 0.1, 0.2, 0.31])) is None
    assert _uniform_step(np.array([0.0])) is None


def test_data_spec(heat_file):
    spec = data_spec(heat_file, in_frames=3, out_frames=2)
    assert spec.spatial_shape == (16,) and spec.lengths == (2.0,)
    assert (spec.in_channels, spec.out_channels) == (3, 2)
    assert spec.dt == pytest.approx(0.1)
    np.testing.assert_allclose(spec.coords()[0].numpy(), np.arange(16) * 2.0 / 16)
    windows = FrameWindows(heat_file, in_frames=2, out_frames=3)
    assert data_spec(windows) == data_spec(heat_file, in_frames=2, out_frames=3)
    assert data_spec(OperatorPairs(heat_file)).dt is None
    with open_dataset(heat_file) as ds:
        assert data_spec(ds, in_frames=3, out_frames=2) == spec
    with pytest.raises(ValueError, match="contradicts the dataset's in_frames"):
        data_spec(windows, in_frames=4)
    with pytest.raises(TypeError, match="must be a file path"):
        data_spec(42)


def test_bad_arguments(heat_file, tmp_path):
    with pytest.raises(ValueError, match=r"`split` must be one of \['train', 'val', 'test'\]"):
        OperatorPairs(heat_file, split="training")
    with pytest.raises(ValueError, match=r"`output_frame` \(=6\) is out of range .* 6 frames"):
        OperatorPairs(heat_file, output_frame=6)
    with pytest.raises(TypeError, match="integer frame index"):
        OperatorPairs(heat_file, input_frame=0.5)
    with pytest.raises(ValueError, match="do not fit in trajectories of 6 frames"):
        FrameWindows(heat_file, in_frames=4, out_frames=3)
    with pytest.raises(ValueError, match="`stride` must be an integer >= 1"):
        FrameWindows(heat_file, stride=0)
    truncated = tmp_path / "t.h5"
    data = heat_file.read_bytes()
    truncated.write_bytes(data[:1000])
    with pytest.raises(DatasetFileError, match="not a readable HDF5"):
        OperatorPairs(truncated)
    foreign = tmp_path / "f.h5"
    with h5py.File(foreign, "w") as f:
        f["u"] = np.zeros((2, 2, 4))
    with pytest.raises(DatasetFileError, match="not an opkit dataset"):
        FrameWindows(foreign)
