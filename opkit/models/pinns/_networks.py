"""Coordinate networks for physics-informed training: MLP, modified MLP and input embeddings.

All networks map a batch of coordinates ``(N, in_features)`` to ``(N, out_features)`` and act
on each row independently (no batch statistics), which the residuals rely on: the gradient of
``u.sum()`` with respect to the inputs is then the pointwise derivative. For the PINN problems
of this package the coordinates are ordered ``(t, x)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "ModifiedMLP", "PeriodicEmbedding", "FourierFeatures", "ACTIVATIONS"]


class _Sine(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


# Smooth activations only: a PINN residual differentiates the network up to four times, so
# piecewise-linear activations (ReLU) would make every second derivative vanish.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "sin": _Sine,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
}


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return value


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(
            f"`activation` must be one of {sorted(ACTIVATIONS)}, got {name!r}. PINN residuals "
            "need smooth activations (derivatives up to 4th order)."
        )
    return ACTIVATIONS[name]()


def _glorot_linear(d_in: int, d_out: int, generator: torch.Generator | None) -> nn.Linear:
    # Glorot-normal weights and zero biases: the initialisation of the causal-PINN and
    # modified-MLP papers (std = sqrt(2 / (d_in + d_out))).
    layer = nn.Linear(d_in, d_out)
    with torch.no_grad():
        std = math.sqrt(2.0 / (d_in + d_out))
        layer.weight.copy_(torch.randn(d_out, d_in, generator=generator) * std)
        layer.bias.zero_()
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


class PeriodicEmbedding(nn.Module):
    r"""Exact periodic embedding ``[x_np..., 1, cos(k ω x), sin(k ω x)]`` of chosen columns.

    Each column ``j`` with a period ``L_j`` is replaced by the harmonics
    ``cos(k ω_j x_j), sin(k ω_j x_j)`` for ``k = 1..n_harmonics`` with ``ω_j = 2π / L_j``;
    columns with period ``None`` (time) pass through unchanged and come first; a constant
    feature ``1`` sits between them when ``constant=True`` (the layout of Wang et al. 2022's
    released code, ``[t, 1, cos(kωx), sin(kωx)]``). Any network applied to the output is then
    *exactly* periodic in those columns, so no boundary loss is needed.

    Args:
        in_features: number of input coordinates (default 2, ``(t, x)``).
        periods: one entry per input column, a positive period or ``None`` (default
            ``(None, 2.0)``: ``t`` free, ``x`` periodic on an interval of length 2).
        n_harmonics: ``M``, the number of harmonics per periodic column (default 1).
        constant: include the constant feature ``1`` (default True).

    Shapes: ``(N, in_features) -> (N, out_features)`` with
    ``out_features = n_free + constant + 2 * n_harmonics * n_periodic``.

    Raises:
        ValueError: if ``periods`` does not have ``in_features`` entries, a period is not
            positive, or ``n_harmonics < 1``.

    References:
        Dong & Ni, "A method for representing periodic functions and enforcing exactly
        periodic boundary conditions with deep neural networks", JCP 435 (2021).
        Wang, Sankaran & Perdikaris, "Respecting causality is all you need for training
        physics-informed neural networks", arXiv:2203.07404 (2022).

    Examples:
        >>> emb = PeriodicEmbedding(periods=(None, 2.0), n_harmonics=2)
        >>> emb(torch.zeros(5, 2)).shape
        torch.Size([5, 6])
    """

    def __init__(
        self,
        in_features: int = 2,
        *,
        periods: Sequence[float | None] = (None, 2.0),
        n_harmonics: int = 1,
        constant: bool = True,
    ) -> None:
        super().__init__()
        self.in_features = _check_int("in_features", in_features, 1)
        self.n_harmonics = _check_int("n_harmonics", n_harmonics, 1)
        periods = tuple(periods)
        if len(periods) != in_features:
            raise ValueError(
                f"`periods` must give one entry (a period or None) per input column "
                f"({in_features}), got {periods}."
            )
        for p in periods:
            if p is not None and not (isinstance(p, (int, float)) and math.isfinite(p) and p > 0):
                raise ValueError(f"every entry of `periods` must be None or > 0, got {periods}.")
        if all(p is None for p in periods):
            raise ValueError(
                f"`periods` has no periodic column ({periods}); give at least one period or "
                "use no embedding."
            )
        self.periods = periods
        self.constant = bool(constant)
        self._free = [j for j, p in enumerate(periods) if p is None]
        self._periodic = [j for j, p in enumerate(periods) if p is not None]
        omegas = torch.tensor(
            [2 * math.pi / periods[j] for j in self._periodic], dtype=torch.float64
        )
        k = torch.arange(1, n_harmonics + 1, dtype=torch.float64)
        # (n_periodic, M) frequencies k * ω_j; a buffer so that .to(dtype/device) follows.
        self.register_buffer("frequencies", (omegas[:, None] * k[None, :]), persistent=False)
        self.out_features = (
            len(self._free) + int(self.constant) + 2 * n_harmonics * len(self._periodic)
        )

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        if coords.ndim != 2 or coords.shape[-1] != self.in_features:
            raise ValueError(
                f"`coords` must have shape (N, {self.in_features}), got {tuple(coords.shape)}."
            )
        parts = [coords[:, self._free]] if self._free else []
        if self.constant:
            parts.append(torch.ones_like(coords[:, :1]))
        freqs = self.frequencies.to(coords.dtype)
        phase = coords[:, self._periodic, None] * freqs  # (N, n_periodic, M)
        parts += [torch.cos(phase).flatten(1), torch.sin(phase).flatten(1)]
        return torch.cat(parts, dim=-1)

    def extra_repr(self) -> str:
        return f"periods={self.periods}, n_harmonics={self.n_harmonics}, constant={self.constant}"


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
        self.in_features = _check_int("in_features", in_features, 1)
        _check_int("n_features", n_features, 1)
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"`sigma` must be a positive float, got {sigma!r}.")
        self.sigma = float(sigma)
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


class MLP(nn.Module):
    r"""Fully connected network ``σ(W_1 e(z) + b_1) -> ... -> W_out h + b_out``.

    ``e`` is the optional input ``embedding``. This is the "plain MLP" of the PINN
    literature (Raissi et al. 2019); with ``width=128, depth=4, activation="tanh"`` and a
    periodic embedding it is the plain-MLP configuration of Wang et al.'s Allen–Cahn study.

    Args:
        in_features: number of input coordinates (default 2, ``(t, x)``).
        out_features: number of outputs (default 1).
        width: hidden width (default 128).
        depth: number of hidden layers (default 4).
        activation: one of ``tanh`` (default), ``sin``, ``gelu``, ``silu``, ``softplus``.
        embedding: optional input embedding module with integer ``out_features``
            (``PeriodicEmbedding``, ``FourierFeatures``); default None.
        generator: source of randomness for the Glorot-normal initialisation.

    Shapes: ``(N, in_features) -> (N, out_features)``.

    Raises:
        ValueError/TypeError: for non-positive sizes, an unknown activation, or an embedding
            built for a different number of inputs.

    References:
        Raissi, Perdikaris & Karniadakis, "Physics-informed neural networks", JCP 378 (2019).

    Examples:
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
        self.in_features = _check_int("in_features", in_features, 1)
        self.out_features = _check_int("out_features", out_features, 1)
        _check_int("width", width, 1)
        _check_int("depth", depth, 1)
        d0 = _embedded_width(embedding, in_features)
        self.embedding = embedding
        sizes = [d0] + [width] * depth
        self.hidden = nn.ModuleList(
            _glorot_linear(a, b, generator) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.activation = _activation(activation)
        self.head = _glorot_linear(width, out_features, generator)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        h = coords if self.embedding is None else self.embedding(coords)
        for layer in self.hidden:
            h = self.activation(layer(h))
        return self.head(h)


class ModifiedMLP(nn.Module):
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
        activation: ``tanh`` (default), ``sin``, ``gelu``, ``silu`` or ``softplus``.
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
        self.in_features = _check_int("in_features", in_features, 1)
        self.out_features = _check_int("out_features", out_features, 1)
        _check_int("width", width, 1)
        _check_int("depth", depth, 1)
        d0 = _embedded_width(embedding, in_features)
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
