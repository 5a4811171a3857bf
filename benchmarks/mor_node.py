"""POD-DEIM compression of convolutional neural ODEs, against channel pruning and low rank.

Lehtimäki, Paunonen & Linne (IEEE TNNLS 2024, arXiv:2105.14070) report their best
speed/accuracy balance for a *convolutional* neural ODE. This script measures, in one run
per task, accuracy (or rollout error) against measured speed-up for

- POD-DEIM (:func:`opkit.models.mor.deim_galerkin` / :func:`~opkit.models.mor.compress`):
  ``k`` POD modes of the state, ``m`` DEIM points of ``f(K * x + b)``; the reduced matrix
  :math:`P^\\top K V_k` is built by convolving the modes, never forming ``K``;
- channel (filter) pruning (:class:`~opkit.models.mor.ChannelPrunedField`): keep the ``s``
  channels with the largest mean-square velocity, the others frozen at their initial
  field;
- channel low-rank truncation (:class:`~opkit.models.mor.LowRankConvField`): the kernel
  as a ``C x (C w^d)`` matrix at rank ``r`` (``r`` filters, then a 1x1 mix);

at several levels each, on two tasks:

1. **digits** (the paper's kind of task): scikit-learn's bundled ``load_digits`` (8 x 8,
   1797 images; a fixed 1297/500 split), a classifier ``stem conv -> ODE block x' =
   tanh(K * x + b) on C x 8 x 8 (zero padding) over t in [0, 1] -> linear head``, trained
   here for ``--epochs``. With ``--fashion-mnist DIR`` holding the four IDX files (read,
   never downloaded), the same on Fashion-MNIST (stride-2 stem, 14 x 14).
2. **ks** (the opkit setting): `opkit.models.NeuralODE` with ``field="conv"`` trained by
   `opkit.fit` on the shared suite's Kuramoto-Sivashinsky data (``--budget`` seconds,
   or ``--checkpoint``); POD-DEIM around the origin (the paper's) and around each call's
   encoded state (``offset="initial"``, ``--ks-offsets``). The full model is scored by
   `opkit.evaluate`; every variant by the rollout relative L2 of the 40 test trajectories
   (evaluate's definition: per trajectory over all frames, averaged), frame by frame
   (each frame re-encodes the last 10) and with the whole rollout integrated in the
   latent space (encode and project once, lift and decode every frame:
   `~opkit.models.NeuralODE.latent_rollout`), and one-step on their first windows.

Timing: every model uses the same fixed-step solver (classical RK4, 4 steps per unit of
time, 16 evaluations; torchdiffeq's ``rk4`` for KS), so the ratios compare cost per
evaluation. *solve* is the integration alone (digits: from the projected state; KS: from
the encoder output over one frame, projection and lifting included); *end-to-end* is
images -> logits (digits) or the whole test rollout (KS: frame by frame, re-encoding each
window, and latent). Batches: the whole test set (500
images; 40 KS trajectories x 11 frames). Medians of ``--repeats`` round-robin repeats,
with one torch thread and with all threads (``--threads``). Only ratios measured in the
same run mean anything.

``--field dense`` runs instead the dense-field benchmark of issue 12 (NeuralODE with
``x' = tanh(Ax + b)`` on KS, neuron pruning and SVD truncation at matched cost) with the
full model's dopri5 column now measured with dopri5. ``--quick`` is a smoke test (tiny
models, one level each, seconds). Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mor_node.py [--task digits|ks|all]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mor_node.py --field dense [--budget 300]

Writes ``benchmarks/out/mor_node_conv.{md,json,png}`` (``mor_node.{md,json,png}`` for
``--field dense``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

OUT = Path(__file__).resolve().parent / "out"

# ----------------------------------------------------------------------------- solver


def rk4(field: nn.Module, x: torch.Tensor, steps: int, context=None) -> torch.Tensor:
    """Classical RK4 over ``t in [0, 1]`` in ``steps`` steps: the state at ``t = 1``."""
    h = 1.0 / steps
    for _ in range(steps):
        k1 = field(None, x, None, context)
        k2 = field(None, x + 0.5 * h * k1, None, context)
        k3 = field(None, x + 0.5 * h * k2, None, context)
        k4 = field(None, x + h * k3, None, context)
        x = x + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def rk4_states(field: nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    """The states at ``t = 0, 1/steps, ..., 1`` (the solver's grid): ``(steps + 1, batch, n)``."""
    out = [x]
    for _ in range(steps):
        h = 1.0 / steps
        x = out[-1]
        k1 = field(None, x)
        k2 = field(None, x + 0.5 * h * k1)
        k3 = field(None, x + 0.5 * h * k2)
        k4 = field(None, x + h * k3)
        out.append(x + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4))
    return torch.stack(out)


# ----------------------------------------------------------------------------- timing


def median_times(
    calls: dict[str, Callable[[], object]], repeats: int, *, min_seconds: float = 0.02
) -> dict[str, float]:
    """Median seconds of each call, timed round-robin after one warm-up round.

    A call faster than ``min_seconds`` is repeated in a loop within each sample (the count
    fixed from its warm-up), so that sub-millisecond calls are not timed at the clock's
    and the scheduler's resolution.
    """
    times: dict[str, list[float]] = {name: [] for name in calls}
    loops: dict[str, int] = {}
    with torch.no_grad():
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            loops[name] = max(1, math.ceil(min_seconds / max(time.perf_counter() - t0, 1e-9)))
        for _ in range(repeats):
            for name, call in calls.items():
                t0 = time.perf_counter()
                for _ in range(loops[name]):
                    call()
                times[name].append((time.perf_counter() - t0) / loops[name])
    return {name: statistics.median(v) for name, v in times.items()}


