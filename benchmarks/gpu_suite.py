"""The checks only a GPU can settle, as one prepared run (at most 8 minutes on one H200).

Four parts, each timed and recorded even when another fails; one JSON and one Markdown
report go to ``--out`` (default ``benchmarks/out/gpu_suite``):

(a) ``ks``: DyMixOp against FNO (width matched to DyMixOp's parameter count) on the
    DyMixOp paper's KS benchmark at the paper's size (1,000 training trajectories of
    frames t = 100..120 on 256 points, from a 4,096-point solve), equal epochs; DyMixOp
    with opkit's default recipe and with the paper's (10-step unrolled training, AdamW,
    StepLR(7, 0.97), relative MSE, min-max). Test relative L2 one step ahead and over the
    rollout. The paper's claim: DyMixOp at or below FNO.
(b) ``pinn``: causal against plain PINN on Allen-Cahn with
    ``configs/pinn_allen_cahn_causal_paper.yaml`` (the plain run swaps the loss for
    ``PlainLoss`` with the same initial-condition weight) for a fixed step budget, through
    ``opkit fit``; the error logged at the end of training, and the error of the run's
    ``last.ckpt`` restored by ``opkit.load`` and scored by ``opkit.evaluate`` (the two must
    agree). Wang, Sankaran & Perdikaris (2022) report 1.43e-3 against 0.498 after their
    full budget; a few thousand steps show the direction, not those numbers.
(c) ``solvers``: every PDE solver of ``opkit.pde_data`` on CUDA against CPU in float64,
    max |u_cuda - u_cpu| / max |u_cpu| <= 1e-10.
(d) ``ddp``: ``opkit fit --trainer.strategy ddp --trainer.devices 1`` on one GPU (FNO
    on a small Burgers file), which must finish and report a test error.

``--dry-run`` runs every part at tiny size on the CPU in well under a minute (the test
suite does, so the script cannot rot): the same code paths, meaningless numbers. Run::

    .venv/bin/python benchmarks/gpu_suite.py                 # on the GPU machine
    .venv/bin/python benchmarks/gpu_suite.py --dry-run --out /tmp/gpu_dry
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from opkit.cli import main; sys.exit(main())"
PAPER_PINN_CONFIG = ROOT / "configs" / "pinn_allen_cahn_causal_paper.yaml"
DDP_CONFIG = ROOT / "configs" / "burgers_fno.yaml"


# ---------------------------------------------------------------------------- helpers


def _opkit(args: list[str], *, timeout: float, cwd: Path) -> subprocess.CompletedProcess:
    """Run the ``opkit`` command line in a fresh process (as a user would), importing
    opkit from this checkout."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": path},
    )


def _last_metric(root: Path, names: tuple[str, ...]) -> dict[str, float]:
    """The last logged value of each of ``names`` in the CSV logs under ``root``."""
    found: dict[str, float] = {}
    for path in sorted(root.rglob("metrics.csv"), key=lambda p: p.stat().st_mtime):
        with path.open() as f:
            for row in csv.DictReader(f):
                for name in names:
                    if row.get(name) not in (None, ""):
                        found[name] = float(row[name])
    return found


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail}")


# ---------------------------------------------------------------------------- (a) KS


def part_ks(*, device: str, dry: bool, work: Path, epochs: int) -> dict[str, Any]:
    import opkit
    from opkit.models import FNO, DyMixOp
    from opkit.pde_data import generate
    from opkit.trainers import OperatorDataModule
    from opkit.trainers._suite import RECIPES

    path = work / "ks.h5"
    if dry:  # 12 trajectories on 32 points, a short burn-in
        generate("ks", 12, out=path, seed=0, splits=(8, 2, 2), n_x=128, burn_in=2.0)
        generate_s = None
    else:
        t0 = time.monotonic()
        generate("ks", 1200, out=path, seed=0, size="paper", splits=(1000, 100, 100), device=device)
        generate_s = round(time.monotonic() - t0, 1)
    spec = OperatorDataModule(str(path), in_frames=10, out_frames=1).spec
    n_dymixop = sum(p.numel() for p in DyMixOp.from_spec(spec).parameters())
    width, gap = 8, math.inf
    for w in range(8, 257, 2):
        g = abs(
            sum(p.numel() for p in FNO.from_spec(spec, hidden_channels=w).parameters()) - n_dymixop
        )
        if g > gap:
            break
        width, gap = w, g
    runs = {
        "dymixop": (DyMixOp, {}),
        "dymixop-paper": (DyMixOp, dict(RECIPES["dymixop-paper"])),
        "fno": (FNO, {"hidden_channels": width}),
    }
    rows = []
    for name, (cls, kwargs) in runs.items():
        t0 = time.monotonic()
        trained = opkit.fit(
            cls,
            path,
            max_epochs=epochs,
            batch_size=32,
            in_frames=10,
            accelerator="cpu" if device == "cpu" else "gpu",
            devices=1,
            progress=False,
            log_dir=work / "ks_runs" / name,
            seed=0,
            **kwargs,
        )
        train_s = time.monotonic() - t0
        metrics = opkit.evaluate(trained, path, split="test")
        rows.append(
            {
                "model": name,
                "params": sum(p.numel() for p in trained.model.parameters()),
                "epochs": epochs,
                "train_s": round(train_s, 1),
                "rel_l2": metrics.get("rel_l2"),
                "rollout_rel_l2": metrics.get("rollout_rel_l2"),
            }
        )
    return {"generate_s": generate_s, "fno_width": width, "rows": rows}


