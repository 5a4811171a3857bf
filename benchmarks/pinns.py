"""Failure modes of PINNs and their fixes, side by side under one CPU budget per problem.

- Allen–Cahn (``u_t - 1e-4 u_xx + 5u³ - 5u = 0``, Wang et al. 2022): plain PINN vs causal PINN,
  the same network, batch and optimizer; the relative L2 error is recorded at several
  budgets along the way (nothing in either run depends on the total budget, so the error at
  a checkpoint is the error of a run with that budget). Both are also run with time marching
  (``--ac-windows``, default 5 windows sharing the budget equally), which separates the
  effect of the causal weights from that of marching in time.
- Convection (``u_t + β u_x = 0``, ``u0 = sin x``, Krishnapriyan et al. 2021) at
  ``β = 10, 30, 50``: plain PINN vs Lagrangian PINN (Mojgani et al. 2022).
- DeepXDE's PINN (pytorch backend) on convection at ``β = 30`` with the same network
  (same widths, Glorot-normal init, the same periodic input embedding), the same number of
  collocation points per step, resampled every step, the same loss weights and learning-rate
  schedule as opkit's plain PINN, and the same budget.

Budgets are *process CPU time* of training (evaluation excluded) with one torch thread, so
that runs are comparable on a shared machine; wall-clock times are printed as well and
depend on how busy the machine was. Errors are relative L2 on the reference grid (101
times x 512 points for Allen–Cahn from opkit's ETDRK4 solver, 101 x 256 for convection from
the exact solution), scored by ``opkit.evaluate``.

Every run goes through ``opkit.fit(network_class, problem, loss=..., callbacks=[budget])``:
the network is sized for the problem by its ``init_args_from_problem`` (exactly periodic in
``x``), initialised from the recipe's seed, and the budget is a callback handed to ``fit``.

Usage::

    python benchmarks/pinns.py                      # the full benchmark (see --help)
    python benchmarks/pinns.py --quick              # a 1-minute smoke run
    python benchmarks/pinns.py --only convection --budget-convection 60
    # the Allen-Cahn budget study: one CPU hour per run, scored along the way, 2 processes
    python benchmarks/pinns.py --only allen_cahn --budget-allen-cahn 3600 --jobs 2 \
        --ac-checkpoints 75 150 300 600 1200 2400 --ac-windows 1 --tag _long

Writes ``benchmarks/out/pinns.{md,json}`` (``pinns_<only>.*`` with ``--only``) and
``pinns_allen_cahn.png`` / ``pinns_convection.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch

import opkit
from opkit.models.pinns import (
    MLP,
    AllenCahn,
    CausalLoss,
    CausalSchedule,
    Convection,
    LagrangianLoss,
    LagrangianPINN,
    PlainLoss,
)
from opkit.trainers import evaluate_solution

OUT = Path(__file__).parent / "out"
PAPER = {
    "allen_cahn": {"plain": 0.498, "causal": 1.43e-3},
    "convection": {10: 1.08e-2, 20: 0.75, 30: 0.897, 40: 0.961},
}


class CPUBudget(L.Callback):
    """Stop training after ``budget`` CPU seconds of training; score at checkpoints."""

    def __init__(self, budget: float, checkpoints: list[float], label: str):
        self.budget = budget
        self.checkpoints = sorted(c for c in checkpoints if c < budget) + [budget]
        self.label = label
        self.curve: list[tuple[float, int, float]] = []
        self.eps: list[float | None] = []  # the causal schedule's eps at each score
        self.eval_cpu = 0.0

    def on_train_start(self, trainer, module):
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()

    def elapsed(self) -> float:
        return time.process_time() - self.cpu0 - self.eval_cpu

    def _score(self, trainer, module):
        t0 = time.process_time()
        self.metrics = opkit.evaluate(module)  # the shared score (against the reference)
        rel = self.metrics["rel_l2"]
        self.eval_cpu += time.process_time() - t0
        used = self.elapsed()
        self.curve.append((used, trainer.global_step, rel))
        schedule = getattr(module.loss_fn, "schedule", None)  # CausalLoss's ε schedule
        self.eps.append(None if schedule is None else schedule.epsilons[int(module.eps_index)])
        wall = time.perf_counter() - self.wall0
        print(
            f"  {self.label:<28} cpu {used:7.1f}s  wall {wall:7.1f}s  step {trainer.global_step:6d}"
            f"  rel_l2 {rel:.3e}",
            flush=True,
        )

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        n_windows = module.hparams.n_windows
        if n_windows > 1 and not bool(module.finished):
            # Time marching: every window gets an equal share of the CPU budget.
            share = self.budget / n_windows
            if self.elapsed() >= (int(module.window) + 1) * share:
                module.end_window()
        if self.checkpoints and self.elapsed() >= self.checkpoints[0]:
            while self.checkpoints and self.elapsed() >= self.checkpoints[0]:
                self.checkpoints.pop(0)
            self._score(trainer, module)
        if not self.checkpoints:
            trainer.should_stop = True

    def on_train_end(self, trainer, module):
        if not self.curve or self.curve[-1][1] != trainer.global_step:
            self._score(trainer, module)  # stopped early (the schedule finished)
        self.wall = time.perf_counter() - self.wall0


class Reference(L.Callback):
    """Compute the reference solution before the budget's clock starts."""

    def on_train_start(self, trainer, module):
        module.reference()


