"""Baseline: truncated SVD of the vector field's weight matrix."""

from __future__ import annotations

import torch
from torch import nn

from .._neural_ode import AbstractLatentODE, AbstractVectorField, NeuralODE
from ._compress import check_dense, copy_settings

__all__ = ["truncate_svd", "LowRankNeuralODE"]


class _LowRankField(AbstractVectorField):
    """``x' = f(L (R x) + b) + Z u`` with ``L`` ``(n, r)``, ``R`` ``(r, n)``."""

    def __init__(self, L, R, b, Z, f):
        super().__init__()
        self.register_buffer("L", L)
        self.register_buffer("R", R)
        self.register_buffer("b", b)
        self.register_buffer("Z", Z)
        self.f = f
        self.nfe = 0

    def drift(self, x: torch.Tensor, context=None) -> torch.Tensor:
        return self.f(nn.functional.linear(nn.functional.linear(x, self.R), self.L, self.b))


class LowRankNeuralODE(AbstractLatentODE):
    r"""A one-layer `NeuralODE` whose ``A`` is replaced by its rank-``r`` truncated SVD.

    :math:`A \approx U_r \Sigma_r V_r^\top`: one evaluation of
    :math:`x' = f(U_r \Sigma_r (V_r^\top x) + b) + Zu` costs :math:`2nr` multiply-adds
    and still ``n`` values of ``f``; the state keeps its size ``n``. Encoder and decoder
    are the full model's (shared). Build it with :func:`truncate_svd`.
    """

    def __init__(self, model: NeuralODE, rank: int):
        super().__init__()
        model = check_dense(model)
        n = model.state_size
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= n:
            raise ValueError(f"`rank` must be an int with 1 <= rank <= n = {n}, got {rank!r}.")
        copy_settings(self, model, sizes=True)
        self.state_size, self.rank = n, rank
        self.encoder, self.decoder = model.encoder, model.decoder
        layer = model.vector_field.layers[0]
        W = layer.weight.detach()
        U, S, Vh = torch.linalg.svd(W.double())
        L = (U[:, :rank] * S[:rank]).to(W.dtype)
        R = Vh[:rank].to(W.dtype)
        Z = model.vector_field.Z
        self.vector_field = _LowRankField(
            L,
            R,
            layer.bias.detach().clone(),
            None if Z is None else Z.detach().clone(),
            model.vector_field.f,
        )

    def project(self, latent: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return latent, {}

    def lift(self, states: torch.Tensor, context: dict[str, torch.Tensor]) -> torch.Tensor:
        return states

    def cost(self) -> dict[str, int]:
        n = self.state_size
        return {"macs": 2 * n * self.rank + n * self.n_inputs, "f_evals": n}


def truncate_svd(model: NeuralODE, rank: int) -> LowRankNeuralODE:
    """SVD-truncation baseline: ``A`` of the one-layer vector field at rank ``rank``.

    See :class:`LowRankNeuralODE`. Needs no data (the truncation is optimal for ``A`` in
    the 2-norm, Eckart-Young, not for the dynamics).

    References:
        E. Denton, W. Zaremba, J. Bruna, Y. LeCun, R. Fergus, "Exploiting linear structure
        within convolutional networks for efficient evaluation", NeurIPS (2014);
        compared with POD-DEIM by Lehtimäki et al. (2024).
    """
    return LowRankNeuralODE(model, rank).eval()
