"""Coordinate networks for physics-informed training: MLP, modified MLP and Fourier features.

All networks map a batch of coordinates ``(N, in_features)`` to ``(N, out_features)`` and act
on each row independently (no batch statistics), which the residuals rely on: the gradient of
``u.sum()`` with respect to the inputs is then the pointwise derivative. For the PINN problems
of this package the coordinates are ordered ``(t, x)``. The fully connected stack is
:class:`opkit.models.layers.MLP` and the exact periodic embedding is
:class:`opkit.models.layers.PeriodicEmbedding` (re-exported here).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..._checks import check_int, check_positive
from ..layers import MLP as _LayersMLP
from ..layers import activation_function

__all__ = [
    "MLP",
    "ModifiedMLP",
    "FourierFeatures",
    "SMOOTH_ACTIVATIONS",
    "periodic_embedding_record",
]

# The names of `opkit.models.layers.activation_function` that a PINN may use: a residual
# differentiates the network up to four times, so piecewise-linear activations (ReLU) would
# make every second derivative vanish.
SMOOTH_ACTIVATIONS = ("tanh", "sin", "gelu", "silu", "softplus", "sigmoid")


def _activation(name: str):
    fn = activation_function(name)  # TypeError / ValueError for an unknown name
    if name.lower() not in SMOOTH_ACTIVATIONS:
        raise ValueError(
            f"`activation` must be one of {SMOOTH_ACTIVATIONS}, got {name!r}. PINN residuals "
            "need smooth activations (derivatives up to 4th order)."
        )
    return fn


def _glorot_linear(d_in: int, d_out: int, generator: torch.Generator | None) -> nn.Linear:
    # Glorot-normal weights and zero biases, as `layers.MLP`: the initialisation of the
    # causal-PINN and modified-MLP papers (std = sqrt(2 / (d_in + d_out))).
    layer = nn.Linear(d_in, d_out)
    nn.init.xavier_normal_(layer.weight, generator=generator)
    nn.init.zeros_(layer.bias)
    return layer


def _embedded_width(embedding: nn.Module | None, in_features: int) -> int:
    if embedding is None:
        return in_features
    if not isinstance(embedding, nn.Module):
        raise TypeError(
            f"`embedding` must be an nn.Module (PeriodicEmbedding, FourierFeatures) or None, "
            f"got {type(embedding).__name__}."
        )
    emb_in = getattr(embedding, "in_features", None)
    emb_out = getattr(embedding, "out_features", None)
    if not isinstance(emb_out, int):
        raise TypeError(
            f"`embedding` ({type(embedding).__name__}) must expose an integer `out_features`."
        )
    if emb_in is not None and emb_in != in_features:
        raise ValueError(
            f"`embedding.in_features` (={emb_in}) must equal the network's `in_features` "
            f"(={in_features}); build the embedding for the same coordinates."
        )
    return emb_out


def _check_network(in_features, out_features, width, depth, activation, embedding) -> int:
    """Validate the settings of a coordinate network; returns its first layer's width."""
    for name, value in (
        ("in_features", in_features),
        ("out_features", out_features),
        ("width", width),
        ("depth", depth),
    ):
        check_int(name, value, minimum=1)
    _activation(activation)
    return _embedded_width(embedding, in_features)


