"""Every notebook in tutorials/ runs top to bottom (at small size: OPKIT_TUTORIAL_SMALL=1)."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "tutorials").glob("*.ipynb"))


def test_there_are_tutorials():
    assert any(p.name.startswith("01_") for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_tutorial_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("OPKIT_TUTORIAL_SMALL", "1")
    monkeypatch.setenv("OPKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # see tests/conftest.py
    nb = nbformat.read(path, as_version=4)
    # A kernel spec pointing at this interpreter, so that the venv's opkit is used.
    from ipykernel.kernelspec import install

    kernel_dir = tmp_path / "kernels"
    install(user=False, prefix=str(kernel_dir), kernel_name="opkit-test")
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join([str(kernel_dir / "share" / "jupyter")]))
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="opkit-test",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()


def _committed(paths: list[Path]) -> list[Path]:
    """The notebooks git tracks (all of them outside a git checkout)."""
    import subprocess

    root = Path(__file__).parent.parent
    try:
        out = subprocess.run(
            ["git", "ls-files", "tutorials"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return paths
    tracked = {(root / p).resolve() for p in out}
    return [p for p in paths if p.resolve() in tracked]


@pytest.mark.parametrize("path", _committed(NOTEBOOKS), ids=lambda p: p.stem)
def test_tutorial_is_stored_with_its_outputs(path):
    """A reader on the web sees the plots and numbers: every code cell ran, in order, and
    at least one figure is stored."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    counts = [c.get("execution_count") for c in code]
    assert all(isinstance(n, int) for n in counts), f"{path.name}: cells without outputs"
    assert counts == sorted(counts), f"{path.name}: cells were run out of order"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: stored with an error: {errors[0].get('ename')}"
    figures = [
        o
        for c in code
        for o in c.get("outputs", [])
        if any(k.startswith("image/") for k in o.get("data", {}))
    ]
    assert figures, f"{path.name} is stored without a figure; execute it and save the outputs"
