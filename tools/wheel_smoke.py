"""Build the wheel, install it into an empty virtual environment, run a smoke subset there.

    python tools/wheel_smoke.py [--keep DIR]

1. ``python -m build --wheel`` of this checkout (the distribution ``opkit-pde``);
2. a new venv without site packages; ``pip install -c constraints.txt WHEEL pytest``;
3. in a folder outside the checkout (so ``import opkit`` is the installed wheel): the
   package's metadata and console script, then a tiny end-to-end run -- generate a Burgers
   set, fit a DeepONet for two epochs, evaluate it, save and load it bit-identically --
   and ``pytest`` on a copy of the smoke tests listed in ``SMOKE_TESTS``.

Exit status 0 when all of it passes. ``tests/test_wheel.py`` (slow) runs this script.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import textwrap
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMOKE_TESTS = ["tests/pde_data/test_generate_announcement.py"]

_END_TO_END = textwrap.dedent(
    """
    import importlib.metadata as md
    from pathlib import Path

    import torch

    import opkit
    from opkit.models import DeepONet

    assert Path(opkit.__file__).parent.parent.name == "site-packages", opkit.__file__
    assert md.version("opkit-pde") == opkit.__version__ != "0.0.0+unknown"
    assert (Path(opkit.__file__).parent / "py.typed").is_file()
    path = opkit.generate("burgers", 40, out="b.h5", seed=0, n_x=64, progress=False)
    result = opkit.fit(DeepONet, path, max_epochs=2, batch_size=8, progress=False,
                       accelerator="cpu", log_dir="runs")
    metrics = opkit.evaluate(result, path)
    assert 0 < metrics["rel_l2"] < 10, metrics
    result.save("m.pt")
    again = opkit.load("m.pt")
    u0 = torch.as_tensor(opkit.open_dataset(path)["u"].values[:3, 0])
    assert torch.equal(again.predict(u0), result.predict(u0))
    print("wheel smoke: ok, test rel. L2 after 2 epochs", round(metrics["rel_l2"], 3))
    """
)


def _run(cmd: list[str], **kwargs) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run(cmd, check=True, **kwargs)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temp one)")
    args = parser.parse_args(argv)
    work = Path(args.keep or tempfile.mkdtemp(prefix="opkit-wheel-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        dist = work / "dist"
        _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)])
        (wheel,) = dist.glob("opkit_pde-*.whl")
        env_dir = work / "venv"
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
        py = env_dir / "bin" / "python"
        constraints = ROOT / "constraints.txt"
        _run([str(py), "-m", "pip", "install", "-q", "-c", str(constraints), str(wheel), "pytest"])
        run_dir = work / "run"
        run_dir.mkdir(exist_ok=True)
        _run([str(env_dir / "bin" / "opkit"), "--version"], cwd=run_dir)
        _run([str(py), "-c", _END_TO_END], cwd=run_dir)
        tests = run_dir / "smoke_tests"
        tests.mkdir(exist_ok=True)
        for name in SMOKE_TESTS:
            shutil.copy(ROOT / name, tests / Path(name).name)
        _run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)], cwd=run_dir)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
