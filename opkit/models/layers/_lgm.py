"""Local-Global-Mixing (LGM) blocks of DyMixOp and the zero-sum derivative convolution.

The layer of Lai, Chen & Xu (2025) approximates the reduced latent dynamics of inertial
manifold theory, ``dc/dt ~ L c + N(c) + R[N(c)]``, by

    F(c) = GELU( W c + D(c) + A( M(c) ) )

- ``W``: pointwise linear map (1x1 convolution): the linear part ``L``;
- ``D``: convolution whose stencil sums to zero, i.e. a learned finite difference: the
  differential part of ``L``; it annihilates constants, as every derivative does;
- ``M``: the Local-Global Mixing ``G(c) * Lc(c)`` of a global spectral transform ``G``
  (neuraloperator's ``SpectralConv`` keeping the lowest modes) and a local transform ``Lc``
  (a small convolution): the convective nonlinearity ``N``; products of a global and a local
  field are what ``u * du/dx`` is made of;
- ``A``: the two-layer pointwise "residual operator" ``h -> 2h -> h`` that models the
  slaved high modes ``R[N]``.

References:
    P. Lai, Y. Chen, H. Xu, "DyMixOp: Guiding Neural Operator Design for PDEs from a Complex
    Dynamics Perspective with Local-Global-Mixing", arXiv:2508.13490 (2025).
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LGMLayer", "LocalGlobalMixing", "ZeroSumConv"]

Mixing = Literal["product", "sum", "local", "global"]
MIXINGS: tuple[str, ...] = ("product", "sum", "local", "global")

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_CONV_FN = {1: F.conv1d, 2: F.conv2d}


def _check_int(name: str, value: object, *, minimum: int, hint: str = "") -> int:
    # bool is an int subclass; `n_layers=True` is a mistake, not a 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int, got {value!r} ({type(value).__name__}).{hint}")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}.{hint}")
    return value


def _check_n_dim(n_dim: object) -> int:
    if isinstance(n_dim, bool) or n_dim not in (1, 2):
        raise ValueError(
            f"`n_dim` must be 1 or 2 (the number of spatial dimensions), got {n_dim!r}."
        )
    return int(n_dim)  # type: ignore[call-overload]


def _check_odd_kernel(name: str, value: object, *, minimum: int) -> int:
    value = _check_int(name, value, minimum=minimum)
    if value % 2 == 0:
        raise ValueError(
            f"`{name}` must be odd so that the stencil is centred (periodic 'same' padding), "
            f"got {value}; use {value + 1} or {value - 1}."
        )
    return value


def _check_mixing(mixing: object) -> str:
    if mixing not in MIXINGS:
        raise ValueError(f"`mixing` must be one of {MIXINGS}, got {mixing!r}.")
    return str(mixing)


class ZeroSumConv(nn.Module):
    """Periodic convolution whose stencil sums to zero: a learned finite difference.

    The stencil is the raw weight minus its mean over the taps (an orthogonal projection
    onto the zero-sum stencils), so ``sum(stencil) == 0`` holds after initialisation and
    after every optimiser step, and the convolution annihilates constant fields, as any
    consistent difference approximation of a derivative does. The output is divided by
    ``spacing``: with taps ``(-1/2, 0, 1/2)`` and ``spacing=dx`` it is the second-order
    central difference ``(c[i+1] - c[i-1]) / (2 dx)``.

    Args:
        in_channels: input channels.
        out_channels: output channels (every output channel mixes every input channel,
            each pair with its own stencil).
        n_dim: spatial dimensions, 1 or 2 (2-D stencils are ``kernel_size x kernel_size``).
        kernel_size: odd number of taps per dimension; 3 (default) as in DyMixOp.

    Shapes:
        ``(batch, in_channels, *spatial)`` -> ``(batch, out_channels, *spatial)``; the grid
        is periodic (circular padding).

    Raises:
        TypeError / ValueError: for non-integer or out-of-range arguments, an even
            ``kernel_size``, or (in ``forward``) a non-positive ``spacing`` or an input of
            the wrong shape.

    Examples:
        >>> conv = ZeroSumConv(1, 1, n_dim=1)
        >>> with torch.no_grad():
        ...     _ = conv.weight.copy_(torch.tensor([[[-0.5, 0.0, 0.5]]]))
        >>> x = torch.linspace(0, 1, 65)[:-1]
        >>> du = conv(torch.sin(2 * torch.pi * x).view(1, 1, -1), spacing=1 / 64)
        >>> bool(torch.allclose(du.view(-1), 2 * torch.pi * torch.cos(2 * torch.pi * x), atol=0.02))
        True
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, n_dim: int = 1, kernel_size: int = 3
    ) -> None:
        super().__init__()
        self.in_channels = _check_int("in_channels", in_channels, minimum=1)
        self.out_channels = _check_int("out_channels", out_channels, minimum=1)
        self.n_dim = _check_n_dim(n_dim)
        self.kernel_size = _check_odd_kernel("kernel_size", kernel_size, minimum=3)
        weight = torch.empty(out_channels, in_channels, *([kernel_size] * self.n_dim))
        # the default initialisation of torch's ConvNd, so that D starts at the same scale as W
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        self.weight = nn.Parameter(weight)

    @property
    def stencil(self) -> torch.Tensor:
        """The zero-sum stencil actually applied, ``(out, in, *[kernel_size] * n_dim)``."""
        taps = tuple(range(2, 2 + self.n_dim))
        return self.weight - self.weight.mean(dim=taps, keepdim=True)

    def forward(self, x: torch.Tensor, *, spacing: float = 1.0) -> torch.Tensor:
        """Apply the stencil with periodic padding and divide by ``spacing`` (> 0)."""
        if not isinstance(spacing, (int, float)) or isinstance(spacing, bool) or spacing <= 0:
            raise ValueError(f"`spacing` must be a positive number, got {spacing!r}.")
        if x.ndim != 2 + self.n_dim or x.shape[1] != self.in_channels:
            raise ValueError(
                f"`x` must have shape (batch, {self.in_channels}, "
                f"{', '.join(['n'] * self.n_dim)}), got {tuple(x.shape)}."
            )
        pad = self.kernel_size // 2
        x = F.pad(x, (pad, pad) * self.n_dim, mode="circular")
        return _CONV_FN[self.n_dim](x, self.stencil) / spacing

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, n_dim={self.n_dim}, "
            f"kernel_size={self.kernel_size}"
        )


