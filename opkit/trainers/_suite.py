"""The shared evaluation: fixed suites, every model with the same budget, one report."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from ._datasets import resolve_dataset
from ._fit import fit

__all__ = ["SUITES", "MODELS", "Suite", "Report", "run_suite", "trivial_baseline"]

# Model names of the CLI -> (class path, constructor settings). Imported lazily; nothing
# registers itself. The `dymixop-*` entries are the ablations the DyMixOp paper studies.
MODELS: dict[str, tuple[str, dict]] = {
    "deeponet": ("opkit.models.DeepONet", {}),
    "pod-deeponet": ("opkit.models.PODDeepONet", {}),
    "fno": ("opkit.models.FNO", {}),
    "dymixop": ("opkit.models.DyMixOp", {}),
    "neural_ode": ("opkit.models.NeuralODE", {}),
    "dymixop-sum": ("opkit.models.DyMixOp", {"mixing": "sum"}),
    "dymixop-local": ("opkit.models.DyMixOp", {"mixing": "local"}),
    "dymixop-global": ("opkit.models.DyMixOp", {"mixing": "global"}),
    # DyMixOp's gate and initialisation options (issue 13) and the paper's recipe
    "dymixop-sample": ("opkit.models.DyMixOp", {"gate": "sample"}),
    "dymixop-dataset": ("opkit.models.DyMixOp", {"gate": "dataset"}),
    "dymixop-authors-init": ("opkit.models.DyMixOp", {"init": "authors"}),
    "dymixop-paper": ("opkit.models.DyMixOp", {}),
}

# Training recipes that differ from `opkit.fit`'s defaults, by model name. The DyMixOp
# paper's (Lai et al. 2025, configs of Lain-PY/DyMixOp): 10-step autoregressive training
# (`ar_nseq_train = 10`), AdamW lr 1e-3 (weight decay 0.01, torch's default), StepLR(7, 0.97)
# per epoch, relative MSE, min-max normalisation.
RECIPES: dict[str, dict] = {
    "dymixop-paper": {
        "unroll": 10,
        "lr": 1e-3,
        "weight_decay": 1e-2,
        "scheduler": "step",
        "loss": "rel_mse",
        "normalization": "minmax",
    },
}


@dataclasses.dataclass(frozen=True)
class Suite:
    """One benchmark of the shared evaluation.

    The dataset (PDE parameters, grids, time frames, splits and seeds) is the built-in
    named dataset of the same name (see ``opkit.pde_data.named_dataset``); the suite adds
    the task (frames in -> frames out) and the per-model wall-clock budget on CPU.
    """

    name: str
    in_frames: int
    out_frames: int
    budget_s: float
    batch_size: int
    description: str


SUITES = {
    "burgers": Suite("burgers", 1, 1, 180.0, 32, "FNO Burgers map u(.,0) -> u(.,1)"),
    "ks": Suite("ks", 10, 1, 180.0, 32, "DyMixOp KS: 10 frames -> next, rollout over the rest"),
    "ns": Suite("ns", 10, 1, 240.0, 16, "FNO forced NS nu=1e-3: 10 frames -> next, rollout"),
}


def _model_class(name: str) -> type:
    import importlib

    module, _, cls = MODELS[name][0].rpartition(".")
    return getattr(importlib.import_module(module), cls)


@dataclasses.dataclass
class Report:
    rows: list[dict]
    markdown: str
    paths: dict[str, Path]


def trivial_baseline(path: str | Path, *, in_frames: int, split: str = "test") -> dict:
    """Errors of the trivial predictors on a split.

    Operator pairs: predict the mean training output at every grid point. Trajectories:
    persistence (repeat the last input frame), one step and over the whole rollout.
    """
    from ..pde_data import open_dataset

    codes = {"train": 0, "val": 1, "test": 2}
    with open_dataset(path) as ds:
        field = ds.attrs["field"]
        ok = ds["status"].values == 0
        split_ids = ds["split"].values
        train = torch.as_tensor(ds[field].values[(split_ids == 0) & ok], dtype=torch.float64)
        test = torch.as_tensor(
            ds[field].values[(split_ids == codes[split]) & ok], dtype=torch.float64
        )
    if test.shape[1] == 2:
        mean_out = train[:, -1].mean(0, keepdim=True)
        err = (test[:, -1] - mean_out).flatten(1).norm(dim=1) / test[:, -1].flatten(1).norm(dim=1)
        return {"rel_l2": float(err.mean())}
    last = test[:, in_frames - 1 : in_frames]
    one = (test[:, in_frames] - last[:, 0]).flatten(1).norm(dim=1) / test[:, in_frames].flatten(
        1
    ).norm(dim=1)
    future = test[:, in_frames:]
    roll = (future - last).flatten(1).norm(dim=1) / future.flatten(1).norm(dim=1)
    return {"rel_l2": float(one.mean()), "rollout_rel_l2": float(roll.mean())}


def _fno_width_matching(n_params: int, spec, **kwargs) -> int:
    """Hidden width of opkit's FNO whose parameter count is closest to ``n_params``."""
    from ._build import build_from_spec

    fno = _model_class("fno")
    best, best_gap = 8, math.inf
    for width in range(8, 257, 2):
        net, _ = build_from_spec(fno, spec, hidden_channels=width, **kwargs)
        gap = abs(sum(p.numel() for p in net.parameters()) - n_params)
        if gap < best_gap:
            best, best_gap = width, gap
        elif gap > best_gap:
            break
    return best


