"""Collocation points for time-dependent PINNs, in the unit square.

Points come as an ``(n_t, n_x)`` block: ``n_t`` times sorted increasingly (the causal loss
needs one residual loss per time, in order) and, for each time, ``n_x`` positions. Both lie
in ``[0, 1]`` (times) and ``[0, 1)`` (positions); a trainer maps them to the problem's window
``[0, T_w]`` and domain ``[x_min, x_min + L)``, so the sampler needs to know nothing about the
PDE.

Samplers:

- ``"grid"``: the uniform grid (``t = linspace(0, 1, n_t)``, ``x = i / n_x``), the same every
  call — the full-batch setup of the causal-PINN Allen–Cahn code;
- ``"random"``: uniform random, new every call — the mini-batches of its KS code;
- ``"sobol"`` (scrambled, torch's ``SobolEngine``), ``"halton"`` and ``"lhs"`` (scipy's
  ``scipy.stats.qmc``; the low-discrepancy families DeepXDE offers), freshly scrambled every
  call, in each coordinate.

Randomness comes only from the ``torch.Generator`` argument.
"""

from __future__ import annotations

import torch

from ..._checks import check_int

__all__ = ["SAMPLERS", "collocation_points"]

SAMPLERS = ("grid", "random", "sobol", "halton", "lhs")


def _seed(generator: torch.Generator | None) -> int:
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator))


def _qmc_1d(method: str, n: int, generator: torch.Generator | None) -> torch.Tensor:
    seed = _seed(generator)
    if method == "sobol":
        engine = torch.quasirandom.SobolEngine(1, scramble=True, seed=seed)
        return engine.draw(n, dtype=torch.float64)[:, 0]
    from scipy.stats import qmc

    cls = qmc.Halton if method == "halton" else qmc.LatinHypercube
    try:  # scipy >= 1.15 names the seed `rng`
        engine = cls(1, rng=seed)
    except TypeError:
        engine = cls(1, seed=seed)
    return torch.from_numpy(engine.random(n)[:, 0])


def collocation_points(
    n_t: int,
    n_x: int,
    *,
    sampler: str = "random",
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Collocation points in the unit square, ``t`` sorted.

    Args:
        n_t: number of times (>= 2).
        n_x: number of positions per time (>= 1).
        sampler: one of ``"grid"``, ``"random"`` (default), ``"sobol"``, ``"halton"``,
            ``"lhs"``.
        generator: source of randomness (default: torch's global generator).
        dtype: floating dtype of the result (default float32).

    Returns:
        ``(t, x)``: ``t`` of shape ``(n_t,)`` increasing in ``[0, 1]``; ``x`` of shape
        ``(n_t, n_x)`` in ``[0, 1)``.

    Raises:
        ValueError: for sizes below the minimum or an unknown sampler.

    Examples:
        >>> t, x = collocation_points(5, 4, sampler="grid", dtype=torch.float64)
        >>> t.tolist(), x[0].tolist()
        ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.25, 0.5, 0.75])
    """
    check_int("n_t", n_t, minimum=2)
    check_int("n_x", n_x, minimum=1)
    if sampler not in SAMPLERS:
        raise ValueError(f"`sampler` must be one of {SAMPLERS}, got {sampler!r}.")
    if sampler == "grid":
        t = torch.linspace(0.0, 1.0, n_t, dtype=torch.float64)
        x = (torch.arange(n_x, dtype=torch.float64) / n_x).expand(n_t, n_x)
    elif sampler == "random":
        t = torch.rand(n_t, generator=generator, dtype=torch.float64)
        x = torch.rand(n_t, n_x, generator=generator, dtype=torch.float64)
    else:
        t = _qmc_1d(sampler, n_t, generator)
        x = _qmc_1d(sampler, n_t * n_x, generator).reshape(n_t, n_x)
    t = torch.sort(t).values
    # Keep x strictly inside [0, 1): 1.0 is the same periodic point as 0.0.
    x = torch.remainder(x, 1.0)
    return t.to(dtype), x.to(dtype).contiguous()
