"""What the stored tutorials and the gallery show a reader: no machine of ours, no noise.

The notebooks in tutorials/ are stored executed and rendered as they are on the docs site;
the gallery page quotes runs. Their stored text must not carry the absolute paths of the
machine that ran them (home folders, the checkout, a virtual environment's
``site-packages``) nor library warnings and advertisements (``...Warning:`` lines,
Lightning's ``💡 Tip``): those are fixed where they arise (opkit's imports, ``opkit._quiet``),
not filtered in the notebooks.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))

_ABSOLUTE = re.compile(
    r"(?<![\w.~])(?:/(?:root|home|Users|work|tmp|var|opt|usr|private|mnt|srv)/|[A-Z]:\\Users\\)"
)
_NOISE = (
    (_ABSOLUTE, "an absolute path of the machine that ran it"),
    (re.compile(r"site-packages|dist-packages"), "a path inside an installed package"),
    (re.compile(r"\b\w*Warning\b\s*:|\bwarnings\.warn\b"), "a library warning"),
    (re.compile(r"💡|\bTip:"), "a library's tip"),
    (re.compile(r"\bis deprecated\b|DEPRECATED"), "a deprecation notice"),
)


def _output_texts(output: dict) -> list[str]:
    if output.get("output_type") == "stream":
        return ["".join(output.get("text", ""))]
    if output.get("output_type") == "error":
        return ["\n".join(output.get("traceback", [])), output.get("evalue", "")]
    data = output.get("data", {})
    return [
        "".join(v) if isinstance(v, list) else v for k, v in data.items() if k.startswith("text/")
    ]


def problems_in(texts: list[tuple[str, str]]) -> list[str]:
    """``(where, text)`` pairs -> one line per offending line of text."""
    found = []
    for where, text in texts:
        for line in text.splitlines():
            for pattern, what in _NOISE:
                if pattern.search(line):
                    found.append(f"{where}: {what}: {line.strip()[:160]}")
                    break
    return found


def notebook_texts(path: Path) -> list[tuple[str, str]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    texts = []
    for i, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            texts += [(f"{path.name} cell {i}", t) for t in _output_texts(output)]
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_notebook_outputs_carry_no_paths_or_warnings(path):
    problems = problems_in(notebook_texts(path))
    assert not problems, (
        f"{path.name}: stored outputs to fix at their source, then re-execute:\n"
        + "\n".join(problems[:20])
    )


def test_the_gallery_quotes_no_machine_paths():
    texts = [(p.name, p.read_text(encoding="utf-8")) for p in (ROOT / "docs").glob("gallery*.md")]
    texts += [
        (p.name, p.read_text(encoding="utf-8")) for p in (ROOT / "docs" / "gallery").glob("*.md")
    ]
    assert texts
    assert not problems_in(texts)


def test_the_check_sees_what_it_must():
    """The patterns catch each kind of noise the stored outputs used to carry."""
    lines = [
        "/home/someone/.venv/lib/python3.11/site-packages/tqdm/auto.py:21: TqdmWarning: "
        "IProgress not found.",
        "💡 Tip: For seamless cloud logging and experiment tracking, try installing litlogger",
        "lightning/pytorch/utilities/_pytree.py:21: `isinstance(treespec, LeafSpec)` is deprecated",
        "UserWarning: `ModelCheckpoint(monitor='val/rel_l2')` could not find the monitored key",
        "saved to /work/main/reports/demo/fno.pt",
        "C:\\Users\\me\\opkit\\data.h5",
    ]
    found = problems_in([("x", line) for line in lines])
    assert len(found) == len(lines), found
    clean = [
        "DeepONet test relative L2: 4.9 %",
        "data/burgers.h5 (400 samples)",
        "u(x, t) on [0, 1]/(2 pi)",
        "~/.cache/opkit/burgers-cpu-seed0.h5",
    ]
    assert not problems_in([("x", line) for line in clean])
