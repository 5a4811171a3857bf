"""The on-disk layout: netCDF-4/xarray view, exact stored values, validation errors."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
import torch
import xarray as xr
from _heat import FourierIC, Heat1D, Heat2D, one_torch_thread

from opkit.pde_data import (
    DatasetFileError,
    dataset_info,
    generate,
    open_dataset,
    sample_seed,
)
from opkit.pde_data._store import SampleWriter, create_file, read_header


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


@pytest.fixture(scope="module")
def heat_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("store") / "heat.h5"
    generate(
        Heat1D(nu=0.05, n_x=64),
        10,
        out=out,
        seed=7,
        initial_condition=FourierIC(n_modes=5),
        t=torch.linspace(0, 1, 5),
        stride=2,
        splits=(6, 2, 2),
        batch_size=4,
        progress=False,
    )
    return out


def test_sample_seed_is_seedsequence_of_seed_and_index():
    for seed, i in [(0, 0), (0, 1), (7, 123456), (2**40, 3)]:
        expected = np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(1, np.uint64)[0]
        assert sample_seed(seed, i) == int(expected) >> 1
        assert 0 <= sample_seed(seed, i) < 2**63
    seeds = {sample_seed(s, i) for s in range(3) for i in range(200)}
    assert len(seeds) == 600  # no collisions between samples or dataset seeds


def test_xarray_opens_the_file_with_named_dims_and_coordinates(heat_file):
    with xr.open_dataset(heat_file, engine="h5netcdf") as ds:
        assert ds["u"].dims == ("sample", "t", "x")
        assert ds["u"].dtype == np.float32
        assert dict(ds.sizes) == {"sample": 10, "t": 5, "x": 32}
        np.testing.assert_array_equal(ds["sample"], np.arange(10))
        np.testing.assert_allclose(ds["t"], np.linspace(0, 1, 5))
        # every 2nd point of the 64-point grid x_j = j / 64
        np.testing.assert_array_equal(ds["x"], np.arange(0, 64, 2) / 64)
        assert ds["seed"].dtype == np.int64 and ds["status"].dtype == np.int8
        assert ds["split"].dtype == np.int8
        np.testing.assert_array_equal(ds["split"], [0] * 6 + [1] * 2 + [2] * 2)
        np.testing.assert_array_equal(ds["status"], np.zeros(10))
        np.testing.assert_array_equal(ds["seed"], [sample_seed(7, i) for i in range(10)])
        attrs = ds.attrs
        assert attrs["complete"] == 1 and attrs["opkit_schema_version"] == 1
        assert attrs["pde_name"] == "heat" and attrs["field"] == "u"
        assert json.loads(attrs["pde_params"])["nu"] == 0.05
        assert json.loads(attrs["lengths"]) == [1.0]
        recipe = json.loads(attrs["recipe"])
        assert recipe["seed"] == 7 and recipe["n_samples"] == 10 and recipe["stride"] == 2
        assert recipe["splits"] == {"train": 6, "val": 2, "test": 2}
        assert recipe["grid_solved"] == [64] and recipe["grid_stored"] == [32]
        assert recipe["initial_condition"]["init_args"]["n_modes"] == 5
    with h5py.File(heat_file) as f:
        assert f["u"].chunks == (1, 5, 32)  # one sample per chunk


def test_stored_values_are_the_exact_solution_of_each_seeded_sample(heat_file):
    ic = FourierIC(n_modes=5)
    x = torch.arange(64, dtype=torch.float64)[::2] / 64
    with open_dataset(heat_file) as ds:
        u = ds["u"].values
        for i in range(10):
            gen = torch.Generator().manual_seed(sample_seed(7, i))
            coef = ic.coefficients(1, generator=gen)
            for j, tj in enumerate(np.linspace(0, 1, 5)):
                exact = ic.evaluate(coef, [x], t=float(tj), nu=0.05)[0].numpy()
                np.testing.assert_allclose(u[i, j], exact, rtol=0, atol=2e-7)


def test_two_dimensional_layout_and_values(tmp_path):
    out = generate(
        Heat2D(nu=0.05, n=8),
        3,
        out=tmp_path / "ns.h5",
        initial_condition=FourierIC(n_modes=2),
        t=[0.0, 0.5],
        progress=False,
    )
    ic = FourierIC(n_modes=2)
    grid = torch.arange(8, dtype=torch.float64) / 8
    with open_dataset(out) as ds:
        assert ds["vorticity"].dims == ("sample", "t", "x", "y")
        assert dict(ds.sizes) == {"sample": 3, "t": 2, "x": 8, "y": 8}
        for i in range(3):
            gen = torch.Generator().manual_seed(int(ds.seed.values[i]))
            coef = ic.coefficients(1, generator=gen, ndim=2)
            exact = ic.evaluate(coef, [grid, grid], t=0.5, nu=0.05)[0].numpy()
            np.testing.assert_allclose(ds["vorticity"].values[i, 1], exact, atol=2e-7)
    with h5py.File(out) as f:
        assert f["vorticity"].chunks == (1, 2, 8, 8)


def test_partial_file_records_progress_and_is_rejected_until_complete(tmp_path):
    path = tmp_path / "p.h5.partial"
    create_file(
        path,
        field="u",
        sample=np.arange(4),
        t=np.array([0.0, 1.0]),
        coords={"x": np.arange(8) / 8},
        seed=np.arange(4),
        split=np.zeros(4, np.int8),
        attrs={"opkit_schema_version": 1, "field": "u"},
    )
    with SampleWriter(path, "u") as w:
        np.testing.assert_array_equal(w.pending(), [0, 1, 2, 3])
        w.write(np.array([0, 1]), np.ones((2, 2, 8)), np.array([0, 1]))
        np.testing.assert_array_equal(w.pending(), [2, 3])
    header = read_header(path, allow_partial=True)
    assert header["complete"] == 0 and header["shape"] == (4, 2, 8)
    with pytest.raises(DatasetFileError, match=r"incomplete .*2 of 4 samples missing.*resume"):
        open_dataset(path)
    with xr.open_dataset(path, engine="h5netcdf") as ds:  # still a valid netCDF file
        np.testing.assert_array_equal(ds["status"], [0, 1, -1, -1])
        assert np.isnan(ds["u"].values[2:]).all()
    assert "pending 2" in dataset_info(path)


def test_open_dataset_rejects_foreign_truncated_and_missing_files(tmp_path, heat_file):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["tensor"] = np.zeros((2, 3))
    with pytest.raises(DatasetFileError, match="not an opkit dataset.*read_pdebench"):
        open_dataset(foreign)
    truncated = tmp_path / "truncated.h5"
    data = heat_file.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFileError, match="not a readable HDF5 file"):
        open_dataset(truncated)
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(DatasetFileError, match="not a readable HDF5 file"):
        open_dataset(text)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_dataset(tmp_path / "nope.h5")
    shutil.copy(heat_file, tmp_path / "gone.h5.partial")
    with pytest.raises(FileNotFoundError, match="unfinished .*partial exists"):
        open_dataset(tmp_path / "gone.h5")


def test_dataset_info_summarises_the_file(heat_file):
    info = dataset_info(heat_file)
    assert "heat" in info and "complete  yes" in info
    assert "train 6, val 2, test 2" in info
    assert "ok 10, non-finite 0, pending 0" in info
    assert "5 frames in [0, 1]" in info
