"""The wheel builds (`python -m build`) and installs into an empty venv, where the
package's metadata, console script, a tiny generate/fit/evaluate/save/load run and the
smoke tests pass (`tools/wheel_smoke.py`)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # builds a wheel and installs torch & co. into a new venv: minutes
def test_the_wheel_installs_and_runs_in_an_empty_venv():
    pytest.importorskip("build")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "wheel_smoke.py")],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "wheel smoke: ok" in proc.stdout
