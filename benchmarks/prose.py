"""PROSE on the 15 ODE systems: what the symbolic input buys, on one CPU budget per model.

Four predictors of the 128 future points from the 64 observed ones, scored on the same
test split of the built-in ``odes`` data (data relative L2 over the valid components,
per family and overall):

- **PROSE** (small configuration, `opkit.models.PROSE()` defaults) reading the trajectory
  and the symbolic guess (constants hidden, terms corrupted during training as in the
  paper), trained with the paper's loss (6 x relative squared L2 + token cross-entropy);
- **PROSE, operator-only**: the same network without the symbol paths
  (``operator_only=True``), trained separately with the same budget: the paper's ablation;
- **DeepONet** (`opkit.models.DeepONet`, unstacked, split branch for the 5 outputs):
  branch = the flattened 64 x 5 input window, trunk = the output time; trained on the same
  data, batch, loss (relative squared L2) and budget, with the same per-sample
  standardisation as PROSE's data encoder (inputs standardised per sample and component
  over the window, predictions mapped back);
- the **trivial baseline**: the last observed value held.

For PROSE, the decoded equations are scored too: the fraction of valid expressions
(decodes, right number of components, finite at 50 points from U(-5, 5)^d) and the
relative L2 of the decoded vector field against the true one at those points; and the same
model with noisy inputs (2 %), corrupted guesses, and no guess at all (``opkit.evaluate``).
Two decoders, reported side by side: plain greedy (the argmax token at every step) and
greedy constrained to the prefix grammar (``PROSE.generate(constrained=True)``: only tokens
after which a valid system of the sample's dimension can still be completed). The
constrained decoder makes every sequence parse by construction; its valid fraction says
nothing about the model's grasp of syntax, which the greedy column measures, and its
vector-field error says how good the equations it is forced to finish are.

Budgets: ``--max-steps`` optimiser steps per model (the same for all three, so that the
symbol decoder's dearer steps do not leave PROSE with fewer updates than its ablation), with
caps of ``--budget`` CPU seconds (validation included, the data-loading process excluded,
measured with ``time.process_time``) and ``--max-wall`` seconds of wall-clock; whichever
comes first ends a model's training and its cosine schedule follows it. Without
``--max-steps`` the CPU budget alone decides. The machine these numbers come from was shared
with many other jobs, so wall-clock is a cap, not the budget. The three models train at the
same time, one process each with one torch thread and one loader process; steps, CPU and
wall-clock times are printed.

Usage::

    python benchmarks/prose.py --width 64 --ff-width 256 --batch-size 16 \
        --max-steps 2000 --budget 1500 --max-wall 5400      # the numbers quoted in issue 11
    python benchmarks/prose.py --budget 20 --quick --max-test 15   # a smoke run
    python benchmarks/prose.py --rescore ...   # score the saved models again, same table

Writes ``benchmarks/out/prose.json`` and ``prose.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

import opkit
from opkit.models import PROSE, DeepONet
from opkit.trainers._prose import (
    ProseDataModule,
    evaluate_prose,
    fit_prose,
    load_prose,
    relative_l2_masked,
)

OUT = Path(__file__).parent / "out"


def _standardise(u_in):
    mean = u_in.mean(1, keepdim=True)
    std = u_in.std(1, keepdim=True, correction=0).clamp_min(1e-4)
    return mean, std


def deeponet_predict(net: DeepONet, batch: dict, t_out: torch.Tensor) -> torch.Tensor:
    """DeepONet on one batch: ``(B, 64, 5)`` window -> ``(B, 128, 5)``."""
    mean, std = _standardise(batch["u_in"])
    z = net.forward_operator((batch["u_in"] - mean) / std, t_out[:, None])  # (B, 128, 5)
    keep = (torch.arange(5) < batch["dim"][:, None]).float()[:, None, :]
    return (mean + std * z) * keep


def train_deeponet(
    dm: ProseDataModule,
    *,
    budget: float,
    lr: float,
    seed: int,
    max_wall: float,
    max_steps: int | None = None,
) -> dict:
    """DeepONet with the same batches, loss and budget (steps, CPU seconds or the wall-clock
    cap, whichever comes first); best validation epoch kept. It reads no symbols, so its
    training split is loaded without corruption (nothing is redrawn per epoch) in this
    process."""
    torch.manual_seed(seed)
    width, p = 128, 64
    net = DeepONet(
        branch_layers=[64 * 5, width, width, width, 5 * p],
        trunk_layers=[1, width, width, p],
        n_outputs=5,
        in_channels=5,
        activation="gelu",
    )
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    t0, cpu0, steps, epoch = time.perf_counter(), time.process_time(), 0, 0
    best, best_state = math.inf, None
    ds = dm.dataset("train", noise=dm.noise)
    loader = dm.loader(ds, shuffle=True)

    def spent() -> float:
        frac = max((time.process_time() - cpu0) / budget, (time.perf_counter() - t0) / max_wall)
        return frac if max_steps is None else max(frac, steps / max_steps)

    while spent() < 1.0:
        for batch in loader:
            frac = min(1.0, spent())
            for g in opt.param_groups:
                warm = min(1.0, frac / 0.05)
                g["lr"] = lr * warm * (0.5 * (1 + math.cos(math.pi * frac)) + 1e-3)
            pred = deeponet_predict(net, batch, batch["t_out"][0])
            loss = relative_l2_masked(pred, batch["u_out"], batch["dim"]).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            steps += 1
            if spent() >= 1.0:
                break
        epoch += 1
        val = score_deeponet(net, dm, "val")["rel_l2"]
        if val < best:
            best, best_state = val, {k: v.clone() for k, v in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    return {
        "net": net,
        "steps": steps,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - cpu0,
        "n_params": sum(q.numel() for q in net.parameters()),
        "val_best_rel_l2": best,
    }


@torch.no_grad()
def score_deeponet(net: DeepONet, dm: ProseDataModule, split: str) -> dict:
    rel, fams = [], []
    for batch in dm.loader(dm.dataset(split)):
        pred = deeponet_predict(net, batch, batch["t_out"][0])
        rel += relative_l2_masked(pred, batch["u_out"], batch["dim"]).tolist()
        fams += batch["family"]
    return _summary(rel, fams)


def _summary(rel: list[float], fams: list[str]) -> dict:
    per = defaultdict(list)
    for r, f in zip(rel, fams):
        per[f].append(r)
    t = torch.tensor(rel, dtype=torch.float64)
    return {
        "rel_l2": float(t.mean()),
        "rel_l2_median": float(t.median()),
        "rel_l2_per_family": {f: sum(v) / len(v) for f, v in sorted(per.items())},
    }


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.3f}"


def markdown(res: dict) -> str:
    p, o, d = res["prose"]["eval"], res["operator_only"]["eval"], res["deeponet"]["test"]
    fams = sorted(p["rel_l2_per_family"])
    steps = res["settings"].get("max_steps")
    budget = f"{steps} optimiser steps, " if steps else ""
    lines = [
        f"# PROSE on `odes` ({res['data']['n_train']} training trajectories, "
        f"{p['n_samples']} test): training budget {budget}{res['budget_cpu_s']:.0f} CPU s or "
        f"{res['settings']['max_wall']:.0f} s wall-clock per model, whichever came first "
        "(what each model got is listed below)",
        "",
        "Data relative L2 on the 128 target points (test split); valid expressions and the "
        "decoded vector field's relative L2 at 50 points from U(-5, 5)^d (mean over the valid "
        "ones), for plain greedy decoding and for greedy decoding constrained to valid prefix "
        "systems of the sample's dimension (`PROSE.generate(constrained=True)`).",
        "",
        "| family | PROSE | PROSE operator-only | DeepONet | last value held | "
        "valid expr. (greedy) | vector-field rel. L2 (greedy) | "
        "valid expr. (constrained) | vector-field rel. L2 (constrained) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in fams:
        lines.append(
            f"| {f} | {_fmt(p['rel_l2_per_family'].get(f))} | "
            f"{_fmt(o['rel_l2_per_family'].get(f))} | {_fmt(d['rel_l2_per_family'].get(f))} | "
            f"{_fmt(p['baseline_rel_l2_per_family'].get(f))} | "
            f"{_fmt(p.get('valid_fraction_per_family', {}).get(f))} | "
            f"{_fmt(p.get('vector_field_rel_l2_per_family', {}).get(f))} | "
            f"{_fmt(p.get('constrained_valid_fraction_per_family', {}).get(f))} | "
            f"{_fmt(p.get('constrained_vector_field_rel_l2_per_family', {}).get(f))} |"
        )
    lines.append(
        f"| **all (mean)** | **{_fmt(p['rel_l2'])}** | **{_fmt(o['rel_l2'])}** | "
        f"**{_fmt(d['rel_l2'])}** | **{_fmt(p['baseline_rel_l2'])}** | "
        f"**{_fmt(p.get('valid_fraction'))}** | **{_fmt(p.get('vector_field_rel_l2'))}** | "
        f"**{_fmt(p.get('constrained_valid_fraction'))}** | "
        f"**{_fmt(p.get('constrained_vector_field_rel_l2'))}** |"
    )
    lines.append(
        f"| all (median) | {_fmt(p['rel_l2_median'])} | {_fmt(o['rel_l2_median'])} | "
        f"{_fmt(d['rel_l2_median'])} | {_fmt(p['baseline_rel_l2_median'])} | | "
        f"{_fmt(p.get('vector_field_rel_l2_median'))} | | "
        f"{_fmt(p.get('constrained_vector_field_rel_l2_median'))} |"
    )
    for name, key in (
        ("greedy", "invalid_reasons"),
        ("constrained", "constrained_invalid_reasons"),
    ):
        if key in p:
            why = ", ".join(f"{r} {k}" for r, k in p[key].items()) or "none"
            lines += ["", f"Invalid expressions ({name}, clean inputs), by reason: {why}."]
    lines += [
        "",
        "PROSE under other inputs (same trained model):",
        "",
        "| input | data rel. L2 | valid expr. (greedy) | vector-field rel. L2 (greedy) | "
        "valid expr. (constrained) | vector-field rel. L2 (constrained) |",
        "|---|---|---|---|---|---|",
    ]
    for name, prefix in (
        ("clean data, clean guess", ""),
        ("2 % noisy data", "noisy/"),
        ("corrupted guess", "corrupted/"),
        ("no guess (empty expression)", "no_symbols/"),
    ):
        if prefix + "rel_l2" in p:
            lines.append(
                f"| {name} | {_fmt(p[prefix + 'rel_l2'])} | "
                f"{_fmt(p.get(prefix + 'valid_fraction'))} | "
                f"{_fmt(p.get(prefix + 'vector_field_rel_l2'))} | "
                f"{_fmt(p.get(prefix + 'constrained_valid_fraction'))} | "
                f"{_fmt(p.get(prefix + 'constrained_vector_field_rel_l2'))} |"
            )
    lines += ["", "Training (wall-clock on a shared, loaded machine):", ""]
    for key in ("prose", "operator_only", "deeponet"):
        r = res[key]
        lines.append(
            f"- {key}: {r['n_params']:,} parameters, {r['steps']} steps, "
            f"{r['wall_s']:.0f} s wall, {r['cpu_s']:.0f} s CPU"
        )
    return "\n".join(lines) + "\n"


def rescore_part(args, part: str) -> dict:
    """Score a model saved by an earlier run again (e.g. with a newer decoder); the training
    record of that run is kept."""
    torch.set_num_threads(args.threads)
    record = json.loads((OUT / f"prose_part_{part}{args.tag}.json").read_text())
    result = load_prose(OUT / f"prose_{part}{args.tag}.pt")
    record["eval"] = _score(args, part, result, args.data)
    return record


def _score(args, part: str, result, path) -> dict:
    variants = ("clean",) if (part != "prose" or args.quick) else (
        "clean", "noisy", "corrupted", "no_symbols"
    )  # fmt: skip
    return evaluate_prose(
        result, path, "test", max_samples=args.max_test, variants=variants,
        decoders=("greedy", "constrained"), seed=args.seed, max_len=args.max_len,
    )  # fmt: skip


def run_part(args, part: str) -> dict:
    """Train and score one model in this process; returns its JSON record."""
    torch.set_num_threads(args.threads)
    dm = ProseDataModule(
        args.data, batch_size=args.batch_size, size=args.size, seed=args.seed, num_workers=1
    )
    if part == "deeponet":
        dm.num_workers = 0  # no symbols to corrupt: loading is cheap, and its CPU counts
        trained = train_deeponet(
            dm,
            budget=args.budget,
            lr=args.lr,
            seed=args.seed,
            max_wall=args.max_wall,
            max_steps=args.max_steps,
        )
        dm.max_eval_samples = args.max_test
        return {**trained, "net": None, "test": score_deeponet(trained["net"], dm, "test")}
    model_kwargs = dict(width=args.width, ff_width=args.ff_width)
    if part == "operator_only":
        model_kwargs["operator_only"] = True
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = fit_prose(
        PROSE,
        dm.path,
        max_cpu_time=args.budget,
        max_time=args.max_wall,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        train_query_points=args.train_query_points,
        seed=args.seed,
        num_workers=1,
        progress=False,
        test=False,
        accelerator="cpu",
        devices=1,
        **model_kwargs,
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    result.save(OUT / f"prose_{part}{args.tag}.pt")
    t1 = time.perf_counter()
    ev = _score(args, part, result, dm.path)
    return {
        "eval": ev,
        "eval_wall_s": time.perf_counter() - t1,
        "steps": int(result.metrics.get("train/steps", 0)),
        "wall_s": wall,
        "cpu_s": cpu,
        "n_params": sum(p.numel() for p in result.model.parameters()),
        "model": result.model.init_args,
        "val_best_rel_l2": result.metrics.get("val/best_rel_l2"),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=240.0, help="CPU seconds per model")
    parser.add_argument("--max-wall", type=float, default=2400.0, help="wall-clock cap (s)")
    parser.add_argument(
        "--max-steps", type=int, default=None, help="optimiser steps per model (equal-steps budget)"
    )
    parser.add_argument("--data", default="odes", help="ODE file or 'odes' (built-in)")
    parser.add_argument("--size", default="cpu", choices=["cpu", "paper"])
    parser.add_argument("--width", type=int, default=128, help="PROSE width")
    parser.add_argument("--ff-width", type=int, default=512, help="PROSE feed-forward width")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--train-query-points", type=int, default=32)
    parser.add_argument("--max-test", type=int, default=90, help="score the first N test items")
    parser.add_argument("--max-len", type=int, default=110, help="decoding length")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="skip the noisy/corrupted rows")
    parser.add_argument("--tag", default="")
    parser.add_argument("--part", default=None, choices=["prose", "operator_only", "deeponet"])
    parser.add_argument(
        "--assemble", action="store_true", help="only write the table from the part files"
    )
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="score the saved PROSE models again (no training), then write the table",
    )
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.part is not None:  # one model, in a process of its own
        record = (rescore_part if args.rescore else run_part)(args, args.part)
        (OUT / f"prose_part_{args.part}{args.tag}.json").write_text(json.dumps(record, indent=2))
        return 0
    dm = ProseDataModule(args.data, size=args.size, seed=args.seed)  # generates it if needed
    n_train = len(dm.dataset("train"))
    print(f"data: {dm.path} ({n_train} training trajectories)", file=sys.stderr)
    # The three models train at the same time, one process each (one torch thread and one
    # loader process each): on a shared machine each process gets its own share of the CPU.
    argv = list(sys.argv[1:] if argv is None else argv)
    keep = []
    for a in argv:
        if keep and keep[-1] == "--data":
            keep.pop()  # drop "--data VALUE"
        elif not a.startswith("--data="):
            keep.append(a)
    argv = keep + ["--data", dm.path]
    parts = ("prose", "operator_only", "deeponet")
    if not args.assemble:
        procs = {
            part: subprocess.Popen([sys.executable, __file__, *argv, "--part", part])
            for part in (parts[:2] if args.rescore else parts)  # DeepONet writes no equations
        }
        failed = [part for part, proc in procs.items() if proc.wait() != 0]
        if failed:
            print(f"failed: {failed}", file=sys.stderr)
            return 1
    res: dict = {
        "budget_cpu_s": args.budget,
        "data": {"path": dm.path, "n_train": n_train},
        "settings": vars(args),
    }
    for part in parts:
        res[part] = json.loads((OUT / f"prose_part_{part}{args.tag}.json").read_text())
    md = markdown(res)
    name = f"prose{args.tag}"
    (OUT / f"{name}.json").write_text(json.dumps(res, indent=2))
    (OUT / f"{name}.md").write_text(md)
    print(md)
    print(f"opkit {opkit.__version__}; written {OUT / name}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
