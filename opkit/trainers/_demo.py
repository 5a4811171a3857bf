"""``opkit demo``: the README's main job (a small Burgers set, DeepONet and FNO, one report)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..pde_data import generate
from ._suite import SUITES, _run_models

__all__ = ["run_demo", "demo_main"]


def run_demo(*, budget: float = 60.0, n_samples: int = 400, out: Path = Path("reports/demo")):
    """The README's main job: small Burgers data, DeepONet and FNO, one report.

    The data is the built-in ``burgers`` recipe (FNO paper setup, nu = 1e-2) solved on
    1024 points and stored on 512, so that generating it takes well under a minute.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "burgers_demo.h5"
    if not data.is_file():
        generate("burgers", n_samples, out=data, seed=0, n_x=1024)
    suite = dataclasses.replace(SUITES["burgers"], name="burgers_demo")
    return _run_models(
        suite,
        ["deeponet", "fno"],
        data,
        budget=budget,
        out=out,
        seed=0,
        match_params=False,
        accelerator="cpu",
    )


def demo_main(argv: list[str]) -> int:
    """``opkit demo``: the README's main job (small Burgers set, DeepONet and FNO)."""
    parser = argparse.ArgumentParser(
        prog="opkit demo",
        description="Generate a small Burgers dataset, train DeepONet and FNO for about two "
        "minutes on CPU, and write a report with plots.",
    )
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per model")
    parser.add_argument("--n-samples", type=int, default=400)
    parser.add_argument("--out", default="reports/demo")
    args = parser.parse_args(argv)
    report = run_demo(budget=args.budget, n_samples=args.n_samples, out=Path(args.out))
    print(report.markdown)
    print(f"\nreport written to {report.paths['md']}")
    return 0