def _spectral_conv(channels: int, n_dim: int, n_modes: int) -> nn.Module:
    # neuraloperator is imported here rather than at module level: importing it takes seconds
    # (tensorly, tltorch, its model zoo) and sets tensorly's global backend, and
    # `import opkit.models` should pay neither unless a spectral layer is actually built.
    # Importing neuralop also calls `warnings.filterwarnings`; `catch_warnings` undoes that.
    with warnings.catch_warnings():
        from neuralop.layers.spectral_convolution import SpectralConv

    # neuraloperator counts modes over the full (two-sided) spectrum per dimension and keeps
    # `n // 2 + 1` of them along the last, real-FFT, dimension. DyMixOp (like the original
    # FNO) keeps frequencies 0..m-1 along the last dimension and -m..m-1 along the others.
    last = 2 * (n_modes - 1)
    modes = (last,) if n_dim == 1 else (2 * n_modes, last)
    # no bias: in the product G(c) * Lc(c) an additive bias of G is redundant with Lc's bias
    # times G, and the published global transform has none.
    return SpectralConv(channels, channels, modes, bias=False)


class LocalGlobalMixing(nn.Module):
    """The Local-Global Mixing transform ``M(c) = G(c) * Lc(c)`` and its ablations.

    ``G`` is neuraloperator's ``SpectralConv`` (no bias) keeping the lowest ``n_modes``
    Fourier modes per dimension (frequencies ``0..m-1`` along the last dimension,
    ``-m..m-1`` along the first one in 2-D, as in the FNO paper); ``Lc`` is a periodic
    convolution with bias (1x1 by default). ``mixing`` selects the transform studied in the
    paper's ablation:

    - ``"product"`` (LGM, default): ``G(c) * Lc(c)`` (elementwise);
    - ``"sum"``: ``G(c) + Lc(c)``;
    - ``"local"``: ``Lc(c)`` only (no spectral weights are created);
    - ``"global"``: ``G(c)`` only (no local weights are created).

    Args:
        channels: input and output channels ``h``.
        n_dim: spatial dimensions, 1 or 2.
        n_modes: Fourier modes ``m`` kept per dimension by ``G``.
        local_kernel_size: odd kernel size of ``Lc``; 1 (pointwise) as published.
        mixing: one of ``"product" | "sum" | "local" | "global"``.

    Shapes:
        ``(batch, channels, *spatial)`` -> ``(batch, channels, *spatial)``, any resolution.

    Note:
        neuraloperator's ``SpectralConv`` computes in complex64, so the spectral branch of a
        float64 module runs in float32 (its input is cast down and its output back up).
        Convert a module holding it with ``.double()``, not ``.to(torch.float64)``: the
        latter casts complex parameters to real and discards their imaginary parts.

    Raises:
        TypeError / ValueError: for invalid arguments.
    """

    def __init__(
        self,
        channels: int,
        *,
        n_dim: int = 1,
        n_modes: int = 12,
        local_kernel_size: int = 1,
        mixing: Mixing = "product",
    ) -> None:
        super().__init__()
        self.channels = _check_int("channels", channels, minimum=1)
        self.n_dim = _check_n_dim(n_dim)
        self.n_modes = _check_int("n_modes", n_modes, minimum=1)
        self.local_kernel_size = _check_odd_kernel(
            "local_kernel_size", local_kernel_size, minimum=1
        )
        self.mixing = _check_mixing(mixing)
        self.global_transform: nn.Module | None = None
        self.local_transform: nn.Module | None = None
        if self.mixing != "local":
            self.global_transform = _spectral_conv(channels, self.n_dim, n_modes)
        if self.mixing != "global":
            k = local_kernel_size
            self.local_transform = _CONV[self.n_dim](
                channels, channels, k, padding=k // 2, padding_mode="circular"
            )

    def global_part(self, c: torch.Tensor) -> torch.Tensor:
        """``G(c)``, in ``c``'s dtype (see the class note on float64)."""
        if self.global_transform is None:
            raise RuntimeError("this LocalGlobalMixing was built with mixing='local': no G.")
        if c.dtype == torch.float32:
            return self.global_transform(c)
        return self.global_transform(c.float()).to(c.dtype)

    def local_part(self, c: torch.Tensor) -> torch.Tensor:
        """``Lc(c)``."""
        if self.local_transform is None:
            raise RuntimeError("this LocalGlobalMixing was built with mixing='global': no Lc.")
        return self.local_transform(c)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        if self.mixing == "product":
            return self.global_part(c) * self.local_part(c)
        if self.mixing == "sum":
            return self.global_part(c) + self.local_part(c)
        if self.mixing == "local":
            return self.local_part(c)
        return self.global_part(c)

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, n_dim={self.n_dim}, n_modes={self.n_modes}, "
            f"local_kernel_size={self.local_kernel_size}, mixing={self.mixing!r}"
        )


