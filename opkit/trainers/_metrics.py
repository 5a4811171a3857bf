"""Error metrics shared by training and `evaluate` (all in torch, batched).

Shapes: ``pred`` and ``true`` are ``(batch, frames, n_fields, *spatial)`` unless stated.
"""

from __future__ import annotations

import torch

__all__ = [
    "METRICS",
    "as_frames",
    "score",
    "reduce",
    "reduction",
    "relative_l2",
    "nrmse",
    "max_error",
    "fourier_band_rmse",
    "valid_prediction_time",
    "FOURIER_BANDS",
]

# PDEBench's fRMSE bands (Takamoto et al. 2022): low = modes [0, 4], mid = [5, 12],
# high = [13, n/2]; the index is the radial wavenumber |k| in grid units.
FOURIER_BANDS = {"low": (0, 4), "mid": (5, 12), "high": (13, None)}


def as_frames(t: torch.Tensor, n_fields: int) -> torch.Tensor:
    """``(batch, frames * n_fields, *spatial)`` -> ``(batch, frames, n_fields, *spatial)``."""
    b, c = t.shape[:2]
    return t.reshape(b, c // n_fields, n_fields, *t.shape[2:])


def relative_l2(pred: torch.Tensor, true: torch.Tensor, *, eps: float = 1e-12) -> torch.Tensor:
    """Per-sample ``||pred - true||_2 / ||true||_2`` over all non-batch dims -> ``(batch,)``."""
    diff = (pred - true).flatten(1).norm(dim=1)
    return diff / true.flatten(1).norm(dim=1).clamp_min(eps)


def nrmse(pred: torch.Tensor, true: torch.Tensor, *, n_spatial: int, eps: float = 1e-12):
    """PDEBench's normalised RMSE -> ``(batch,)``.

    The RMSE over space divided by the RMS of the truth over space, for each frame and
    field, then averaged over frames and fields (Takamoto et al. 2022, eq. "nRMSE").
    """
    dims = tuple(range(-n_spatial, 0))
    num = (pred - true).pow(2).mean(dim=dims).sqrt()
    den = true.pow(2).mean(dim=dims).sqrt().clamp_min(eps)
    return (num / den).flatten(1).mean(dim=1)


def max_error(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Per-sample maximum absolute error -> ``(batch,)``."""
    return (pred - true).abs().flatten(1).amax(dim=1)


def fourier_band_rmse(pred: torch.Tensor, true: torch.Tensor, *, n_spatial: int) -> dict:
    """PDEBench's fRMSE in the low/mid/high bands -> ``{band: (batch,)}``.

    The error field is transformed with an orthonormal FFT over the spatial dims; in each
    band the RMS of the Fourier error magnitudes is reported (averaged over frames/fields).
    """
    dims = tuple(range(-n_spatial, 0))
    err = torch.fft.fftn((pred - true).to(torch.float64), dim=dims, norm="ortho").abs()
    shape = pred.shape[-n_spatial:]
    freqs = [torch.fft.fftfreq(n, d=1.0 / n, device=pred.device).abs() for n in shape]
    radius = torch.zeros(shape, dtype=torch.float64, device=pred.device)
    for d, f in enumerate(freqs):
        view = [1] * n_spatial
        view[d] = -1
        radius = torch.maximum(radius, f.reshape(view).to(torch.float64))
    out = {}
    for band, (lo, hi) in FOURIER_BANDS.items():
        mask = radius >= lo
        if hi is not None:
            mask &= radius <= hi
        if not bool(mask.any()):
            out[band] = torch.full(pred.shape[:1], float("nan"), device=pred.device)
            continue
        sel = err[..., mask] if n_spatial == 1 else err.flatten(-n_spatial)[..., mask.flatten()]
        out[band] = sel.pow(2).mean(dim=-1).sqrt().flatten(1).mean(dim=1)
    return out


def valid_prediction_time(
    pred: torch.Tensor, true: torch.Tensor, *, dt: float, threshold: float = 0.5
) -> torch.Tensor:
    """Valid prediction time of rollouts -> ``(batch,)`` in the time unit of ``dt``.

    Following Gilpin's chaotic-forecasting benchmark, the rollout is valid until the
    first frame whose normalised error exceeds ``threshold``; here the normalised error of
    frame j is ``||pred_j - true_j||_2 / std(true)`` / sqrt(N) (an RMSE in units of the
    truth's standard deviation over the whole trajectory). A rollout that never crosses
    the threshold gets the full horizon ``frames * dt``.
    """
    b, f = pred.shape[:2]
    err = (pred - true).reshape(b, f, -1).pow(2).mean(dim=-1).sqrt()
    scale = true.reshape(b, -1).std(dim=1).clamp_min(1e-12)
    bad = err / scale[:, None] > threshold
    first = torch.where(
        bad.any(dim=1), bad.float().argmax(dim=1), torch.full_like(bad[:, 0], f, dtype=torch.long)
    )
    return first.to(torch.float64) * dt


def _bands(pred: torch.Tensor, true: torch.Tensor, *, n_spatial: int) -> dict:
    return {f"frmse_{k}": v for k, v in fourier_band_rmse(pred, true, n_spatial=n_spatial).items()}


# The one table of per-sample metrics: name -> (function, how samples are reduced).
# A function maps ``(pred, true, n_spatial=...)`` to ``(batch,)`` or to a dict of such
# named tensors; the reduction is "mean" or "max" (NaN entries are ignored by "mean":
# a band can be empty on a coarse grid). Every scorer (`evaluate`, `evaluate_solution`,
# `OperatorModule`'s validation and test steps) loops over this table, so a new metric is
# one entry here.
METRICS: dict = {
    "rel_l2": (lambda p, q, *, n_spatial: relative_l2(p, q), "mean"),
    "nrmse": (nrmse, "mean"),
    "max_error": (lambda p, q, *, n_spatial: max_error(p, q), "max"),
    "frmse": (_bands, "mean"),
}


def score(pred: torch.Tensor, true: torch.Tensor, *, n_spatial: int) -> dict[str, torch.Tensor]:
    """Every metric of :data:`METRICS` per sample: ``{name: (batch,)}``.

    Shapes as in this module: ``(batch, frames, n_fields, *spatial)``.
    """
    out: dict[str, torch.Tensor] = {}
    for name, (fn, _) in METRICS.items():
        value = fn(pred, true, n_spatial=n_spatial)
        out.update(value if isinstance(value, dict) else {name: value})
    return out


def reduction(name: str) -> str:
    """How metric ``name`` (a key of :func:`score`) is reduced over samples: mean or max."""
    return METRICS[name if name in METRICS else name.split("_")[0]][1]


def reduce(name: str, values: torch.Tensor) -> float:
    """Reduce per-sample values of metric ``name`` over samples (see :data:`METRICS`)."""
    values = values.double()
    return float(values.max() if reduction(name) == "max" else values.nanmean())
