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
