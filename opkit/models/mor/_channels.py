"""Baselines for a convolutional vector field: channel pruning and low-rank kernels.

The literature compresses a convolution either by removing whole filters (channels) by an
importance score, or by factoring the kernel through fewer channels (an SVD over its
channel dimensions). Both act on :math:`x' = f(K * x + b) + Zu`
(:class:`~opkit.models.ConvVectorField`) and are compared with POD-DEIM by Lehtimäki et
al. (2024).
"""

from __future__ import annotations

import math

import torch

from .._neural_ode import AbstractLatentODE, NeuralODE
from .._vector_fields import AbstractVectorField, ConvVectorField, conv_apply
from ._compress import check_compressible, copy_settings
from ._snapshots import nonlinear_snapshots

__all__ = [
    "ChannelPrunedField",
    "LowRankConvField",
    "ChannelPrunedNeuralODE",
    "LowRankConvNeuralODE",
    "channel_importance",
    "prune_channels",
    "truncate_channels",
]


def _conv_field(field: object) -> ConvVectorField:
    if not isinstance(field, ConvVectorField):
        raise TypeError(
            f"`field` must be an opkit.models.ConvVectorField (x' = f(K * x + b) + Zu), got "
            f"{type(field).__name__}; for a dense field use prune_neurons / truncate_svd."
        )
    return field


