"""Real DDP with two CPU processes (gloo): disjoint data per rank, identical weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch


def test_ddp_two_cpu_processes(burgers_file, tmp_path):
    script = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(script), str(burgers_file), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = [json.loads((tmp_path / f"seen{r}.json").read_text()) for r in (0, 1)]
    for epoch in ("0", "1"):
        a, b = set(seen[0][epoch]), set(seen[1][epoch])
        assert a and b and not (a & b), "ranks must see disjoint samples"
        assert len(a | b) == 120  # the whole training split, once
    w0 = torch.load(tmp_path / "weights0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "weights1.pt", weights_only=True)
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # ... and training actually changed them.
    init = torch.load(tmp_path / "initial.pt", weights_only=True)
    assert any(not torch.equal(init[k], w0[k]) for k in init if k.startswith("model."))
