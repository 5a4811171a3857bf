"""Baseline: neuron pruning of a neural ODE's vector field (kept units by importance)."""

from __future__ import annotations

import torch
from torch import nn

from .._neural_ode import AbstractLatentODE, AbstractVectorField, NeuralODE
from ._compress import check_dense, copy_settings
from ._snapshots import nonlinear_snapshots

__all__ = ["prune_neurons", "PrunedNeuralODE"]


class _PrunedField(AbstractVectorField):
    """``x_S' = f(A_SS x_S + c) + Z_S u`` with the per-call constant ``c = context["shift"]``."""

    def __init__(self, A_kept: torch.Tensor, Z_kept: torch.Tensor | None, f):
        super().__init__()
        self.register_buffer("A", A_kept.clone())
        self.register_buffer("Z", None if Z_kept is None else Z_kept.clone())
        self.f = f
        self.nfe = 0

    def drift(self, x: torch.Tensor, context: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.f(nn.functional.linear(x, self.A) + context["shift"])


class PrunedNeuralODE(AbstractLatentODE):
    r"""A one-layer `NeuralODE` with only the units ``S`` of its vector field kept.

    In :math:`x' = f(Ax + b) + Zu` unit ``i`` is the ``i``-th value of ``f``, whose output
    is :math:`x_i'`. Removing the units outside ``S`` sets their velocities to zero: those
    states keep their encoded initial values, and their pull on the kept ones,
    :math:`A_{S\bar S} x_{\bar S}(0)`, is a constant computed once per call. The kept
    states follow :math:`x_S' = f(A_{SS} x_S + A_{S\bar S} x_{\bar S}(0) + b_S) + Z_S u`:
    ``s^2`` multiply-adds and ``s`` values of ``f`` per evaluation. The encoder and
    decoder are the full model's (shared, not copied).

    Build it with :func:`prune_neurons`. Not meant for ``opkit.load`` (a baseline).

    Args:
        model: the one-layer `NeuralODE`.
        keep: ``(s,)`` indices of the kept units.
    """

    def __init__(self, model: NeuralODE, keep: torch.Tensor):
        super().__init__()
        model = check_dense(model)
        n = model.state_size
        keep = torch.as_tensor(keep, dtype=torch.long).flatten().sort().values
        if keep.numel() < 1 or keep.unique().numel() != keep.numel() or keep.max() >= n:
            raise ValueError(f"`keep` must hold distinct indices in 0..{n - 1}, got {keep}.")
        mask = torch.ones(n, dtype=torch.bool)
        mask[keep] = False
        frozen = mask.nonzero().flatten()
        copy_settings(self, model, sizes=True)
        self.state_size = keep.numel()
        self.encoder, self.decoder = model.encoder, model.decoder
        layer = model.vector_field.layers[0]
        W = layer.weight.detach()
        self.register_buffer("keep", keep.to(W.device))
        self.register_buffer("frozen", frozen.to(W.device))
        self.register_buffer("A_frozen", W[keep][:, frozen].clone())
        self.register_buffer("b_kept", layer.bias.detach()[keep].clone())
        Z = model.vector_field.Z
        self.vector_field = _PrunedField(
            W[keep][:, keep], None if Z is None else Z.detach()[keep], model.vector_field.f
        )

    def project(self, latent: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        shift = nn.functional.linear(latent[:, self.frozen], self.A_frozen) + self.b_kept
        return latent[:, self.keep], {"shift": shift, "origin": latent}

    def lift(self, states: torch.Tensor, context: dict[str, torch.Tensor]) -> torch.Tensor:
        origin = context["origin"]
        full = origin.expand(*states.shape[:-1], origin.shape[-1]).clone()
        full[..., self.keep] = states
        return full

    def cost(self) -> dict[str, int]:
        s = self.state_size
        return {"macs": s * s + s * self.n_inputs, "f_evals": s}


@torch.no_grad()
def prune_neurons(
    model: NeuralODE, data: torch.Tensor, size: int, *, u: torch.Tensor | None = None
) -> PrunedNeuralODE:
    r"""Neuron pruning baseline: keep the ``size`` most important units of the vector field.

    A unit's importance is the root-mean-square of its value :math:`f_i(Ax + b)` over the
    same snapshots that :func:`compress` uses (the units that move the state least are
    removed), see :class:`PrunedNeuralODE`.

    Args:
        model: a trained one-layer `NeuralODE`.
        data: ``(batch, in_channels, *grid)`` windows in the model's units.
        size: units kept, ``1 <= size <= n``.

    Returns:
        A `PrunedNeuralODE` sharing the model's encoder and decoder.

    References:
        P. Molchanov, S. Tyree, T. Karras, T. Aila, J. Kautz, "Pruning convolutional neural
        networks for resource efficient inference", ICLR (2017) (importance-based pruning);
        compared with POD-DEIM by Lehtimäki et al. (2024).
    """
    model = check_dense(model)
    n = model.state_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= n:
        raise ValueError(f"`size` must be an int with 1 <= size <= n = {n}, got {size!r}.")
    nonlinear = nonlinear_snapshots(model, data, u)
    importance = nonlinear.pow(2).mean(1)
    keep = importance.topk(size).indices
    return PrunedNeuralODE(model, keep).eval()
