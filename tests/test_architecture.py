"""The package's import graph keeps the layering of DESIGN.md.

Every ``import`` statement in ``opkit/`` (module level and inside functions) is an edge
from its module to the opkit module it names. The graph must have no cycle, and no layer
may reach into another layer's private modules: ``opkit.models`` uses
``opkit.pde_data.DataSpec``, never ``opkit.pde_data._spec``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "opkit"
LAYERS = ("pde_data", "models", "trainers", "symbolic")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    # `from pkg import submodule` depends on the submodule itself.
                    targets.append(sub if sub in modules else base)
            for target in targets:
                while target and target not in modules:  # `import opkit.x.y` -> deepest module
                    target = target.rpartition(".")[0]
                if target.startswith("opkit") and target != name:
                    graph[name].add(target)
    return graph


def _is_ancestor_package(a: str, b: str) -> bool:
    return b.startswith(a + ".")


def test_no_import_cycles():
    graph = import_graph()
    # A package's __init__ importing its own children is how re-exports work, and a child
    # importing a sibling through the parent package is a plain dependency on that sibling;
    # the edges that matter join modules where neither contains the other.
    edges = {
        a: {b for b in targets if not _is_ancestor_package(a, b) and not _is_ancestor_package(b, a)}
        for a, targets in graph.items()
    }
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    assert not cycles, f"import cycles inside opkit: {cycles}"


def test_the_cycle_detector_finds_a_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "opkit"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "_x.py").write_text("from ._y import f\n")
    (pkg / "a" / "_y.py").write_text("def f():\n    from ._x import g\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", pkg)
    with pytest.raises(AssertionError, match="import cycles"):
        test_no_import_cycles()


def test_no_layer_imports_another_layers_private_modules():
    offenders = []
    for name, targets in import_graph().items():
        parts = name.split(".")
        own_layer = parts[1] if len(parts) > 1 else None
        for target in targets:
            tparts = target.split(".")
            if len(tparts) < 3 or tparts[1] not in LAYERS or tparts[1] == own_layer:
                continue
            if any(p.startswith("_") for p in tparts[2:]):
                offenders.append(f"{name} -> {target}")
    assert not offenders, "private modules of another layer imported:\n" + "\n".join(offenders)


def test_models_and_data_never_import_trainers_and_symbolic_imports_no_layer():
    graph = import_graph()
    bad = []
    for name, targets in graph.items():
        layer = name.split(".")[1] if name.count(".") else None
        for target in targets:
            t_layer = target.split(".")[1] if target.count(".") else None
            if layer in ("models", "pde_data") and t_layer == "trainers":
                bad.append(f"{name} -> {target}")
            if layer == "pde_data" and t_layer == "models":
                bad.append(f"{name} -> {target}")
            if layer == "symbolic" and t_layer in ("models", "trainers", "pde_data"):
                bad.append(f"{name} -> {target}")
    assert not bad, "layering broken:\n" + "\n".join(bad)


def _private_names_defined(tree: ast.AST) -> set[str]:
    """Private names a module defines itself: functions, classes, module variables,
    attributes assigned anywhere in it (``self._x = ...``, ``obj._x = ...``), parameters,
    and names it imports."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            if not isinstance(node, ast.ClassDef):
                names.update(a.arg for a in node.args.args + node.args.kwonlyargs)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return {n for n in names if n.startswith("_")}


def private_accesses() -> list[str]:
    """``x._name`` reads on anything but ``self``/``cls`` where ``_name`` is not defined by
    the same module: reaching into another module's (or library's) private attribute."""
    found = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text(), filename=str(path))
        own = _private_names_defined(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not isinstance(node.ctx, ast.Load):
                continue
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__") or attr in own:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            found.append(f"{name}:{node.lineno} .{attr}")
    return found


def test_no_private_access_across_modules():
    """Objects talk through public methods: if a module needs ``other._thing``, the owner
    is missing a public method (STYLE.md, "Private means private")."""
    found = private_accesses()
    assert not found, f"private attributes read across modules: {found}"


def test_the_private_access_check_can_fail(tmp_path):
    tree = ast.parse("def f(dm):\n    return dm._loader(1)\n")
    assert "_loader" not in _private_names_defined(tree)