def train(network, problem, *, budget, checkpoints, label, **options) -> dict:
    """``opkit.fit(network, problem, **options)`` for ``budget`` CPU seconds of training.

    Training is stopped by the `CPUBudget` callback (``max_steps`` is only a backstop);
    Lightning's validation is off (the callback scores the solution at its checkpoints,
    outside the budget).
    """
    cb = CPUBudget(budget, checkpoints, label)
    result = opkit.fit(
        network,
        problem,
        max_steps=10**9,
        accelerator="cpu",
        seed=0,
        progress=False,
        callbacks=[Reference(), cb],
        trainer_kwargs={"limit_val_batches": 0},
        **options,
    )
    module = result.module
    used, steps, rel = cb.curve[-1]
    return {
        "label": label,
        "rel_l2": rel,
        "cpu_s": used,
        "wall_s": cb.wall,
        "steps": steps,
        "curve": cb.curve,
        # the last score's metrics: error against time and how long the PINN stays valid
        "valid_prediction_time": cb.metrics["valid_prediction_time"],
        "error_per_time": cb.metrics["error_per_time"],
        "eps": cb.eps,
        # for the figures (not written to the JSON)
        "grid": module.reference(),
        "pred": module.predict_grid(*module.reference()[:2]),
    }


def _allen_cahn_run(args, name: str, n_windows: int) -> dict:
    """One Allen–Cahn run (plain or causal, ``n_windows`` windows); picklable for a pool."""
    torch.set_num_threads(1)
    schedule = CausalSchedule(epsilons=tuple(args.ac_epsilons))
    causal = name.startswith("causal")
    loss = CausalLoss(schedule, ic_weight=100.0) if causal else PlainLoss(ic_weight=100.0)
    marching = dict(n_windows=n_windows, steps_per_window=10**9) if n_windows > 1 else {}
    options = dict(
        width=args.ac_width,
        depth=args.ac_depth,
        n_harmonics=args.ac_harmonics,
        loss=loss,
        lr=1e-3,
        n_t=args.ac_nt,
        n_x=args.ac_nx,
        n_ic=256,
        sampler="random",
        eval_n_t=101,
        eval_n_x=512,
        **marching,
    )
    budget = args.budget_allen_cahn
    # Single-window runs do not depend on the total budget: score them along the way.
    if n_windows > 1:
        checkpoints = []
    elif args.ac_checkpoints:
        checkpoints = list(args.ac_checkpoints)
    else:
        checkpoints = [budget * f for f in (1 / 8, 1 / 4, 1 / 2)]
    out = train(
        MLP,
        AllenCahn(),
        budget=budget,
        checkpoints=checkpoints,
        label=f"allen-cahn {name}",
        **options,
    )
    if causal:
        out["eps_reached"] = out["eps"][-1]  # the schedule's eps at the last score
    return out