class FourierFeatures(nn.Module):
    r"""Random Fourier features ``[cos(2π x B), sin(2π x B)]`` with ``B ~ N(0, σ²)``.

    Args:
        in_features: number of input coordinates.
        n_features: number of frequencies (columns of ``B``); output width ``2 * n_features``.
        sigma: standard deviation of the frequencies (default 1.0); larger values let the
            network fit higher frequencies sooner (spectral bias).
        generator: source of randomness for ``B`` (default: torch's global generator).

    Shapes: ``(N, in_features) -> (N, 2 * n_features)``.

    Raises:
        ValueError: if ``n_features < 1`` or ``sigma`` is not positive.

    References:
        Tancik et al., "Fourier features let networks learn high frequency functions in low
        dimensional domains", NeurIPS 2020. Wang, Wang & Perdikaris, "On the eigenvector bias
        of Fourier feature networks", CMAME 384 (2021).
    """

    def __init__(
        self,
        in_features: int = 2,
        *,
        n_features: int = 64,
        sigma: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features, minimum=1)
        check_int("n_features", n_features, minimum=1)
        self.sigma = check_positive("sigma", sigma)
        # A fixed (non-trainable) buffer, saved with the model so predictions are reproducible.
        self.register_buffer(
            "B", torch.randn(in_features, n_features, generator=generator) * self.sigma
        )
        self.out_features = 2 * n_features

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        if coords.ndim != 2 or coords.shape[-1] != self.in_features:
            raise ValueError(
                f"`coords` must have shape (N, {self.in_features}), got {tuple(coords.shape)}."
            )
        proj = 2 * math.pi * coords @ self.B.to(coords.dtype)
        return torch.cat([torch.cos(proj), torch.sin(proj)], dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, n_features={self.B.shape[1]}, sigma={self.sigma}"


def periodic_embedding_record(problem, n_harmonics: int = 1) -> dict:
    """The record of a `PeriodicEmbedding` of ``(t, x)`` periodic in ``x`` with the period of
    ``problem``'s domain (``t`` passes through), for networks built from a problem."""
    check_int("n_harmonics", n_harmonics, minimum=1)
    return {
        "class_path": "opkit.models.layers.PeriodicEmbedding",
        "init_args": {"periods": [None, float(problem.length)], "n_harmonics": n_harmonics},
    }


class _SizedByProblem:
    """``init_args_from_problem`` of the coordinate networks (`MLP`, `ModifiedMLP`)."""

    @classmethod
    def init_args_from_problem(cls, problem, *, n_harmonics: int = 1, **kwargs) -> dict:
        """Constructor arguments for a `PINNProblem` (what `opkit.fit` builds): ``kwargs``
        (``width``, ``depth``, ``activation``...) and, unless ``embedding`` is given, a
        `PeriodicEmbedding` with ``n_harmonics`` harmonics of the domain's period, so that
        the network is exactly periodic in ``x`` (nested records, rebuilt with the rest)."""
        kwargs = dict(kwargs)
        kwargs.setdefault("embedding", periodic_embedding_record(problem, n_harmonics))
        return kwargs


class MLP(_SizedByProblem, nn.Module):
    r"""Fully connected network over coordinates: ``layers.MLP`` after an optional embedding.

    ``z -> W_out σ(... σ(W_1 e(z) + b_1) ...) + b_out`` with ``e`` the input ``embedding``.
    This is the "plain MLP" of the PINN literature (Raissi et al. 2019); with
    ``width=128, depth=4, activation="tanh"`` and a periodic embedding it is the plain-MLP
    configuration of Wang et al.'s Allen–Cahn study. The stack is an
    :class:`opkit.models.layers.MLP` with widths ``[e.out_features, width x depth,
    out_features]`` and Glorot-normal weights, zero biases.

    Args:
        in_features: number of input coordinates (default 2, ``(t, x)``).
        out_features: number of outputs (default 1).
        width: hidden width (default 128).
        depth: number of hidden layers (default 4).
        activation: a smooth activation, one of `SMOOTH_ACTIVATIONS` (default ``tanh``).
        embedding: optional input embedding module with integer ``out_features``
            (``PeriodicEmbedding``, ``FourierFeatures``); default None.
        generator: source of randomness for the Glorot-normal initialisation.

    Shapes: ``(N, in_features) -> (N, out_features)``.

    Raises:
        ValueError/TypeError: for non-positive sizes, an unknown or non-smooth activation,
            or an embedding built for a different number of inputs.

    References:
        Raissi, Perdikaris & Karniadakis, "Physics-informed neural networks", JCP 378 (2019).

    Examples:
        >>> from opkit.models.layers import PeriodicEmbedding
        >>> net = MLP(width=16, depth=2, embedding=PeriodicEmbedding(periods=(None, 2.0)))
        >>> net(torch.rand(7, 2)).shape
        torch.Size([7, 1])
    """

    def __init__(
        self,
        in_features: int = 2,
        out_features: int = 1,
        *,
        width: int = 128,
        depth: int = 4,
        activation: str = "tanh",
        embedding: nn.Module | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        d0 = _check_network(in_features, out_features, width, depth, activation, embedding)
        self.in_features, self.out_features = in_features, out_features
        self.embedding = embedding
        self.mlp = _LayersMLP(
            [d0] + [width] * depth + [out_features], activation=activation, generator=generator
        )

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        h = coords if self.embedding is None else self.embedding(coords)
        return self.mlp(h)


class ModifiedMLP(_SizedByProblem, nn.Module):
    r"""The modified MLP with multiplicative gating by two encoders ``U`` and ``V``.

    With ``e = embedding(z)``: ``U = σ(e W_U + b_U)``, ``V = σ(e W_V + b_V)``, ``H_0 = e``,
    and for each of the ``depth`` hidden layers ``Z = σ(H W_k + b_k)``,
    ``H = (1 - Z) ⊙ U + Z ⊙ V``; the output is ``H W_out + b_out``. The gates carry the input
    to every layer, which improves the conditioning of PINN training (Wang, Teng &
    Perdikaris 2021). ``width=256, depth=3`` with ``tanh`` and a periodic embedding of
    ``M = 5`` harmonics is the network of the regular Kuramoto–Sivashinsky run of Wang et
    al. 2022's released code.

    Args:
        in_features: number of input coordinates (default 2, ``(t, x)``).
        out_features: number of outputs (default 1).
        width: hidden width, also the width of ``U`` and ``V`` (default 128).
        depth: number of gated hidden layers (default 4).
        activation: a smooth activation, one of `SMOOTH_ACTIVATIONS` (default ``tanh``).
        embedding: optional input embedding with integer ``out_features``; default None.
        generator: source of randomness for the Glorot-normal initialisation.

    Shapes: ``(N, in_features) -> (N, out_features)``.

    Raises:
        ValueError/TypeError: as ``MLP``.

    References:
        Wang, Teng & Perdikaris, "Understanding and mitigating gradient flow pathologies in
        physics-informed neural networks", SIAM J. Sci. Comput. 43 (2021).
    """

    def __init__(
        self,
        in_features: int = 2,
        out_features: int = 1,
        *,
        width: int = 128,
        depth: int = 4,
        activation: str = "tanh",
        embedding: nn.Module | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        d0 = _check_network(in_features, out_features, width, depth, activation, embedding)
        self.in_features, self.out_features = in_features, out_features
        self.embedding = embedding
        self.encoder_u = _glorot_linear(d0, width, generator)
        self.encoder_v = _glorot_linear(d0, width, generator)
        sizes = [d0] + [width] * depth
        self.hidden = nn.ModuleList(
            _glorot_linear(a, b, generator) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.activation = _activation(activation)
        self.head = _glorot_linear(width, out_features, generator)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        e = coords if self.embedding is None else self.embedding(coords)
        u = self.activation(self.encoder_u(e))
        v = self.activation(self.encoder_v(e))
        h = e
        for layer in self.hidden:
            z = self.activation(layer(h))
            h = (1 - z) * u + z * v
        return self.head(h)
