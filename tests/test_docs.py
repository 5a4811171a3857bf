"""The documentation site builds offline with `mkdocs build --strict` (broken links,
missing references and docstring problems fail), renders every tutorial with its stored
figures, and has an API page for each public package.

One build (about 10 s of CPU) serves all the checks.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _committed_tutorials() -> list[Path]:
    """The notebooks git tracks (all of them outside a git checkout)."""
    paths = sorted((ROOT / "tutorials").glob("*.ipynb"))
    try:
        out = subprocess.run(
            ["git", "ls-files", "tutorials"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return paths
    tracked = {(ROOT / p).resolve() for p in out}
    return [p for p in paths if p.resolve() in tracked]


TUTORIALS = _committed_tutorials()

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")
pytest.importorskip("mkdocs_jupyter")


class _Loader(yaml.SafeLoader):
    """mkdocs.yml may hold `!!python/name:` tags; they are kept as strings here."""


_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: suffix)


def _nav_files(nav) -> list[str]:
    out = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out += _nav_files(value) if isinstance(value, list) else [value]
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert "WARNING" not in log, log[-6000:]
    return out


def test_every_tutorial_is_a_page_with_its_stored_figures(site):
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)
    nav = _nav_files(config["nav"])
    for nb in TUTORIALS:
        assert f"tutorials/{nb.name}" in nav, f"{nb.name} is missing from mkdocs.yml's nav"
        assert (ROOT / "docs" / "tutorials" / nb.name).resolve() == nb.resolve(), (
            f"docs/tutorials/{nb.name} must link to tutorials/{nb.name}"
        )
        page = (site / "tutorials" / nb.stem / "index.html").read_text()
        figures = re.findall(r'<img[^>]+src="data:image/(?:png|svg)', page)
        assert figures, f"the page of {nb.name} shows no stored figure"


def test_api_reference_renders_the_public_packages(site):
    expected = {
        "opkit": ["opkit.fit", "opkit.generate"],
        "pde_data": ["opkit.pde_data.Burgers1D", "opkit.pde_data.generate"],
        "models": ["opkit.models.FNO", "opkit.models.DeepONet", "opkit.models.DyMixOp"],
        "trainers": ["opkit.trainers.OperatorModule", "opkit.trainers.fit"],
    }
    for page, ids in expected.items():
        html = (site / "api" / page / "index.html").read_text()
        for anchor in ids:
            assert f'id="{anchor}"' in html, f"{anchor} is missing from api/{page}"


def test_every_public_subpackage_has_an_api_page():
    pages = {p.stem for p in (ROOT / "docs" / "api").glob("*.md")}
    for pkg in ("pde_data", "models", "trainers", "symbolic"):
        if (ROOT / "opkit" / pkg / "__init__.py").is_file():
            assert pkg in pages, f"docs/api/{pkg}.md is missing"
    if (ROOT / "opkit" / "models" / "mor" / "__init__.py").is_file():
        assert "mor" in pages