class LGMLayer(nn.Module):
    """One dynamics-informed layer of DyMixOp: ``F(c) = GELU(W c + D(c) + A(M(c)))``.

    - ``W``: 1x1 convolution ``h -> h`` with bias (linear dynamics);
    - ``D``: :class:`ZeroSumConv` ``h -> h`` with 3 taps per dimension, no bias (learned
      spatial derivative), divided by the ``spacing`` given to ``forward``;
    - ``M``: :class:`LocalGlobalMixing` (nonlinear dynamics);
    - ``A``: 1x1 convolutions ``h -> 2h -> h`` with biases and, as in the published model,
      no activation between them (the residual operator acting on ``M``).

    Args:
        channels: latent channels ``h``.
        n_dim: spatial dimensions, 1 or 2.
        n_modes: Fourier modes kept by ``G``.
        local_kernel_size: odd kernel size of ``Lc`` (1 as published).
        mixing: ``"product"`` (LGM) or the ablations ``"sum" | "local" | "global"``.

    Shapes:
        ``(batch, h, *spatial)`` -> ``(batch, h, *spatial)``, any resolution.

    Raises:
        TypeError / ValueError: for invalid arguments (see :class:`LocalGlobalMixing`).

    Examples:
        >>> layer = LGMLayer(8, n_dim=1, n_modes=4)
        >>> layer(torch.randn(2, 8, 32)).shape
        torch.Size([2, 8, 32])
    """

    def __init__(
        self,
        channels: int,
        *,
        n_dim: int = 1,
        n_modes: int = 12,
        local_kernel_size: int = 1,
        mixing: Mixing = "product",
    ) -> None:
        super().__init__()
        self.channels = _check_int("channels", channels, minimum=1)
        self.n_dim = _check_n_dim(n_dim)
        conv = _CONV[self.n_dim]
        self.linear = conv(channels, channels, 1)
        self.derivative = ZeroSumConv(channels, channels, n_dim=self.n_dim, kernel_size=3)
        self.mixing = LocalGlobalMixing(
            channels,
            n_dim=self.n_dim,
            n_modes=n_modes,
            local_kernel_size=local_kernel_size,
            mixing=mixing,
        )
        self.residual = nn.Sequential(
            conv(channels, 2 * channels, 1), conv(2 * channels, channels, 1)
        )

    def forward(self, c: torch.Tensor, *, spacing: float = 1.0) -> torch.Tensor:
        """``F(c)``; ``spacing`` divides ``D(c)`` (grid spacing in the stencil's units)."""
        if c.ndim != 2 + self.n_dim or c.shape[1] != self.channels:
            raise ValueError(
                f"`c` must have shape (batch, {self.channels}, "
                f"{', '.join(['n'] * self.n_dim)}), got {tuple(c.shape)}."
            )
        linear = self.linear(c) + self.derivative(c, spacing=spacing)
        return F.gelu(linear + self.residual(self.mixing(c)))
