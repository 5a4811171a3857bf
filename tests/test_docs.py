"""The documentation site builds offline with `mkdocs build --strict` (broken links,
missing references and docstring problems fail: the build runs without ``-q`` and any
WARNING line fails the test), renders every tutorial with its stored figures, has an API
page for each public package, needs no network (MathJax ships with the site), and every
internal link and in-page anchor of the built site resolves.

One build (about 15 s of CPU) serves all the checks. ``tools/check_docs_browser.py``
checks in a headless browser that the formulas render (skipped without chromium).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from check_docs_browser import broken_links, find_chromium, render_check  # noqa: E402


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
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
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


def test_internal_links_and_anchors_resolve(site):
    bad = broken_links(site)
    assert not bad, "broken internal links or anchors:\n" + "\n".join(bad[:30])


def test_the_link_check_finds_a_broken_anchor(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "index.html").write_text(
        '<h2 id="one">1</h2><a href="#one">ok</a><a href="#two">bad</a>'
        '<a href="../b/">missing page</a><a href="/a/#one">ok, from the site root</a>'
    )
    bad = broken_links(tmp_path)
    assert len(bad) == 2, bad
    assert "#two" in bad[0] + bad[1] and "../b/" in bad[0] + bad[1]


def test_the_site_needs_no_network(site):
    """Every script and style the pages load is part of the site (MathJax included)."""
    remote = re.compile(r'<(?:script|link)\b[^>]*(?:src|href)="(https?:)?//[^"]+"', re.I)
    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        found = [m.group(0) for m in remote.finditer(html) if 'rel="canonical' not in m.group(0)]
        assert not found, f"{page.relative_to(site)} loads from the network: {found[:3]}"
    assert (site / "javascripts" / "mathjax" / "tex-mml-chtml.js").is_file()
    assert (site / "javascripts" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    evaluation = (site / "evaluation" / "index.html").read_text(encoding="utf-8")
    assert 'class="arithmatex"' in evaluation
    assert "javascripts/mathjax/tex-mml-chtml.js" in evaluation


@pytest.mark.slow  # about 15 s of headless chromium on top of the build
def test_formulas_render_in_a_browser_without_network(site):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium on this machine (tools/check_docs_browser.py needs one)")
    problems = render_check(site, chromium)
    assert not problems, "\n".join(problems)


def test_notebook_contents_links_reach_headings_with_inline_code():
    """The hook gives a heading with inline code the anchor the contents link to."""
    import importlib.util
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location(
        "notebook_anchors", ROOT / "docs" / "_hooks" / "notebook_anchors.py"
    )
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    toc = [SimpleNamespace(id="2-the-convolutional-as-a-surrogate", children=[])]
    page = SimpleNamespace(file=SimpleNamespace(src_uri="tutorials/x.ipynb"), toc=toc)
    html = (
        '<h2 id="2-the-convolutional-neuralode-as-a-surrogate">2. The convolutional '
        '<code>NeuralODE</code> as a surrogate<a class="anchor-link" href="#x">¶</a></h2>'
    )
    out = hook.on_page_content(html, page, None, None)
    assert out == '<a id="2-the-convolutional-as-a-surrogate"></a>' + html
    page.file.src_uri = "data.md"  # Markdown pages are left alone
    assert hook.on_page_content(html, page, None, None) == html
