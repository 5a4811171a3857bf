"""PDEBench 1-D reader on small synthetic files written in PDEBench's layout."""

from __future__ import annotations

import json
import math

import h5py
import numpy as np
import pytest
from _heat import one_torch_thread

from opkit.pde_data import (
    OperatorPairs,
    convert_pdebench,
    data_spec,
    open_dataset,
    read_pdebench,
)

N, T, X = 20, 6, 16
DT_SAVE = 0.01


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


def _write(path, *, attrs, t_extra=1, nan_sample=None):
    """A file as PDEBench's Data_Merge.transform writes it (tensor, x-/t-coordinate)."""
    dx = 1.0 / X
    x = np.arange(X) * dx + 0.5 * dx  # cell centres
    # like the generator: it_tot = T snapshots, t-coordinate = arange(it_tot + 1) * dt_save
    t = np.arange(T + t_extra) * DT_SAVE
    n, j, k = np.meshgrid(np.arange(N), np.arange(T), np.arange(X), indexing="ij")
    tensor = np.sin(2 * np.pi * (k + 0.5) / X + n) * np.exp(-j * DT_SAVE) + 0.001 * n
    tensor = tensor.astype(np.float32)
    if nan_sample is not None:
        tensor[nan_sample, 3, 5] = np.nan
    with h5py.File(path, "w") as f:
        f.create_dataset("tensor", data=tensor)
        f.create_dataset("x-coordinate", data=x)
        f.create_dataset("t-coordinate", data=t)
        for key, value in attrs.items():
            f.attrs[key] = value
    return tensor, x, t


def test_burgers_file(tmp_path):
    path = tmp_path / "1D_Burgers_Sols_Nu0.001.hdf5"
    tensor, x, t = _write(path, attrs={"Nu": 0.001}, nan_sample=7)
    ds = read_pdebench(path)
    assert ds["u"].dims == ("sample", "t", "x") and dict(ds.sizes) == {"sample": N, "t": T, "x": X}
    assert not ds["u"].variable._in_memory  # lazily indexed until read
    np.testing.assert_array_equal(ds["t"], t[:T])  # the extra last coordinate is dropped
    np.testing.assert_array_equal(ds["x"], x)
    np.testing.assert_array_equal(ds["u"][3, 2].values, tensor[3, 2])
    np.testing.assert_array_equal(ds["u"][::5, -1, 2:9].values, tensor[::5, -1, 2:9])
    status = np.zeros(N, np.int8)
    status[7] = 1
    np.testing.assert_array_equal(ds["status"], status)
    assert ds.attrs["n_failed"] == 1
    split = np.zeros(N, np.int8)
    split[:2] = 2  # PDEBench: the first int(0.1 N) samples are the test split
    np.testing.assert_array_equal(ds["split"], split)
    params = json.loads(ds.attrs["pde_params"])
    assert ds.attrs["pde_name"] == "burgers"
    assert params["nu"] == pytest.approx(0.001 / math.pi) and params["pdebench_Nu"] == 0.001
    assert json.loads(ds.attrs["lengths"]) == [1.0]
    spec = data_spec(ds)
    assert spec.spatial_shape == (X,) and spec.lengths == (1.0,)
    assert spec.dt == pytest.approx(DT_SAVE)


def test_convert_to_an_opkit_file(tmp_path):
    src = tmp_path / "1D_Advection_Sols_beta0.4.hdf5"
    tensor, _, _ = _write(src, attrs={"beta": 0.4}, nan_sample=12)
    out = convert_pdebench(src, tmp_path / "adv.h5", progress=False, block=6)
    with open_dataset(out) as ds, read_pdebench(src) as ref:
        assert ds.attrs["pde_name"] == "advection"
        assert json.loads(ds.attrs["pde_params"]) == {"c": 0.4}
        for name in ("u", "status", "split", "seed", "t", "x", "sample"):
            np.testing.assert_array_equal(ds[name].values, ref[name].values)
        np.testing.assert_array_equal(ds["u"].values, tensor)
    pairs = OperatorPairs(out, split="train")
    assert len(pairs) == N - 2 - 1  # 2 test samples, 1 with NaN
    x, y = pairs[0]
    np.testing.assert_array_equal(x[0].numpy(), tensor[2, 0])
    np.testing.assert_array_equal(y[0].numpy(), tensor[2, -1])
    with pytest.raises(ValueError, match="already exists"):
        convert_pdebench(src, out)


def test_reaction_diffusion_and_exact_t(tmp_path):
    path = tmp_path / "ReacDiff_Nu0.5_Rho1.0.hdf5"
    _, _, t = _write(path, attrs={"Nu": 0.5, "rho": 1.0}, t_extra=0)
    ds = read_pdebench(path, test_ratio=0.25, check_finite=False)
    np.testing.assert_array_equal(ds["t"], t)
    assert json.loads(ds.attrs["pde_params"]) == {"nu": 0.5, "rho": 1.0}  # no 1/pi here
    assert int((ds["split"] == 2).sum()) == 5


def test_bad_files(tmp_path):
    bad_t = tmp_path / "bad_t.hdf5"
    _write(bad_t, attrs={}, t_extra=3)
    with pytest.raises(ValueError, match=r"'t-coordinate' has 9 entries for 6 snapshots"):
        read_pdebench(bad_t)
    other = tmp_path / "2d.hdf5"
    with h5py.File(other, "w") as f:
        f["0000/data"] = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match=r"not a PDEBench 1-D file: it lacks \['tensor'"):
        read_pdebench(other)
    text = tmp_path / "x.hdf5"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        read_pdebench(text)
    with pytest.raises(FileNotFoundError):
        read_pdebench(tmp_path / "missing.hdf5")
    with pytest.raises(ValueError, match="`test_ratio` must be a number in"):
        read_pdebench(bad_t, test_ratio=1.5)
