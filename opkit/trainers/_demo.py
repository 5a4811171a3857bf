"""``opkit demo``: the README's main job -- DeepONet against FNO on Burgers, one report.

The demo measures the code, not the machine: each model trains for a fixed number of
epochs (``DEMO_EPOCHS``) with a fixed seed, so that two runs -- on this machine or another
with the same versions and thread count -- print the same errors. Only the timings
(training seconds, samples/s) depend on the machine; the report says so.

It writes into ``out`` (default ``reports/demo``):

- ``burgers_demo.h5``: the data (the built-in ``burgers`` recipe, FNO paper setup, nu = 0.01,
  solved on 512 points and stored on 256; generated once and reused);
- ``burgers_demo.md`` / ``.json``: the comparison table (test split) and the settings;
- ``burgers_demo.png``: one test sample, predictions of both models against the truth,
  and the per-sample errors of both models against the trivial predictor;
- ``deeponet.pt``, ``fno.pt``: the trained models (``opkit.load`` reads them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._checks import check_int
from .._io import atomic_write
from ._report import markdown_table
from ._suite import check_report_folder

__all__ = ["DEMO_EPOCHS", "DemoReport", "run_demo", "demo_main"]

# Epochs per model, with the demo's 320 training samples: each model trains for well
# under a minute on an unloaded laptop CPU. FNO's epochs cost more (spectral convolutions)
# and it needs fewer of them.
DEMO_EPOCHS: dict[str, int] = {"deeponet": 100, "fno": 25}
_N_X_SOLVE = 512  # stored on every second point (the recipe's stride): 256 points
_NAMES = {"deeponet": "DeepONet", "fno": "FNO"}
_CLASSES = {"deeponet": "DeepONet", "fno": "FNO"}
_BATCH_SIZE = 32
_SEED = 0
_TITLE = "DeepONet vs FNO on Burgers: u(., 0) -> u(., 1), nu = 0.01, periodic"


@dataclass(frozen=True)
class DemoReport:
    """What `run_demo` wrote: the table rows, the Markdown text and the written paths
    (``data``, ``md``, ``json``, ``png`` and one ``.pt`` per model)."""

    rows: list[dict[str, Any]]
    markdown: str
    paths: dict[str, Path]


def run_demo(
    *,
    n_samples: int = 400,
    epochs: dict[str, int] | None = None,
    out: str | Path = Path("reports/demo"),
    log: Callable[[str], None] | None = None,
) -> DemoReport:
    """Generate (once) a small Burgers set, train DeepONet and FNO, write one report.

    Args:
        n_samples: samples of the dataset (split 80/10/10; default 400).
        epochs: epochs per model, ``{"deeponet": ..., "fno": ...}`` (default
            ``DEMO_EPOCHS``); the same epochs give the same errors on any run.
        out: report folder (created).
        log: called with one line per step (the CLI prints them); default: silent.

    Returns:
        a `DemoReport`.

    Raises:
        ValueError / TypeError: ``n_samples`` not an integer >= 40 (the test split needs a
            few samples), epochs not positive integers or for unknown models; ``out`` not
            a writable folder. All before any work.
    """
    from .. import generate

    n_samples = check_int("n_samples", n_samples, minimum=40)
    epochs = _checked_epochs(epochs)
    out = Path(out)
    check_report_folder(out)
    say = log or (lambda line: None)
    data = out / "burgers_demo.h5"
    paths: dict[str, Path] = {"data": data}

    if data.is_file():
        say(f"data: {data} (reused; delete it to generate it again)")
    else:
        say(f"data: generating {n_samples} Burgers samples into {data}")
        generate("burgers", n_samples, out=data, seed=_SEED, n_x=_N_X_SOLVE)
    rows, trained = [], {}
    for key, n_epochs in epochs.items():
        result, metrics, row = _train(key, n_epochs, data, out, say)
        paths[key] = out / f"{key}.pt"
        result.save(paths[key])
        trained[key] = (result, metrics)
        rows.append(row)
    from ._suite import trivial_baseline

    baseline = trivial_baseline(data, in_frames=1)["rel_l2"]
    rows.append({"model": "trivial (mean training output)", "params": 0, "rel_l2": baseline})
    paths.update(
        md=out / "burgers_demo.md", json=out / "burgers_demo.json", png=out / "burgers_demo.png"
    )
    markdown = _markdown(rows, epochs, n_samples, paths)
    record = {
        "suite": {"name": "burgers_demo", "description": _TITLE},
        "compares": [_NAMES[k] for k in epochs],
        "epochs": epochs,
        "batch_size": _BATCH_SIZE,
        "seed": _SEED,
        "n_samples": n_samples,
        "torch_threads": torch.get_num_threads(),
        "data": str(data),
        "rows": rows,
        "files": {k: str(v) for k, v in paths.items()},
    }
    with atomic_write(paths["png"], "wb") as f:
        _figure(trained, baseline, data, f)
    with atomic_write(paths["md"], "w", encoding="utf-8") as f:
        f.write(markdown)
    with atomic_write(paths["json"], "w", encoding="utf-8") as f:
        f.write(json.dumps(record, indent=2))
    return DemoReport(rows=rows, markdown=markdown, paths=paths)


def _checked_epochs(epochs: dict[str, int] | None) -> dict[str, int]:
    epochs = dict(DEMO_EPOCHS if epochs is None else epochs)
    unknown = sorted(set(epochs) - set(DEMO_EPOCHS))
    if unknown or not epochs:
        raise ValueError(
            f"`epochs` must give epochs for models among {sorted(DEMO_EPOCHS)}, got "
            f"{epochs!r}; e.g. {DEMO_EPOCHS}."
        )
    for name, n in epochs.items():
        check_int(f"epochs[{name!r}]", n, minimum=1)
    return epochs


def _train(key: str, n_epochs: int, data: Path, out: Path, say) -> tuple[Any, dict, dict]:
    """Train one model of the demo through `opkit.fit`; its result, test metrics and row."""
    from .. import evaluate, fit, models

    say(f"training {_NAMES[key]} for {n_epochs} epochs (batch {_BATCH_SIZE}, seed {_SEED})")
    t0 = time.perf_counter()
    result = fit(
        getattr(models, _CLASSES[key]),
        data,
        max_epochs=n_epochs,
        batch_size=_BATCH_SIZE,
        seed=_SEED,
        accelerator="cpu",
        progress=False,
        log_dir=out / "runs" / key,
    )
    train_s = time.perf_counter() - t0
    metrics = evaluate(result, data, split="test")
    say(f"  {_NAMES[key]}: test relative L2 {metrics['rel_l2']:.4f} ({train_s:.0f} s)")
    row = {
        "model": _NAMES[key],
        "params": sum(p.numel() for p in result.model.parameters()),
        "epochs": n_epochs,
        "rel_l2": metrics["rel_l2"],
        "rel_l2_median": metrics.get("rel_l2_median"),
        "train_s": round(train_s, 1),
        "samples_per_s": metrics.get("samples_per_s"),
        # the solver's time on the same map: `opkit report` plots speed-ups with it
        "solver_s_per_sample": metrics.get("solver_s_per_sample"),
        "speedup": metrics.get("speedup"),
    }
    return result, metrics, row


def _markdown(rows: list[dict], epochs: dict[str, int], n_samples: int, paths: dict) -> str:
    budget = ", ".join(f"{_NAMES[k]} {n} epochs" for k, n in epochs.items())
    cols = [
        ("model", "model"),
        ("params", "params"),
        ("epochs", "epochs"),
        ("rel_l2", "test rel. L2 (mean)"),
        ("rel_l2_median", "median"),
        ("train_s", "train s*"),
        ("samples_per_s", "samples/s*"),
    ]
    lines = [
        f"# opkit demo: {_TITLE}",
        "",
        f"Data: `{paths['data']}`, {n_samples} samples (80/10/10 train/val/test), "
        f"{_N_X_SOLVE // 2} points. "
        f"Budget: a fixed number of epochs per model ({budget}; batch {_BATCH_SIZE}, seed "
        f"{_SEED}, `opkit.fit`'s default recipe), so the errors are the same on every run. "
        "Errors are relative L2 on the test split; the weights are those of the best "
        "validation epoch.",
        "",
    ]
    lines += markdown_table(rows, cols)
    lines += [
        "",
        f"\\* measured on this machine ({torch.get_num_threads()} torch threads): they depend "
        "on its speed and load; the errors do not.",
        "",
        f"![predictions against the truth]({paths['png'].name})",
        "",
    ]
    return "\n".join(lines)


def _figure(trained: dict, baseline: float, data: Path, out) -> None:
    """Left: the first test sample, u(., 0), the truth u(., 1) and both predictions.
    Right: per-sample test errors of each model, and the trivial predictor's mean."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..pde_data import open_dataset

    with open_dataset(data) as ds:
        field = ds.attrs["field"]
        test = (ds["split"].values == 2) & (ds["status"].values == 0)
        first = int(test.nonzero()[0][0])
        u = torch.as_tensor(ds[field].values[first], dtype=torch.float32)  # (t, x)
        x = ds["x"].values
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    left.plot(x, u[0].numpy(), color="0.65", lw=1.2, label="u(x, 0): input")
    left.plot(x, u[-1].numpy(), color="k", lw=2.2, label="u(x, 1): truth")
    styles = {"deeponet": ("C0", "--"), "fno": ("C3", ":")}
    for key, (result, _) in trained.items():
        with torch.no_grad():
            pred = result.predict(u[0][None]).reshape(-1).numpy()
        err = float(torch.linalg.norm(torch.as_tensor(pred) - u[-1]) / torch.linalg.norm(u[-1]))
        color, ls = styles[key]
        left.plot(x, pred, color=color, ls=ls, lw=2, label=f"{_NAMES[key]} (rel. L2 {err:.3f})")
    left.set_xlabel("x")
    left.set_title(f"test sample {first}: prediction against truth")
    left.legend(fontsize=8)
    names = [_NAMES[k] for k in trained]
    right.boxplot([m["rel_l2_per_sample"] for _, m in trained.values()], tick_labels=names)
    right.axhline(baseline, color="0.5", ls=":", label=f"trivial predictor ({baseline:.3f})")
    right.set_yscale("log")
    right.set_ylabel("test relative L2 per sample")
    right.set_title("errors over the test split")
    right.legend(fontsize=8)
    fig.savefig(out, dpi=110, format="png")
    plt.close(fig)