def allen_cahn(args) -> dict:
    runs = [(name, 1) for name in ("plain", "causal") if name in args.ac_runs]
    if args.ac_windows > 1:
        w = args.ac_windows
        runs += [(f"plain, {w} windows", w), (f"causal, {w} windows", w)]
    if args.jobs > 1:
        # Budgets are per-process CPU time, so parallel runs stay comparable.
        import concurrent.futures as cf
        import multiprocessing as mp

        with cf.ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {name: pool.submit(_allen_cahn_run, args, name, w) for name, w in runs}
            return {name: f.result() for name, f in futures.items()}
    return {name: _allen_cahn_run(args, name, w) for name, w in runs}


def convection(args) -> dict:
    out = {}
    checkpoints = [args.budget_convection / 2]
    for beta in args.betas:
        problem = Convection(beta=beta)
        shared = dict(
            n_t=args.conv_nt, n_x=args.conv_nx, n_ic=256, sampler="random", lr=1e-3,
            eval_n_t=101, eval_n_x=256,
        )  # fmt: skip
        # Plain PINN: a 4 x 50 tanh MLP over [t, 1, cos x, sin x]; Adam with the papers'
        # decay (0.9 every 5000 steps). LPINN: the released code's branches (50 wide, 4 and
        # 2 hidden layers, displacement scale |beta| T) and a faster decay (0.5 every 1000),
        # which settles its root-mean-square (not squared) residual norms, whose gradients
        # do not shrink near the minimum; the plain PINN does worse with it (it decays
        # before the PINN leaves its initial plateau, e.g. at beta = 10).
        runs = {
            "plain": (MLP, dict(width=50, depth=4, loss=PlainLoss(ic_weight=args.conv_ic_weight),
                                lr_decay=0.9, lr_decay_steps=5000)),
            "lpinn": (LagrangianPINN, dict(width=50, depth=4, characteristic_depth=2,
                                           loss=LagrangianLoss(), lr_decay=args.lpinn_lr_decay,
                                           lr_decay_steps=1000)),
        }  # fmt: skip
        out[beta] = {}
        for name, (network, options) in runs.items():
            out[beta][name] = train(
                network,
                problem,
                budget=args.budget_convection,
                checkpoints=checkpoints,
                label=f"convection b={beta:g} {name}",
                **shared,
                **options,
            )
    return out


