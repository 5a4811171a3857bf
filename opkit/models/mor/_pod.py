"""Proper orthogonal decomposition of snapshot matrices."""

from __future__ import annotations

import torch

__all__ = ["pod", "pod_spectrum"]


def _check_size(name: str, value: object, *, upper: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int, got {value!r} ({type(value).__name__}).")
    if not 1 <= value <= upper:
        raise ValueError(f"`{name}` must satisfy 1 <= {name} <= {upper} ({what}), got {value}.")
    return value


def pod(snapshots: torch.Tensor, k: int) -> tuple[torch.Tensor, float]:
    r"""The ``k`` leading POD modes of a snapshot matrix and the energy they capture.

    The modes are the left singular vectors of :math:`S = [s_1, \dots, s_N]`, the
    snapshots as columns (no mean is subtracted, as in the model-reduction literature):
    :math:`V_k` minimises :math:`\sum_j \lVert s_j - V V^\top s_j \rVert^2` over
    orthonormal ``n x k`` matrices, and the captured energy is
    :math:`\sum_{i \le k} \sigma_i^2 / \sum_i \sigma_i^2` (1 at full rank, non-decreasing
    in ``k``). The SVD runs in float64; the modes come back in the snapshots' dtype.

    Args:
        snapshots: ``(n, n_snapshots)``, one snapshot per column.
        k: number of modes, ``1 <= k <= min(n, n_snapshots)``.

    Returns:
        ``(V_k, energy)``: ``V_k`` ``(n, k)`` with orthonormal columns, and the captured
        fraction of :math:`\lVert S \rVert_F^2` as a float.

    Raises:
        TypeError: ``snapshots`` is not a floating-point tensor, or ``k`` not an int.
        ValueError: ``snapshots`` is not 2-D or is all zeros; ``k`` out of range.

    References:
        P. Holmes, J. L. Lumley, G. Berkooz, *Turbulence, Coherent Structures, Dynamical
        Systems and Symmetry*, Cambridge University Press (1996), chapter 3.

    Examples:
        >>> s = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
        >>> V, energy = pod(s, 1)
        >>> V.abs().flatten().tolist(), energy
        ([1.0, 0.0], 1.0)
    """
    V, energies = pod_spectrum(snapshots, k)
    return V, float(energies[-1])


def pod_spectrum(snapshots: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`pod` with the captured energy of every leading size: ``(V_k, energies)``, where
    ``energies[j]`` (float64, ``(k,)``) is the fraction captured by the first ``j + 1``
    modes. One SVD serves every ``k' <= k`` (``V_k[:, :k']`` are the ``k'`` modes), which
    is what :func:`~opkit.models.mor.compress_many` uses. Raises as `pod`.
    """
    if not isinstance(snapshots, torch.Tensor) or not snapshots.is_floating_point():
        raise TypeError(
            "`snapshots` must be a floating-point torch.Tensor of shape (n, n_snapshots), got "
            f"{type(snapshots).__name__}."
        )
    if snapshots.ndim != 2:
        raise ValueError(
            "`snapshots` must be 2-D, (n, n_snapshots) with one snapshot per column, got "
            f"shape {tuple(snapshots.shape)}."
        )
    n, n_snapshots = snapshots.shape
    k = _check_size(
        "k", k, upper=min(n, n_snapshots), what=f"n={n} rows and {n_snapshots} snapshots"
    )
    u, s, _ = torch.linalg.svd(snapshots.detach().double(), full_matrices=False)
    total = s.pow(2).sum()
    if total == 0:
        raise ValueError("`snapshots` are all zero: there is no subspace to find.")
    energies = (s[:k].pow(2).cumsum(0) / total).clamp(max=1.0)
    return u[:, :k].to(snapshots.dtype), energies
