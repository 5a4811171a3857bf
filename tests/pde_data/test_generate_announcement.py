"""First-use generation says what it does: one line before the work (dataset, size,
samples, file, size on disk, a rough time from the recipe), then a bar with samples/s
and the time left."""

import re

from opkit.pde_data import generate
from opkit.pde_data._generate import _plan, _Request, announcement, estimated_bytes


def _announce(name, n, **params):
    plan = _plan(name, _Request(n, "/tmp/unused/x.h5", 0), size="cpu", overrides={}, params=params)
    return plan, announcement(plan)


def test_the_line_names_what_where_how_large_and_how_long():
    plan, line = _announce("burgers", 400, n_x=1024)
    assert line.startswith("generate burgers (size 'cpu'): 400 samples into /tmp/unused/x.h5")
    mib = estimated_bytes(plan) / 2**20
    assert f"about {mib:.1f} MiB on disk" in line
    # Burgers' default step is dx: 1024 steps over t in [0, 1] on the 1024-point grid
    assert "(1,024 solver steps on 1,024 points per sample)" in line
    assert re.search(r"roughly \d+ (s|min|h) on a CPU", line)


def _seconds(line: str) -> float:
    value, unit = re.search(r"roughly ([\d.]+) (s|min|h)", line).groups()
    return float(value) * {"s": 1, "min": 60, "h": 3600}[unit]


def test_the_time_grows_with_the_work():
    small = _seconds(_announce("burgers", 400, n_x=1024)[1])
    more = _seconds(_announce("burgers", 1600, n_x=1024)[1])
    finer = _seconds(_announce("burgers", 400, n_x=2048)[1])  # 2x points and 2x steps
    assert 3 < more / small < 5
    assert 3 < finer / small < 5


def test_generate_announces_then_shows_rate_and_time_left(tmp_path, capsys):
    out = tmp_path / "b.h5"
    generate("burgers", 4, out=out, seed=0, n_x=64, batch_size=2)
    err = capsys.readouterr().err
    first = err.lstrip().splitlines()[0]
    assert first.startswith(f"generate burgers (size 'cpu'): 4 samples into {out}, about ")
    assert "sample/s" in err and " left" in err and "s/sample" not in err
    generate("burgers", 4, out=tmp_path / "q.h5", seed=0, n_x=64, progress=False)
    assert capsys.readouterr().err == ""