def deepxde_convection(args, beta: float = 30.0) -> dict:
    """DeepXDE's PINN on the same problem, network, batch size and budget."""
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    dde.config.set_random_seed(0)
    geom = dde.geometry.GeometryXTime(
        dde.geometry.Interval(0, 2 * math.pi), dde.geometry.TimeDomain(0, 1)
    )

    def pde(x, y):
        return dde.grad.jacobian(y, x, i=0, j=1) + beta * dde.grad.jacobian(y, x, i=0, j=0)

    ic = dde.icbc.IC(geom, lambda x: np.sin(x[:, 0:1]), lambda _, on_initial: on_initial)
    data = dde.data.TimePDE(
        geom,
        pde,
        [ic],
        num_domain=args.conv_nt * args.conv_nx,
        num_initial=256,
        train_distribution="pseudo",
    )
    # The same network as opkit's plain PINN: [t, 1, cos x, sin x] -> 4 x 50 tanh -> 1.
    net = dde.nn.FNN([4] + [50] * 4 + [1], "tanh", "Glorot normal")
    net.apply_feature_transform(
        lambda z: torch.cat(
            [z[:, 1:2], torch.ones_like(z[:, :1]), torch.cos(z[:, 0:1]), torch.sin(z[:, 0:1])], 1
        )
    )
    model = dde.Model(data, net)
    # The same continuous decay as opkit's plain PINN: lr * 0.9 ** (step / 5000).
    model.compile(
        "adam",
        lr=1e-3,
        loss_weights=[1.0, args.conv_ic_weight],
        decay=("exponential", 0.9 ** (1 / 5000)),
        verbose=0,
    )

    t_ref = torch.linspace(0, 1, 101, dtype=torch.float64)
    x_ref, u_ref = Convection(beta=beta).reference(t_ref, n_x=256)
    tt, xx = np.meshgrid(np.linspace(0, 1, 101), x_ref.numpy(), indexing="ij")
    query = np.stack([xx.ravel(), tt.ravel()], 1).astype(np.float32)

    class Budget(dde.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.cpu0, self.wall0, self.steps = time.process_time(), time.perf_counter(), 0

        def on_batch_end(self):
            self.steps += 1
            if time.process_time() - self.cpu0 >= args.budget_convection:
                self.model.stop_training = True

    budget = Budget()
    model.train(
        iterations=10**9,
        callbacks=[dde.callbacks.PDEPointResampler(period=1), budget],
        display_every=10**9,
        verbose=0,
    )
    cpu, wall = time.process_time() - budget.cpu0, time.perf_counter() - budget.wall0
    pred = torch.from_numpy(model.predict(query).reshape(101, -1)).to(torch.float64)

    class Solution:  # scored by the same `evaluate_solution` as opkit's PINNs
        def reference(self):
            return t_ref, x_ref, u_ref

        def predict_grid(self, t, x):
            return pred

    rel = evaluate_solution(Solution())["rel_l2"]
    print(
        f"  deepxde convection b={beta:g}    cpu {cpu:7.1f}s  wall {wall:7.1f}s  step "
        f"{budget.steps:6d}  rel_l2 {rel:.3e}",
        flush=True,
    )
    return {"rel_l2": rel, "cpu_s": cpu, "wall_s": wall, "steps": budget.steps, "pred": pred}


def _table(args, ac, conv, dx) -> str:
    lines = [
        "# PINN benchmark (opkit)",
        "",
        f"CPU budgets (process CPU time of training, 1 torch thread): Allen-Cahn "
        f"{args.budget_allen_cahn:g} s per run, convection {args.budget_convection:g} s per "
        "run. The machine was shared with other jobs: wall times vary, CPU times do not.",
        "",
    ]
    if ac and "plain" in ac and "causal" in ac:
        p, c = ac["plain"], ac["causal"]
        lines += [
            "## Allen-Cahn: plain vs causal PINN (same network, batch, optimizer)",
            "",
            "Error against the CPU budget (one window; the runs are scored along the way):",
            "",
            "| CPU budget (s) | plain PINN | causal PINN | plain / causal | causal eps "
            "| steps (plain / causal) |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for (cpu_p, st_p, rel_p), (_, st_c, rel_c), eps in zip(p["curve"], c["curve"], c["eps"]):
            lines.append(
                f"| {cpu_p:.0f} | {rel_p:.3e} | {rel_c:.3e} | {rel_p / rel_c:.2f} | {eps:g} "
                f"| {st_p} / {st_c} |"
            )
        lines += [
            "",
            f"At the full budget ({args.budget_allen_cahn:g} CPU s per run; windows share it "
            "equally, each starting from the previous network and its prediction):",
            "",
            "| run | relative L2 | plain (1 window) / run | valid until t = | steps "
            "| eps reached | wall (s) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, r in ac.items():
            lines.append(
                f"| {name} | {r['rel_l2']:.3e} | {p['rel_l2'] / r['rel_l2']:.1f} | "
                f"{r['valid_prediction_time']:.2f} | {r['steps']} "
                f"| {r.get('eps_reached', '-')} | {r['wall_s']:.0f} |"
            )
        lines += [
            "",
            "(valid until: the first reference time at which the error normalised by the "
            "solution's standard deviation exceeds 0.5, `opkit.evaluate`'s valid prediction "
            "time.)",
        ]
    if ac:
        lines += ["", "Error along each single-window run (CPU s: relative L2):", ""]
        for name, r in ac.items():
            if len(r["curve"]) > 1:
                pts = ", ".join(f"{cpu:.0f}: {rel:.3e}" for cpu, _, rel in r["curve"])
                lines.append(f"- {name}: {pts}")
        lines += [
            "",
            f"Paper (GPU, trained far longer): plain {PAPER['allen_cahn']['plain']}, causal "
            f"{PAPER['allen_cahn']['causal']:.2e} (MLP).",
            "",
        ]
    if conv:
        lines += [
            "## Convection u_t + beta u_x = 0: plain PINN vs Lagrangian PINN",
            "",
            "| beta | plain PINN | LPINN | plain / LPINN | DeepXDE PINN | paper plain PINN |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for beta, r in conv.items():
            d = f"{dx['rel_l2']:.3e}" if dx and beta == 30 else "-"
            paper = PAPER["convection"].get(int(beta))
            lines.append(
                f"| {beta:g} | {r['plain']['rel_l2']:.3e} | {r['lpinn']['rel_l2']:.3e} | "
                f"{r['plain']['rel_l2'] / r['lpinn']['rel_l2']:.1f} | {d} | "
                f"{paper if paper is not None else '-'} |"
            )
        steps = ", ".join(
            f"b={b:g}: {r['plain']['steps']} / {r['lpinn']['steps']}" for b, r in conv.items()
        )
        lines += ["", f"Steps in the budget (plain / LPINN): {steps}."]
        if dx:
            lines.append(
                f"DeepXDE at beta=30: {dx['steps']} steps in the budget (opkit plain: "
                f"{conv.get(30.0, {}).get('plain', {}).get('steps', '-')})."
            )
        lines.append("")
    return "\n".join(lines)


def _figures(ac, conv, tag=""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(parents=True, exist_ok=True)
    if ac:
        fig, axes = plt.subplots(1, 5, figsize=(21, 3.6))
        for name, style in (("plain", "o-"), ("causal", "s-")):
            if name not in ac:
                continue
            cpu = [c[0] for c in ac[name]["curve"]]
            rel = [c[2] for c in ac[name]["curve"]]
            axes[0].loglog(cpu, rel, style, label=f"{name} PINN")
        axes[0].set_xlabel("CPU budget (s)")
        axes[0].set_ylabel("relative L2")
        axes[0].legend()
        axes[0].set_title("Allen-Cahn: error vs budget")
        t, x, u_ref = next(iter(ac.values()))["grid"]
        shown = [n for n in ("plain", "causal") if n in ac]
        shown += [n for n in ac if n.startswith("causal,")]
        fields = [("reference", u_ref)] + [
            (f"{n} ({ac[n]['rel_l2']:.2e})", ac[n]["pred"]) for n in shown
        ]
        for ax, (title, u) in zip(axes[1:], fields):
            im = ax.pcolormesh(t, x, u.T, shading="auto", cmap="RdBu_r", vmin=-1, vmax=1)
            ax.set_title(title)
            ax.set_xlabel("t")
        for ax in axes[1 + len(fields) :]:
            ax.set_visible(False)
        fig.colorbar(im, ax=axes[1:])
        fig.savefig(OUT / f"pinns_allen_cahn{tag}.png", dpi=120, bbox_inches="tight")
        plt.close(fig)
    if conv:
        fig, axes = plt.subplots(len(conv), 3, figsize=(12, 3.0 * len(conv)), squeeze=False)
        for row, (beta, r) in zip(axes, conv.items()):
            t, x, u_ref = r["lpinn"]["grid"]
            fields = [("exact", u_ref)] + [
                (f"{n} ({r[n]['rel_l2']:.2e})", r[n]["pred"]) for n in ("plain", "lpinn")
            ]
            for ax, (title, u) in zip(row, fields):
                ax.pcolormesh(t, x, u.T, shading="auto", cmap="RdBu_r", vmin=-1, vmax=1)
                ax.set_title(f"beta={beta:g}: {title}")
        fig.tight_layout()
        fig.savefig(OUT / f"pinns_convection{tag}.png", dpi=110)
        plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--budget-allen-cahn",
        type=float,
        default=600.0,
        help="CPU seconds per Allen-Cahn run (default 600, the 10-minute cap)",
    )
    ap.add_argument(
        "--budget-convection",
        type=float,
        default=90.0,
        help="CPU seconds per convection run (default 90)",
    )
    ap.add_argument("--betas", type=float, nargs="+", default=[10.0, 30.0, 50.0])
    ap.add_argument("--only", choices=["allen_cahn", "convection"], default=None)
    ap.add_argument("--no-deepxde", action="store_true")
    ap.add_argument("--quick", action="store_true", help="tiny budgets: a smoke run")
    ap.add_argument("--ac-width", type=int, default=128)
    ap.add_argument("--ac-depth", type=int, default=4)
    ap.add_argument("--ac-harmonics", type=int, default=10)
    ap.add_argument("--ac-nt", type=int, default=32)
    ap.add_argument("--ac-nx", type=int, default=64)
    ap.add_argument(
        "--ac-runs",
        nargs="+",
        choices=["plain", "causal"],
        default=["plain", "causal"],
        help="single-window Allen-Cahn runs (default both)",
    )
    ap.add_argument("--tag", default="", help="suffix of the output files")
    ap.add_argument(
        "--ac-checkpoints",
        type=float,
        nargs="+",
        default=None,
        help="CPU seconds at which single-window Allen-Cahn runs are scored (default: "
        "1/8, 1/4 and 1/2 of the budget)",
    )
    ap.add_argument(
        "--ac-epsilons",
        type=float,
        nargs="+",
        default=[1e-2, 1e-1, 1.0, 10.0, 100.0],
        help="the causal schedule's eps values (default: the published 1e-2 ... 100)",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="Allen-Cahn runs in parallel processes, one thread each (default 1)",
    )
    ap.add_argument(
        "--ac-windows",
        type=int,
        default=5,
        help="time-marching windows of the extra Allen-Cahn runs (1: none)",
    )
    ap.add_argument("--conv-nt", type=int, default=16)
    ap.add_argument("--conv-nx", type=int, default=32)
    ap.add_argument("--conv-ic-weight", type=float, default=100.0)
    ap.add_argument(
        "--lpinn-lr-decay",
        type=float,
        default=0.5,
        help="LPINN learning-rate factor per 1000 steps (default 0.5)",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.budget_allen_cahn, args.budget_convection = 20.0, 10.0
    # One thread: the budget is CPU time, and small networks gain nothing from more threads
    # on a shared machine (OpenMP oversubscription).
    torch.set_num_threads(1)
    ac = allen_cahn(args) if args.only in (None, "allen_cahn") else None
    conv = convection(args) if args.only in (None, "convection") else None
    dx = None
    if conv is not None and not args.no_deepxde and 30.0 in conv:
        dx = deepxde_convection(args, 30.0)
    table = _table(args, ac, conv, dx)
    print("\n" + table)
    OUT.mkdir(parents=True, exist_ok=True)
    stem = ("pinns" if args.only is None else f"pinns_{args.only}") + args.tag
    (OUT / f"{stem}.md").write_text(table)

    def strip(d):
        if isinstance(d, dict):
            return {str(k): strip(v) for k, v in d.items() if k not in ("grid", "pred")}
        return d

    (OUT / f"{stem}.json").write_text(
        json.dumps(
            {
                "args": vars(args),
                "allen_cahn": strip(ac),
                "convection": strip(conv),
                "deepxde": strip(dx),
            },
            indent=2,
        )
    )
    _figures(ac, conv, args.tag)
    print(f"wrote {OUT / stem}.md, {stem}.json and pinns_*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
