"""opkit's Burgers recipes against the peers' own training loops: same file, same wall clock.

The built-in ``burgers`` file (1000 train / 100 val / 200 test samples of the map
``u(., 0) -> u(., 1)``, n_x = 1024, nu = 0.01) and the same training wall-clock budget for
four contenders, run one after another in this process with the same torch threads:

- **opkit FNO**: ``opkit.fit(FNO, "burgers", max_time=budget)``, its defaults (the
  recipe under test), scored by ``opkit.evaluate`` on the test split;
- **neuraloperator FNO**: ``neuralop.models.FNO`` with neuraloperator's own defaults and the
  same Fourier modes (``n_modes=(31,)``: the frequencies ``|k| < 16``, as opkit's FNO keeps),
  trained by ``neuralop.Trainer`` the way their examples do (``UnitGaussianNormalizer`` on
  input and output, ``LpLoss(d=1, p=2)``, AdamW lr 1e-3 / weight decay 1e-4, batch 32,
  cosine annealing over as many epochs as the budget holds: the epoch count is set from one
  timed probe epoch, and the run also stops at the budget);
- **opkit DeepONet**: ``opkit.fit(DeepONet, "burgers", max_time=budget)``, its defaults;
- **DeepXDE DeepONet**: ``dde.nn.DeepONetCartesianProd`` (branch 1024-128-128-128, trunk
  1-128-128-128, tanh, Glorot normal) trained by ``dde.Model.train`` (Adam lr 1e-3,
  inverse-time decay 1000 / 0.5, batch 64, MSE on standardised data), stopped at the budget.

Printed and written (``benchmarks/out/burgers_recipes{tag}.md/.json/.png``): test relative L2
(mean over the 200 test samples, physical units), epochs, training seconds. Errors move
with machine load (a loaded machine fits fewer epochs in the budget): run it on a quiet
machine and compare within one run.

Usage::

    .venv/bin/python benchmarks/burgers_recipes.py                 # 4 x 180 s
    .venv/bin/python benchmarks/burgers_recipes.py --only opkit-fno --fno '{"lr": 3e-3}'
    .venv/bin/python benchmarks/burgers_recipes.py --budget 10 --tag _smoke
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
from pathlib import Path

import torch

import opkit
from opkit.models import FNO, DeepONet

OUT = Path(__file__).resolve().parent / "out"
CONTENDERS = ("opkit-fno", "neuralop-fno", "opkit-deeponet", "deepxde-deeponet")
SPLITS = {"train": 0, "val": 1, "test": 2}


def burgers_arrays(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{split: (u0, u1)}``, float32 ``(n, n_x)``, from an opkit Burgers file."""
    with opkit.open_dataset(path) as ds:
        u = torch.as_tensor(ds["u"].values, dtype=torch.float32)
        split = torch.as_tensor(ds["split"].values)
        ok = torch.as_tensor(ds["status"].values) == 0
    return {name: (u[(split == c) & ok, 0], u[(split == c) & ok, -1]) for name, c in SPLITS.items()}


def relative_l2(pred: torch.Tensor, true: torch.Tensor) -> float:
    """Mean over samples of ``||pred - true|| / ||true||``."""
    pred, true = pred.flatten(1), true.flatten(1)
    return float(((pred - true).norm(dim=1) / true.norm(dim=1)).mean())


# -- opkit -------------------------------------------------------------------------------------
def run_opkit(model_cls, path: Path, budget: float, seed: int, options: dict) -> dict:
    t0 = time.monotonic()
    trained = opkit.fit(model_cls, path, max_time=budget, seed=seed, progress=False, **options)
    train_s = time.monotonic() - t0
    scores = opkit.evaluate(trained, path, split="test")
    return {
        "rel_l2": scores["rel_l2"],
        "epochs": int(trained.metrics.get("epoch", -1)) + 1,
        "train_s": train_s,
        "recipe": dict(options) or "defaults",
    }


