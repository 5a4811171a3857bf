"""The ``odes`` file (determinism, redraws, resume, shards, layout) and ODETrajectories."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import sympy
import torch
import xarray as xr
from _heat import one_torch_thread

import opkit
from opkit import symbolic
from opkit.pde_data import (
    ODE_FAMILIES,
    ODE_SYSTEMS,
    DatasetExistsError,
    DatasetFileError,
    ODEDatasetRecipe,
    ODETrajectories,
    _ode_generate,
    generate,
    merge,
    named_dataset,
    open_dataset,
    sample_seed,
)
from opkit.pde_data._ode_generate import _draw, attempt_seed, solve_samples_ode

# Three cheap families on a short horizon; blow_up=2.5 forces redraws (|u0| < 2 grows).
RECIPE = ODEDatasetRecipe(
    families=("thomas", "sprott_B", "four_wing"),
    t_end=2.0,
    n_t=64,
    n_input=16,
    blow_up=2.5,
    splits=(8, 2, 2),
    batch_size=5,
)
N_T, N_IN = 64, 16
SEED = 4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


def _make(path, **kw):
    kw.setdefault("progress", False)
    return generate(RECIPE, kw.pop("n", 12), out=path, seed=kw.pop("seed", SEED), **kw)


def _arrays(path):
    with h5py.File(path, "r") as f:
        names = ("u", "u0", "params", "attempt", "equation", "sample", "seed", "status")
        return {k: f[k][:] for k in (*names, "split", "family", "dim", "t")}


def _assert_same_bytes(a, b):
    arrays_a, arrays_b = _arrays(a), _arrays(b)
    for key in arrays_a:
        assert arrays_a[key].dtype == arrays_b[key].dtype, key
        assert arrays_a[key].tobytes() == arrays_b[key].tobytes(), key


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return _make(tmp_path_factory.mktemp("odes") / "ref.h5")


def test_layout_opens_in_xarray_and_records_each_sample(ref):
    with xr.open_dataset(ref, engine="h5netcdf") as ds, open_dataset(ref) as ds2:
        assert ds2.sizes == ds.sizes
        assert dict(ds["u"].sizes) == {"sample": 12, "t": N_T, "component": 5}
        assert ds["u"].dtype == np.float32 and ds["u0"].dtype == np.float64
        np.testing.assert_allclose(ds["t"], np.linspace(0, 2, N_T), rtol=0, atol=1e-15)
        assert json.loads(ds.attrs["families"]) == list(ODE_FAMILIES)
        assert ds.attrs["n_input"] == N_IN and ds.attrs["complete"] == 1
        names = json.loads(ds.attrs["param_names"])
        fam = ds["family"].values
        # balanced: sample i is family i mod 3 of the recipe's families
        expected = [ODE_FAMILIES.index(RECIPE.families[i % 3]) for i in range(12)]
        np.testing.assert_array_equal(fam, expected)
        np.testing.assert_array_equal(ds["split"], [0] * 8 + [1] * 2 + [2] * 2)
        np.testing.assert_array_equal(ds["seed"], [sample_seed(SEED, i) for i in range(12)])
        assert (ds["status"] == 0).all()
        for i in range(12):
            name = ODE_FAMILIES[fam[i]]
            system = ODE_SYSTEMS[name]
            d = system.dim
            u = ds["u"].values[i]
            assert int(ds["dim"][i]) == d
            assert (u[:, d:] == 0).all() and np.isfinite(u).all()
            assert np.abs(u).max() < 2.5  # redrawn below the (test) blow-up threshold
            np.testing.assert_array_equal(u[0, :d], ds["u0"].values[i, :d].astype(np.float32))
            params = dict(zip(names[name], ds["params"].values[i, : len(names[name])]))
            assert (ds["params"].values[i, len(names[name]) :] == 0).all()
            # the stored draw is the draw of the stored attempt, redone from its seed
            r = int(ds["attempt"][i])
            p, u0 = _draw(system, attempt_seed(SEED, i, r), 2.0)
            assert p == params
            np.testing.assert_array_equal(u0.numpy(), ds["u0"].values[i, :d])
            # the equation is the token string of the clean system
            eq = ds["equation"].values[i]
            assert isinstance(eq, str)
            assert eq == " ".join(symbolic.encode(system.expression(params)))
            decoded = symbolic.decode(eq.split())
            point = {sympy.Symbol(f"u_{k}"): 0.3 * (k + 1) for k in range(d)}
            truth = system.rhs(torch.tensor(list(point.values()), dtype=torch.float64), params)
            np.testing.assert_allclose([float(e.subs(point)) for e in decoded], truth, rtol=1e-12)
        assert (ds["attempt"] > 0).sum() >= 3  # the threshold forced redraws


def test_a_redrawn_sample_is_the_same_alone_in_a_batch_or_a_shard(ref, tmp_path):
    arrays = _arrays(ref)
    redrawn = int(np.flatnonzero(arrays["attempt"] > 0)[0])
    alone = solve_samples_ode(RECIPE, SEED, [redrawn], torch.device("cpu"))
    for key in ("u", "u0", "params", "attempt", "status", "equation"):
        assert alone[key][0].tobytes() == arrays[key][redrawn].tobytes(), key
    _assert_same_bytes(ref, _make(tmp_path / "b1.h5", batch_size=1))
    # the first samples of a smaller file are those of the larger one
    small = _arrays(_make(tmp_path / "n5.h5", n=5, splits=(5, 0, 0)))
    assert small["u"].tobytes() == arrays["u"][:5].tobytes()
    other = _arrays(_make(tmp_path / "s5.h5", seed=5))
    assert not np.array_equal(other["u"], arrays["u"])


def test_shards_merge_into_the_unsharded_file(ref, tmp_path):
    paths = [_make(tmp_path / "d.h5", shard=f"{k}/3", batch_size=3) for k in range(3)]
    with open_dataset(paths[1]) as ds:
        np.testing.assert_array_equal(ds["sample"], [4, 5, 6, 7])
    merged = merge(list(reversed(paths)), tmp_path / "merged.h5", progress=False)
    _assert_same_bytes(ref, merged)
    with open_dataset(ref) as a, open_dataset(merged) as b:
        assert json.loads(a.attrs["recipe"]) == json.loads(b.attrs["recipe"])
        assert b.attrs["shard_count"] == 1 and b.attrs["families"] == a.attrs["families"]


def test_interrupted_run_resumes_to_the_same_bytes(ref, tmp_path, monkeypatch):
    out = tmp_path / "killed.h5"
    real = _ode_generate.solve_samples_ode
    calls = []

    def dies_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_ode_generate, "solve_samples_ode", dies_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        _make(out)
    monkeypatch.setattr(_ode_generate, "solve_samples_ode", real)
    partial = out.with_name(out.name + ".partial")
    assert partial.exists() and not out.exists()
    with h5py.File(partial, "r") as f:
        assert int((f["status"][:] == 0).sum()) == 5  # the first batch is durable
    with pytest.raises(ValueError, match="different arguments"):
        _make(out, seed=5)
    _assert_same_bytes(ref, _make(out, batch_size=4))
    with pytest.raises(DatasetExistsError):
        _make(out)


def test_named_recipe_and_errors(tmp_path):
    assert opkit.generate is generate
    cpu, paper = named_dataset("odes"), named_dataset("odes", size="paper")
    assert isinstance(cpu, ODEDatasetRecipe) and cpu.families == ODE_FAMILIES
    assert cpu.splits == (2400, 300, 300) and paper.splits == (512000, 6000, 6000)
    assert (cpu.n_t, cpu.n_input, cpu.t_end, cpu.rtol) == (192, 64, 6.0, 1e-10)
    with pytest.raises(ValueError, match="takes no parameters"):
        named_dataset("odes", nu=0.1)
    with pytest.raises(TypeError, match="apply to PDE datasets"):
        generate("odes", 3, out=tmp_path / "x.h5", dt=0.1)
    with pytest.raises(ValueError, match="families"):
        ODEDatasetRecipe(families=("lorenz",))
    assert not list(tmp_path.iterdir())


def test_cli_rejects_parameters(tmp_path, capsys, monkeypatch):
    from opkit.cli import main

    monkeypatch.delenv("OPKIT_DEBUG", raising=False)
    assert main(["generate", "odes", "--out", str(tmp_path / "o.h5"), "--param", "nu=1"]) == 2
    err = capsys.readouterr().err
    assert "opkit: error:" in err and "takes no parameters" in err
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------- ODETrajectories
def test_items_split_the_trajectory_at_n_input(ref):
    train = ODETrajectories(ref, split="train")
    assert len(train) == 8 and len(ODETrajectories(ref, split="test")) == 2
    assert len(ODETrajectories(ref, split=None)) == 12
    arrays = _arrays(ref)
    for i in range(len(train)):
        item = train[i]
        assert item["t_in"].shape == (N_IN,) and item["u_in"].shape == (N_IN, 5)
        assert item["t_out"].shape == (N_T - N_IN,) and item["u_out"].shape == (N_T - N_IN, 5)
        assert item["u_in"].dtype == torch.float32
        j = int(train.sample_index[i])
        np.testing.assert_array_equal(item["u_in"].numpy(), arrays["u"][j, :N_IN])
        np.testing.assert_array_equal(item["u_out"].numpy(), arrays["u"][j, N_IN:])
        assert float(item["t_in"][-1]) < float(item["t_out"][0])
        assert int(item["dim"]) == 3 and int(item["family"]) == arrays["family"][j]
        assert item["symbols_target"] == b"".join(arrays["equation"][j]).decode().split()
        # clean input: the target with every number (float: sign, mantissa, exponent; and
        # integer) a placeholder
        placeholders, k, target = [], 0, item["symbols_target"]
        while k < len(target):
            if target[k] in ("+", "-") and k + 2 < len(target) and target[k + 1][0] == "N":
                placeholders.append(symbolic.PLACEHOLDER)
                k += 3
            else:
                integer = target[k].lstrip("-").isdigit()
                placeholders.append(symbolic.PLACEHOLDER if integer else target[k])
                k += 1
        assert item["symbols_in"] == placeholders
    with pytest.raises(IndexError):
        train[8]
    with pytest.raises(ValueError, match="split"):
        ODETrajectories(ref, split="training")
    with pytest.raises(ValueError, match="corrupt"):
        ODETrajectories(ref, corrupt=1.5)
    assert ODETrajectories(ref, split=None, corruption_mode="clean")[0]["symbols_in"] == (
        symbolic.hide_integers(train.symbols_in(0))
    )


def test_noise_is_the_authors_two_percent_of_the_whole_sequence(ref):
    """sigma = gamma ||X|| / ||E|| on the whole trajectory (prose_ode's trainer.py and
    evaluate.py): ||noise|| = gamma ||X|| exactly, input and target noisy, the clean target
    kept as u_out_clean."""
    clean = ODETrajectories(ref, split=None)
    noisy = ODETrajectories(ref, split=None, noise=0.02, seed=3)
    for i in range(len(clean)):
        a, b = clean[i], noisy[i]
        x = torch.cat([a["u_in"], a["u_out"]]).double()
        y = torch.cat([b["u_in"], b["u_out"]]).double()
        assert (y[:, 3:] == 0).all()  # padding stays zero
        ratio = float(torch.linalg.norm(y - x) / torch.linalg.norm(x))
        assert abs(ratio - 0.02) < 1e-5  # float32 storage of x + noise
        assert torch.equal(b["u_out_clean"], a["u_out"]) and torch.equal(
            a["u_out_clean"], a["u_out"]
        )
        # the direction is random: the noise is not a multiple of the state
        d = (y - x)[:, :3].flatten()
        assert abs(float(d @ x[:, :3].flatten()) / float(d.norm() * x.norm())) < 0.5
        # noise_target=False: the clean target as u_out, the same noisy input
        only_in = ODETrajectories(ref, split=None, noise=0.02, seed=3, noise_target=False)[i]
        assert torch.equal(only_in["u_in"], b["u_in"]) and torch.equal(only_in["u_out"], a["u_out"])
    # gamma scales sigma linearly: the same draw at 5 % is 2.5 times the 2 % noise
    five = ODETrajectories(ref, split=None, noise=0.05, seed=3)[4]
    two, base = noisy[4], clean[4]
    torch.testing.assert_close(five["u_in"] - base["u_in"], 2.5 * (two["u_in"] - base["u_in"]),
                               rtol=1e-3, atol=1e-5)  # fmt: skip
    # deterministic in (seed, index, epoch); another epoch or seed redraws
    again = ODETrajectories(ref, split=None, noise=0.02, seed=3)
    assert torch.equal(again[5]["u_in"], noisy[5]["u_in"])
    again.set_epoch(1)
    assert not torch.equal(again[5]["u_in"], noisy[5]["u_in"])
    other = ODETrajectories(ref, split=None, noise=0.02, seed=4)
    assert not torch.equal(other[5]["u_in"], noisy[5]["u_in"])


def _n_terms(tokens):
    return [len(sympy.Add.make_args(e)) for e in symbolic.decode(tokens)]


def test_corruption_one_mode_per_system(ref):
    zero = ODETrajectories(ref, split=None, corrupt=0.0, hide_integers=False)
    for mode, step in (("add", 1), ("delete", -1)):
        forced = ODETrajectories(ref, split=None, corruption_mode=mode, hide_integers=False)
        for i in range(len(zero)):
            clean, corrupted = zero[i]["symbols_in"], forced[i]["symbols_in"]
            assert forced[i]["corruption"] == mode and zero[i]["corruption"] == "clean"
            assert corrupted.count("|") == clean.count("|") == 2
            before, after = _n_terms(clean), _n_terms(corrupted)
            diff = [a - b for a, b in zip(after, before)]
            assert sorted(diff) == sorted([0, 0, step]), (before, after)
            assert forced[i]["symbols_target"] == zero[i]["symbols_target"]  # clean target
            assert forced[i]["symbols_in"] == corrupted  # deterministic
    drawn = ODETrajectories(ref, split=None, corrupt=0.15)
    modes = [drawn[i]["corruption"] for i in range(len(drawn))]
    assert set(modes) <= {"clean", "add", "delete"} and modes.count("clean") >= 4
    for i, mode in enumerate(modes):
        assert (drawn.symbols_in(i) == ODETrajectories(ref, split=None).symbols_in(i)) == (
            mode == "clean"
        )
    with pytest.raises(ValueError, match="corrupt"):
        ODETrajectories(ref, corrupt=0.6)
    with pytest.raises(ValueError, match="corruption_mode"):
        ODETrajectories(ref, corruption_mode="swap")


def test_symbol_input_hides_every_number_by_default(ref):
    hidden = ODETrajectories(ref, split=None)
    visible = ODETrajectories(ref, split=None, hide_integers=False)
    integers = {str(n) for n in range(-10, 11)}
    for i in range(len(hidden)):
        a, b = hidden[i]["symbols_in"], visible[i]["symbols_in"]
        assert not integers & set(a) and len(a) == len(b)
        assert a == [symbolic.PLACEHOLDER if t in integers else t for t in b]


def test_other_family_guess(ref):
    ds = ODETrajectories(ref, split=None, corruption_mode="other")
    own = ODETrajectories(ref, split=None)
    for i in range(len(ds)):
        item = ds[i]
        assert item["corruption"] == "other" and item["symbols_in"] != own[i]["symbols_in"]
        assert item["symbols_in"].count("|") == int(item["dim"]) - 1


def test_damaged_chunk_is_named_not_returned(ref, tmp_path):
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(ref.read_bytes())
    with h5py.File(damaged, "r") as f:
        assert f["u"].fletcher32  # per-sample checksums, like every opkit field
        offset = f["u"].id.get_chunk_info(3).byte_offset
    with open(damaged, "r+b") as fh:
        fh.seek(offset + 40)
        fh.write(b"\x7f\x7f\x7f\x7f")
    ds = ODETrajectories(damaged, split=None)
    assert torch.equal(ds[2]["u_in"], ODETrajectories(ref, split=None)[2]["u_in"])
    with pytest.raises(DatasetFileError, match="sample 3 of"):
        ds[3]


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_cli_generates_every_family(tmp_path):
    """All 15 systems through `opkit generate odes` (slow: Chen-Lee and Lorenz need ~3000
    and ~1200 adaptive steps at rtol 1e-10)."""
    from opkit.pde_data._cli import generate_main

    out = tmp_path / "odes.h5"
    assert generate_main(["odes", "--n-samples", "30", "--out", str(out), "--no-progress"]) == 0
    data = ODETrajectories(out, split=None)
    assert len(data) == 30
    with open_dataset(out) as ds:
        assert (ds["status"] == 0).all()
        np.testing.assert_array_equal(ds["family"], np.arange(30) % 15)
        for i in range(30):
            name = ODE_FAMILIES[int(ds["family"][i])]
            u = ds["u"].values[i, :, : ODE_SYSTEMS[name].dim]
            assert np.abs(u).max() < ODE_SYSTEMS[name].blow_up
            assert data[i]["symbols_target"] == ds["equation"].values[i].split()
