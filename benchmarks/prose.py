"""PROSE on the 15 ODE systems, trained and scored as its authors do (issue 19).

Every model reads the first 64 points of a trajectory with the authors' 2 % noise
(``sigma = 0.02 ||X|| / ||E||`` on the whole trajectory, input and target) and predicts the
next 128; the PROSE models also read a symbolic guess of the equations (constants hidden,
one corruption mode per system in training: clean 70 %, one term added 15 %, one deleted
15 %). All train on the same batches of the built-in ``odes`` data for the same number of
optimiser steps (``--steps``), with the same recipe (AdamW, lr ``--lr``, cosine schedule
with 5 % warm-up, gradient clipping 1, batch ``--batch-size``), two seeds each:

- **PROSE, opkit's network** (``PROSE(variant="opkit")``) and **PROSE, the authors'
  network** (``variant="authors"``), both at ``--width`` / ``--ff-width`` and the small
  configuration's depths, trained with the authors' loss (6 x squared relative error
  against the noisy labels + token cross-entropy) through ``opkit.fit``;
- **the authors' operator-only ablation** of each (``operator_only=True``: no symbol
  encoder, no fusion stack, no symbol decoder), trained the same way;
- **DeepONet** (`opkit.models.DeepONet`, branch = the standardised 64 x 5 window, trunk =
  the output time), the same data, loss, batches and steps;
- the **last observed (noisy) value held**.

Scores (``opkit.evaluate``, the first ``--max-test`` test trajectories, 2 % noise): data
relative L2 against the clean target and against the noisy one (the authors' number);
for the PROSE models the fraction of valid decoded systems (greedy and grammar-constrained
decoding, up to ``--max-len`` tokens: 100, above the longest target's 93, where the authors
stop at 150) and the decoded vector field's relative L2; per
family. The robustness table scores the same trained PROSE models at 0 / 2 / 5 / 10 %
noise with the clean guess, and at 2 % noise with a guess that has one term added, one term
deleted, is another family's, or is drawn by the training law (trajectories only: decoding
every condition did not fit the shared machine's budget). The scaling rows train both PROSE
networks (seed 0) at ``steps / 16`` and ``steps / 4`` as well: 1x, 4x, 16x.

Each model trains in a process of its own with one torch thread (``--jobs`` at a time);
steps, CPU and wall-clock seconds are recorded.

Usage::

    python benchmarks/prose.py --steps 64 --seeds 0 --max-test 30 --tag _smoke   # smoke
    python benchmarks/prose.py              # the tables in docs/models.md (320 steps, 2 seeds)
    python benchmarks/prose.py --assemble   # only rewrite the tables from the part files

Writes ``benchmarks/out/prose{tag}.json`` and ``prose{tag}.md``.
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
from opkit.trainers import ProseDataModule
from opkit.trainers._prose_module import relative_l2_masked, squared_relative_error

OUT = Path(__file__).parent / "out"
PROSE_PARTS = ("prose_opkit", "prose_authors", "operator_only_opkit", "operator_only_authors")
PARTS = (*PROSE_PARTS, "deeponet")
NOISE = 0.02
#: the robustness conditions: (label, key prefix in opkit.evaluate's scores)
ROBUST = (
    ("clean data, clean guess", "noise_0/"),
    ("2 % noise, clean guess", ""),
    ("5 % noise, clean guess", "noise_0.05/"),
    ("10 % noise, clean guess", "noise_0.1/"),
    ("2 % noise, one term added", "add/"),
    ("2 % noise, one term deleted", "delete/"),
    ("2 % noise, another family's guess", "other/"),
    ("2 % noise, guesses drawn 70/15/15", "corrupted/"),
)


# -- DeepONet -------------------------------------------------------------------------------
def _standardise(u_in):
    mean = u_in.mean(1, keepdim=True)
    std = u_in.std(1, keepdim=True, correction=0).clamp_min(1e-4)
    return mean, std


def deeponet_predict(net: DeepONet, batch: dict) -> torch.Tensor:
    """DeepONet on one batch: ``(B, 64, 5)`` window -> ``(B, 128, 5)``."""
    mean, std = _standardise(batch["u_in"])
    z = net.forward_operator((batch["u_in"] - mean) / std, batch["t_out"][0][:, None])
    keep = (torch.arange(5) < batch["dim"][:, None]).float()[:, None, :]
    return (mean + std * z) * keep


def train_deeponet(dm: ProseDataModule, *, steps: int, lr: float, seed: int) -> dict:
    """DeepONet with the same batches (noisy inputs and labels), the authors' data loss,
    AdamW, cosine schedule with 5 % warm-up, clipping 1, ``steps`` steps; the best
    validation epoch is kept."""
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
    t0, cpu0, step, epoch = time.perf_counter(), time.process_time(), 0, 0
    best, best_state = math.inf, None
    train = dm.dataset("train", noise=dm.noise)
    while step < steps:
        train.set_epoch(epoch)
        for batch in dm.loader(train, shuffle=True):
            frac = step / steps
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, frac / 0.05 + 1e-3) * 0.5 * (1 + math.cos(math.pi * frac))
            pred = deeponet_predict(net, batch)
            loss = squared_relative_error(pred, batch["u_out"], batch["dim"]).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            step += 1
            if step >= steps:
                break
        epoch += 1
        val = score_deeponet(net, dm, "val", limit=None)["rel_l2"]
        if val < best:
            best, best_state = val, {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(best_state)
    return {
        "net": net,
        "steps": step,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - cpu0,
        "n_params": sum(q.numel() for q in net.parameters()),
    }


@torch.no_grad()
def score_deeponet(net: DeepONet, dm: ProseDataModule, split: str, *, limit) -> dict:
    rec: dict[str, list] = defaultdict(list)
    for batch in dm.loader(dm.dataset(split, noise=NOISE, limit=limit)):
        pred = deeponet_predict(net, batch)
        rec["rel_l2"] += relative_l2_masked(pred, batch["u_out_clean"], batch["dim"]).tolist()
        rec["noisy"] += relative_l2_masked(pred, batch["u_out"], batch["dim"]).tolist()
        rec["family"] += batch["family"]
    out = _summary(rec["rel_l2"], rec["family"], "rel_l2")
    out.update(_summary(rec["noisy"], rec["family"], "rel_l2_noisy_target"))
    return out


def _summary(values: list[float], fams: list[str], name: str) -> dict:
    per = defaultdict(list)
    for r, f in zip(values, fams):
        per[f].append(r)
    t = torch.tensor(values, dtype=torch.float64)
    return {
        name: float(t.mean()),
        f"{name}_median": float(t.median()),
        f"{name}_per_family": {f: sum(v) / len(v) for f, v in sorted(per.items())},
    }


# -- one model in one process ---------------------------------------------------------------
def run_part(args, part: str, seed: int, steps: int) -> dict:
    """Train and score one model; returns its JSON record."""
    torch.set_num_threads(1)
    if part == "deeponet":
        dm = ProseDataModule(args.data, batch_size=args.batch_size, seed=seed,
                             max_eval_samples=args.max_val)  # fmt: skip
        trained = train_deeponet(dm, steps=steps, lr=args.lr, seed=seed)
        test = score_deeponet(trained.pop("net"), dm, "test", limit=args.max_test)
        return {**trained, "eval": test}
    saved = _part_file(args, part, seed, steps).with_suffix(".pt")
    if saved.exists():  # trained before, its scoring failed or changed: score it again
        result = opkit.load(saved)
        record = json.loads(saved.with_suffix(".train.json").read_text())
    else:
        result, record = _train_prose(args, part, seed, steps)
        result.save(saved)
        saved.with_suffix(".train.json").write_text(json.dumps(record))
    t1 = time.perf_counter()
    scores = _score_prose(args, result, full=part.startswith("prose") and steps == args.steps)
    return {**record, "eval": scores, "eval_wall_s": time.perf_counter() - t1}


def _train_prose(args, part: str, seed: int, steps: int):
    """``opkit.fit`` of one PROSE model; the result and its training record."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = opkit.fit(
        PROSE,
        args.data,
        max_steps=steps,
        max_time=args.max_wall,
        batch_size=args.batch_size,
        lr=args.lr,
        train_query_points=args.train_query_points,
        max_eval_samples=args.max_val,
        seed=seed,
        num_workers=1,
        progress=False,
        test=False,
        accelerator="cpu",
        devices=1,
        width=args.width,
        ff_width=args.ff_width,
        variant=part.rsplit("_", 1)[1],
        operator_only=part.startswith("operator_only"),
    )
    record = {
        "steps": int(result.metrics.get("step", 0)),
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time() - cpu0,
        "n_params": sum(p.numel() for p in result.model.parameters()),
        "model": result.model.init_args,
        "val_best_rel_l2": result.metrics.get("val/best_rel_l2"),
    }
    return result, record