def demo_main(argv: list[str]) -> int:
    """``opkit demo``: the README's main job (small Burgers set, DeepONet and FNO)."""
    parser = argparse.ArgumentParser(
        prog="opkit demo",
        description=f"{_TITLE}: generate a small dataset, train each model for a fixed "
        "number of epochs on the CPU (the same errors on every run), write a report with a "
        "table and a figure of predictions against the truth.",
    )
    parser.add_argument("--n-samples", type=int, default=400, help="dataset size (default 400)")
    for key, n in DEMO_EPOCHS.items():
        parser.add_argument(
            f"--{key}-epochs", type=int, default=n, help=f"{_NAMES[key]} epochs (default {n})"
        )
    parser.add_argument("--out", default="reports/demo", help="report folder")
    args = parser.parse_args(argv)
    epochs = {k: getattr(args, f"{k}_epochs") for k in DEMO_EPOCHS}
    print(f"opkit demo: {_TITLE}", file=sys.stderr)
    report = run_demo(
        n_samples=args.n_samples,
        epochs=epochs,
        out=Path(args.out),
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(report.markdown)
    print(f"report: {report.paths['md']}")
    print(f"figure: {report.paths['png']}")
    print(f"table as JSON: {report.paths['json']}")
    print(f"models: {report.paths['deeponet']}, {report.paths['fno']} (opkit.load reads them)")
    return 0
