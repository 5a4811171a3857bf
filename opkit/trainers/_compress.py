"""Compression of trained neural ODEs (POD-DEIM) and the ``opkit compress`` command."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._checks import check_int
from .._records import record
from ._datamodule import OperatorDataModule
from ._fit import load
from ._operator import OperatorModule
from ._trained import TrainedOperator

__all__ = [
    "compress_trained",
    "with_model",
    "training_windows",
    "time_calls",
    "compress_main",
    "check_output_file",
]


def with_model(
    trained: TrainedOperator, model: nn.Module, *, model_record: dict | None = None
) -> TrainedOperator:
    """A `TrainedOperator` that runs ``model`` with ``trained``'s normalisation and data.

    The new `OperatorModule` copies the training settings and the normaliser buffers;
    ``model_record`` (``{"class_path", "init_args"}``) lets ``opkit.load`` rebuild the
    network from a saved file (``None``: a network only usable in memory).
    """
    old = trained.module
    hparams = {k: v for k, v in old.hparams.items() if k not in ("spec", "model_record")}
    module = OperatorModule(model, spec=old.spec, model_record=model_record, **hparams)
    module.in_norm.load_state_dict(old.in_norm.state_dict())
    module.out_norm.load_state_dict(old.out_norm.state_dict())
    module.statistics_ready.copy_(old.statistics_ready)
    module.to(next(old.parameters()).device).eval()
    return TrainedOperator(module, metrics={}, data=dict(trained.data))


def training_windows(
    trained: TrainedOperator, dataset: Any, *, split: str = "train", max_windows: int = 4096
) -> torch.Tensor:
    """Up to ``max_windows`` input windows of ``split``, evenly spread, normalised as the
    model sees them: ``(n, in_channels, *grid)``."""
    from ._datasets import resolve_dataset

    max_windows = check_int("max_windows", max_windows, minimum=1)
    spec = trained.spec
    dm = OperatorDataModule(
        str(resolve_dataset(dataset)), in_frames=spec.in_frames, out_frames=spec.out_frames
    )
    ds = dm.dataset(split)
    picks = torch.linspace(0, len(ds) - 1, min(max_windows, len(ds))).round().long().unique()
    x = torch.stack([ds[int(i)][0] for i in picks])
    module = trained.module
    p = next(module.parameters())
    with torch.no_grad():
        return module.in_norm.encode(x.to(device=p.device, dtype=p.dtype))


def compress_trained(
    trained: TrainedOperator,
    dataset: Any = None,
    *,
    k: int,
    m: int,
    split: str = "train",
    max_windows: int = 4096,
) -> TrainedOperator:
    """POD-DEIM compression of a trained `NeuralODE`, as a `TrainedOperator`.

    Either vector field: the dense ``A`` or the convolution of ``field="conv"`` (whose
    reduced matrices come from convolving the POD modes, see
    :func:`opkit.models.mor.compress`). Snapshots come from ``max_windows`` windows of
    ``split`` of ``dataset`` (default: the file the model was trained on,
    ``trained.data["path"]``). The result saves and loads like any opkit model (its record
    is ``ReducedNeuralODE(full_config, k, m)``; the bases and reduced matrices are in the
    state dict).

    Raises:
        TypeError / ValueError: see :func:`opkit.models.mor.compress`; no dataset given and
            none recorded.
    """
    from ..models.mor import ReducedNeuralODE, compress

    if dataset is None:
        dataset = trained.data.get("path")
        if not dataset:
            raise ValueError(
                "compress_trained: the checkpoint records no training data path; pass "
                "`dataset` (the file the model was trained on; `--data FILE` on the command "
                "line)."
            )
    model = trained.model
    from ..models.mor import check_compressible, check_reduced_sizes

    check_compressible(model)
    check_reduced_sizes(k, m, model.state_size)  # before any work
    max_windows = check_int("max_windows", max_windows, minimum=1)
    windows = training_windows(trained, dataset, split=split, max_windows=max_windows)
    reduced = compress(model, windows, k, m)
    rec = record(ReducedNeuralODE, {"full_config": model.config, "k": k, "m": m})
    return with_model(trained, reduced, model_record=rec)


@torch.no_grad()
def time_calls(
    modules: dict[str, nn.Module], x: torch.Tensor, *, repeats: int = 7, n_frames: int = 1
) -> dict[str, dict[str, float]]:
    """Median wall-clock seconds of ``module.predict_frames(x, n_frames)`` per module.

    The modules are timed in turn within each repeat (round-robin), so that load from
    other processes changes all of them alike; one warm-up call each first. Returns
    ``{name: {"seconds", "nfe"}}`` (``nfe``: vector-field evaluations in the last call,
    when the network counts them).

    Raises:
        ValueError: ``repeats`` or ``n_frames`` below 1 (before any call).
    """
    repeats = check_int("repeats", repeats, minimum=1)
    n_frames = check_int("n_frames", n_frames, minimum=1)
    out: dict[str, list[float]] = {name: [] for name in modules}
    for module in modules.values():
        module.predict_frames(x, n_frames)
    for _ in range(repeats):
        for name, module in modules.items():
            t0 = time.perf_counter()
            module.predict_frames(x, n_frames)
            out[name].append(time.perf_counter() - t0)
    return {
        name: {
            "seconds": statistics.median(times),
            "nfe": float(getattr(modules[name].model, "nfe", float("nan"))),
        }
        for name, times in out.items()
    }


def check_output_file(out: str | os.PathLike, *, flag: str = "--out") -> Path:
    """Refuse an output path that cannot be written, before any work; return it.

    The messages name the real path (symbolic links and ``..`` resolved). A file that is
    read-only (no write permission bits, e.g. mode 0444) is refused rather than replaced:
    opkit replaces outputs by renaming over them, which a folder's permissions allow even
    for a file its owner marked read-only. A folder without write permission bits is
    refused too (also when running as root, who could write there anyway).

    Raises:
        IsADirectoryError: ``out`` is a folder.
        FileNotFoundError: its folder does not exist.
        PermissionError: the folder or the existing file is read-only.
    """
    path = Path(out)
    real = Path(os.path.realpath(path))
    if real.is_dir():
        raise IsADirectoryError(
            f"`{flag}` ({str(path)!r} -> {str(real)!r}) is a folder; give a file name such "
            f"as {str(path / 'reduced.pt')!r}."
        )
    folder = real.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"the folder of `{flag}` ({str(folder)!r}) does not exist; create it first "
            f"(mkdir -p {folder})."
        )

    def writable(p: Path) -> bool:
        return os.access(p, os.W_OK) and bool(p.stat().st_mode & 0o222)

    if not (writable(folder) and os.access(folder, os.X_OK)):
        raise PermissionError(
            f"cannot write `{flag}` {str(real)!r}: its folder {str(folder)!r} is read-only "
            f"(mode {folder.stat().st_mode & 0o777:o}); choose a writable folder."
        )
    if real.exists() and not writable(real):
        raise PermissionError(
            f"`{flag}` {str(real)!r} exists and is read-only (mode "
            f"{real.stat().st_mode & 0o777:o}); opkit does not replace a read-only file: "
            "make it writable (chmod u+w) or choose another name."
        )
    return path


def compress_main(argv: list[str]) -> int:
    """``opkit compress CKPT --k K --m M --out OUT [--data FILE]``."""
    parser = argparse.ArgumentParser(
        prog="opkit compress",
        description="Reduce a trained NeuralODE by POD-DEIM (Lehtimäki et al. 2024): k POD "
        "modes of the latent state, m DEIM points of the nonlinearity. Prints the captured "
        "POD energies and the measured inference speed-up (same solver, same batch, CPU, "
        "median of repeats), and saves the reduced model (opkit.load reads it).",
    )
    parser.add_argument("checkpoint", help="a trained NeuralODE (TrainedOperator.save or .ckpt)")
    parser.add_argument("--k", type=int, required=True, help="POD modes of the state")
    parser.add_argument("--m", type=int, required=True, help="DEIM points of the nonlinearity")
    parser.add_argument("--out", required=True, help="file for the reduced model")
    parser.add_argument("--data", default=None, help="dataset (default: the training file)")
    parser.add_argument("--windows", type=int, default=4096, help="snapshot windows (train)")
    parser.add_argument("--repeats", type=int, default=7, help="timing repeats")
    args = parser.parse_args(argv)
    # Checked before loading anything: the flags, then the output (nothing is computed for
    # an output that cannot be written).
    check_int("--windows", args.windows, minimum=1)
    check_int("--repeats", args.repeats, minimum=1)
    check_output_file(args.out)

    from ._datasets import resolve_dataset

    trained = load(args.checkpoint)
    reduced = compress_trained(trained, args.data, k=args.k, m=args.m, max_windows=args.windows)
    data = str(resolve_dataset(args.data or trained.data["path"]))
    model = reduced.model
    print(
        f"vector field {trained.model.field!r}, state size n = {trained.model.state_size}, "
        f"k = {args.k}, m = {args.m}"
    )
    print(
        f"POD energy captured: state {float(model.state_energy):.6f}, "
        f"nonlinearity {float(model.nonlinear_energy):.6f}"
    )
    full_cost, red_cost = trained.model.cost(), model.cost()
    print(
        f"multiply-adds per vector-field evaluation: full {full_cost['macs']}, reduced "
        f"{red_cost['macs']} ({full_cost['macs'] / red_cost['macs']:.1f}x fewer); values "
        f"of f: {full_cost['f_evals']} -> {red_cost['f_evals']}"
    )

    spec = trained.spec
    dm = OperatorDataModule(
        str(data), in_frames=spec.in_frames, out_frames=spec.out_frames, batch_size=64
    )
    x, y = next(iter(dm.loader(dm.dataset("test"), shuffle=False)))
    x, y = x.float(), y[:, : spec.out_channels].float()
    torch.set_num_threads(1)
    timing = time_calls(
        {"full": trained.module, "reduced": reduced.module}, x, repeats=args.repeats
    )
    full, red = timing["full"], timing["reduced"]
    with torch.no_grad():
        errors = {
            name: float(((m(x) - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).mean())
            for name, m in (("full", trained.module), ("reduced", reduced.module))
        }
    print(
        f"one call on {x.shape[0]} test windows (CPU, 1 thread, solver {model.method}, median "
        f"of {args.repeats}): full {full['seconds'] * 1e3:.2f} ms ({full['nfe']:.0f} "
        f"evaluations), reduced {red['seconds'] * 1e3:.2f} ms ({red['nfe']:.0f}); speed-up "
        f"{full['seconds'] / red['seconds']:.2f}x"
    )
    print(
        f"one-step relative L2 on those windows: full {errors['full']:.4f}, reduced "
        f"{errors['reduced']:.4f}"
    )
    reduced.metrics = {
        "state_energy": float(model.state_energy),
        "nonlinear_energy": float(model.nonlinear_energy),
        "speedup": full["seconds"] / red["seconds"],
    }
    check_output_file(args.out)  # again: the folder or file may have changed meanwhile
    path = reduced.save(Path(args.out))
    print(f"reduced model written to {path}")
    return 0