def _run_models(
    suite: Suite,
    names: list[str],
    path: Path,
    *,
    budget: float,
    out: Path,
    seed: int,
    match_params: bool,
    accelerator: str,
    model_kwargs: dict[str, dict] | None = None,
    epochs: int | None = None,
) -> Report:
    from ._build import build_from_spec
    from ._datamodule import OperatorDataModule
    from ._fit import evaluate

    out.mkdir(parents=True, exist_ok=True)
    given = model_kwargs or {}
    model_kwargs = {name: {**MODELS[name][1], **given.get(name, {})} for name in names}
    dm = OperatorDataModule(str(path), in_frames=suite.in_frames, out_frames=suite.out_frames)
    spec = dm.spec
    if match_params and "fno" in names and names[0] != "fno":
        ref, _ = build_from_spec(_model_class(names[0]), spec, **model_kwargs.get(names[0], {}))
        n_ref = sum(p.numel() for p in ref.parameters())
        model_kwargs.setdefault("fno", {})["hidden_channels"] = _fno_width_matching(n_ref, spec)
    rows, results = [], {}
    for name in names:
        t0 = time.monotonic()
        trained = fit(
            _model_class(name),
            path,
            max_time=None if epochs else budget,
            max_epochs=epochs,
            batch_size=suite.batch_size,
            in_frames=suite.in_frames,
            out_frames=suite.out_frames,
            seed=seed,
            accelerator=accelerator,
            progress=False,
            log_dir=out / "runs" / name,
            **RECIPES.get(name, {}),
            **model_kwargs.get(name, {}),
        )
        train_s = time.monotonic() - t0
        metrics = evaluate(trained, path, split="test")
        results[name] = metrics
        rows.append(
            {
                "model": name,
                "params": sum(p.numel() for p in trained.model.parameters()),
                "train_s": round(train_s, 1),
                "epochs": int(trained.metrics.get("epoch", -1)),
                **{k: v for k, v in metrics.items() if not isinstance(v, list)},
                "rollout_error_per_step": metrics.get("rollout_error_per_step"),
            }
        )
        trained.save(out / f"{name}.pt")
    base = trivial_baseline(path, in_frames=suite.in_frames)
    rows.append({"model": "trivial baseline", "params": 0, **base})
    md = _markdown(suite, rows, budget, path, shift_augment=dm.shift_augment, epochs=epochs)
    paths = {"md": out / f"{suite.name}.md", "json": out / f"{suite.name}.json"}
    _write_text(paths["md"], md)
    _write_text(
        paths["json"],
        json.dumps(
            {
                "suite": dataclasses.asdict(suite),
                "budget_s": None if epochs else budget,
                "epochs": epochs,
                "data": str(path),
                "shift_augment": dm.shift_augment,
                "rows": rows,
            },
            indent=2,
        ),
    )
    paths["png"] = _plot(suite, rows, results, out / f"{suite.name}.png")
    return Report(rows=rows, markdown=md, paths=paths)


