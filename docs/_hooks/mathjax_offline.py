"""mkdocs hook: ship MathJax with the site, so that formulas render without a network.

The script and its fonts come from the PyPI package ``django-static-mathjax`` (MathJax 3.2.2
as static files; pinned in ``constraints.txt``, installed by the ``docs`` and ``test``
extras). Only the parts a TeX page in the CommonHTML output needs are copied, under
``javascripts/mathjax/`` of the site: the combined ``tex-mml-chtml.js`` component, the
CHTML fonts, the TeX extensions it loads on demand, and the menu with its accessibility
modules. ``mkdocs.yml`` names ``javascripts/mathjax/tex-mml-chtml.js`` in
``extra_javascript``; ``docs/javascripts/mathjax.js`` configures it.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

# Paths inside MathJax's es5/ folder: a file, or a folder copied whole.
_PARTS = ("tex-mml-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y", "adaptors")
_DEST = "javascripts/mathjax"


def mathjax_root() -> Path:
    """The es5/ folder of the installed MathJax package (raises PluginError if absent)."""
    spec = find_spec("mathjax")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        root = Path(folder) / "static" / "mathjax" / "es5"
        if (root / "tex-mml-chtml.js").is_file():
            return root
    raise PluginError(
        "MathJax is not installed: the documentation ships it with the site. Install the "
        "docs extra: `pip install -c constraints.txt -e .[docs]` (django-static-mathjax)."
    )


def on_files(files: Files, config) -> Files:
    root = mathjax_root()
    for part in _PARTS:
        path = root / part
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for src in found:
            uri = f"{_DEST}/{src.relative_to(root).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(src)))
    return files
