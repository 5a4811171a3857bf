"""Local-Global-Mixing (LGM) blocks of DyMixOp and the zero-sum derivative convolution.

The layer of Lai, Chen & Xu (2025) approximates the reduced latent dynamics of inertial
manifold theory, ``dc/dt ~ L c + N(c) + R[N(c)]``, by

    F(c) = GELU( W c + D(c) + A( M(c) ) )

- ``W``: pointwise linear map (1x1 convolution): the linear part ``L``;
- ``D``: convolution whose stencil sums to zero, i.e. a learned finite difference: the
  differential part of ``L``; it annihilates constants, as every derivative does;
- ``M``: the Local-Global Mixing ``G(c) * Lc(c)`` of a global spectral transform ``G``
  (an FNO spectral convolution keeping the lowest modes) and a local transform ``Lc``
  (a small convolution): the convective nonlinearity ``N``; products of a global and a local
  field are what ``u * du/dx`` is made of;
- ``A``: the two-layer pointwise "residual operator" ``h -> 2h -> h`` that models the
  slaved high modes ``R[N]``.

References:
    P. Lai, Y. Chen, H. Xu, "DyMixOp: Guiding Neural Operator Design for PDEs from a Complex
    Dynamics Perspective with Local-Global-Mixing", arXiv:2508.13490 (2025).
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..._checks import check_int

__all__ = ["LGMLayer", "LocalGlobalMixing", "SpectralConv", "ZeroSumConv"]

Mixing = Literal["product", "sum", "local", "global"]
MIXINGS: tuple[str, ...] = ("product", "sum", "local", "global")

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}
_CONV_FN = {1: F.conv1d, 2: F.conv2d}


def _check_n_dim(n_dim: object) -> int:
    if isinstance(n_dim, bool) or n_dim not in (1, 2):
        raise ValueError(
            f"`n_dim` must be 1 or 2 (the number of spatial dimensions), got {n_dim!r}."
        )
    return int(n_dim)  # type: ignore[call-overload]


def _check_odd_kernel(name: str, value: object, *, minimum: int) -> int:
    value = check_int(name, value, minimum=minimum)
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


def _check_sizes(in_channels: object, out_channels: object, n_dim: object) -> tuple[int, int, int]:
    """``(in_channels, out_channels, n_dim)`` of an operator on a 1-D or 2-D grid, checked."""
    return (
        check_int("in_channels", in_channels, minimum=1),
        check_int("out_channels", out_channels, minimum=1),
        _check_n_dim(n_dim),
    )


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
        self.in_channels, self.out_channels, self.n_dim = _check_sizes(
            in_channels, out_channels, n_dim
        )
        self.kernel_size = _check_odd_kernel("kernel_size", kernel_size, minimum=3)
        weight = torch.empty(out_channels, in_channels, *([kernel_size] * self.n_dim))
        # the default initialisation of torch's ConvNd, so that D starts at the same scale as W
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        self.weight = nn.Parameter(weight)
        # partial-DFT matrices per (grid, modes, dtype, device); derived data, not state
        self._bases: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

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


SpectralInit = Literal["neuralop", "authors"]
SPECTRAL_INITS: tuple[str, ...] = ("neuralop", "authors")


def _check_init(init: object) -> str:
    if init not in SPECTRAL_INITS:
        raise ValueError(
            f"`init` must be one of {SPECTRAL_INITS} (the spectral weights' initialisation), "
            f"got {init!r}."
        )
    return str(init)


def _check_lgm_settings(
    n_modes: object, local_kernel_size: object, mixing: object, init: object
) -> tuple[int, int, str, str]:
    """``(n_modes, local_kernel_size, mixing, init)`` of Local-Global-Mixing, checked (the
    settings :class:`LocalGlobalMixing` and DyMixOp share)."""
    return (
        check_int("n_modes", n_modes, minimum=1),
        _check_odd_kernel("local_kernel_size", local_kernel_size, minimum=1),
        _check_mixing(mixing),
        _check_init(init),
    )


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


class SpectralConv(nn.Module):
    r"""FNO spectral convolution keeping the lowest Fourier modes, without bias.

    ``G(c) = F^{-1}[ W(k) \hat c(k) ]`` with ``W(k)`` an ``in x out`` complex matrix per
    kept frequency ``k``: ``0..m-1`` along the last axis (real FFT) and ``-m..m-1`` along
    the first axis in 2-D (Li et al. 2021). Frequencies a grid cannot hold are dropped, so
    any resolution works.

    The weight is ``(in, out, m)`` in 1-D and ``(in, out, 2m, m)`` in 2-D, its rows ordered
    from frequency ``-m`` up to ``m - 1`` (neuraloperator's layout). It computes in the
    input's precision: complex128 for float64 inputs (the complex64 weight is promoted).

    Args:
        in_channels, out_channels: channels.
        n_dim: 1 or 2.
        n_modes: ``m``.
        init: ``"neuralop"`` (complex normal, standard deviation
            :math:`\sqrt{2 / (in + out)}`, as neuraloperator's ``SpectralConv``) or
            ``"authors"`` (real and imaginary parts uniform on ``[0, 1)`` times
            :math:`1 / (in \cdot out)`, as the DyMixOp reference code).
        generator: random source for the initialisation (default: torch's global one).

    Shapes:
        ``forward(c)``: ``(batch, in, *spatial)`` -> ``(batch, out, *spatial)``;
        ``forward(c, channels_last=True)``: ``(batch, *spatial, in)`` -> ``(batch, *spatial,
        out)``.

    Examples:
        >>> conv = SpectralConv(2, 3, n_dim=1, n_modes=4)
        >>> conv(torch.randn(5, 2, 32)).shape
        torch.Size([5, 3, 32])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        n_dim: int = 1,
        n_modes: int = 12,
        init: SpectralInit = "neuralop",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.n_dim = _check_sizes(
            in_channels, out_channels, n_dim
        )
        self.n_modes = check_int("n_modes", n_modes, minimum=1)
        self.init = _check_init(init)
        m = n_modes
        shape = (
            (in_channels, out_channels, m) if n_dim == 1 else (in_channels, out_channels, 2 * m, m)
        )
        if init == "neuralop":
            std = (2.0 / (in_channels + out_channels)) ** 0.5
            weight = std * torch.randn(*shape, dtype=torch.complex64, generator=generator)
        else:
            parts = torch.rand(*shape, 2, generator=generator)
            weight = torch.view_as_complex(parts) / (in_channels * out_channels)
        self.weight = nn.Parameter(weight)
        # partial-DFT matrices per (grid, modes, dtype, device); derived data, not state
        self._bases: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def forward(self, c: torch.Tensor, *, channels_last: bool = False) -> torch.Tensor:
        """Apply ``G``; see the class docstring for shapes."""
        if channels_last and self.n_dim == 1:
            return self._dft_1d(c)
        w = self.weight.to(_complex_dtype(c.dtype))
        m, d = self.n_modes, self.n_dim
        axes = tuple(range(1, 1 + d)) if channels_last else tuple(range(-d, 0))
        spatial = [c.shape[a] for a in axes]
        coeffs = torch.fft.rfftn(c, dim=axes)
        ky = min(m, spatial[-1] // 2 + 1)
        if d == 1:
            if channels_last:  # (b, k, i) x (i, o, k) -> (b, k, o)
                out = torch.einsum("bki,iok->bko", coeffs[:, :ky], w[..., :ky])
            else:
                out = torch.einsum("bik,iok->bok", coeffs[..., :ky], w[..., :ky])
            # irfft zero-pads the missing high frequencies itself
            return torch.fft.irfftn(out, s=spatial, dim=axes)
        kx = min(m, spatial[0] // 2)
        rows = w[:, :, m - kx : m + kx, :ky]  # frequencies -kx..kx-1
        if channels_last:
            low = torch.cat([coeffs[:, :kx, :ky], coeffs[:, -kx:, :ky]], dim=1)  # 0.., -kx..
            mixed = torch.einsum(
                "bxyi,ioxy->bxyo", low, torch.cat([rows[:, :, kx:], rows[:, :, :kx]], 2)
            )
            gap = mixed.new_zeros(mixed.shape[0], spatial[0] - 2 * kx, ky, mixed.shape[-1])
            out = torch.cat([mixed[:, :kx], gap, mixed[:, kx:]], dim=1)
        else:
            low = torch.cat([coeffs[..., :kx, :ky], coeffs[..., -kx:, :ky]], dim=-2)
            mixed = torch.einsum(
                "bixy,ioxy->boxy", low, torch.cat([rows[:, :, kx:], rows[:, :, :kx]], 2)
            )
            gap = mixed.new_zeros(*mixed.shape[:2], spatial[0] - 2 * kx, ky)
            out = torch.cat([mixed[..., :kx, :], gap, mixed[..., kx:, :]], dim=-2)
        return torch.fft.irfftn(out, s=spatial, dim=axes)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written when G was neuraloperator's SpectralConv (same layout)
        old = prefix + "weight.tensor"
        if old in state_dict and prefix + "weight" not in state_dict:
            state_dict[prefix + "weight"] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _dft_bases(self, n: int, k: int, dtype: torch.dtype, device: torch.device):
        """Real forward ``(2k, n)`` and inverse ``(n, 2k)`` partial DFT matrices, cached."""
        key = (n, k, dtype, device)
        if key not in self._bases:
            x = torch.arange(n, dtype=torch.float64)
            freq = torch.arange(k, dtype=torch.float64)
            angle = 2 * math.pi * freq[:, None] * x[None, :] / n  # (k, n)
            forward = torch.cat([torch.cos(angle), -torch.sin(angle)])  # Re, Im of rfft
            # irfft: DC (and Nyquist) once, the other frequencies twice (their conjugates);
            # the imaginary part of DC and Nyquist is ignored (sin vanishes there)
            twice = torch.where((freq == 0) | (2 * freq == n), 1.0, 2.0).to(torch.float64)
            inverse = torch.cat(
                [twice[:, None] * torch.cos(angle), -twice[:, None] * torch.sin(angle)]
            )
            self._bases[key] = (
                forward.to(device, dtype),
                (inverse / n).T.to(device, dtype).contiguous(),
            )
        return self._bases[key]

    def _dft_1d(self, c: torch.Tensor) -> torch.Tensor:
        """1-D channels last: the kept modes by real matrix products instead of FFTs."""
        n, k = c.shape[1], min(self.n_modes, c.shape[1] // 2 + 1)
        forward, inverse = self._dft_bases(n, k, c.dtype, c.device)
        coeffs = torch.matmul(forward, c)  # (b, 2k, in): [Re; Im]
        w = self.weight[..., :k]
        wr, wi = w.real.to(c.dtype), w.imag.to(c.dtype)  # (in, out, k)
        # (Re + i Im)(wr + i wi) per mode as one real (2 in -> 2 out) product
        block = torch.cat([torch.cat([wr, wi], 1), torch.cat([-wi, wr], 1)], 0)
        per_mode = coeffs.view(c.shape[0], 2, k, -1).permute(2, 0, 1, 3).flatten(2)
        mixed = torch.bmm(per_mode, block.permute(2, 0, 1))  # (k, b, 2 out)
        mixed = mixed.view(k, c.shape[0], 2, -1).permute(1, 2, 0, 3).flatten(1, 2)
        return torch.matmul(inverse, mixed)  # (b, n, out)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, n_dim={self.n_dim}, "
            f"n_modes={self.n_modes}, init={self.init!r}"
        )


def _matrix(conv: nn.Module) -> torch.Tensor:
    """``(out, in)`` matrix of a 1x1 convolution."""
    return conv.weight.reshape(conv.weight.shape[0], conv.weight.shape[1])


class LocalGlobalMixing(nn.Module):
    """The Local-Global Mixing transform ``M(c) = G(c) * Lc(c)`` and its ablations.

    ``G`` is a :class:`SpectralConv` (no bias) keeping the lowest ``n_modes`` Fourier modes
    per dimension (frequencies ``0..m-1`` along the last dimension, ``-m..m-1`` along the
    first one in 2-D, as in the FNO paper); ``Lc`` is a periodic convolution with bias (1x1
    by default). ``mixing`` selects the transform studied in the paper's ablation:

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
        init: initialisation of ``G``'s weights, ``"neuralop"`` or ``"authors"`` (see
            :class:`SpectralConv`).

    Shapes:
        ``(batch, channels, *spatial)`` -> ``(batch, channels, *spatial)``, any resolution.

    Note:
        ``G``'s weight is complex64; a float64 input is transformed in complex128. Convert a
        module holding it with ``.double()`` or not at all, never ``.to(torch.float64)``:
        the latter casts complex parameters to real and discards their imaginary parts.

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
        init: SpectralInit = "neuralop",
    ) -> None:
        super().__init__()
        self.channels = check_int("channels", channels, minimum=1)
        self.n_dim = _check_n_dim(n_dim)
        self.n_modes, self.local_kernel_size, self.mixing, self.init = _check_lgm_settings(
            n_modes, local_kernel_size, mixing, init
        )
        self.global_transform: SpectralConv | None = None
        self.local_transform: nn.Module | None = None
        if self.mixing != "local":
            self.global_transform = SpectralConv(
                channels, channels, n_dim=self.n_dim, n_modes=n_modes, init=init
            )
        if self.mixing != "global":
            k = local_kernel_size
            self.local_transform = _CONV[self.n_dim](
                channels, channels, k, padding=k // 2, padding_mode="circular"
            )

    def global_part(self, c: torch.Tensor) -> torch.Tensor:
        """``G(c)``, in ``c``'s dtype."""
        if self.global_transform is None:
            raise RuntimeError("this LocalGlobalMixing was built with mixing='local': no G.")
        return self.global_transform(c)

    def local_part(self, c: torch.Tensor) -> torch.Tensor:
        """``Lc(c)``."""
        if self.local_transform is None:
            raise RuntimeError("this LocalGlobalMixing was built with mixing='global': no Lc.")
        return self.local_transform(c)

    def combine(self, g: torch.Tensor | None, lc: torch.Tensor | None) -> torch.Tensor:
        """``M`` from ``G(c)`` and ``Lc(c)`` (either may be None when ``mixing`` omits it)."""
        if self.mixing == "product":
            return g * lc  # type: ignore[operator]
        if self.mixing == "sum":
            return g + lc  # type: ignore[operator]
        return lc if self.mixing == "local" else g  # type: ignore[return-value]

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        g = self.global_part(c) if self.global_transform is not None else None
        lc = self.local_part(c) if self.local_transform is not None else None
        return self.combine(g, lc)

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

    The parameters live in those modules (so the state dict names the paper's operators),
    but ``forward`` does not call them one by one: it evaluates the same expression with
    fewer, larger matrix products on a channels-last copy of ``c``
    (see :meth:`forward_channels_last`):

    - 1-D: every tap of ``W + D/spacing`` and of ``Lc`` is one column block of a single
      matrix product ``c @ K`` (``K`` is ``h x (3h + h)`` with the pointwise ``Lc``); each
      block is then rolled by its tap's offset and summed, which is the periodic
      convolution; ``G`` keeps its modes by partial-DFT matrix products, not FFTs;
    - 2-D: ``W`` is folded into the centre tap of ``D``'s 3x3 stencil and applied as one
      periodic convolution on the channels-last memory layout (measured faster there than
      nine matrix blocks); ``Lc`` (1x1) is one matrix product;
    - ``A``'s two 1x1 convolutions, having no activation between them, are applied as
      their product ``A_2 A_1`` (``h x h``) with bias ``A_2 b_1 + b_2``.

    Both are exact rewritings of the same formula (round-off aside), checked against a
    plain reference in float64 to 1e-12 by the tests.

    Args:
        channels: latent channels ``h``.
        n_dim: spatial dimensions, 1 or 2.
        n_modes: Fourier modes kept by ``G``.
        local_kernel_size: odd kernel size of ``Lc`` (1 as published).
        mixing: ``"product"`` (LGM) or the ablations ``"sum" | "local" | "global"``.
        init: ``G``'s initialisation, ``"neuralop"`` or ``"authors"`` (see
            :class:`SpectralConv`).

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
        init: SpectralInit = "neuralop",
    ) -> None:
        super().__init__()
        self.channels = check_int("channels", channels, minimum=1)
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
            init=init,
        )
        self.residual = nn.Sequential(
            conv(channels, 2 * channels, 1), conv(2 * channels, channels, 1)
        )
        # tap offsets of the fused local product: D's 3 taps and Lc's k taps per axis
        radius = max(1, local_kernel_size // 2)
        self._offsets = list(itertools.product(range(-radius, radius + 1), repeat=self.n_dim))

    def _fused_taps(self, spacing: float, dtype: torch.dtype):
        """``(K, bias, blocks)``: ``K`` is ``(n_blocks * h, h)``, one ``h x h`` block per
        (offset, target) with target 0 = ``W c + D(c)/spacing`` and 1 = ``Lc(c)``."""
        stencil = self.derivative.stencil / spacing
        lc = self.mixing.local_transform
        rk = self.mixing.local_kernel_size // 2
        weights, blocks = [], []
        for offset in self._offsets:
            centre = all(s == 0 for s in offset)
            if all(abs(s) <= 1 for s in offset):
                tap = stencil[(slice(None), slice(None), *[s + 1 for s in offset])]
                weights.append(tap + _matrix(self.linear) if centre else tap)
                blocks.append((offset, 0))
            if lc is not None and all(abs(s) <= rk for s in offset):
                weights.append(lc.weight[(slice(None), slice(None), *[s + rk for s in offset])])
                blocks.append((offset, 1))
        kernel = torch.cat(weights, dim=0).to(dtype)
        bias = [self.linear.bias] + ([lc.bias] if lc is not None else [])
        return kernel, torch.cat(bias).to(dtype), blocks

    def _local_parts_1d(self, c: torch.Tensor, spacing: float):
        """``(W c + D(c)/spacing, Lc(c) or None)``, 1-D: one matrix product, rolled blocks."""
        h = self.channels
        kernel, bias, blocks = self._fused_taps(spacing, c.dtype)
        taps = F.linear(c, kernel)  # (batch, n, n_blocks * h)
        parts: list[torch.Tensor | None] = [None, None]
        # split (not slicing) so that the backward pass is one concatenation, not one
        # zero-filled full-size gradient per block
        for block, (offset, target) in zip(taps.split(h, dim=-1), blocks):
            if any(offset):  # out[x] += (c @ K_s)[x + s]
                block = torch.roll(block, shifts=-offset[0], dims=1)
            parts[target] = block if parts[target] is None else parts[target] + block
        linear = parts[0] + bias[:h]  # type: ignore[operator]
        return linear, (parts[1] + bias[h:] if parts[1] is not None else None)

    def _local_parts_2d(self, c: torch.Tensor, spacing: float):
        """2-D: ``W`` folded into the centre of ``D``'s 3x3 stencil, one periodic
        convolution on the channels-last memory layout (faster than 9 matrix blocks)."""
        x = c.permute(0, 3, 1, 2)  # a channels-last view, no copy
        w = _matrix(self.linear)[..., None, None]
        kernel = (self.derivative.stencil / spacing + F.pad(w, (1, 1, 1, 1))).to(c.dtype)
        padded = F.pad(x, (1, 1, 1, 1), mode="circular")
        linear = F.conv2d(padded, kernel, self.linear.bias.to(c.dtype)).permute(0, 2, 3, 1)
        lc_conv = self.mixing.local_transform
        if lc_conv is None:
            return linear, None
        if self.mixing.local_kernel_size == 1:
            return linear, F.linear(c, _matrix(lc_conv).to(c.dtype), lc_conv.bias.to(c.dtype))
        return linear, lc_conv(x).permute(0, 2, 3, 1)

    def forward_channels_last(self, c: torch.Tensor, *, spacing: float = 1.0) -> torch.Tensor:
        """``F(c)`` for ``c`` of shape ``(batch, *spatial, h)`` (channels last), same shape."""
        h = self.channels
        if self.n_dim == 1:
            linear, lc = self._local_parts_1d(c, spacing)
        else:
            linear, lc = self._local_parts_2d(c, spacing)
        g = None
        if self.mixing.global_transform is not None:
            g = self.mixing.global_transform(c, channels_last=True)
        mixed = self.mixing.combine(g, lc)
        a1, a2 = self.residual
        a = _matrix(a2) @ _matrix(a1)
        a_bias = _matrix(a2) @ a1.bias + a2.bias
        return F.gelu(
            torch.addmm(
                (linear + a_bias.to(c.dtype)).reshape(-1, h),
                mixed.reshape(-1, h),
                a.to(c.dtype).T,
            ).view_as(linear)
        )

    def forward(self, c: torch.Tensor, *, spacing: float = 1.0) -> torch.Tensor:
        """``F(c)``; ``spacing`` divides ``D(c)`` (grid spacing in the stencil's units)."""
        if c.ndim != 2 + self.n_dim or c.shape[1] != self.channels:
            raise ValueError(
                f"`c` must have shape (batch, {self.channels}, "
                f"{', '.join(['n'] * self.n_dim)}), got {tuple(c.shape)}."
            )
        if not isinstance(spacing, (int, float)) or isinstance(spacing, bool) or spacing <= 0:
            raise ValueError(f"`spacing` must be a positive number, got {spacing!r}.")
        out = self.forward_channels_last(c.movedim(1, -1).contiguous(), spacing=spacing)
        return out.movedim(-1, 1)
