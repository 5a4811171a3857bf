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