# -- neuraloperator ----------------------------------------------------------------------------
def run_neuralop(data: dict, budget: float, seed: int, batch_size: int = 32) -> dict:
    from neuralop import LpLoss, Trainer
    from neuralop.data.transforms.data_processors import DefaultDataProcessor
    from neuralop.data.transforms.normalizers import UnitGaussianNormalizer
    from neuralop.models import FNO as NeuralopFNO

    # neuralop's Trainer calls model(**sample) and loss(out, **sample): each ignores, with a
    # warning per batch, the key meant for the other
    warnings.filterwarnings("ignore", message=r".*received unexpected keyword arguments")
    torch.manual_seed(seed)
    (x_tr, y_tr), (x_te, y_te) = data["train"], data["test"]
    x_tr, y_tr = x_tr[:, None], y_tr[:, None]

    class Pairs(torch.utils.data.Dataset):
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"x": self.x[i], "y": self.y[i]}

    def build():
        net = NeuralopFNO(n_modes=(31,), in_channels=1, out_channels=1, hidden_channels=64)
        x_norm, y_norm = UnitGaussianNormalizer(dim=[0, 2]), UnitGaussianNormalizer(dim=[0, 2])
        x_norm.fit(x_tr)
        y_norm.fit(y_tr)
        return net, DefaultDataProcessor(in_normalizer=x_norm, out_normalizer=y_norm)

    loader = torch.utils.data.DataLoader(
        Pairs(x_tr, y_tr),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    loss = LpLoss(d=1, p=2)

    class Budgeted(Trainer):
        """neuraloperator's Trainer, stopped at the budget (checked before each epoch)."""

        def on_epoch_start(self, epoch):
            if time.monotonic() - self.t_start >= budget:
                raise TimeoutError
            self.epochs_done = epoch
            return super().on_epoch_start(epoch)

    # One timed probe epoch on a throwaway copy sets the epoch count (and so the cosine
    # schedule's length), as a user fitting their run to a budget would.
    net, proc = build()
    probe = Budgeted(model=net, n_epochs=1, data_processor=proc, eval_interval=10**9)
    probe.t_start = time.monotonic()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    t0 = time.monotonic()
    probe.train(
        loader,
        {},
        opt,
        torch.optim.lr_scheduler.ConstantLR(opt, 1.0),
        training_loss=loss,
        eval_losses={},
    )
    n_epochs = max(1, int(budget / (time.monotonic() - t0)))

    torch.manual_seed(seed)
    net, proc = build()
    trainer = Budgeted(model=net, n_epochs=n_epochs, data_processor=proc, eval_interval=10**9)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_epochs)
    trainer.t_start = t0 = time.monotonic()
    trainer.epochs_done = 0
    try:
        trainer.train(loader, {}, opt, sched, training_loss=loss, eval_losses={})
        epochs = n_epochs
    except TimeoutError:
        epochs = trainer.epochs_done
    train_s = time.monotonic() - t0
    net.eval()
    with torch.no_grad():
        out = net(proc.in_normalizer.transform(x_te[:, None]))
        pred = proc.out_normalizer.inverse_transform(out)
    return {
        "rel_l2": relative_l2(pred, y_te),
        "epochs": epochs,
        "train_s": train_s,
        "recipe": f"AdamW 1e-3, cosine over {n_epochs} epochs, LpLoss, batch {batch_size}",
    }


# -- DeepXDE -----------------------------------------------------------------------------------
def run_deepxde(data: dict, budget: float, seed: int, batch_size: int = 64) -> dict:
    os.environ["DDE_BACKEND"] = "pytorch"
    import deepxde as dde

    dde.config.set_random_seed(seed)
    (u_tr, y_tr), (u_te, y_te) = data["train"], data["test"]
    u_mean, u_std = float(u_tr.mean()), float(u_tr.std())
    y_mean, y_std = float(y_tr.mean()), float(y_tr.std())
    n_x = u_tr.shape[1]
    grid = (torch.arange(n_x, dtype=torch.float64) / n_x).float()[:, None].numpy()
    triple = dde.data.TripleCartesianProd(
        X_train=(((u_tr - u_mean) / u_std).numpy(), grid),
        y_train=((y_tr - y_mean) / y_std).numpy(),
        X_test=(((u_te - u_mean) / u_std).numpy(), grid),
        y_test=((y_te - y_mean) / y_std).numpy(),
    )
    net = dde.nn.pytorch.DeepONetCartesianProd(
        [n_x, 128, 128, 128], [1, 128, 128, 128], "tanh", "Glorot normal"
    )
    model = dde.Model(triple, net)
    model.compile("adam", lr=1e-3, loss="mse", decay=("inverse time", 1000, 0.5))

    class Stop(dde.callbacks.Callback):
        def on_train_begin(self):
            self.t0, self.steps = time.monotonic(), 0

        def on_batch_end(self):
            self.steps += 1
            if time.monotonic() - self.t0 >= budget:
                self.model.stop_training = True

    stop = Stop()
    t0 = time.monotonic()
    model.train(
        iterations=10**9, batch_size=batch_size, display_every=10**9, callbacks=[stop], verbose=0
    )
    train_s = time.monotonic() - t0
    net.eval()
    with torch.no_grad():
        pred = net((torch.as_tensor(triple.test_x[0]), torch.as_tensor(grid))) * y_std + y_mean
    return {
        "rel_l2": relative_l2(pred, y_te),
        "epochs": round(stop.steps * batch_size / len(u_tr), 1),
        "train_s": train_s,
        "recipe": f"Adam 1e-3, inverse time 1000/0.5, batch {batch_size}, MSE",
    }


