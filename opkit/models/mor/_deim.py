"""The discrete empirical interpolation method (DEIM)."""

from __future__ import annotations

import torch

__all__ = ["deim", "deim_interpolate"]


def deim(U: torch.Tensor) -> torch.Tensor:
    r"""DEIM interpolation indices of a basis ``U`` (Chaturantabut & Sorensen 2010).

    The greedy algorithm: :math:`p_1 = \arg\max_i |u_1[i]|`; for :math:`l = 2..m`, solve
    :math:`(P^\top U_{l-1}) c = P^\top u_l`, take the residual
    :math:`r = u_l - U_{l-1} c` (zero at the indices chosen so far) and
    :math:`p_l = \arg\max_i |r[i]|`. The indices are distinct and :math:`P^\top U` is
    invertible, so the interpolant :math:`U (P^\top U)^{-1} P^\top v` reproduces every
    ``v`` in the span of ``U`` from its ``m`` entries at the indices.

    Args:
        U: ``(n, m)``, ``m <= n`` linearly independent columns (a POD basis of
            nonlinearity snapshots, in order of importance).

    Returns:
        ``(m,)`` int64 indices into ``0..n-1``, in the order chosen.

    Raises:
        TypeError: ``U`` is not a floating-point tensor.
        ValueError: ``U`` is not 2-D, has more columns than rows, or has linearly
            dependent columns.

    References:
        S. Chaturantabut, D. C. Sorensen, "Nonlinear model reduction via discrete empirical
        interpolation", SIAM J. Sci. Comput. 32(5), 2737-2764 (2010), Algorithm 1.

    Examples:
        >>> U = torch.eye(4)[:, [2, 0]]
        >>> deim(U).tolist()
        [2, 0]
    """
    if not isinstance(U, torch.Tensor) or not U.is_floating_point():
        raise TypeError(f"`U` must be a floating-point torch.Tensor, got {type(U).__name__}.")
    if U.ndim != 2 or U.shape[1] > U.shape[0] or U.shape[1] < 1:
        raise ValueError(f"`U` must be 2-D (n, m) with 1 <= m <= n, got shape {tuple(U.shape)}.")
    basis = U.detach().double()
    scale = basis.abs().max()
    indices = [int(basis[:, 0].abs().argmax())]
    for l in range(1, basis.shape[1]):
        Ul, idx = basis[:, :l], torch.tensor(indices)
        c = torch.linalg.solve(Ul[idx], basis[idx, l])
        r = basis[:, l] - Ul @ c
        i = int(r.abs().argmax())
        if r[i].abs() <= 1e-12 * scale:
            raise ValueError(
                f"`U`'s column {l} lies in the span of the previous ones (DEIM residual "
                f"{float(r[i].abs()):.2e}): the columns must be linearly independent."
            )
        indices.append(i)
    return torch.tensor(indices, dtype=torch.long, device=U.device)


def deim_interpolate(U: torch.Tensor, indices: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    r"""The DEIM interpolant :math:`U (P^\top U)^{-1} v_P` from values at the indices.

    Args:
        U: ``(n, m)`` basis; indices: ``(m,)`` from :func:`deim`; values: ``(..., m)`` the
            entries of the vectors at ``indices``.

    Returns:
        ``(..., n)``: the vectors of ``span(U)`` that take those values at the indices.
    """
    coefficients = torch.linalg.solve(U[indices], values.unsqueeze(-1))
    return (U @ coefficients).squeeze(-1)