def _write_text(path: Path, text: str) -> None:
    from .._io import atomic_write

    with atomic_write(path, "w", encoding="utf-8") as f:  # a failed write keeps the old
        f.write(text)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _markdown(
    suite: Suite,
    rows: list[dict],
    budget: float,
    path: Path,
    *,
    shift_augment: bool = False,
    epochs: int | None = None,
) -> str:
    cols = [
        ("model", "model"),
        ("params", "params"),
        ("train_s", "train s"),
        ("epochs", "epochs"),
        ("rel_l2", "rel L2"),
        ("rel_l2_median", "median"),
        ("nrmse", "nRMSE"),
        ("max_error", "max err"),
        ("frmse_low", "fRMSE low"),
        ("frmse_mid", "mid"),
        ("frmse_high", "high"),
        ("rollout_rel_l2", "rollout rel L2"),
        ("valid_prediction_time", "VPT"),
        ("samples_per_s", "samples/s"),
        ("speedup", "speed-up vs solver"),
    ]
    used = [c for c in cols if any(c[0] in r for r in rows)]
    lines = [
        f"# opkit benchmark: {suite.name}",
        "",
        f"{suite.description}. Data: `{path}`. Budget: "
        + (
            f"{epochs} epochs of training per model (equal epochs; "
            if epochs
            else f"{budget:.0f} s of training per model (wall clock, "
        )
        + f"{torch.get_num_threads()} CPU threads), test split. Training "
        "recipe: `opkit.fit`'s defaults; random periodic shifts of the training items "
        + (
            "on (exact: the PDE is translation-invariant)."
            if shift_augment
            else "off (the PDE is not known to be translation-invariant)."
        ),
        "",
        "| " + " | ".join(h for _, h in used) + " |",
        "|" + "---|" * len(used),
    ]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(k)) for k, _ in used) + " |")
    return "\n".join(lines) + "\n"


def _plot(suite: Suite, rows: list[dict], results: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    names = list(results)
    axes[0].boxplot([results[n]["rel_l2_per_sample"] for n in names], tick_labels=names)
    axes[0].set_yscale("log")
    axes[0].set_title(f"{suite.name}: test relative L2 per sample")
    curves = [(n, results[n].get("rollout_error_per_step")) for n in names]
    if any(c for _, c in curves):
        for n, c in curves:
            if c:
                axes[1].plot(range(1, len(c) + 1), c, marker="o", label=n)
        axes[1].set_xlabel("rollout step")
        axes[1].set_ylabel("relative L2")
        axes[1].set_yscale("log")
        axes[1].legend()
        axes[1].set_title("error against rollout step")
    else:
        vals = [r.get("rel_l2", float("nan")) for r in rows]
        axes[1].bar([r["model"] for r in rows], vals, color="C1")
        axes[1].set_yscale("log")
        axes[1].set_title("mean test relative L2 (with trivial baseline)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def check_report_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"--out (`out`) {str(out)!r} cannot be created as a report folder ({err}); "
            "choose a writable folder."
        ) from err
    if not os.access(out, os.W_OK | os.X_OK):
        raise PermissionError(
            f"--out (`out`) {str(out)!r} is not writable; choose a writable report folder."
        )


def run_suite(
    suite: str,
    models: list[str],
    *,
    budget: float | None = None,
    size: str = "cpu",
    out: Path = Path("reports"),
    seed: int = 0,
    match_params: bool = False,
    accelerator: str = "auto",
    model_kwargs: dict[str, dict] | None = None,
    epochs: int | None = None,
) -> Report:
    """Train each model on the suite's data with the same budget; write the report.

    ``epochs``: train every model for this many epochs instead of ``budget`` seconds
    (equal-epoch comparison, which machine load does not distort). Models named in
    ``RECIPES`` train with their paper's recipe.

    Raises:
        ValueError: unknown suite or model names.
    """
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; known suites: {sorted(SUITES)}.")
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; known: {sorted(MODELS)}.")
    s = SUITES[suite]
    if budget is not None and not (isinstance(budget, (int, float)) and budget > 0):
        raise ValueError(f"--budget (`budget`) must be seconds > 0 per model, got {budget!r}.")
    check_report_folder(Path(out))  # before generating the suite's data
    path = resolve_dataset(suite, size=size, seed=seed)
    return _run_models(
        s,
        models,
        path,
        budget=s.budget_s if budget is None else budget,
        out=Path(out),
        seed=seed,
        match_params=match_params,
        accelerator=accelerator,
        model_kwargs=model_kwargs,
        epochs=epochs,
    )
