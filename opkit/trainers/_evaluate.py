"""The shared metrics applied: every operator on every opkit dataset, every PINN on its
problem's reference solution (`opkit.evaluate` picks the task)."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from ._datamodule import OperatorDataModule
from ._metrics import as_frames, reduce, relative_l2, score, valid_prediction_time

__all__ = ["evaluate_operator", "evaluate_solution", "solver_seconds_per_sample"]


@torch.no_grad()
def evaluate_solution(model: Any, *, vpt_threshold: float = 0.5) -> dict[str, Any]:
    """Score a PINN (e.g. a trained `PINNModule`) against its problem's reference solution.

    The solution is evaluated on the reference grid ``t`` ``(n_t,)`` x ``x`` ``(n_x,)`` and
    scored with the metrics of operators, reading the space-time field as one trajectory of
    ``n_t`` frames: ``rel_l2`` is the relative L2 error over the whole grid, the number the
    PINN papers report.

    Args:
        model: an object with ``reference() -> (t, x, u_ref)`` (``u_ref`` ``(n_t, n_x)``)
            and ``predict_grid(t, x) -> (n_t, n_x)``, such as `opkit.trainers.PINNModule`.
        vpt_threshold: threshold of the valid prediction time.

    Returns:
        ``dict`` with ``rel_l2``, ``nrmse`` (PDEBench's, averaged over times),
        ``max_error``, ``frmse_low|mid|high`` (over x), ``error_per_time`` (relative L2
        at each reference time, list), ``t`` (the reference times, list),
        ``valid_prediction_time`` (the first time the normalised error exceeds
        ``vpt_threshold``; ``t_final`` if never), ``points_per_s`` (inference throughput)
        and ``n_points``.
    """
    t, x, u_ref = model.reference()
    t0 = time.perf_counter()
    pred = model.predict_grid(t, x)
    seconds = time.perf_counter() - t0
    u_ref = torch.as_tensor(u_ref, dtype=torch.float64)
    pred = torch.as_tensor(pred, dtype=torch.float64)
    if pred.shape != u_ref.shape:
        raise ValueError(
            f"predict_grid(t, x) returned shape {tuple(pred.shape)}; the reference has "
            f"{tuple(u_ref.shape)} = (len(t), len(x))."
        )
    p, q = pred[None, :, None, :], u_ref[None, :, None, :]  # one trajectory, one field
    dt = float(t[1] - t[0]) if len(t) > 1 else 1.0
    vpt = valid_prediction_time(p, q, dt=dt, threshold=vpt_threshold)
    return {
        "split": "reference",
        "n_points": int(u_ref.numel()),
        **{k: float(v[0]) for k, v in score(p, q, n_spatial=1).items()},
        "error_per_time": relative_l2(pred, u_ref).tolist(),
        "t": torch.as_tensor(t, dtype=torch.float64).tolist(),
        # frames before the first bad one, counted from t[0]; a clean run gets the horizon
        "valid_prediction_time": min(float(vpt[0]), float(t[-1] - t[0])),
        "points_per_s": u_ref.numel() / max(seconds, 1e-12),
    }


@torch.no_grad()
def evaluate_operator(
    trained: Any,
    path: str | Path,
    split: str = "test",
    *,
    batch_size: int = 64,
    vpt_threshold: float = 0.5,
    solver_samples: int = 4,
    device: str | torch.device | None = None,
    transfer: bool = False,
) -> dict[str, Any]:
    """Score a trained operator on one split of an opkit file (`opkit.evaluate`'s operator
    task; the file is already resolved and checked not to share samples with training).

    Args:
        trained: a `TrainedOperator`.
        path: an opkit dataset file.
        split: ``"train"``, ``"val"`` or ``"test"``.
        batch_size: evaluation batch size.
        vpt_threshold: threshold of the valid prediction time (rollouts only).
        solver_samples: samples re-solved with the PDE solver to measure the speed-up
            (0 disables it).
        device: where to run (default: the model's device).
        transfer: allow data of another PDE (or other parameters) than the training
            data's: the scores then measure transfer, not test error.

    Returns:
        ``dict`` with ``rel_l2`` (mean), ``rel_l2_median``, ``rel_l2_per_sample`` (list),
        ``nrmse``, ``max_error``, ``frmse_low|mid|high``, ``samples_per_s`` (inference
        throughput, model only), ``solver_s_per_sample`` and ``speedup`` (solver time /
        model time per sample), and for trajectory data ``rollout_rel_l2``,
        ``rollout_error_per_step`` (list over steps) and ``valid_prediction_time``.

    Raises:
        ValueError: data of another PDE (without ``transfer``), or a dataset whose shape
            does not match the model.
    """
    _check_same_pde(trained.data or {}, Path(path), transfer=transfer)
    spec = trained.spec
    dm = OperatorDataModule(
        str(path), in_frames=spec.in_frames, out_frames=spec.out_frames, batch_size=batch_size
    )
    if dm.spec.spatial_shape != spec.spatial_shape or dm.spec.n_fields != spec.n_fields:
        # Resolution changes are allowed for resolution-invariant models; fields are not.
        if dm.spec.n_fields != spec.n_fields or dm.spec.ndim != spec.ndim:
            raise ValueError(
                f"the dataset {path} has {dm.spec.n_fields} field(s) on a grid "
                f"{dm.spec.spatial_shape}; the model was trained on {spec.n_fields} field(s) "
                f"on {spec.spatial_shape}."
            )
    module = trained.module.eval()
    if device is not None:
        module.to(device)
    dev = next(module.parameters()).device
    if dm.spec.spatial_shape != spec.spatial_shape:
        _check_other_grid(module, dm, spec, path, split, dev)
    out: dict[str, Any] = {"split": split, **_one_step(module, dm, split, dev)}
    if dm.mode == "windows" and dm.n_t > spec.in_frames + spec.out_frames:
        out.update(_rollouts(module, dm, split, dev, vpt_threshold=vpt_threshold))
    if solver_samples > 0:
        solver_s = solver_seconds_per_sample(
            path, n=solver_samples, in_frames=spec.in_frames, device=dev
        )
        if solver_s is not None:
            model_s = out.get("rollout_s_per_sample", 1.0 / out["samples_per_s"])
            out["solver_s_per_sample"] = solver_s
            out["speedup"] = solver_s / max(model_s, 1e-12)
    return out


def _synchronize(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _one_step(module, dm: OperatorDataModule, split: str, dev) -> dict[str, Any]:
    """Every metric of `METRICS` per item of ``split`` (one model call), reduced, and the
    model's throughput."""
    nf, ns = module.spec.n_fields, module.spec.ndim
    per_sample: dict[str, list[torch.Tensor]] = {}
    model_time, n_items = 0.0, 0
    for i, (x, y) in enumerate(dm.loader(dm.dataset(split))):
        x, y = x.to(dev), y.to(dev)
        if i == 0:
            module(x[:1])  # warm-up outside the timing
        t0 = time.perf_counter()
        pred = module(x)
        _synchronize(dev)
        model_time += time.perf_counter() - t0
        n_items += x.shape[0]
        p, q = as_frames(pred, nf), as_frames(y[:, : pred.shape[1]], nf)
        for name, values in score(p, q, n_spatial=ns).items():
            per_sample.setdefault(name, []).append(values.cpu())
    scores = {name: torch.cat(v).double() for name, v in per_sample.items()}
    rel_all = scores["rel_l2"]
    return {
        "n_samples": int(rel_all.numel()),
        **{name: reduce(name, v) for name, v in scores.items()},
        "rel_l2_median": float(rel_all.median()),
        "rel_l2_per_sample": rel_all.tolist(),
        "samples_per_s": n_items / max(model_time, 1e-12),
    }


def _rollouts(module, dm: OperatorDataModule, split: str, dev, *, vpt_threshold) -> dict:
    """Autoregressive rollouts of ``split``'s whole trajectories from their first
    ``in_frames`` frames: relative L2 overall and per step, valid prediction time."""
    nf = module.spec.n_fields
    per_step, rollout_rel, vpt = [], [], []
    rollout_time, n_roll = 0.0, 0
    for x, future in dm.loader(dm.dataset(split, whole=True)):
        x, future = x.to(dev), future.to(dev)
        t0 = time.perf_counter()
        pred = module.predict_frames(x, future.shape[1] // nf)
        _synchronize(dev)
        rollout_time += time.perf_counter() - t0
        n_roll += x.shape[0]
        p, q = as_frames(pred, nf), as_frames(future, nf)
        rollout_rel.append(relative_l2(p, q).cpu())
        per_step.append(
            torch.stack([relative_l2(p[:, j], q[:, j]) for j in range(p.shape[1])], 1).cpu()
        )
        vpt.append(valid_prediction_time(p, q, dt=dm.spec.dt or 1.0, threshold=vpt_threshold).cpu())
    return {
        "rollout_rel_l2": float(torch.cat(rollout_rel).double().mean()),
        "rollout_error_per_step": torch.cat(per_step).double().mean(0).tolist(),
        "valid_prediction_time": float(torch.cat(vpt).mean()),
        "rollout_s_per_sample": rollout_time / max(n_roll, 1),
    }


def _check_same_pde(data: dict, path: Path, *, transfer: bool) -> None:
    """Refuse data of another PDE or other parameters than the training data's, unless
    ``transfer`` (then warn: the scores measure transfer, not test error)."""
    from ..pde_data import read_header

    name = data.get("pde_name")
    if not name:
        return  # trained on data without a recorded PDE (or a hand-built checkpoint)
    params = data.get("pde_params")
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except json.JSONDecodeError:
            params = None
    header = read_header(path)
    if header.get("pde_name") == name and (params is None or header.get("pde_params") == params):
        return
    message = (
        f"the model was trained on {name} {json.dumps(params)} but {str(path)!r} holds "
        f"{header.get('pde_name')} {json.dumps(header.get('pde_params'))}"
    )
    if not transfer:
        raise ValueError(
            f"{message}; its scores would measure transfer to another PDE, not test error. "
            "Evaluate on the model's own data, or pass transfer=True to score the transfer."
        )
    warnings.warn(f"{message}: the scores measure transfer, not test error.", UserWarning, 3)


def _check_other_grid(module, dm, spec, path, split: str, dev) -> None:
    """A model evaluated on another grid than its training grid must accept it and return
    that grid (resolution-invariant models do); otherwise: a clear error before scoring."""
    x, y = dm.dataset(split)[0]
    try:
        out = module(x[None].to(dev))
    except Exception as err:
        out, why = None, f"it fails on it ({type(err).__name__}: {err})"
    else:
        why = f"it returns {tuple(out.shape[2:])}"
    if out is None or tuple(out.shape[2:]) != tuple(y.shape[1:]):
        raise ValueError(
            f"the model was built for the grid {spec.spatial_shape} but the dataset {str(path)!r} "
            f"is on {dm.spec.spatial_shape} and {why}; evaluate it on data with its grid "
            "(or use a resolution-invariant model such as FNO)."
        )


@torch.no_grad()
def solver_seconds_per_sample(
    path: str | Path, *, n: int = 4, in_frames: int = 1, device: torch.device | None = None
) -> float | None:
    """Wall-clock seconds the dataset's own solver needs per sample for the model's task.

    The PDE and initial-condition sampler recorded in the file are rebuilt and ``n``
    samples are solved together, on the dataset's solve grid with its time step, over the
    span the model predicts: from the last input frame to the last frame. Returns ``None``
    for files without a recipe (e.g. converted PDEBench files) or whose PDE cannot be
    rebuilt from it.
    """
    from .._records import rebuild
    from ..pde_data import read_header

    recipe = read_header(path).get("recipe")
    if not isinstance(recipe, dict) or "pde" not in recipe:
        return None
    try:
        pde, sampler = rebuild(recipe["pde"]), rebuild(recipe["initial_condition"])
    except ValueError:
        return None  # recorded by digest: the solver cannot be rebuilt
    t = recipe["t"]
    span = float(t[-1] - t[min(in_frames, len(t) - 1) - 1]) if len(t) > 2 else float(t[-1] - t[0])
    gen = torch.Generator().manual_seed(0)
    u0 = sampler.sample(n, *pde.spatial_shape, generator=gen, dtype=torch.float64, device=device)
    times = torch.tensor([0.0, span], dtype=torch.float64)
    t0 = time.perf_counter()
    pde.solve(u0, times, dt=recipe.get("dt"))
    if u0.device.type == "cuda":
        torch.cuda.synchronize(u0.device)
    return (time.perf_counter() - t0) / n