def _score_prose(args, result, *, full: bool) -> dict:
    """The clean-guess scores, decoded greedily and constrained (greedy only for the
    scaling runs); with ``full`` the robustness conditions too, trajectories only (the
    decoders' cost did not fit this machine's budget)."""
    common = dict(max_samples=args.max_test, max_len=args.max_len, seed=0)
    decoders = ("greedy", "constrained") if full else ("greedy",)
    scores = opkit.evaluate(result, args.data, "test", variants=("clean",), decoders=decoders,
                            **common)  # fmt: skip
    if full:
        scores.update(
            opkit.evaluate(
                result,
                args.data,
                "test",
                noise_levels=(0.0, 0.05, 0.1),
                variants=("add", "delete", "other", "corrupted"),
                decoders=(),
                **common,
            )  # fmt: skip
        )
    return scores


def _part_file(args, part: str, seed: int, steps: int) -> Path:
    return OUT / f"prose_part{args.tag}_{part}_s{seed}_n{steps}.json"


def _jobs(args) -> list[tuple[str, int, int]]:
    jobs = [(part, seed, args.steps) for seed in args.seeds for part in PARTS]
    for steps in (args.steps // 4, args.steps // 16, *args.extra_steps):
        jobs += [(part, args.seeds[0], steps) for part in ("prose_opkit", "prose_authors")]
    return jobs


def run_all(args, argv: list[str]) -> None:
    """Every job in a subprocess, ``--jobs`` at a time, longest first."""
    pending = [j for j in _jobs(args) if not _part_file(args, *j).exists()]
    pending.sort(key=lambda j: -j[2] * (0.2 if j[0] == "deeponet" else 1))
    running: list[tuple[subprocess.Popen, tuple]] = []
    failed = []
    while pending or running:
        while pending and len(running) < args.jobs:
            job = pending.pop(0)
            cmd = [sys.executable, __file__, *argv, "--part", job[0], "--seed-one", str(job[1]),
                   "--steps-one", str(job[2])]  # fmt: skip
            running.append((subprocess.Popen(cmd), job))
        time.sleep(2)
        for proc, job in list(running):
            if proc.poll() is not None:
                running.remove((proc, job))
                if proc.returncode != 0:
                    failed.append(job)
                print(f"done {job} rc={proc.returncode}", file=sys.stderr, flush=True)
    if failed:
        raise SystemExit(f"failed: {failed}")


# -- tables ---------------------------------------------------------------------------------
def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.3f}"