# ---------------------------------------------------------------------------- (b) PINN


def _pinn_config(*, causal: bool, dry: bool, steps: int, out: Path) -> Path:
    import yaml

    cfg = yaml.safe_load(PAPER_PINN_CONFIG.read_text())
    name = "causal" if causal else "plain"
    cfg["trainer"].update(
        {
            "max_steps": steps,
            "val_check_interval": steps,
            "log_every_n_steps": max(1, steps // 10),
            # CSV, so that the errors can be read back from metrics.csv
            "logger": {
                "class_path": "lightning.pytorch.loggers.CSVLogger",
                "init_args": {"save_dir": str(out / f"pinn_{name}")},
            },
        }
    )
    cfg["data"]["init_args"]["steps_per_epoch"] = steps
    module = cfg["model"]["init_args"]  # PINNModule's: model (the network), problem, loss...
    if "model" not in module or "network" in module:
        raise ValueError(
            f"{PAPER_PINN_CONFIG}: PINNModule's network goes under `model:` in its init_args "
            f"(found {sorted(module)})"
        )
    loss = module.get("loss")
    if not (isinstance(loss, dict) and str(loss.get("class_path", "")).endswith("CausalLoss")):
        raise ValueError(f"{PAPER_PINN_CONFIG} has no CausalLoss to compare against")
    if not causal:  # the same run without the causal weights
        ic_weight = loss.get("init_args", {}).get("ic_weight", 100.0)
        module["loss"] = {
            "class_path": "opkit.models.pinns.PlainLoss",
            "init_args": {"ic_weight": ic_weight},
        }
    if dry:
        _shrink(module["model"], {"width": 16, "depth": 2, "n_harmonics": 2})
        _shrink(module["problem"], {"n_x": 32})
        module.update({"eval_n_t": 5, "eval_n_x": 16})
        cfg["data"]["init_args"].update({"n_t": 4, "n_x": 8, "n_ic": 8})
    path = out / f"pinn_{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _shrink(node: Any, sizes: dict[str, int]) -> None:
    """Set every key of ``sizes`` found anywhere in the nested config ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in sizes and isinstance(value, int):
                node[key] = sizes[key]
            else:
                _shrink(value, sizes)
    elif isinstance(node, list):
        for item in node:
            _shrink(item, sizes)


def part_pinn(*, device: str, dry: bool, work: Path, steps: int) -> dict[str, Any]:
    import opkit

    rows = []
    for causal in (True, False):
        name = "causal" if causal else "plain"
        config = _pinn_config(causal=causal, dry=dry, steps=steps, out=work)
        root = work / f"pinn_{name}"
        t0 = time.monotonic()
        proc = _opkit(
            [
                "fit",
                "--config",
                str(config),
                "--trainer.accelerator",
                "cpu" if device == "cpu" else "gpu",
                "--trainer.devices",
                "1",
                "--trainer.default_root_dir",
                str(root),
            ],
            timeout=1800,
            cwd=work,
        )
        _check(proc, f"opkit fit ({name} PINN)")
        train_s = round(time.monotonic() - t0, 1)
        found = _last_metric(root, ("val/rel_l2", "test/rel_l2"))
        last = sorted(root.rglob("last.ckpt"), key=lambda p: p.stat().st_mtime)
        if not last:
            raise RuntimeError(f"opkit fit ({name} PINN) wrote no last.ckpt under {root}")
        restored = opkit.load(last[-1])  # the public way back: load, then evaluate
        rows.append(
            {
                "loss": name,
                "steps": int(restored.metrics.get("step", steps)),
                "train_s": train_s,
                "rel_l2": found.get("test/rel_l2", found.get("val/rel_l2")),
                "rel_l2_loaded": opkit.evaluate(restored)["rel_l2"],
            }
        )
    return {"paper": {"causal": 1.43e-3, "plain": 0.498}, "rows": rows}


# ---------------------------------------------------------------------------- (c) solvers


def _solver_cases(dry: bool) -> list[tuple[str, Any, torch.Tensor, torch.Tensor]]:
    """(name, pde, u0 float64, t) for every solver, tiny when ``dry``."""
    from opkit.pde_data import (
        GRF1D,
        GRF2D,
        Advection1D,
        AllenCahn1D,
        Burgers1D,
        KuramotoSivashinsky1D,
        NavierStokes2D,
        RandomFourierSeries,
    )

    gen = torch.Generator().manual_seed(0)
    n1, n2, batch = (64, 16, 2) if dry else (2048, 64, 8)
    f64 = torch.float64
    t = torch.linspace(0.0, 0.1 if dry else 1.0, 3, dtype=f64)
    ks_len = 22 * math.pi
    ks_u0 = RandomFourierSeries(n_modes=8, amplitude=0.1, length=ks_len).sample(
        batch, n1, generator=gen, dtype=f64
    )
    ac_x = torch.arange(n1, dtype=f64) * 2.0 / n1 - 1.0
    return [
        (
            "Burgers1D",
            Burgers1D(nu=1e-2, n_x=n1),
            GRF1D().sample(batch, n1, generator=gen, dtype=f64),
            t,
        ),
        (
            "KuramotoSivashinsky1D",
            KuramotoSivashinsky1D(length=ks_len, n_x=n1),
            ks_u0,
            torch.linspace(0.0, 1.0 if dry else 10.0, 3, dtype=f64),
        ),
        (
            "AllenCahn1D",
            AllenCahn1D(n_x=n1),
            (ac_x**2 * torch.cos(math.pi * ac_x)).expand(batch, n1),
            t,
        ),
        (
            "Advection1D",
            Advection1D(c=1.0, n_x=n1),
            GRF1D().sample(batch, n1, generator=gen, dtype=f64),
            t,
        ),
        (
            "NavierStokes2D",
            NavierStokes2D(nu=1e-3, n=n2, forcing="fno"),
            GRF2D().sample(batch, n2, generator=gen, dtype=f64),
            torch.linspace(0.0, 0.05 if dry else 0.5, 3, dtype=f64),
        ),
    ]


def part_solvers(*, device: str, dry: bool) -> dict[str, Any]:
    import opkit.pde_data as pde_data
    from opkit.pde_data import AbstractPDE

    cases = _solver_cases(dry)
    rows = []
    for name, pde, u0, t in cases:
        t0 = time.monotonic()
        cpu = pde.solve(u0.clone(), t.clone())
        cpu_s = time.monotonic() - t0
        t0 = time.monotonic()
        dev = pde.solve(u0.to(device), t.to(device))
        if device != "cpu":
            torch.cuda.synchronize()
        dev_s = time.monotonic() - t0
        diff = ((dev.cpu() - cpu).abs().max() / cpu.abs().max()).item()
        rows.append(
            {
                "solver": name,
                "shape": list(u0.shape),
                "rel_max_diff": diff,
                "ok": bool(math.isfinite(diff) and diff <= 1e-10 and torch.isfinite(cpu).all()),
                "cpu_s": round(cpu_s, 3),
                "device_s": round(dev_s, 3),
            }
        )
    exported = {
        n
        for n, obj in vars(pde_data).items()
        if isinstance(obj, type)
        and issubclass(obj, AbstractPDE)
        and not getattr(obj, "__abstractmethods__", None)
    }
    return {"rows": rows, "uncovered": sorted(exported - {name for name, *_ in cases})}


# ---------------------------------------------------------------------------- (d) DDP


def part_ddp(*, device: str, dry: bool, work: Path) -> dict[str, Any]:
    from opkit.pde_data import generate

    data = work / "burgers_ddp.h5"
    n, n_x = (8, 128) if dry else (256, 2048)
    generate("burgers", n, out=data, seed=0, n_x=n_x, progress=False)
    root = work / "ddp"
    t0 = time.monotonic()
    proc = _opkit(
        [
            "fit",
            "--config",
            str(DDP_CONFIG),
            "--data.init_args.path",
            str(data),
            "--trainer.accelerator",
            "cpu" if device == "cpu" else "gpu",
            "--trainer.devices",
            "1",
            "--trainer.strategy",
            "ddp",
            "--trainer.max_epochs",
            "1" if dry else "5",
            "--trainer.default_root_dir",
            str(root),
        ],
        timeout=900,
        cwd=work,
    )
    _check(proc, "opkit fit --trainer.strategy ddp")
    found = _last_metric(root, ("val/rel_l2", "test/rel_l2"))
    checkpoints = sorted(str(p.relative_to(root)) for p in root.rglob("*.ckpt"))
    result = {
        "train_s": round(time.monotonic() - t0, 1),
        "rel_l2": found.get("test/rel_l2", found.get("val/rel_l2")),
        "checkpoints": checkpoints,
        "ok": bool(checkpoints),  # the DDP run finished and saved its model
    }
    if not found:  # where did the metrics go? keep the end of the output
        result["output_tail"] = (proc.stdout + proc.stderr)[-2000:]
    return result


# ---------------------------------------------------------------------------- report


def _markdown(report: dict) -> str:
    lines = [
        "# opkit GPU suite",
        "",
        f"Device: {report['device_name']}; dry run: {report['dry_run']}; "
        f"total {report['total_s']:.0f} s.",
        "",
    ]
    for name, part in report["parts"].items():
        lines.append(f"## {name}: {part['status']} ({part.get('seconds', 0):.0f} s)")
        if part["status"] != "ok":
            lines += ["", "```", str(part.get("error", ""))[-1500:], "```", ""]
            continue
        result = part["result"]
        rows = result.get("rows")
        if rows:
            keys = list(rows[0])
            lines += ["", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
            for r in rows:
                lines.append("| " + " | ".join(_fmt(r.get(k)) for k in keys) + " |")
        extra = {k: v for k, v in result.items() if k != "rows"}
        if extra:
            lines += ["", f"`{json.dumps(extra)}`"]
        lines.append("")
    return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return "-" if v is None else str(v)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "gpu_suite")
    parser.add_argument("--parts", default="solvers,ddp,ks,pinn", help="comma list, in order")
    parser.add_argument("--ks-epochs", type=int, default=10)
    parser.add_argument("--pinn-steps", type=int, default=3000)
    parser.add_argument(
        "--budget-s", type=float, default=450.0, help="skip parts that start after this"
    )
    args = parser.parse_args(argv)
    dry = args.dry_run
    if not dry and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --dry-run, or on the GPU machine")
    device = "cpu" if dry else "cuda"
    torch.set_num_threads(1 if dry else torch.get_num_threads())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu_suite_", dir=out))
    jobs = {
        "solvers": lambda: part_solvers(device=device, dry=dry),
        "ddp": lambda: part_ddp(device=device, dry=dry, work=work),
        "ks": lambda: part_ks(
            device=device, dry=dry, work=work, epochs=1 if dry else args.ks_epochs
        ),
        "pinn": lambda: part_pinn(
            device=device, dry=dry, work=work, steps=3 if dry else args.pinn_steps
        ),
    }
    start = time.monotonic()
    parts: dict[str, dict] = {}
    for name in args.parts.split(","):
        if name not in jobs:
            raise SystemExit(f"unknown part {name!r}; known: {sorted(jobs)}")
        if time.monotonic() - start > args.budget_s:
            parts[name] = {"status": "skipped", "error": "time budget spent"}
            continue
        t0 = time.monotonic()
        try:
            parts[name] = {"status": "ok", "result": jobs[name]()}
        except Exception:  # one failing part must not lose the others' results
            parts[name] = {"status": "failed", "error": traceback.format_exc()}
        parts[name]["seconds"] = round(time.monotonic() - t0, 1)
        print(f"{name}: {parts[name]['status']} in {parts[name]['seconds']} s", flush=True)
    report = {
        "dry_run": dry,
        "device_name": "cpu" if dry else torch.cuda.get_device_name(0),
        "total_s": round(time.monotonic() - start, 1),
        "parts": parts,
    }
    (out / "gpu_suite.json").write_text(json.dumps(report, indent=2))
    (out / "gpu_suite.md").write_text(_markdown(report))
    print(f"report: {out / 'gpu_suite.md'}")
    return report


if __name__ == "__main__":
    main()