class ChannelPrunedField(AbstractVectorField):
    r"""A `ConvVectorField` with only the channels ``S`` kept (filter pruning).

    What it keeps: the ``s`` channels ``S`` of the state field and the block
    :math:`K_{SS}` of the kernel (their filters restricted to their own inputs), their
    biases and rows of ``Z``. The removed channels :math:`\bar S` get velocity zero: they
    keep their initial field, and their pull on the kept ones,
    :math:`K_{S\bar S} * x_{\bar S}(0) + b_S`, is computed once per call in
    :meth:`project` (passed to the solver as ``context["shift"]``). The kept field follows
    :math:`x_S' = f(K_{SS} * x_S + K_{S\bar S} * x_{\bar S}(0) + b_S) + Z_S u`:
    ``s^2 N w^d`` multiply-adds and ``s N`` values of ``f`` per evaluation (``N`` grid
    points, stencil ``w``). With all channels kept it is the full field.

    Args:
        field: the `ConvVectorField`.
        keep: ``(s,)`` distinct channel indices.

    Shapes:
        state ``(batch, s * N)``; :meth:`project` ``(batch, n) -> (batch, s * N)`` and a
        context; :meth:`lift` ``(..., batch, s * N) -> (..., batch, n)``.
    """

    def __init__(self, field: ConvVectorField, keep: torch.Tensor):
        super().__init__()
        field = _conv_field(field)
        C = field.channels
        keep = torch.as_tensor(keep, dtype=torch.long).flatten().sort().values.cpu()
        if keep.numel() < 1 or keep.unique().numel() != keep.numel() or int(keep.max()) >= C:
            raise ValueError(
                f"`keep` must hold distinct channel indices in 0..{C - 1}, got {keep.tolist()}."
            )
        mask = torch.ones(C, dtype=torch.bool)
        mask[keep] = False
        frozen = mask.nonzero().flatten()
        W, b = field.conv.weight.detach(), field.conv.bias.detach()
        self.grid_shape, self.padding, self.f = field.grid_shape, field.padding, field.f
        self.full_channels, self.channels = C, keep.numel()
        self.points = math.prod(field.grid_shape)
        self.state_size = self.channels * self.points
        self.kernel_size, self.n_inputs = field.kernel_size, field.n_inputs
        self.register_buffer("keep", keep.to(W.device))
        self.register_buffer("frozen", frozen.to(W.device))
        self.register_buffer("weight", W[keep][:, keep].clone())
        self.register_buffer("weight_frozen", W[keep][:, frozen].clone())
        self.register_buffer("bias", b[keep].clone())
        Z = field.Z
        if Z is not None:
            Z = Z.detach().reshape(C, self.points, -1)[keep].reshape(self.state_size, -1)
        self.register_buffer("Z", None if Z is None else Z.clone())
        self.nfe = 0

    def drift(self, x: torch.Tensor, context: dict[str, torch.Tensor]) -> torch.Tensor:
        fields = x.reshape(x.shape[0], self.channels, *self.grid_shape)
        z = conv_apply(fields, self.weight, None, self.padding) + context["shift"]
        return self.f(z).flatten(1)

    def project(self, latent: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        fields = latent.reshape(latent.shape[0], self.full_channels, *self.grid_shape)
        if self.frozen.numel():
            shift = conv_apply(fields[:, self.frozen], self.weight_frozen, self.bias, self.padding)
        else:
            shift = self.bias.to(latent.dtype).reshape(1, -1, *[1] * len(self.grid_shape))
        return fields[:, self.keep].flatten(1), {"shift": shift, "origin": latent}

    def lift(self, states: torch.Tensor, context: dict[str, torch.Tensor]) -> torch.Tensor:
        origin = context["origin"]
        lead = states.shape[:-1]
        full = origin.expand(*lead, origin.shape[-1]).reshape(*lead, self.full_channels, -1)
        full = full.clone()
        full[..., self.keep, :] = states.reshape(*lead, self.channels, self.points)
        return full.flatten(-2)

    def cost(self) -> dict[str, int]:
        s, d = self.state_size, len(self.grid_shape)
        macs = s * self.channels * self.kernel_size**d + s * self.n_inputs
        return {"macs": macs, "f_evals": s}


class LowRankConvField(AbstractVectorField):
    r"""A `ConvVectorField` whose kernel is truncated to rank ``r`` over its channels.

    What it keeps: the kernel as the matrix :math:`W \in \mathbb{R}^{C \times C w^d}`
    (output channels against input channels times stencil) is replaced by its ``r``
    leading singular triplets, :math:`W \approx (U_r \Sigma_r) V_r^\top`: ``r`` filters
    :math:`V_r^\top` (each ``C x w^d``, a convolution ``C -> r``) followed by a ``1 x 1``
    convolution :math:`U_r \Sigma_r` (``r -> C``); the bias, ``Z``, the state (all ``n``
    entries) and the ``n`` values of ``f`` are unchanged. One evaluation costs ``N r (C
    w^d + C)`` multiply-adds instead of ``N C^2 w^d``; at ``r = C`` (full rank) it is the
    full field (and slower). The truncation is optimal for ``W`` in the 2-norm
    (Eckart-Young), not for the dynamics.

    Args:
        field: the `ConvVectorField`.
        rank: ``1 <= r <= min(C, C w^d)``.
    """

    def __init__(self, field: ConvVectorField, rank: int):
        super().__init__()
        field = _conv_field(field)
        C, d = field.channels, len(field.grid_shape)
        full = min(C, C * field.kernel_size**d)
        if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= full:
            raise ValueError(
                f"`rank` must be an int with 1 <= rank <= {full} (the kernel's channel rank), "
                f"got {rank!r}."
            )
        W = field.conv.weight.detach()
        U, S, Vh = torch.linalg.svd(W.double().reshape(C, -1), full_matrices=False)
        self.grid_shape, self.padding, self.f = field.grid_shape, field.padding, field.f
        self.channels, self.rank, self.kernel_size = C, rank, field.kernel_size
        self.state_size, self.n_inputs = field.state_size, field.n_inputs
        ones = [1] * d
        self.register_buffer("filters", Vh[:rank].reshape(rank, *W.shape[1:]).to(W.dtype))
        self.register_buffer("mix", (U[:, :rank] * S[:rank]).reshape(C, rank, *ones).to(W.dtype))
        self.register_buffer("bias", field.conv.bias.detach().clone())
        Z = field.Z
        self.register_buffer("Z", None if Z is None else Z.detach().clone())
        self.nfe = 0

    def drift(self, x: torch.Tensor, context=None) -> torch.Tensor:
        fields = x.reshape(x.shape[0], self.channels, *self.grid_shape)
        z = conv_apply(fields, self.filters, None, self.padding)
        return self.f(conv_apply(z, self.mix, self.bias, self.padding)).flatten(1)

    def cost(self) -> dict[str, int]:
        points = self.state_size // self.channels
        per_point = self.rank * (self.channels * self.kernel_size ** len(self.grid_shape))
        macs = points * (per_point + self.rank * self.channels) + self.state_size * self.n_inputs
        return {"macs": macs, "f_evals": self.state_size}


class ChannelPrunedNeuralODE(AbstractLatentODE):
    """A conv-field `NeuralODE` with the channels ``keep`` of its vector field kept (the
    field is :class:`ChannelPrunedField`; encoder and decoder are the full model's, shared).

    Build it with :func:`prune_channels`. Not meant for ``opkit.load`` (a baseline).
    """

    def __init__(self, model: NeuralODE, keep: torch.Tensor):
        super().__init__()
        model = _conv_model(model)
        copy_settings(self, model, sizes=True)
        self.encoder, self.decoder = model.encoder, model.decoder
        self.vector_field = ChannelPrunedField(model.vector_field, keep)
        self.state_size = self.vector_field.state_size

    def project(self, latent: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.vector_field.project(latent)

    def lift(self, states: torch.Tensor, context: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.vector_field.lift(states, context)

    def cost(self) -> dict[str, int]:
        return self.vector_field.cost()


class LowRankConvNeuralODE(AbstractLatentODE):
    """A conv-field `NeuralODE` whose kernel is truncated to rank ``r`` over its channels
    (the field is :class:`LowRankConvField`; encoder and decoder are the full model's).

    Build it with :func:`truncate_channels`. Not meant for ``opkit.load`` (a baseline).
    """

    def __init__(self, model: NeuralODE, rank: int):
        super().__init__()
        model = _conv_model(model)
        copy_settings(self, model, sizes=True)
        self.encoder, self.decoder = model.encoder, model.decoder
        self.vector_field = LowRankConvField(model.vector_field, rank)
        self.state_size, self.rank = model.state_size, rank

    def project(self, latent: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return latent, {}

    def lift(self, states: torch.Tensor, context: dict[str, torch.Tensor]) -> torch.Tensor:
        return states

    def cost(self) -> dict[str, int]:
        return self.vector_field.cost()


def _conv_model(model: object) -> NeuralODE:
    model = check_compressible(model)
    if model.field != "conv":
        raise ValueError(
            "channel pruning and channel low-rank truncation act on a convolution: this "
            f"NeuralODE has field={model.field!r}; use prune_neurons / truncate_svd."
        )
    return model


def channel_importance(field: ConvVectorField, nonlinear: torch.Tensor) -> torch.Tensor:
    """Mean square of each channel's velocity ``f(K * x + b)`` over snapshots, ``(C,)``.

    ``nonlinear`` ``(n, n_snapshots)``, one snapshot per column (as
    :func:`~opkit.models.mor.snapshots` returns them).
    """
    field = _conv_field(field)
    return nonlinear.reshape(field.channels, -1).pow(2).mean(1)


@torch.no_grad()
def prune_channels(
    model: NeuralODE, data: torch.Tensor, size: int, *, u: torch.Tensor | None = None
) -> ChannelPrunedNeuralODE:
    r"""Channel (filter) pruning baseline: keep the ``size`` most important channels.

    A channel's importance is the mean square of its velocity :math:`f(K * x + b)` over
    the snapshots :func:`~opkit.models.mor.compress` uses (the channels that move the state
    least are removed, as neuron pruning does for a dense field); see
    :class:`ChannelPrunedField` for what is kept.

    Args:
        model: a trained `NeuralODE` with ``field="conv"``.
        data: ``(batch, in_channels, *grid)`` windows in the model's units.
        size: channels kept, ``1 <= size <= latent_channels``.

    References:
        H. Li, A. Kadav, I. Durdanovic, H. Samet, H. P. Graf, "Pruning filters for
        efficient ConvNets", ICLR (2017); P. Molchanov et al., "Pruning convolutional
        neural networks for resource efficient inference", ICLR (2017).
    """
    model = _conv_model(model)
    C = model.vector_field.channels
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= C:
        raise ValueError(
            f"`size` must be an int with 1 <= size <= latent_channels = {C}, got {size!r}."
        )
    nonlinear = nonlinear_snapshots(model, data, u)
    keep = channel_importance(model.vector_field, nonlinear).topk(size).indices
    return ChannelPrunedNeuralODE(model, keep).eval()


def truncate_channels(model: NeuralODE, rank: int) -> LowRankConvNeuralODE:
    """Low-rank baseline: the conv field's kernel at channel rank ``rank`` (no data needed).

    See :class:`LowRankConvField`.

    References:
        X. Zhang, J. Zou, K. He, J. Sun, "Accelerating very deep convolutional networks for
        classification and detection", IEEE TPAMI 38(10) (2016) (channel decomposition);
        E. Denton et al., "Exploiting linear structure within convolutional networks for
        efficient evaluation", NeurIPS (2014).
    """
    return LowRankConvNeuralODE(model, rank).eval()