# -- report ------------------------------------------------------------------------------------
def markdown(rows: dict, args, path: Path) -> str:
    lines = [
        "# Burgers: opkit's recipes against the peers' own loops (same file, same budget)",
        "",
        f"Data: the built-in `burgers` file (`{path.name}`), test split. Budget "
        f"{args.budget:g} s of training per contender, {torch.get_num_threads()} torch "
        "threads, one after another in one process.",
        "",
        "| contender | test rel. L2 | epochs | train s | recipe |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {100 * r['rel_l2']:.3f} % | {r['epochs']} | {r['train_s']:.0f} | "
            f"{r['recipe']} |"
        )
    return "\n".join(lines) + "\n"


def figure(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    names = list(rows)
    vals = [100 * rows[n]["rel_l2"] for n in names]
    ax.bar(names, vals, color=["C0" if n.startswith("opkit") else "C7" for n in names])
    ax.set_yscale("log")
    ax.set_ylabel("test relative L2 [%]")
    ax.set_title("Burgers, equal wall clock: opkit (blue) vs the peers' loops")
    for i, v in enumerate(vals):
        ax.text(i, v, f"{v:.2f}", ha="center", va="bottom")
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=180.0, help="training seconds each")
    p.add_argument("--only", default=",".join(CONTENDERS), help="comma-separated contenders")
    p.add_argument("--fno", default="{}", help="extra opkit.fit options for FNO (JSON)")
    p.add_argument("--deeponet", default="{}", help="extra opkit.fit options (JSON)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", default="")
    args = p.parse_args(argv)
    if not (args.budget > 0 and math.isfinite(args.budget)):
        p.error(f"--budget must be seconds > 0, got {args.budget}")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CONTENDERS))
    if unknown:
        p.error(f"unknown contender(s) {unknown}; choose from {', '.join(CONTENDERS)}")
    try:
        fno_opts, deeponet_opts = json.loads(args.fno), json.loads(args.deeponet)
    except json.JSONDecodeError as err:
        p.error(f"--fno / --deeponet must be JSON objects such as '{{\"lr\": 3e-3}}': {err}")
    if args.threads:
        torch.set_num_threads(args.threads)

    from opkit.trainers._datasets import builtin_path

    path = builtin_path("burgers", seed=0)
    data = burgers_arrays(path)
    rows = {}
    for name in names:
        print(f"{name}: training for {args.budget:g} s ...", flush=True)
        if name == "opkit-fno":
            rows[name] = run_opkit(FNO, path, args.budget, args.seed, fno_opts)
        elif name == "opkit-deeponet":
            rows[name] = run_opkit(DeepONet, path, args.budget, args.seed, deeponet_opts)
        elif name == "neuralop-fno":
            rows[name] = run_neuralop(data, args.budget, args.seed)
        else:
            rows[name] = run_deepxde(data, args.budget, args.seed)
        r = rows[name]
        print(
            f"  test rel. L2 {100 * r['rel_l2']:.3f} %  ({r['epochs']} epochs, "
            f"{r['train_s']:.0f} s)",
            flush=True,
        )
    OUT.mkdir(parents=True, exist_ok=True)
    md = markdown(rows, args, path)
    print(md)
    (OUT / f"burgers_recipes{args.tag}.md").write_text(md, encoding="utf-8")
    (OUT / f"burgers_recipes{args.tag}.json").write_text(
        json.dumps(
            {"budget_s": args.budget, "threads": torch.get_num_threads(), "rows": rows},
            indent=2,
            default=str,
        ),
        encoding="utf-8",
    )
    figure(rows, OUT / f"burgers_recipes{args.tag}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
