"""`opkit generate` and `opkit data merge|info`, in-process and as a real subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from _heat import one_torch_thread

from opkit.cli import main
from opkit.pde_data import generate, open_dataset

ROOT = Path(__file__).resolve().parent.parent.parent
SMALL = ["--param", "n_x=32", "--no-progress"]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


def _field(path):
    with h5py.File(path, "r") as f:
        return f["u"][:], f["seed"][:], f["split"][:]


def test_generate_matches_the_python_api(tmp_path, capsys):
    out = tmp_path / "b.h5"
    rc = main(["generate", "burgers", "--n-samples", "3", "--out", str(out), "--seed", "5", *SMALL])
    assert rc == 0
    assert capsys.readouterr().out.strip() == str(out)
    ref = generate("burgers", 3, out=tmp_path / "ref.h5", seed=5, n_x=32, progress=False)
    for a, b in zip(_field(out), _field(ref)):
        assert a.tobytes() == b.tobytes()


def test_param_overrides_reach_the_pde(tmp_path):
    out = tmp_path / "nu.h5"
    rc = main(
        ["generate", "burgers", "--n-samples", "2", "--out", str(out), "--param", "nu=0.1", *SMALL]
    )
    assert rc == 0
    with open_dataset(out) as ds:
        assert '"nu": 0.1' in ds.attrs["pde_params"]
        assert ds.sizes["x"] == 16


def test_shards_merge_and_info(tmp_path, capsys):
    full = tmp_path / "full.h5"
    assert main(["generate", "burgers", "--n-samples", "5", "--out", str(full), *SMALL]) == 0
    out = tmp_path / "d.h5"
    for k in range(2):
        args = ["generate", "burgers", "--n-samples", "5", "--out", str(out), "--shard", f"{k}/2"]
        assert main([*args, "--batch-size", "2", *SMALL]) == 0
    shards = [str(tmp_path / f"d.shard-{k}-of-2.h5") for k in range(2)]
    assert main(["data", "merge", str(out), *shards, "--no-progress"]) == 0
    for a, b in zip(_field(full), _field(out)):
        assert a.tobytes() == b.tobytes()
    capsys.readouterr()
    assert main(["data", "info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "burgers" in info and "samples   5" in info and "complete  yes" in info
    assert main(["data", "info", shards[1]]) == 0
    assert "shard     1/2 of 5 samples" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "burger", "--n-samples", "2"], "unknown dataset name 'burger'.*burgers"),
        (["generate", "burgers", "--param", "visc=1"], r"unknown parameter\(s\) \['visc'\]"),
        (["generate", "burgers", "--param", "nu"], "--param expects key=value"),
        (["generate", "burgers", "--shard", "2/2"], "0 <= k < N"),
        (["generate", "burgers", "--shard", "1-2"], "must look like 'k/N'"),
        (["generate", "burgers", "--n-samples", "0"], "`n_samples` must be an integer >= 1"),
        (["generate", "burgers", "--batch-size", "-1"], "`batch_size` must be an integer >= 1"),
        (["data", "info", "nope.h5"], "does not exist"),
        (["data", "merge", "m.h5", "nope.h5"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    if args[0] == "generate":
        args = [*args, "--out", str(tmp_path / "x.h5")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert not (tmp_path / "x.h5").exists() and not (tmp_path / "x.h5.partial").exists()


def test_existing_output_and_help(tmp_path, capsys):
    out = tmp_path / "b.h5"
    args = ["generate", "burgers", "--n-samples", "1", "--out", str(out), *SMALL]
    assert main(args) == 0
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--shard k/N" in text and "--param KEY=VALUE" in text and "burgers, ks, ns" in text
    with pytest.raises(SystemExit):
        main(["generate", "burgers"])  # --out is required


def test_real_subprocess(tmp_path):
    out = tmp_path / "sub.h5"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "opkit.cli", "generate", "burgers", "--n-samples", "2"]
    proc = subprocess.run(
        [*cmd, "--out", str(out), *SMALL], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    u, _, _ = _field(out)
    assert u.shape == (2, 2, 16) and np.isfinite(u).all()


# ---------------------------------------------------------------- disk, full disk, SIGTERM
# (issue 22, item 3: the `odes` path gets the PDE recipes' disk estimate and refusal, and
# an interrupted generation leaves a resumable partial, never a half-created file)
def _free(monkeypatch, n_bytes):
    import shutil

    from opkit.pde_data import _generate

    usage = shutil.disk_usage("/")
    fake = type(usage)(usage.total, usage.total - n_bytes, n_bytes)
    monkeypatch.setattr(_generate.shutil, "disk_usage", lambda path: fake)


def _plan(name, n, out):
    from opkit.pde_data._generate import _plan as plan
    from opkit.pde_data._generate import _Request

    return plan(name, _Request(n, out, None), size="cpu", overrides={}, params={})


@pytest.mark.parametrize("name", ["odes", "burgers"])
def test_the_disk_estimate_is_the_created_file_size(tmp_path, name):
    from opkit.pde_data._generate import _pde_kind, estimated_bytes
    from opkit.pde_data._ode_generate import create_ode_file

    n = 1500
    plan = _plan(name, n, tmp_path / "x.h5")
    rows = np.arange(n)
    split = np.zeros(n, np.int8)
    path = tmp_path / "created.h5"
    if name == "odes":
        create_ode_file(path, recipe=plan.recipe, rows=rows, seeds=rows, split=split, attrs={})
    else:
        _pde_kind(plan).create(path, rows, rows, split)
    size, estimate = path.stat().st_size, estimated_bytes(plan)
    assert abs(estimate - size) < 0.03 * size + (1 << 20), (size, estimate)


def test_odes_too_big_for_the_disk_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    _free(monkeypatch, 2 * 2**20)  # a 2 MB tmpfs
    out = tmp_path / "o.h5"
    code = main(["generate", "odes", "--n-samples", "2000", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("opkit: error:"), err
    # adaptive units: 2000 samples of 5066 B + 1 MiB of metadata, against the 2 MiB free
    # (it said "0.00 GiB vs 0.00 GiB")
    assert "needs about 10.7 MiB (2000 samples)" in err[0] and "2.0 MiB free" in err[0], err
    assert list(tmp_path.iterdir()) == []
    big = _plan("odes", 100_000_000, out)  # the 9.5-minute run: refused at once
    from opkit.pde_data._generate import estimated_bytes

    assert estimated_bytes(big) > 450 * 2**30


def test_no_disk_check_into_a_full_disk_ends_in_a_hint(tmp_path, monkeypatch, capsys):
    # HDF5 reports ENOSPC as a RuntimeError whose text holds "errno = 28" (what h5py
    # raised on a 2 MB tmpfs); the command ends in one line with the hint, exit 1
    from opkit.pde_data import _generate

    def full(path, **kw):
        path.write_bytes(b"\0" * 100)
        raise RuntimeError(
            "Unable to synchronously create dataset (file write failed: time = now, "
            f"filename = '{path}', file descriptor = 4, errno = 28, error message = 'No "
            "space left on device', buf = 0x5, total write size = 3260)"
        )

    monkeypatch.setattr(_generate, "create_file", full)
    out = tmp_path / "b.h5"
    code = main(["generate", "burgers", "--n-samples", "2", "--out", str(out), "--no-disk-check"])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("opkit: error:")]
    assert code == 1 and len(err) == 1, err
    assert "no space left on device while writing" in err[0] and "disk is full" in err[0]
    assert "file descriptor" not in err[0]
    assert list(tmp_path.iterdir()) == []  # the half-created file is gone


def _sigterm():
    import signal

    os.kill(os.getpid(), signal.SIGTERM)
    import time

    time.sleep(10)  # the handler interrupts this
    raise AssertionError("SIGTERM did not interrupt the command")


def test_sigterm_while_creating_leaves_nothing(tmp_path, monkeypatch, capsys):
    from opkit.pde_data import _generate

    real = _generate.create_ode_file

    def create_then_killed(path, **kw):
        real(path, **kw)
        assert path.exists()  # the half-made file that used to stay behind
        _sigterm()

    monkeypatch.setattr(_generate, "create_ode_file", create_then_killed)
    out = tmp_path / "o.h5"
    code = main(["generate", "odes", "--n-samples", "30", "--out", str(out), "--no-progress"])
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_sigterm_while_writing_leaves_a_resumable_partial(tmp_path, monkeypatch, capsys):
    from opkit.pde_data import _generate

    real, calls = _generate.solve_batch, []

    def killed_on_second_batch(*args):
        calls.append(1)
        if len(calls) == 2:
            _sigterm()
        return real(*args)

    args = ["generate", "odes", "--n-samples", "2", "--batch-size", "1", "--no-progress"]
    monkeypatch.setattr(_generate, "solve_batch", killed_on_second_batch)
    out = tmp_path / "o.h5"
    assert main([*args, "--out", str(out)]) == 130
    partial = Path(f"{out}.partial")
    assert sorted(p.name for p in tmp_path.iterdir()) == [partial.name]
    with h5py.File(partial) as f:
        assert f["status"][:].tolist() == [0, -1]  # the first sample is on disk
    monkeypatch.setattr(_generate, "solve_batch", real)
    assert main([*args, "--out", str(out)]) == 0  # resumes
    ref = tmp_path / "ref.h5"
    assert main([*args, "--out", str(ref)]) == 0
    with h5py.File(out) as a, h5py.File(ref) as b:
        for key in ("u", "equation", "params", "status"):
            assert a[key][:].tobytes() == b[key][:].tobytes(), key


def test_creating_an_odes_file_holds_a_few_bytes_per_sample(tmp_path, monkeypatch):
    # the per-sample index (sample, seed, split, family, dim, status) as numpy arrays, no
    # Python object per sample: the 100-million-sample run grew to 4.5 GB before
    # writing anything (a list of seeds alone took 52 bytes per sample)
    import tracemalloc

    from opkit.pde_data import _generate

    class Created(Exception):
        pass

    def stop(*args, **kwargs):
        raise Created

    monkeypatch.setattr(_generate, "SampleWriter", stop)
    n = 20_000
    tracemalloc.start()
    try:
        with pytest.raises(Created):
            generate("odes", n, out=tmp_path / "o.h5", progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert Path(f"{tmp_path / 'o.h5'}.partial").is_file()
    assert peak / n < 40, f"{peak / n:.1f} bytes per sample"