def thread_counts(text: str) -> list[int]:
    counts = []
    for part in text.split(","):
        counts.append(os.cpu_count() or 1 if part.strip() == "all" else int(part))
    return sorted(set(counts))


# ----------------------------------------------------------------------------- images


class ConvODEClassifier(nn.Module):
    """``stem -> x(1) of x' = tanh(K * x + b), x(0) = stem(image) -> linear head``.

    The stem is a 3x3 convolution (stride ``stride``) and tanh to ``channels`` channels;
    the ODE block a `ConvVectorField` (zero padding, stencil ``kernel``) integrated by RK4
    over ``t in [0, 1]`` in ``steps`` steps; the head a linear map of the flattened state.
    """

    def __init__(self, channels: int, grid: tuple[int, int], *, stride=1, kernel=3, steps=4):
        super().__init__()
        from opkit.models import ConvVectorField

        self.stem = nn.Conv2d(1, channels, 3, stride=stride, padding=1)
        self.field = ConvVectorField(channels, grid, kernel_size=kernel, padding="zeros")
        self.head = nn.Linear(self.field.state_size, 10)
        self.steps = steps

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.stem(images)).flatten(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(rk4(self.field, self.encode(images), self.steps))


class Compressed(nn.Module):
    """The classifier with its ODE block replaced: ``project``, solve ``field``, ``lift``."""

    def __init__(self, base: ConvODEClassifier, field: nn.Module, project, lift, cost: dict):
        super().__init__()
        self.base, self.field, self.project, self.lift = base, field, project, lift
        self.cost = cost

    def start(self, images: torch.Tensor):
        return self.project(self.base.encode(images))

    def solve(self, state, context):
        return rk4(self.field, state, self.base.steps, context)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        state, context = self.start(images)
        return self.base.head(self.lift(self.solve(state, context), context))


def _identity(x):
    return x, None


def _pod_deim_field(field, states: torch.Tensor, nonlinear: torch.Tensor, k: int, m: int):
    """The DEIM-Galerkin field of ``field`` from ``k`` POD modes of the ``(n, N)`` state
    snapshots and ``m`` of the nonlinear ones: ``(reduced, V, P, state energy, nonlinear
    energy)``."""
    from opkit.models.mor import DEIMVectorField, deim, deim_galerkin, pod

    V, state_energy = pod(states, k)
    U, nonlinear_energy = pod(nonlinear, m)
    P = deim(U)
    reduced = DEIMVectorField(k, m, activation=field.activation)
    with torch.no_grad():
        for name, value in deim_galerkin(field, V, U, P).items():
            if value is not None:
                getattr(reduced, name).copy_(value)
    return reduced, V, P, state_energy, nonlinear_energy


def compress_classifier(base: ConvODEClassifier, images: torch.Tensor, levels: dict) -> dict:
    """The three compressions of ``base`` at the given levels, from snapshots on ``images``.

    ``levels``: ``{"pod-deim": [(k, m), ...], "prune": [s, ...], "low-rank": [r, ...]}``.
    Returns ``{name: {"kind", "model", "macs", ...}}`` including ``"full"``.
    """
    from opkit.models.mor import ChannelPrunedField, LowRankConvField, channel_importance

    field = base.field
    with torch.no_grad():
        states = rk4_states(field, base.encode(images), base.steps)  # (steps+1, batch, n)
        X = states.reshape(-1, field.state_size)
        F = field.nonlinearity(X)
    X, F = X.T.contiguous(), F.T.contiguous()
    out = {
        "full": {
            "kind": "full",
            "model": Compressed(base, field, _identity, lambda s, c: s, field.cost()),
        }
    }
    for k, m in levels["pod-deim"]:
        reduced, V, _, state_energy, nonlinear_energy = _pod_deim_field(field, X, F, k, m)
        basis = V.to(X.dtype)
        out[f"pod-deim k={k} m={m}"] = {
            "kind": "pod-deim",
            "k": k,
            "m": m,
            "state_energy": state_energy,
            "nonlinear_energy": nonlinear_energy,
            "model": Compressed(
                base,
                reduced,
                lambda x, V=basis: (x @ V, None),
                lambda s, c, V=basis: s @ V.T,
                {"macs": 2 * k * m, "f_evals": m},
            ),
        }
    # POD-DEIM around each image's x(0) (offset="initial" of compress): x = x(0) + V z,
    # V from the displacements; the pull P^T K x(0) is computed once per call.
    D = (states - states[:1]).reshape(-1, field.state_size).T.contiguous()
    for k, m in levels.get("pod-deim-offset", []):
        reduced, V, P, state_energy, nonlinear_energy = _pod_deim_field(field, D, F, k, m)
        basis, rows = V.to(X.dtype), field.rows(P).to(X.dtype)

        def project(x, V=basis, rows=rows, k=k):
            return x.new_zeros(x.shape[0], k), {"shift": x @ rows.T, "origin": x}

        def lift(z, c, V=basis):
            return c["origin"] + z @ V.T

        out[f"pod-deim k={k} m={m} (offset)"] = {
            "kind": "pod-deim-offset",
            "k": k,
            "m": m,
            "state_energy": state_energy,
            "nonlinear_energy": nonlinear_energy,
            "model": Compressed(base, reduced, project, lift, {"macs": 2 * k * m, "f_evals": m}),
        }
    importance = channel_importance(field, F)
    for s in levels["prune"]:
        pruned = ChannelPrunedField(field, importance.topk(s).indices)
        out[f"prune s={s}"] = {
            "kind": "prune",
            "s": s,
            "model": Compressed(base, pruned, pruned.project, pruned.lift, pruned.cost()),
        }
    for r in levels["low-rank"]:
        low = LowRankConvField(field, r)
        out[f"low-rank r={r}"] = {
            "kind": "low-rank",
            "r": r,
            "model": Compressed(base, low, _identity, lambda s, c: s, low.cost()),
        }
    for v in out.values():
        v.update({k: v["model"].cost[k] for k in ("macs", "f_evals")})
    return out


def load_digits_split(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """scikit-learn's bundled digits (no download): images in [0, 1], a fixed split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    test, train = perm[:500], perm[500:]
    return x[train], y[train], x[test], y[test]


def _read_idx(path: Path) -> torch.Tensor:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims :]), dtype=torch.uint8).reshape(shape)


def load_fashion_mnist(folder: Path) -> tuple[torch.Tensor, ...] | None:
    """Fashion-MNIST from its four IDX files in ``folder`` (``.gz`` or not); None if absent."""
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    names += ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    paths = []
    for name in names:
        found = [p for p in (folder / name, folder / f"{name}.gz") if p.is_file()]
        if not found:
            return None
        paths.append(found[0])
    xs, ys, xt, yt = (_read_idx(p) for p in paths)
    return xs[:, None].float() / 255, ys.long(), xt[:, None].float() / 255, yt.long()


def train_classifier(model, x, y, *, epochs: int, seed: int = 0, lr: float = 3e-3) -> float:
    """Adam with cosine decay, batch 64; returns the training seconds."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * math.ceil(len(y) / 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=gen).split(64):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return time.perf_counter() - t0


def run_images(name, data, args, *, channels, grid, stride, levels) -> dict:
    """Train the classifier, compress it, score and time every variant."""
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(args.seed)
    base = ConvODEClassifier(channels, grid, stride=stride)
    seconds = train_classifier(base, x_train, y_train, epochs=args.epochs, seed=args.seed)
    snap = x_train[: args.snapshot_images]
    variants = compress_classifier(base, snap, levels)
    with torch.no_grad():
        for v in variants.values():
            v["accuracy"] = float((v["model"](x_test).argmax(1) == y_test).float().mean())
    timing = {}
    for threads in thread_counts(args.threads):
        torch.set_num_threads(threads)
        starts = {}
        with torch.no_grad():
            for key, v in variants.items():
                starts[key] = v["model"].start(x_test)
        solve = median_times(
            {k: (lambda v=v, s=starts[k]: v["model"].solve(*s)) for k, v in variants.items()},
            args.repeats,
        )
        e2e = median_times(
            {k: (lambda v=v: v["model"](x_test)) for k, v in variants.items()}, args.repeats
        )
        timing[threads] = {"solve": solve, "e2e": e2e}
    torch.set_num_threads(1)
    for key, v in variants.items():
        for threads, t in timing.items():
            v[f"solve_speedup_{threads}t"] = t["solve"]["full"] / t["solve"][key]
            v[f"e2e_speedup_{threads}t"] = t["e2e"]["full"] / t["e2e"][key]
        v.pop("model")
    full = variants["full"]
    return {
        "task": name,
        "metric": "accuracy",
        "n": base.field.state_size,
        "setup": (
            f"{name}: {len(y_train)} train / {len(y_test)} test images, ODE block on "
            f"{channels} x {grid[0]} x {grid[1]} (n = {base.field.state_size}), {args.epochs} "
            f"epochs in {seconds:.0f} s; full model test accuracy {full['accuracy']:.4f}; "
            f"snapshots: {len(snap)} training images x {base.steps + 1} RK4 times"
        ),
        "threads": sorted(timing),
        "variants": variants,
    }


# ----------------------------------------------------------------------------- KS


def run_ks(args) -> dict:
    """The convolutional NeuralODE on the KS suite: train (or load), compress, score, time."""
    import opkit
    from opkit.models import NeuralODE
    from opkit.models.mor import (
        ChannelPrunedNeuralODE,
        channel_importance,
        compress_many,
        snapshots,
        truncate_channels,
    )
    from opkit.trainers import OperatorDataModule, resolve_dataset, training_windows, with_model

    path = args.ks_data or resolve_dataset("ks")
    out = Path(args.out)
    ckpt = Path(args.checkpoint) if args.checkpoint else None
    if ckpt is not None and ckpt.is_file():
        trained = opkit.load(ckpt)
        note = f"loaded {ckpt}"
    else:
        t0 = time.monotonic()
        trained = opkit.fit(
            NeuralODE,
            path,
            max_time=args.budget,
            in_frames=10,
            batch_size=32,
            seed=args.seed,
            accelerator="cpu",
            progress=False,
            log_dir=out / "mor_node_conv_run",
            field="conv",
            latent_channels=args.ks_channels,
            field_kernel=5,
            width=16,
        )
        if ckpt is not None:
            trained.save(ckpt)
        note = f"trained {time.monotonic() - t0:.0f} s (budget {args.budget:.0f} s)"
    full = trained.model
    n = full.state_size
    windows = training_windows(trained, path, max_windows=args.windows)
    variants: dict[str, dict] = {"full": {"kind": "full", "trained": trained, **full.cost()}}
    t0 = time.monotonic()
    sizes = args.ks_levels["pod-deim"]
    for offset in args.ks_offsets.split(","):
        suffix = " (offset)" if offset == "initial" else ""
        for (k, m), reduced in zip(sizes, compress_many(full, windows, sizes, offset=offset)):
            variants[f"pod-deim k={k} m={m}{suffix}"] = {
                "kind": "pod-deim" + ("-offset" if offset == "initial" else ""),
                "k": k,
                "m": m,
                "state_energy": float(reduced.state_energy),
                "nonlinear_energy": float(reduced.nonlinear_energy),
                "trained": with_model(trained, reduced),
                **reduced.cost(),
            }
    print(f"  ks: POD-DEIM at {len(sizes)} sizes in {time.monotonic() - t0:.0f} s", flush=True)
    with torch.no_grad():
        importance = channel_importance(full.vector_field, snapshots(full, windows)[1])
    for s in args.ks_levels["prune"]:
        # = prune_channels(full, windows, s), with the snapshots computed once
        pruned = ChannelPrunedNeuralODE(full, importance.topk(s).indices).eval()
        variants[f"prune s={s}"] = {
            "kind": "prune",
            "s": s,
            "trained": with_model(trained, pruned),
            **pruned.cost(),
        }
    for r in args.ks_levels["low-rank"]:
        low = truncate_channels(full, r)
        variants[f"low-rank r={r}"] = {
            "kind": "low-rank",
            "r": r,
            "trained": with_model(trained, low),
            **low.cost(),
        }

    dm = OperatorDataModule(str(path), in_frames=10, out_frames=1, batch_size=10_000)
    x0, future = next(iter(dm.loader(dm.dataset("test", whole=True), shuffle=False)))
    x0, future = x0.float(), future.float()
    n_frames = future.shape[1]
    module = trained.module  # the normalisation is shared by every variant

    def latent(model):
        z = model.latent_rollout(module.in_norm.encode(x0), n_frames)
        return module.out_norm.decode(z)

    # The full model is scored by opkit.evaluate (the shared metrics); every variant by the
    # same rollout relative L2 on the test trajectories (the rollout_rel_l2 of evaluate: per
    # trajectory over all frames, averaged), and one-step on their first windows.
    shared = opkit.evaluate(trained, path, solver_samples=0)
    nf = full.n_fields
    for name, v in variants.items():
        with torch.no_grad():
            frames = v["trained"].module.predict_frames(x0, n_frames)
            v["rollout_rel_l2"] = _rel(frames, future)
            v["rel_l2"] = _rel(frames[:, :nf], future[:, :nf])
            v["latent_rollout_rel_l2"] = _rel(latent(v["trained"].model), future)
        print(
            f"  ks {name}: one-step {v['rel_l2']:.4f}, rollout {v['rollout_rel_l2']:.4f}, "
            f"latent rollout {v['latent_rollout_rel_l2']:.4f}",
            flush=True,
        )

    xn = module.in_norm.encode(x0)
    timing = {}
    for threads in thread_counts(args.threads):
        torch.set_num_threads(threads)
        models = {k: v["trained"].model for k, v in variants.items()}
        latents = {}
        with torch.no_grad():
            for k, model in models.items():
                latents[k] = model.encoder(xn)
        t_frame = full.output_times(xn)
        solve = median_times(
            {
                k: (lambda mdl=mdl, z=latents[k], t=t_frame: mdl.latent_trajectory_from(z, t))
                for k, mdl in models.items()
            },
            args.repeats,
        )
        frames = median_times(
            {
                k: (lambda v=v: v["trained"].module.predict_frames(x0, n_frames))
                for k, v in variants.items()
            },
            args.repeats,
        )
        lat = median_times(
            {k: (lambda mdl=mdl: latent(mdl)) for k, mdl in models.items()}, args.repeats
        )
        timing[threads] = {"solve": solve, "e2e": frames, "latent": lat}
    torch.set_num_threads(1)
    for key, v in variants.items():
        for threads, t in timing.items():
            v[f"solve_speedup_{threads}t"] = t["solve"]["full"] / t["solve"][key]
            v[f"e2e_speedup_{threads}t"] = t["e2e"]["full"] / t["e2e"][key]
            v[f"latent_speedup_{threads}t"] = t["latent"]["full"] / t["latent"][key]
        v.pop("trained")
    ref = variants["full"]
    return {
        "task": "ks",
        "metric": "rollout_rel_l2",
        "n": n,
        "setup": (
            f"KS suite (cpu size): NeuralODE field='conv', {full.latent_channels} channels x "
            f"{full.grid_shape[0]} points (n = {n}), stencil 5; {note}; full model by "
            f"opkit.evaluate: one-step {shared['rel_l2']:.4f} (all test windows), rollout "
            f"{shared['rollout_rel_l2']:.4f}; in this table: one-step on the first window of "
            f"each test trajectory {ref['rel_l2']:.4f}, rollout {ref['rollout_rel_l2']:.4f}, "
            f"latent rollout "
            f"{ref['latent_rollout_rel_l2']:.4f}; snapshots from {len(windows)} training "
            f"windows; timing on the {x0.shape[0]} test trajectories x {n_frames} frames"
        ),
        "threads": sorted(timing),
        "variants": variants,
    }


def _rel(pred: torch.Tensor, true: torch.Tensor) -> float:
    return float(((pred - true).flatten(1).norm(dim=1) / true.flatten(1).norm(dim=1)).mean())


# ----------------------------------------------------------------------------- dense (issue 12)


@torch.no_grad()
def _time_solves(models: dict, x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median seconds of the ODE solve alone (encoder output -> states at one frame)."""
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(repeats + 1):
        for name, model in models.items():
            latent = model.encoder(x)
            t = model.output_times(x)
            t0 = time.perf_counter()
            model.latent_trajectory_from(latent, t)
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v[1:]) for name, v in times.items()}


@torch.no_grad()
def _breakdown(model: nn.Module, x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median seconds of the encoder, the ODE solve and the decoder in one call."""
    parts: dict[str, list[float]] = {"encoder": [], "solve": [], "decoder": [], "call": []}
    t = model.output_times(x)
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        latent = model.encoder(x)
        t1 = time.perf_counter()
        states = model.latent_trajectory_from(latent, t)
        t2 = time.perf_counter()
        model.decoder(states.flatten(0, 1), tuple(model.grid_shape))
        t3 = time.perf_counter()
        model(x)
        t4 = time.perf_counter()
        for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            parts[key].append(dt)
    return {k: statistics.median(v[1:]) for k, v in parts.items()}


def run_dense(args) -> int:
    """The dense-field benchmark of issue 12 (``--field dense``); see the module docstring."""
    import opkit
    from opkit.models import NeuralODE
    from opkit.models.mor import compress_many, prune_neurons, truncate_svd
    from opkit.trainers import (
        OperatorDataModule,
        resolve_dataset,
        time_calls,
        training_windows,
        with_model,
    )

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = resolve_dataset("ks")

    t0 = time.monotonic()
    if args.checkpoint and Path(args.checkpoint).is_file():
        trained = opkit.load(args.checkpoint)
        train_note = f"loaded {args.checkpoint}"
    else:
        trained = opkit.fit(
            NeuralODE,
            path,
            max_time=args.budget,
            in_frames=10,
            batch_size=32,
            seed=0,
            accelerator="cpu",
            progress=False,
            log_dir=out / "mor_node_run",
            width=args.width,
        )
        trained.save(out / "ks_neural_ode.pt")
        train_note = f"trained {time.monotonic() - t0:.0f} s (budget {args.budget:.0f} s)"
    full = trained.model
    n = full.state_size
    print(
        f"NeuralODE: n = {n}, {sum(p.numel() for p in full.parameters()):,} parameters; "
        f"{train_note}"
    )

    windows = training_windows(trained, path, max_windows=args.windows)
    variants: dict[str, dict] = {"full": {"kind": "full", "trained": trained, **full.cost()}}
    sizes = [tuple(int(v) for v in text.split(":")) for text in args.configs.split(",")]
    by_offset = {o: compress_many(full, windows, sizes, offset=o) for o in args.offsets.split(",")}
    for i, (k, m) in enumerate(sizes):
        for offset in args.offsets.split(","):
            reduced = by_offset[offset][i]
            name = f"pod-deim k={k} m={m}" + (" (offset)" if offset == "initial" else "")
            variants[name] = {
                "kind": "pod-deim" if offset == "none" else "pod-deim-offset",
                "k": k,
                "m": m,
                "state_energy": float(reduced.state_energy),
                "nonlinear_energy": float(reduced.nonlinear_energy),
                "trained": with_model(trained, reduced),
                **reduced.cost(),
            }
        s = round(math.sqrt(2 * k * m))
        pruned = prune_neurons(full, windows, s)
        variants[f"prune s={s}"] = {
            "kind": "prune",
            "s": s,
            "trained": with_model(trained, pruned),
            **pruned.cost(),
        }
        r = max(1, round(k * m / n))
        low = truncate_svd(full, r)
        variants[f"svd r={r}"] = {
            "kind": "svd",
            "r": r,
            "trained": with_model(trained, low),
            **low.cost(),
        }

    for name, v in variants.items():
        metrics = opkit.evaluate(v["trained"], path, solver_samples=0)
        v["rel_l2"], v["rollout_rel_l2"] = metrics["rel_l2"], metrics["rollout_rel_l2"]
        print(f"  scored {name}: one-step {v['rel_l2']:.4f}, rollout {v['rollout_rel_l2']:.4f}")

    dm = OperatorDataModule(str(path), in_frames=10, out_frames=1, batch_size=64)
    x0, future = next(iter(dm.loader(dm.dataset("test", whole=True), shuffle=False)))
    x0, future = x0.float(), future.float()
    n_frames = future.shape[1]
    modules = {name: v["trained"].module for name, v in variants.items()}
    rk4 = time_calls(modules, x0, repeats=args.repeats, n_frames=n_frames)
    for name, v in variants.items():
        v["rk4_s"], v["rk4_nfe"] = rk4[name]["seconds"], rk4[name]["nfe"]
        v["speedup"] = rk4["full"]["seconds"] / rk4[name]["seconds"]
    for v in variants.values():
        v["trained"].model.method = "dopri5"
    dopri = time_calls(modules, x0, repeats=args.repeats, n_frames=n_frames)
    for v in variants.values():
        v["trained"].model.method = "rk4"
    xn = trained.module.in_norm.encode(x0)
    solves = _time_solves({k: v["trained"].model for k, v in variants.items()}, xn, args.repeats)
    full.method = "dopri5"
    parts = _breakdown(full, xn, args.repeats)
    full.method = "rk4"
    parts_rk4 = _breakdown(full, xn, args.repeats)
    with torch.no_grad():
        for name, v in variants.items():
            v["dopri5_s"], v["dopri5_nfe"] = dopri[name]["seconds"], dopri[name]["nfe"]
            v["dopri5_speedup"] = dopri["full"]["seconds"] / dopri[name]["seconds"]
            # every model, the full one included, is scored with the solver of its column
            # (issue 20: the full model's dopri5 error used to be its rk4 error)
            v["trained"].model.method = "dopri5"
            v["dopri5_rollout_rel_l2"] = _rel(modules[name].predict_frames(x0, n_frames), future)
            v["trained"].model.method = "rk4"
            v["solve_s"] = solves[name]
            v["solve_speedup"] = solves["full"] / solves[name]

    ref = variants["full"]
    rows = []
    header = (
        "| model | MACs/eval | f/eval | energy V_k | energy U_m | one-step rel L2 | x full | "
        "rollout rel L2 | x full | speed-up rk4 | ODE-solve speed-up rk4 | speed-up dopri5 | "
        "dopri5 NFE/call | dopri5 rollout |"
    )
    rows += [header, "|" + "---|" * 14]
    for name, v in variants.items():
        energy = (
            (f"{v['state_energy']:.4f}", f"{v['nonlinear_energy']:.4f}")
            if "state_energy" in v
            else ("-", "-")
        )
        rows.append(
            f"| {name} | {v['macs']} | {v['f_evals']} | {energy[0]} | {energy[1]} | "
            f"{v['rel_l2']:.4f} | {v['rel_l2'] / ref['rel_l2']:.2f} | "
            f"{v['rollout_rel_l2']:.4f} | {v['rollout_rel_l2'] / ref['rollout_rel_l2']:.2f} | "
            f"{v['speedup']:.2f} | {v['solve_speedup']:.2f} | {v['dopri5_speedup']:.2f} | "
            f"{v['dopri5_nfe']:.0f} | {v['dopri5_rollout_rel_l2']:.4f} |"
        )
    table = "\n".join(rows)
    verdict = _dense_verdict(variants)
    ms = {k: f"{1e3 * v:.1f} ms" for k, v in parts_rk4.items()}
    ms5 = {k: f"{1e3 * v:.1f} ms" for k, v in parts.items()}
    verdict += (
        f"\n\nOne call of the full model on the {x0.shape[0]} windows (rk4): {ms}; with dopri5: "
        f"{ms5}. The reduction accelerates only the solve: with the encoder and decoder "
        f"unchanged, the end-to-end speed-up is at most call / (call - solve) = "
        f"{parts_rk4['call'] / max(parts_rk4['call'] - parts_rk4['solve'], 1e-12):.2f} (rk4)."
    )
    text = (
        f"# POD-DEIM vs pruning vs SVD: NeuralODE on the KS suite\n\n{train_note}; n = {n}. "
        f"Speed-ups: 11-frame rollout of the {x0.shape[0]} test trajectories in one batch, "
        f"CPU, {torch.get_num_threads()} thread, median of {args.repeats} round-robin "
        f"repeats; rk4 = the trained solver (4 steps per frame, 16 evaluations per call), "
        f"dopri5 at rtol 1e-3, atol 1e-4 (NFE of the last call of the rollout). ODE-solve "
        f"speed-up: the solve alone (encoder output -> next frame's state), same batch."
        f"\n\n{table}\n\n{verdict}\n"
    )
    print("\n" + text)
    (out / "mor_node.md").write_text(text)
    plain = {name: {k: v for k, v in d.items() if k != "trained"} for name, d in variants.items()}
    (out / "mor_node.json").write_text(json.dumps({"n": n, "variants": plain}, indent=2))
    _dense_plot(variants, out / "mor_node.png")
    print(f"written: {out / 'mor_node.md'}, .json, .png")
    return 0


def _dense_verdict(variants: dict[str, dict]) -> str:
    """The issue's criteria, computed: >= 3x at < 2x the full error; dominance."""
    ref = variants["full"]
    lines = []
    for key, label in (("rel_l2", "one-step"), ("rollout_rel_l2", "rollout")):
        for kind in ("pod-deim", "pod-deim-offset"):
            ok = [
                name
                for name, v in variants.items()
                if v["kind"] == kind and v["speedup"] >= 3 and v[key] < 2 * ref[key]
            ]
            lines.append(
                f"- {kind}, {label} error: >= 3x speed-up at < 2x the full error: "
                + (", ".join(ok) if ok else "none")
            )
    baselines = [v for v in variants.values() if v["kind"] in ("prune", "svd")]
    for kind in ("pod-deim", "pod-deim-offset"):
        for key, label in (("rel_l2", "one-step"), ("rollout_rel_l2", "rollout")):
            beaten = [
                name
                for name, v in variants.items()
                if v["kind"] == kind
                and any(b["speedup"] >= v["speedup"] and b[key] < v[key] for b in baselines)
            ]
            lines.append(
                f"- {kind}, {label}: points dominated by a baseline (faster and more accurate): "
                + (", ".join(beaten) if beaten else "none")
            )
    return "\n".join(lines)


def _dense_plot(variants: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    styles = {
        "pod-deim": ("o-", "POD-DEIM"),
        "pod-deim-offset": ("s-", "POD-DEIM, offset x(0)"),
        "prune": ("^--", "neuron pruning"),
        "svd": ("v--", "SVD truncation"),
    }
    ref = variants["full"]
    for ax, key, title in (
        (axes[0], "rel_l2", "one-step test relative L2"),
        (axes[1], "rollout_rel_l2", "11-frame rollout relative L2"),
    ):
        for kind, (style, label) in styles.items():
            pts = sorted((v["speedup"], v[key]) for v in variants.values() if v["kind"] == kind)
            if pts:
                ax.plot(*zip(*pts), style, label=label)
        ax.plot([1.0], [ref[key]], "k*", markersize=12, label="full NeuralODE")
        ax.axhline(2 * ref[key], color="grey", ls=":", label="2x full error")
        ax.axvline(3.0, color="grey", ls="-.", lw=0.8)
        ax.set_xlabel("inference speed-up over the full model (rk4, CPU)")
        ax.set_ylabel(title)
        ax.set_yscale("log")
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------- report


def table(result: dict) -> str:
    """The Markdown table of one task."""
    threads = result["threads"]
    ks = result["task"] == "ks"
    cols = ["model", "MACs/eval", "f/eval", "energy V_k"]
    cols += ["one-step", "rollout", "latent rollout"] if ks else ["accuracy"]
    for t in threads:
        cols += [f"solve x ({t}t)", f"end-to-end x ({t}t)"]
        if ks:
            cols += [f"latent e2e x ({t}t)"]
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, v in result["variants"].items():
        cells = [name, str(v["macs"]), str(v["f_evals"])]
        cells.append(f"{v['state_energy']:.4f}" if "state_energy" in v else "-")
        if ks:
            cells += [f"{v[k]:.4f}" for k in ("rel_l2", "rollout_rel_l2", "latent_rollout_rel_l2")]
        else:
            cells.append(f"{v['accuracy']:.4f}")
        for t in threads:
            cells += [f"{v[f'solve_speedup_{t}t']:.2f}", f"{v[f'e2e_speedup_{t}t']:.2f}"]
            if ks:
                cells.append(f"{v[f'latent_speedup_{t}t']:.2f}")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def verdict(result: dict) -> list[str]:
    """The issue's criteria at one thread: the target, and dominance at equal speed-up."""
    t = result["threads"][0]
    variants, ref = result["variants"], result["variants"]["full"]
    speed = f"solve_speedup_{t}t"
    if result["metric"] == "accuracy":
        checks = [
            (
                "accuracy",
                "<= 1 point accuracy loss",
                lambda v: ref["accuracy"] - v["accuracy"] <= 0.01,
                1,
            )
        ]
    else:
        checks = [
            (key, f"< 2x the full {label}", lambda v, key=key: v[key] < 2 * ref[key], -1)
            for key, label in (
                ("rollout_rel_l2", "frame-by-frame rollout error"),
                ("latent_rollout_rel_l2", "latent rollout error"),
            )
        ]
    lines = []
    for key, text, ok, sign in checks:
        for kind in ("pod-deim", "pod-deim-offset", "prune", "low-rank"):
            hits = [n for n, v in variants.items() if v["kind"] == kind and v[speed] >= 3 and ok(v)]
            lines.append(
                f"- {kind}: >= 3x solve speed-up ({t} thread) at {text}: "
                + (", ".join(hits) or "none")
            )
        dominated = [
            name
            for name, v in variants.items()
            if v["kind"].startswith("pod-deim")
            and any(
                b["kind"] in ("prune", "low-rank")
                and b[speed] >= v[speed]
                and sign * (b[key] - v[key]) > 0
                for b in variants.values()
            )
        ]
        lines.append(
            f"- POD-DEIM points beaten in {key} by a baseline at equal or higher solve "
            "speed-up: " + (", ".join(dominated) or "none")
        )
    return lines


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4), squeeze=False)
    styles = {
        "pod-deim": ("o-", "POD-DEIM"),
        "pod-deim-offset": ("s-", "POD-DEIM, offset x(0)"),
        "prune": ("^--", "channel pruning"),
        "low-rank": ("v--", "channel low rank"),
    }
    for ax, result in zip(axes[0], results):
        key = "accuracy" if result["metric"] == "accuracy" else "rollout_rel_l2"
        t = result["threads"][0]
        for kind, (fmt, label) in styles.items():
            pts = sorted(
                (v[f"solve_speedup_{t}t"], v[key])
                for v in result["variants"].values()
                if v["kind"] == kind
            )
            if pts:
                ax.plot(*zip(*pts), fmt, label=label)
        ax.plot([1.0], [result["variants"]["full"][key]], "k*", ms=12, label="full")
        ax.axvline(3.0, color="grey", ls="-.", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(f"solve speed-up over the full model ({t} thread)")
        ax.set_ylabel("test accuracy" if key == "accuracy" else "rollout relative L2")
        if key != "accuracy":
            ax.set_yscale("log")
        ax.set_title(result["task"])
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _levels(text: str) -> dict:
    """``"pod=16:24,32:48;prune=4,8;rank=2,4"`` -> the levels dict."""
    levels = {"pod-deim": [], "pod-deim-offset": [], "prune": [], "low-rank": []}
    for part in filter(None, text.split(";")):
        key, _, values = part.partition("=")
        names = {"pod": "pod-deim", "offset": "pod-deim-offset", "prune": "prune"}
        key = {**names, "rank": "low-rank"}[key.strip()]
        for item in filter(None, values.split(",")):
            levels[key].append(tuple(int(v) for v in item.split(":")) if ":" in item else int(item))
    return levels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=("digits", "ks", "all"), default="all")
    parser.add_argument("--field", choices=("conv", "dense"), default="conv")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny, seconds")
    parser.add_argument("--threads", default="1,all", help="torch thread counts to time")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=30, help="digits training epochs")
    parser.add_argument("--digits-channels", type=int, default=16)
    parser.add_argument("--snapshot-images", type=int, default=1297)
    parser.add_argument(
        "--digits-levels", default="pod=8:12,16:24,24:32,32:48,48:64,64:96;prune=4,8,12;rank=2,4,8"
    )
    parser.add_argument("--fashion-mnist", default=None, help="folder with the 4 IDX files")
    parser.add_argument("--budget", type=float, default=300.0, help="KS training seconds")
    parser.add_argument("--checkpoint", default=None, help="KS model: load if present, else save")
    parser.add_argument("--ks-data", default=None, help="KS file (default: the built-in 'ks')")
    parser.add_argument("--ks-channels", type=int, default=16)
    parser.add_argument(
        "--ks-levels", default="pod=32:48,64:96,96:128,128:192,192:256;prune=4,8,12;rank=2,4,8"
    )
    parser.add_argument("--windows", type=int, default=4096, help="KS snapshot windows")
    parser.add_argument(
        "--ks-offsets", default="none,initial", help="KS POD-DEIM: around 0 and/or around x(0)"
    )
    parser.add_argument("--configs", default="32:48,64:96,96:128,128:192,192:256", help="dense")
    parser.add_argument("--offsets", default="none,initial", help="dense: POD-DEIM offsets")
    parser.add_argument("--width", type=int, default=16, help="dense: encoder/decoder channels")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    if args.field == "dense":
        return run_dense(args)
    if args.quick:
        args.epochs, args.repeats, args.digits_channels = 2, 1, 4
        args.snapshot_images, args.threads = 200, "1"
        args.digits_levels = "pod=8:12;prune=2;rank=2"
        args.budget, args.ks_channels, args.windows = 5, 4, 64
        args.ks_levels = "pod=8:12;prune=2;rank=2"
    args.ks_levels = _levels(args.ks_levels)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    if args.task in ("digits", "all"):
        results.append(
            run_images(
                "digits",
                load_digits_split(args.seed),
                args,
                channels=args.digits_channels,
                grid=(8, 8),
                stride=1,
                levels=_levels(args.digits_levels),
            )
        )
        print(results[-1]["setup"], flush=True)
        fashion = load_fashion_mnist(Path(args.fashion_mnist)) if args.fashion_mnist else None
        if fashion is not None:
            results.append(
                run_images(
                    "fashion-mnist",
                    fashion,
                    args,
                    channels=args.digits_channels,
                    grid=(14, 14),
                    stride=2,
                    levels=_levels(args.digits_levels),
                )
            )
    if args.task in ("ks", "all"):
        results.append(run_ks(args))
    parts = ["# POD-DEIM vs channel pruning vs channel low rank: convolutional neural ODEs\n"]
    parts.append(
        "Speed-ups are ratios of medians of round-robin repeats in this run (x = times "
        "faster than the full model); solve: the integration alone; end-to-end: input to "
        "output; latent e2e (KS): the whole rollout integrated in the ODE state.\n"
    )
    for result in results:
        parts += [f"## {result['task']}\n", result["setup"] + "\n", table(result) + "\n"]
        parts += ["\n".join(verdict(result)) + "\n"]
    text = "\n".join(parts)
    print("\n" + text)
    suffix = "_quick" if args.quick else ""
    (out / f"mor_node_conv{suffix}.md").write_text(text)
    (out / f"mor_node_conv{suffix}.json").write_text(json.dumps(results, indent=2))
    plot(results, out / f"mor_node_conv{suffix}.png")
    print(f"written: {out / f'mor_node_conv{suffix}.md'}, .json, .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
