"""Forward + backward cost of DyMixOp against a parameter-matched FNO, before and after.

For the CPU sizes of the shared suite (KS: 10 frames on 256 points; Burgers: 1 frame on
1024 points; NS: 10 frames on 64 x 64) it builds, from the same data description,

- ``dymixop``: opkit's DyMixOp as it is now;
- ``dymixop-before``: the DyMixOp of an earlier git revision (``--before``; default the
  revision before the Winograd stencils and the partial-DFT spectral path of issue 23),
  its ``_dymixop.py`` and ``layers/_lgm.py`` imported from ``git show`` into a temporary
  package (everything else from today's opkit); ``--before ''`` leaves it out;
- ``fno``: opkit's FNO with the hidden width whose parameter count is closest to
  DyMixOp's (as ``opkit benchmark --match-params``),

and times ``model(x).square().mean().backward()`` on one CPU thread, the models
interleaved in every repeat so that machine load hits them alike; it prints the median
milliseconds per sample and the ratios to FNO measured in the same run. ``--compile`` adds
``dymixop-compiled`` and ``fno-compiled`` (``torch.compile`` with its defaults; the first
call, which compiles, is timed apart and printed) and the ratio of the two models each at
its fastest (with ``--before``, the earlier DyMixOp is compiled too and the speed-up of
the compiled models printed). Results also go to ``benchmarks/out/dymixop_cost.json``, and
a bar chart of each model's cost over the FNO's to ``benchmarks/out/dymixop_cost.png``.
Run from the repository root::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dymixop_cost.py [--repeats 7] [--only ks]
        [--compile]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from opkit.models import FNO, DyMixOp
from opkit.pde_data import DataSpec

# (spec, batch): the suite's CPU sizes, except that NS uses a batch of 4 by default (16
# samples of the old model take ~16 s per step on one thread). The cost per sample is not
# flat in the batch: at the suite's 16 the FNO's falls by about a third (costs per step,
# such as reading its 92 MB of complex spectral weights and writing their gradient, are
# shared by more samples) and DyMixOp's barely moves; ``--batch ns=16`` measures the
# suite's size.
SUITES = {
    "ks": (DataSpec(spatial_shape=(256,), lengths=(22 * math.pi,), in_frames=10), 32),
    "burgers": (DataSpec(spatial_shape=(1024,), lengths=(1.0,), in_frames=1), 32),
    "ns": (DataSpec(spatial_shape=(64, 64), lengths=(1.0, 1.0), in_frames=10), 4),
}
BEFORE = "b1c43df"  # before issue 23 (7bb6f4e: before issue 13's fused layer)


def _absolute_imports(text: str, package: str, copy: str) -> str:
    """``text`` with its relative imports made absolute (``package`` is the module's own);
    the LGM layers resolve to the copied old module (package ``copy``), everything else to
    today's opkit."""

    def resolve(match: re.Match) -> str:
        dots, name = match.group(1), match.group(2) or ""
        base = package.split(".")[: len(package.split(".")) - len(dots) + 1]
        target = ".".join(base + ([name] if name else []))
        if target == "opkit.models.layers._lgm":
            target = f"{copy}.layers._lgm"
        return f"from {target} import"

    return re.sub(r"from (\.+)([\w.]*) import", resolve, text)


def load_before(revision: str, repo: Path) -> type:
    """DyMixOp class of ``revision`` (its _dymixop.py and layers/_lgm.py) as a fresh module."""
    root = Path(tempfile.mkdtemp(prefix="dymixop_before_"))
    name = "dymixop_" + re.sub(r"\W", "_", revision)
    pkg = root / name
    (pkg / "layers").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "layers" / "__init__.py").write_text("")
    for module, dest, package in [
        ("_dymixop.py", pkg, "opkit.models"),
        ("layers/_lgm.py", pkg / "layers", "opkit.models.layers"),
    ]:
        text = subprocess.run(
            ["git", "-C", str(repo), "show", f"{revision}:opkit/models/{module}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (dest / Path(module).name).write_text(_absolute_imports(text, package, name))
    sys.path.insert(0, str(root))
    spec = importlib.util.find_spec(f"{name}._dymixop")
    assert spec is not None
    return importlib.import_module(f"{name}._dymixop").DyMixOp


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_fno(spec: DataSpec, target: int) -> FNO:
    best, gap = None, math.inf
    for width in range(8, 257, 2):
        net = FNO.from_spec(spec, hidden_channels=width)
        g = abs(n_params(net) - target)
        if g > gap:
            break
        best, gap = net, g
    assert best is not None
    return best


def step_ms(model: torch.nn.Module, x: torch.Tensor) -> float:
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    model(x).square().mean().backward()
    return (time.perf_counter() - t0) * 1e3


def figure(results: dict, path: Path) -> None:
    """Bars of each model's cost per sample over the FNO's, per suite (one run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for r in results.values() for k in r["ms_per_sample"]})
    fig, ax = plt.subplots(figsize=(3.5 + 1.8 * len(results), 3.6))
    width = 0.8 / len(keys)
    before = next(iter(results.values()))["before"]
    for j, key in enumerate(keys):
        xs, ys = [], []
        for i, r in enumerate(results.values()):
            if key in r["ms_per_sample"]:
                xs.append(i + (j - (len(keys) - 1) / 2) * width)
                ys.append(r["ms_per_sample"][key] / r["ms_per_sample"]["fno"])
        label = key.replace("-before", f" @ {before}").replace("-compiled", ", compiled")
        bars = ax.bar(xs, ys, width, label=label, color=f"C{j}")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(range(len(results)))
    ax.set_xticklabels([f"{name} (batch {r['batch']})" for name, r in results.items()])
    ax.set_ylabel("cost per sample / FNO's")
    ax.set_title("forward + backward, one thread, same run", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="ks,burgers,ns", help="comma list of ks,burgers,ns")
    parser.add_argument("--before", default=BEFORE, help="git revision of the 'before' model")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument(
        "--compile", action="store_true", help="also time both models under torch.compile"
    )
    parser.add_argument(
        "--batch",
        default="",
        help="comma list of suite=batch overriding the default batches, e.g. ns=16",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    batches = {}
    for item in filter(None, args.batch.split(",")):
        suite, _, size = item.partition("=")
        if suite not in SUITES or not size.isdigit() or int(size) < 1:
            parser.error(f"--batch takes suite=size with a suite of {sorted(SUITES)}: {item!r}")
        batches[suite] = int(size)
    old_cls = load_before(args.before, args.repo) if args.before else None
    results = {}
    for name in args.only.split(","):
        spec, batch = SUITES[name]
        batch = batches.get(name, batch)
        torch.manual_seed(0)
        kwargs = DyMixOp.init_args_from_spec(spec)
        models = {"dymixop": DyMixOp(**kwargs)}
        if old_cls is not None:
            old_kwargs = {k: v for k, v in kwargs.items() if k not in ("gate", "init")}
            models["dymixop-before"] = old_cls(**old_kwargs)
        models["fno"] = matched_fno(spec, n_params(models["dymixop"]))
        x = torch.randn(batch, spec.in_channels, *spec.spatial_shape)
        compile_s = {}
        if args.compile:
            for key in list(models):
                compiled = torch.compile(models[key])
                start = time.perf_counter()
                step_ms(compiled, x)  # compiles forward and backward
                compile_s[f"{key}-compiled"] = time.perf_counter() - start
                models[f"{key}-compiled"] = compiled
        times: dict[str, list[float]] = {k: [] for k in models}
        for model in models.values():  # warm-up
            step_ms(model, x)
        for _ in range(args.repeats):
            for key, model in models.items():
                times[key].append(step_ms(model, x) / batch)
        med = {k: statistics.median(v) for k, v in times.items()}
        results[name] = {
            "ms_per_sample": med,
            "params": {k: n_params(m) for k, m in models.items()},
            "batch": batch,
            "repeats": args.repeats,
            "compile_seconds": compile_s,
            "before": args.before,
        }
        line = ", ".join(f"{k} {v:.2f} ms ({n_params(models[k]):,} params)" for k, v in med.items())
        ratios = f"dymixop/fno {med['dymixop'] / med['fno']:.2f}"
        if compile_s:
            best = {k: min(med[k], med[f"{k}-compiled"]) for k in ("dymixop", "fno")}
            results[name]["fastest_ratio"] = best["dymixop"] / best["fno"]
            ratios += (
                f", compiled dymixop/fno {med['dymixop-compiled'] / med['fno']:.2f}"
                f", each at its fastest {best['dymixop'] / best['fno']:.2f}"
                f" (compile s: " + ", ".join(f"{k} {v:.0f}" for k, v in compile_s.items()) + ")"
            )
        if "dymixop-before" in med:
            ratios += (
                f", before/fno {med['dymixop-before'] / med['fno']:.2f}, "
                f"speed-up {med['dymixop-before'] / med['dymixop']:.2f}x"
            )
            if compile_s:
                ratios += (
                    ", compiled speed-up "
                    f"{med['dymixop-before-compiled'] / med['dymixop-compiled']:.2f}x"
                )
        print(f"{name} (batch {batch}): {line}; {ratios}", flush=True)
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "dymixop_cost.json").write_text(json.dumps(results, indent=2))
    figure(results, out / "dymixop_cost.png")
    print(f"figure: {out / 'dymixop_cost.png'}")
    return results


if __name__ == "__main__":
    main()