def _mean(values) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return sum(values) / len(values) if values else None


NAMES = {
    "prose_opkit": "PROSE (opkit's network)",
    "prose_authors": "PROSE (authors' network)",
    "operator_only_opkit": "operator-only ablation (opkit's network)",
    "operator_only_authors": "operator-only ablation (authors' network)",
    "deeponet": "DeepONet",
}


def markdown(res: dict) -> str:
    s, runs = res["settings"], res["runs"]
    seeds, steps = s["seeds"], s["steps"]

    def ev(part, key, seed=None):
        vals = [runs[f"{part}_s{sd}_n{steps}"]["eval"].get(key)
                for sd in (seeds if seed is None else [seed])]  # fmt: skip
        return _mean(vals)

    def fam(part, key, f):
        vals = [runs[f"{part}_s{sd}_n{steps}"]["eval"].get(key, {}).get(f) for sd in seeds]
        return _mean(vals)

    first = runs[f"prose_opkit_s{seeds[0]}_n{steps}"]["eval"]
    lines = [
        f"# PROSE on `odes`, the authors' noise and corruption: {steps} optimiser steps per "
        f"model, batch {s['batch_size']}, seeds {', '.join(map(str, seeds))} "
        f"({first['n_samples']} test trajectories, 2 % noise)",
        "",
        "Data relative L2 on the 128 target points against the clean target and against the "
        "noisy one (the authors' number); mean over seeds (per seed in brackets). Valid "
        "decoded systems and the decoded vector field's relative L2 (at 50 points from "
        f"U(-5, 5)^d, valid ones), greedy and grammar-constrained, up to {s['max_len']} tokens.",
        "",
        "| model | rel. L2, clean target | rel. L2, noisy target | valid (greedy) | "
        "valid (constrained) | VF rel. L2 median (greedy) | VF rel. L2 median (constrained) | "
        "parameters | "
        "CPU s / run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for part in PARTS:
        per_seed = ", ".join(_fmt(ev(part, "rel_l2", sd)) for sd in seeds)
        cpu = _mean([runs[f"{part}_s{sd}_n{steps}"]["cpu_s"] for sd in seeds])
        n = runs[f"{part}_s{seeds[0]}_n{steps}"]["n_params"]
        lines.append(
            f"| {NAMES[part]} | {_fmt(ev(part, 'rel_l2'))} ({per_seed}) | "
            f"{_fmt(ev(part, 'rel_l2_noisy_target'))} | {_fmt(ev(part, 'valid_fraction'))} | "
            f"{_fmt(ev(part, 'constrained_valid_fraction'))} | "
            f"{_fmt(ev(part, 'vector_field_rel_l2_median'))} | "
            f"{_fmt(ev(part, 'constrained_vector_field_rel_l2_median'))} | {n:,} | {cpu:.0f} |"
        )
    lines.append(
        f"| last (noisy) value held | {_fmt(ev('prose_opkit', 'baseline_rel_l2'))} | "
        f"{_fmt(ev('prose_opkit', 'baseline_rel_l2_noisy_target'))} | | | | | 0 | 0 |"
    )
    lines += [
        "",
        "Per family (data rel. L2 against the clean target, mean over seeds; valid fraction "
        "greedy / constrained and VF rel. L2 greedy of each PROSE network):",
        "",
        "| family | PROSE opkit | PROSE authors | op-only opkit | op-only authors | DeepONet | "
        "held | valid opkit | valid authors | VF opkit | VF authors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in sorted(first["rel_l2_per_family"]):
        data = " | ".join(_fmt(fam(p, "rel_l2_per_family", f)) for p in PARTS)
        valid = " | ".join(
            f"{_fmt(fam(p, 'valid_fraction_per_family', f))} / "
            f"{_fmt(fam(p, 'constrained_valid_fraction_per_family', f))}"
            for p in PROSE_PARTS[:2]
        )
        vf = " | ".join(_fmt(fam(p, "vector_field_rel_l2_per_family", f)) for p in PROSE_PARTS[:2])
        held = _fmt(fam("prose_opkit", "baseline_rel_l2_per_family", f))
        lines.append(f"| {f} | {data} | {held} | {valid} | {vf} |")
    lines += [
        "",
        "Robustness (the same trained models, mean over seeds; data rel. L2 only):",
        "",
        "| input | opkit: rel. L2, clean target | noisy target | "
        "authors: rel. L2, clean target | noisy target |",
        "|---|---|---|---|---|",
    ]
    for label, prefix in ROBUST:
        cells = []
        for part in PROSE_PARTS[:2]:
            keys = ("rel_l2", "rel_l2_noisy_target")
            cells += [_fmt(ev(part, prefix + k)) for k in keys]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Scaling (seed {seeds[0]}, data rel. L2 against the clean target, valid fraction greedy):",
        "",
        "| steps | trajectories seen | PROSE opkit | valid | PROSE authors | valid |",
        "|---|---|---|---|---|---|",
    ]
    for n in sorted({steps // 16, steps // 4, steps, *s["extra_steps"]}):
        cells = []
        for part in PROSE_PARTS[:2]:
            r = runs[f"{part}_s{seeds[0]}_n{n}"]["eval"]
            cells += [_fmt(r["rel_l2"]), _fmt(r.get("valid_fraction"))]
        lines.append(f"| {n} | {n * s['batch_size']:,} | " + " | ".join(cells) + " |")
    paper = res["paper"]
    n_small = runs[f"prose_authors_s{seeds[0]}_n{steps}"]["n_params"]
    ours = steps * s["batch_size"] * n_small
    theirs = paper["steps"] * paper["batch"] * paper["n_params"]
    lines += [
        "",
        f"The paper's run: {paper['steps']:,} steps x batch {paper['batch']} = "
        f"{paper['steps'] * paper['batch']:,} trajectories seen by a {paper['n_params']:,}-"
        f"parameter network (`PROSE.paper()`), i.e. "
        f"{theirs:.2e} trajectory-parameter products; this table's 16x row (authors' "
        f"network): {ours:.2e}, {theirs / ours:,.0f} times less.",
        "",
        "Training, per run (wall-clock on a shared, loaded 2-core machine):",
        "",
    ]
    for key in sorted(runs):
        r = runs[key]
        lines.append(
            f"- {key}: {r['n_params']:,} parameters, {r['steps']} steps, {r['wall_s']:.0f} s "
            f"wall, {r['cpu_s']:.0f} s CPU"
        )
    return "\n".join(lines) + "\n"


def _paper() -> dict:
    with torch.device("meta"):
        n = sum(p.numel() for p in PROSE.paper().parameters())
    return {"steps": 160_000, "batch": 256, "n_params": n}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=320, help="optimiser steps per model")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument(
        "--extra-steps", type=int, nargs="*", default=[], help="further scaling rows (seed 0)"
    )
    parser.add_argument("--max-wall", type=float, default=4 * 3600, help="wall cap per model")
    parser.add_argument("--data", default="odes", help="ODE file or 'odes' (built-in)")
    parser.add_argument("--width", type=int, default=64, help="PROSE width")
    parser.add_argument("--ff-width", type=int, default=256, help="PROSE feed-forward width")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--train-query-points", type=int, default=32)
    parser.add_argument("--max-val", type=int, default=90, help="validate on N items")
    parser.add_argument("--max-test", type=int, default=45, help="score the first N test items")
    parser.add_argument(
        "--max-len", type=int, default=100, help="decoding length (every target is <= 93)"
    )
    parser.add_argument("--jobs", type=int, default=10, help="models trained at the same time")
    parser.add_argument("--tag", default="")
    parser.add_argument("--part", default=None, choices=PARTS)
    parser.add_argument("--seed-one", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--steps-one", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--assemble", action="store_true", help="only write the tables")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.part is not None:  # one model, in a process of its own
        record = run_part(args, args.part, args.seed_one, args.steps_one)
        path = _part_file(args, args.part, args.seed_one, args.steps_one)
        path.write_text(json.dumps(record, indent=2))
        return 0
    dm = ProseDataModule(args.data)  # generates the built-in data if needed
    args.data = dm.path
    argv = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--assemble"]
    argv += ["--data", dm.path]
    if not args.assemble:
        run_all(args, argv)
    runs = {}
    for part, seed, steps in _jobs(args):
        runs[f"{part}_s{seed}_n{steps}"] = json.loads(
            _part_file(args, part, seed, steps).read_text()
        )
    res = {"settings": vars(args), "paper": _paper(), "runs": runs}
    md = markdown(res)
    (OUT / f"prose{args.tag}.json").write_text(json.dumps(res, indent=2))
    (OUT / f"prose{args.tag}.md").write_text(md)
    print(md)
    print(f"opkit {opkit.__version__}; written benchmarks/out/prose{args.tag}.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
