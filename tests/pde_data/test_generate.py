"""`generate`: determinism across batching/shards/resume, crash safety, failures, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from _heat import FourierIC, Heat1D, Riccati1D, one_torch_thread

from opkit.pde_data import (
    DatasetExistsError,
    DatasetFileError,
    DatasetRecipe,
    NonFiniteSampleError,
    generate,
    merge,
    named_dataset,
    open_dataset,
    sample_seed,
)
from opkit.pde_data._shards import parse_shard, shard_path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


def _heat(out, n=12, **kw):
    kw.setdefault("progress", False)
    return generate(
        Heat1D(nu=0.1, n_x=32, seconds_per_solve=kw.pop("delay", 0.0)),
        n,
        out=out,
        seed=kw.pop("seed", 3),
        initial_condition=FourierIC(),
        t=[0.0, 0.25, 0.5],
        **kw,
    )


def _arrays(path):
    with h5py.File(path, "r") as f:
        field = f.attrs["field"]
        return {k: f[k][:] for k in (field, "sample", "seed", "status", "split", "t", "x")}


def _assert_same_bytes(a, b):
    arrays_a, arrays_b = _arrays(a), _arrays(b)
    assert arrays_a.keys() == arrays_b.keys()
    for key in arrays_a:
        assert arrays_a[key].dtype == arrays_b[key].dtype, key
        assert arrays_a[key].tobytes() == arrays_b[key].tobytes(), key


def test_batch_size_never_changes_a_byte(tmp_path):
    ref = _heat(tmp_path / "b1.h5", batch_size=1)
    for b in (5, 12, 64):
        _assert_same_bytes(ref, _heat(tmp_path / f"b{b}.h5", batch_size=b))
    # ... while the seed does
    other = _arrays(_heat(tmp_path / "s4.h5", seed=4))["u"]
    assert not np.array_equal(other, _arrays(ref)["u"])


def test_sample_i_depends_only_on_seed_and_i(tmp_path):
    small = _arrays(_heat(tmp_path / "n5.h5", n=5))
    large = _arrays(_heat(tmp_path / "n12.h5", n=12))
    assert small["u"].tobytes() == large["u"][:5].tobytes()
    np.testing.assert_array_equal(small["seed"], [sample_seed(3, i) for i in range(5)])


def test_shards_merge_into_the_unsharded_file(tmp_path):
    ref = _heat(tmp_path / "full.h5", batch_size=4)
    paths = [_heat(tmp_path / "d.h5", shard=f"{k}/3", batch_size=3) for k in range(3)]
    assert [p.name for p in paths] == [f"d.shard-{k}-of-3.h5" for k in range(3)]
    with open_dataset(paths[1]) as ds:  # global sample indices, contiguous block
        np.testing.assert_array_equal(ds["sample"], [4, 5, 6, 7])
        assert ds.attrs["shard_index"] == 1 and ds.attrs["shard_count"] == 3
    merged = merge(list(reversed(paths)), tmp_path / "merged.h5", progress=False)
    _assert_same_bytes(ref, merged)
    with open_dataset(ref) as a, open_dataset(merged) as b:
        assert json.loads(a.attrs["recipe"]) == json.loads(b.attrs["recipe"])
        assert b.attrs["shard_count"] == 1 and b.attrs["complete"] == 1


def test_merge_rejects_shards_that_do_not_belong_together(tmp_path):
    paths = [_heat(tmp_path / "d.h5", shard=(k, 2)) for k in range(2)]
    other = _heat(tmp_path / "e.h5", shard=(1, 2), seed=9)
    with pytest.raises(ValueError, match=r"shards \[1\] of 2 are missing"):
        merge(paths[:1], tmp_path / "m.h5")
    with pytest.raises(ValueError, match="given twice"):
        merge([paths[0], paths[0], paths[1]], tmp_path / "m.h5")
    with pytest.raises(ValueError, match="does not belong.*seed"):
        merge([paths[0], other], tmp_path / "m.h5")
    with pytest.raises(DatasetExistsError, match="already exists"):
        merge(paths, paths[0])
    with pytest.raises(ValueError, match="non-empty list"):
        merge([], tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists() and not (tmp_path / "m.h5.partial").exists()


def _child(out: Path, n: int) -> subprocess.Popen:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from _heat import FourierIC, Heat1D;"
        "from opkit.pde_data import generate;"
        f"generate(Heat1D(nu=0.1, n_x=32, seconds_per_solve=0.15), {n}, out=sys.argv[2], seed=3,"
        " initial_condition=FourierIC(), t=[0.0, 0.25, 0.5], batch_size=2, progress=False)"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, str(HERE), str(out)], env=env)


def _progress(partial: Path) -> int:
    try:
        with h5py.File(partial, "r", locking=False) as f:
            return int((f["status"][:] >= 0).sum())
    except (OSError, KeyError):
        return 0


def test_killed_run_resumes_to_the_same_bytes(tmp_path):
    n = 24
    out = tmp_path / "killed.h5"
    partial = Path(f"{out}.partial")
    proc = _child(out, n)
    try:
        deadline = time.monotonic() + 120
        while _progress(partial) == 0:
            assert proc.poll() is None, "the generating process ended before it was killed"
            assert time.monotonic() < deadline, "no progress recorded within 120 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert not out.exists() and partial.exists()
    done = _progress(partial)
    assert 0 < done < n
    with pytest.raises(DatasetFileError, match="incomplete"):
        open_dataset(partial)
    # different arguments: refused, the partial is left untouched
    with pytest.raises(ValueError, match=r"different arguments \(.*seed.*delete it"):
        _heat(out, n=n, seed=4, delay=0.15)
    assert _progress(partial) == done
    resumed = _heat(out, n=n, delay=0.15, batch_size=5)
    assert resumed == out and not partial.exists()
    _assert_same_bytes(_heat(tmp_path / "ref.h5", n=n, delay=0.15), resumed)


def test_blown_up_samples_get_status_1_and_a_warning(tmp_path):
    kwargs = dict(initial_condition=FourierIC(n_modes=2, offset=-1.0), t=[0.0, 1.0, 2.0])
    with pytest.warns(RuntimeWarning, match=r"(\d+) of 16 samples .* non-finite"):
        out = generate(Riccati1D(), 16, out=tmp_path / "r.h5", progress=False, **kwargs)
    with open_dataset(out) as ds:
        u, status = ds["u"].values, ds["status"].values
        assert ds.attrs["n_failed"] == int(status.sum())
        seeds = ds["seed"].values
    assert 0 < status.sum() < 16  # some blow up, some do not
    ic = FourierIC(n_modes=2, offset=-1.0)
    for i in range(16):
        u0 = ic.sample(1, 16, generator=torch.Generator().manual_seed(int(seeds[i])))
        ref = Riccati1D().solve(u0, torch.tensor([0.0, 1.0, 2.0]))[0]
        finite = bool(torch.isfinite(ref).all())
        assert status[i] == (0 if finite else 1)
        if finite:
            np.testing.assert_array_equal(u[i], ref.float().numpy())
        else:
            assert np.isnan(u[i]).all()
    # throw=True stops at the first blow-up; the partial resumes to the same file
    with pytest.raises(NonFiniteSampleError, match="non-finite"):
        generate(
            Riccati1D(),
            16,
            out=tmp_path / "t.h5",
            progress=False,
            throw=True,
            batch_size=2,
            **kwargs,
        )
    assert (tmp_path / "t.h5.partial").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        again = generate(Riccati1D(), 16, out=tmp_path / "t.h5", progress=False, **kwargs)
    _assert_same_bytes(out, again)


def test_burn_in_shifts_the_stored_times(tmp_path):
    out = _heat(tmp_path / "b.h5", n=2, burn_in=0.3)
    ic = FourierIC()
    x = torch.arange(32, dtype=torch.float64) / 32
    with open_dataset(out) as ds:
        np.testing.assert_allclose(ds["t"], [0.3, 0.55, 0.8])
        for i in range(2):
            coef = ic.coefficients(1, generator=torch.Generator().manual_seed(sample_seed(3, i)))
            for j, tj in enumerate([0.3, 0.55, 0.8]):
                exact = ic.evaluate(coef, [x], t=tj, nu=0.1)[0].numpy()
                np.testing.assert_allclose(ds["u"].values[i, j], exact, atol=2e-7)


def test_existing_output(tmp_path):
    out = _heat(tmp_path / "x.h5", n=2)
    with pytest.raises(DatasetExistsError, match="already exists.*overwrite=True"):
        _heat(out, n=2)
    first = _arrays(out)["u"]
    _heat(out, n=2, seed=11, overwrite=True)
    assert not np.array_equal(first, _arrays(out)["u"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 0}, ValueError, r"`n_samples` must be an integer >= 1, got 0"),
        ({"n_samples": 2.5}, ValueError, r"`n_samples` must be an integer >= 1, got 2.5"),
        ({"batch_size": 0}, ValueError, r"`batch_size` must be an integer >= 1, got 0"),
        ({"batch_size": -3}, ValueError, r"`batch_size` must be an integer >= 1"),
        ({"shard": "2/2"}, ValueError, r"0 <= k < N"),
        ({"shard": "a/b"}, ValueError, r"must look like 'k/N'"),
        ({"shard": (0, 0)}, ValueError, r"0 <= k < N"),
        ({"shard": "0/99"}, ValueError, r"99 shards of only 4 samples"),
        ({"seed": -1}, ValueError, r"`seed` must be a non-negative integer"),
        ({"stride": 3}, ValueError, r"`stride` \(=3\) must divide the PDE's grid \(32,\)"),
        ({"t": [0.5, 1.0]}, ValueError, r"`t` must start at 0"),
        ({"splits": (1, 1, 1)}, ValueError, r"must add up to `n_samples` \(=4\)"),
        (
            {"device": "cuda:0" if not torch.cuda.is_available() else "nodevice"},
            ValueError,
            r"`device`",
        ),
        ({"nu": 0.3}, TypeError, r"PDE parameters go to the PDE's constructor"),
        ({"initial_condition": FourierIC(length=2.0)}, ValueError, r"length.*differs"),
        ({"initial_condition": object()}, TypeError, r"sampler with a"),
    ],
)
def test_bad_input_fails_before_any_file_is_written(tmp_path, kwargs, error, match):
    args = {
        "n_samples": 4,
        "out": tmp_path / "bad.h5",
        "initial_condition": FourierIC(),
        "t": [0.0, 1.0],
        "progress": False,
        **kwargs,
    }
    n = args.pop("n_samples")
    with pytest.raises(error, match=match):
        generate(Heat1D(n_x=32), n, **args)
    assert list(tmp_path.iterdir()) == []


def test_named_errors_and_recipe(tmp_path):
    with pytest.raises(ValueError, match=r"unknown dataset name 'burger'.*burgers, ks, ns"):
        generate("burger", out=tmp_path / "b.h5")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['viscosity'\].*valid.*nu"):
        generate("burgers", 2, out=tmp_path / "b.h5", viscosity=0.1)
    with pytest.raises(ValueError, match=r"`size` must be one of"):
        generate("burgers", 2, out=tmp_path / "b.h5", size="huge")
    with pytest.raises(ValueError, match="folder of `out`"):
        generate("burgers", 2, out=tmp_path / "missing" / "b.h5")
    with pytest.raises(TypeError, match="needs initial_condition= and t="):
        generate(Heat1D(), 2, out=tmp_path / "b.h5")
    assert list(tmp_path.iterdir()) == []
    cpu = named_dataset("burgers")
    assert isinstance(cpu, DatasetRecipe)
    assert (cpu.pde.nu, cpu.pde.n_x, cpu.stride, cpu.stored_shape) == (1e-2, 2048, 2, (1024,))
    assert cpu.splits == (1000, 100, 200) and cpu.n_samples == 1300 and cpu.t == (0.0, 1.0)
    paper = named_dataset("burgers", size="paper")
    assert (paper.pde.nu, paper.pde.n_x, paper.stored_shape) == (1e-3, 8192, (1024,))
    assert named_dataset("burgers", nu=0.1).pde.nu == 0.1


def test_named_burgers_small(tmp_path):
    out = generate("burgers", 4, out=tmp_path / "b.h5", n_x=64, progress=False, batch_size=3)
    recipe = named_dataset("burgers", n_x=64)
    with open_dataset(out) as ds:
        assert dict(ds.sizes) == {"sample": 4, "t": 2, "x": 32}
        # 1000/100/200 scaled to 4 samples: val round(0.31) = 0, test round(0.62) = 1
        np.testing.assert_array_equal(ds["split"], [0, 0, 0, 2])
        rec = json.loads(ds.attrs["recipe"])
        assert rec["pde"]["class_path"] == "opkit.pde_data.Burgers1D"
        assert rec["pde"]["init_args"]["nu"] == 0.01 and rec["dt"] == 1 / 64
        for i in range(4):
            gen = torch.Generator().manual_seed(int(ds["seed"].values[i]))
            u0 = recipe.initial_condition.sample(1, 64, generator=gen)[0]
            np.testing.assert_array_equal(ds["u"].values[i, 0], u0[::2].float().numpy())
            # viscous Burgers conserves the mean and dissipates energy (u(1) is smooth
            # enough for the 32 stored points to give its mean to float32 precision)
            u = ds["u"].values[i].astype(np.float64)
            assert abs(u[1].mean() - float(u0.mean())) < 1e-6
            assert (u[1] ** 2).mean() < (u[0] ** 2).mean()


def test_a_recipe_instance_is_the_named_dataset(tmp_path):
    recipe = named_dataset("burgers", n_x=32)
    a = generate(recipe, 3, out=tmp_path / "a.h5", progress=False)
    b = generate("burgers", 3, out=tmp_path / "b.h5", n_x=32, progress=False)
    _assert_same_bytes(a, b)
    with pytest.raises(TypeError, match="PDE parameters go to the PDE's constructor"):
        generate(recipe, 3, out=tmp_path / "c.h5", nu=0.2)


def test_parse_shard_and_shard_path():
    assert parse_shard("1/4") == (1, 4) and parse_shard((0, 1)) == (0, 1)
    assert parse_shard(None) is None
    assert shard_path("data/burgers.h5", 2, 8) == Path("data/burgers.shard-2-of-8.h5")


def test_named_ks_ns_and_generic_recipes_small(tmp_path):
    ks = generate("ks", 2, out=tmp_path / "ks.h5", n_x=64, progress=False)
    with open_dataset(ks) as ds:
        assert dict(ds.sizes) == {"sample": 2, "t": 21, "x": 16}
        np.testing.assert_array_equal(ds["t"], np.arange(100.0, 121.0))  # after burn-in
        assert json.loads(ds.attrs["lengths"]) == [pytest.approx(64 * np.pi)]
        assert np.isfinite(ds["u"].values).all()
    ns = generate("ns", 2, out=tmp_path / "ns.h5", n=16, t=[0.0, 0.05], progress=False)
    with open_dataset(ns) as ds:
        assert ds["vorticity"].dims == ("sample", "t", "x", "y")
        assert dict(ds.sizes) == {"sample": 2, "t": 2, "x": 16, "y": 16}
        w = ds["vorticity"].values.astype(np.float64)
        # the mean vorticity on the torus is conserved (zero for GRF data)
        assert abs(w[:, 1].mean()) < 1e-6
        assert json.loads(ds.attrs["recipe"])["dt"] == 1e-3
    for name in ("allen_cahn", "advection"):
        out = generate(name, 2, out=tmp_path / f"{name}.h5", n_x=64, progress=False)
        with open_dataset(out) as ds:
            assert ds.sizes["t"] == 11 and np.isfinite(ds["u"].values).all()
    ks_paper = named_dataset("ks", size="paper")
    assert (ks_paper.pde.n_x, ks_paper.stored_shape, ks_paper.splits) == (
        4096,
        (256,),
        (1000, 0, 200),
    )
    ns_paper = named_dataset("ns", size="paper")
    assert (ns_paper.pde.n, ns_paper.stored_shape, ns_paper.dt) == (256, (64, 64), 1e-4)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("name", ["burgers", "ks", "ns"])
def test_named_cpu_size(tmp_path, name):
    """Generate each built-in dataset at its CPU size (minutes) and check its physics."""
    start = time.perf_counter()
    out = generate(name, out=tmp_path / f"{name}.h5", progress=False)
    elapsed = time.perf_counter() - start
    recipe = named_dataset(name)
    with open_dataset(out) as ds:
        field = ds[recipe.pde.field].values.astype(np.float64)
        assert ds.sizes["sample"] == recipe.n_samples
        assert (ds["status"].values == 0).all()
        counts = [int((ds["split"] == c).sum()) for c in range(3)]
        assert tuple(counts) == recipe.splits
    if name == "burgers":
        energy = (field**2).mean(axis=-1)
        assert (energy[:, 1] < energy[:, 0]).all()  # viscous decay
    elif name == "ks":
        # on the attractor: O(1) fluctuations, zero mean (mean is conserved from ~0)
        assert 0.8 < field.std() < 2.0 and abs(field.mean()) < 0.05
    else:
        assert abs(field.mean()) < 1e-5 and np.isfinite(field).all()
    print(f"{name}: {recipe.n_samples} samples in {elapsed:.0f} s")


def test_recipe_records_rebuild_what_they_describe():
    from opkit._records import rebuild, record
    from opkit.pde_data import GRF1D, Burgers1D, NavierStokes2D

    for obj in (Burgers1D(nu=0.02, n_x=64), GRF1D(alpha=2.0, tau=5.0), NavierStokes2D(1e-3, 16)):
        assert rebuild(json.loads(json.dumps(record(obj)))) == obj
    # a 32 x 32 forcing is recorded by digest: it cannot come back, and says so
    forced = record(NavierStokes2D(nu=1e-3, n=32, forcing=torch.zeros(32, 32)))
    with pytest.raises(ValueError, match="by digest"):
        rebuild(forced)
    # classes outside opkit./torch. are refused before anything is imported, in both the
    # current and the legacy {"class", "params"} form
    for rec in ({"class": "os.system", "params": {}}, {"class_path": "os.system"}):
        with pytest.raises(ValueError, match="outside"):
            rebuild(rec)
    with pytest.raises(ValueError, match="does not describe a valid"):
        rebuild({"class_path": "opkit.pde_data.Burgers1D", "init_args": {"nu": -1.0}})
