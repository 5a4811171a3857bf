"""Make the gallery's pictures from `opkit demo` / `opkit benchmark` runs (and tutorial
02's figures).

    python docs/gallery/make_figures.py --demo reports/demo \
        --ks-notebook tutorials/02_dymixop_ks.ipynb

``--demo``: the folder of ``opkit demo --out`` (its figure of predictions against the
truth becomes ``demo_burgers.png``). ``--burgers`` / ``--ns``: ``opkit benchmark --out``
folders.

Each run folder is an `opkit benchmark --out` folder (``<suite>.json``, ``<suite>.png``,
``<model>.pt``). Writes PNGs next to this file.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import opkit  # noqa: E402

HERE = Path(__file__).resolve().parent


def _test(path: str, field: str) -> np.ndarray:
    with opkit.open_dataset(path) as ds:
        keep = (ds["split"].values == 2) & (ds["status"].values == 0)
        return ds[field].values[keep]


def burgers(run: Path) -> None:
    summary = json.loads((run / "burgers.json").read_text())
    test = _test(summary["data"], "u")
    x = np.linspace(0, 1, test.shape[-1], endpoint=False)
    models = [r["model"] for r in summary["rows"] if (run / f"{r['model']}.pt").is_file()]
    fig, axes = plt.subplots(2, len(models), figsize=(5 * len(models), 5.2), sharex=True)
    axes = np.atleast_2d(axes.T).T if len(models) == 1 else axes
    u0 = torch.as_tensor(test[:1, 0])
    for j, name in enumerate(models):
        pred = opkit.load(run / f"{name}.pt").predict(u0)[0].numpy()
        axes[0, j].plot(x, test[0, 0], color="0.6", lw=1, label="u(x, 0)")
        axes[0, j].plot(x, test[0, -1], "k", lw=1.5, label="truth u(x, 1)")
        axes[0, j].plot(x, pred, "C3--", lw=1.5, label=name)
        axes[0, j].set_title(f"{name}: test sample 0")
        axes[0, j].legend(fontsize=8)
        axes[1, j].plot(x, pred - test[0, -1], "C3")
        axes[1, j].set_xlabel("x")
        axes[1, j].set_ylabel("prediction - truth")
    fig.tight_layout()
    fig.savefig(HERE / "burgers_prediction.png", dpi=100)
    plt.close(fig)
    shutil.copy(run / "burgers.png", HERE / "burgers_suite.png")


def ns(run: Path) -> None:
    summary = json.loads((run / "ns.json").read_text())
    test = _test(summary["data"], "vorticity")  # (sample, t, x, y)
    in_frames = summary["suite"]["in_frames"]
    model = next(r["model"] for r in summary["rows"] if (run / f"{r['model']}.pt").is_file())
    trained = opkit.load(run / f"{model}.pt")
    u = torch.as_tensor(test[:1])
    n_future = u.shape[1] - in_frames
    pred = trained.predict(u[:, :in_frames], n_frames=n_future)[0].numpy()
    truth = test[0, in_frames:]
    steps = sorted({0, n_future // 3, 2 * n_future // 3, n_future - 1})
    vmax = float(np.abs(truth).max())
    emax = float(np.abs(pred - truth)[steps].max())
    fig, axes = plt.subplots(3, len(steps), figsize=(3 * len(steps) + 1, 8.4))
    for j, k in enumerate(steps):
        t = in_frames + k
        rows = [("truth", truth[k], vmax, "RdBu_r"), (model, pred[k], vmax, "RdBu_r")]
        rows.append(("error", pred[k] - truth[k], emax, "PuOr_r"))
        for i, (title, img, lim, cmap) in enumerate(rows):
            im = axes[i, j].imshow(img.T, origin="lower", cmap=cmap, vmin=-lim, vmax=lim)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            axes[i, j].set_title(f"{title}, t = {t} (step {k + 1})", fontsize=9)
            if j == len(steps) - 1:
                fig.colorbar(im, ax=axes[i, j], fraction=0.046)
    fig.suptitle(f"Navier-Stokes (nu = 1e-3): {model} rollout from {in_frames} frames")
    fig.tight_layout()
    fig.savefig(HERE / "ns_rollout.png", dpi=90)
    plt.close(fig)
    shutil.copy(run / "ns.png", HERE / "ns_suite.png")


def ks_from_notebook(path: Path) -> None:
    """The tutorial's stored figures (space-time rollout, error against step)."""
    nb = json.loads(path.read_text())
    images = [
        o["data"]["image/png"]
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    for name, data in zip(["ks_rollout.png", "ks_error_per_step.png"], images[-2:]):
        text = data if isinstance(data, str) else "".join(data)
        (HERE / name).write_bytes(base64.b64decode(text))


def demo(run: Path) -> None:
    shutil.copyfile(run / "burgers_demo.png", HERE / "demo_burgers.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo", type=Path)
    parser.add_argument("--burgers", type=Path)
    parser.add_argument("--ns", type=Path)
    parser.add_argument("--ks-notebook", type=Path)
    args = parser.parse_args()
    if args.demo:
        demo(args.demo)
    if args.burgers:
        burgers(args.burgers)
    if args.ns:
        ns(args.ns)
    if args.ks_notebook:
        ks_from_notebook(args.ks_notebook)


if __name__ == "__main__":
    main()
