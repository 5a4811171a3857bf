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
    A. Lavin, S. Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR (2016):
    Winograd's minimal filtering of the stencil, its F(4, 3) transforms, and the Toom-Cook
    construction of the F(8, 3) ones.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal, NamedTuple

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


def _mode_major(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` (in, out, *modes) with the same shape and values, stored mode-major: the
    ``(in, out)`` matrix of each mode is contiguous, so that the mode-wise products read it
    (and write its gradient) in place, without a transposed copy."""
    return weight.movedim((0, 1), (-2, -1)).contiguous().movedim((-2, -1), (0, 1))


def _mix_modes(coeffs: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``out[k] = coeffs[k] @ weight[k]`` per mode, in real arithmetic.

    ``coeffs`` is ``(modes, 2, batch, in)``, the real and imaginary parts of the input's
    Fourier coefficients; ``weight`` the complex ``(modes, in, out)``; the result is
    ``(modes, 2, batch, out)``. One real batched product per mode, ``[Re; Im](coeffs)`` (``2
    batch x in``) times the weight's interleaved real and imaginary parts (``view_as_real``:
    one real ``in x 2 out`` matrix), then combined into the real and imaginary parts. With
    the mode-major storage neither the weight nor its gradient is copied (a complex batched
    product on the CPU copies each mode's matrix instead).
    """
    k, _, b, n_in = coeffs.shape
    weight = weight.to(_complex_dtype(coeffs.dtype)).reshape(k, n_in, -1)
    w = torch.view_as_real(weight).reshape(k, n_in, -1)
    prod = torch.bmm(coeffs.reshape(k, 2 * b, n_in), w).view(k, 2, b, -1, 2)
    real = prod[:, 0, ..., 0] - prod[:, 1, ..., 1]
    imag = prod[:, 0, ..., 1] + prod[:, 1, ..., 0]
    return torch.stack([real, imag], dim=1)


class SpectralConv(nn.Module):
    r"""FNO spectral convolution keeping the lowest Fourier modes, without bias.

    ``G(c) = F^{-1}[ W(k) \hat c(k) ]`` with ``W(k)`` an ``in x out`` complex matrix per
    kept frequency ``k``: ``0..m-1`` along the last axis (real FFT) and ``-m..m-1`` along
    the first axis in 2-D (Li et al. 2021). Frequencies a grid cannot hold are dropped, so
    any resolution works.

    The weight is ``(in, out, m)`` in 1-D and ``(in, out, 2m, m)`` in 2-D, its rows ordered
    from frequency ``-m`` up to ``m - 1`` (neuraloperator's layout; state dicts hold it so).
    Its memory is mode-major (each mode's ``in x out`` matrix contiguous), so the products
    per mode read it and write its gradient in place. The kept modes are computed by real
    matrix products with partial DFT matrices, one axis at a time, instead of full FFTs:
    only ``m`` (1-D) or ``2m x m`` (2-D) of the grid's modes are used. It computes in the
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
        self.weight = nn.Parameter(_mode_major(weight))
        # partial-DFT matrices per (grid, modes, dtype, device); derived data, not state
        self._bases: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def forward(self, c: torch.Tensor, *, channels_last: bool = False) -> torch.Tensor:
        """Apply ``G``; see the class docstring for shapes."""
        x = c if channels_last else c.movedim(1, -1)
        out = self._dft_1d(x) if self.n_dim == 1 else self._dft_2d(x.contiguous())
        return out if channels_last else out.movedim(-1, 1)

    def _modes_first(self) -> torch.Tensor:
        """The weight as ``(m, in, out)`` or ``(2m, m, in, out)``: a view (no copy) of the
        mode-major storage."""
        return self.weight.movedim((0, 1), (-2, -1))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written when G was neuraloperator's SpectralConv (same layout)
        old = prefix + "weight.tensor"
        if old in state_dict and prefix + "weight" not in state_dict:
            state_dict[prefix + "weight"] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _dft_bases(self, n: int, k: int, dtype: torch.dtype, device: torch.device):
        """Real forward ``(2k, n)`` and inverse ``(n, 2k)`` partial DFT matrices of a real
        signal (frequencies ``0..k-1``, as ``rfft`` / ``irfft``), cached."""
        key = ("real", n, k, dtype, device)
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

    def _complex_dft_bases(self, n: int, k: int, dtype: torch.dtype, device: torch.device):
        """Real forward ``(4k, 2n)`` and inverse ``(2n, 4k)`` partial DFT matrices of a
        complex signal stored as ``[Re; Im]``, frequencies ``-k..k-1`` (as ``fft`` /
        ``ifft``), cached."""
        key = ("complex", n, k, dtype, device)
        if key not in self._bases:
            x = torch.arange(n, dtype=torch.float64)
            freq = torch.arange(-k, k, dtype=torch.float64)
            angle = 2 * math.pi * freq[:, None] * x[None, :] / n  # (2k, n)
            cos, sin = torch.cos(angle), torch.sin(angle)
            # e^{-i angle} (a + i b) and e^{+i angle} (a + i b) / n as real 2 x 2 blocks
            forward = torch.cat([torch.cat([cos, sin], 1), torch.cat([-sin, cos], 1)])
            inverse = torch.cat([torch.cat([cos.T, -sin.T], 1), torch.cat([sin.T, cos.T], 1)])
            self._bases[key] = (forward.to(device, dtype), (inverse / n).to(device, dtype))
        return self._bases[key]

    def _dft_1d(self, c: torch.Tensor) -> torch.Tensor:
        """1-D channels last ``(batch, n, in) -> (batch, n, out)``: the kept modes by real
        matrix products instead of FFTs (cheaper for few modes)."""
        b, n = c.shape[:2]
        k = min(self.n_modes, n // 2 + 1)
        forward, inverse = self._dft_bases(n, k, c.dtype, c.device)
        coeffs = torch.matmul(forward, c).view(b, 2, k, -1)  # [Re; Im] of rfft
        mixed = _mix_modes(coeffs.permute(2, 1, 0, 3), self._modes_first()[:k])
        return torch.matmul(inverse, mixed.permute(2, 1, 0, 3).reshape(b, 2 * k, -1))

    def _dft_2d(self, c: torch.Tensor) -> torch.Tensor:
        """2-D channels last ``(batch, n_x, n_y, in) -> (batch, n_x, n_y, out)``, the kept
        modes by real matrix products, one axis at a time: ``rfft`` along y, ``fft`` along x
        (frequencies ``-kx..kx-1``, the weight's row order), the product per mode, then the
        inverse along x and ``irfft`` along y (which zero-pads the dropped modes)."""
        m, (b, n_x, n_y, n_in) = self.n_modes, c.shape
        kx, ky = min(m, n_x // 2), min(m, n_y // 2 + 1)
        fy, iy = self._dft_bases(n_y, ky, c.dtype, c.device)
        fx, ix = self._complex_dft_bases(n_x, kx, c.dtype, c.device)
        t = torch.matmul(fy, c.view(b * n_x, n_y, n_in)).view(b, n_x, 2, ky * n_in)
        t = torch.matmul(fx, t.transpose(1, 2).reshape(b, 2 * n_x, ky * n_in))
        coeffs = t.view(b, 2, 2 * kx * ky, n_in).permute(2, 1, 0, 3)  # (modes, 2, b, in)
        rows = self._modes_first()[m - kx : m + kx, :ky].flatten(0, 1)  # (modes, in, out)
        mixed = _mix_modes(coeffs, rows)  # (modes, 2, b, out)
        mixed = mixed.permute(2, 1, 0, 3).reshape(b, 4 * kx, -1)
        t = torch.matmul(ix, mixed).view(b, 2, n_x, ky, -1)  # [Re; Im] along x, per ky
        t = t.permute(0, 2, 1, 3, 4).reshape(b * n_x, 2 * ky, -1)
        return torch.matmul(iy, t).view(b, n_x, n_y, -1)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, n_dim={self.n_dim}, "
            f"n_modes={self.n_modes}, init={self.init!r}"
        )


# Winograd's minimal filtering F(m, 3) (Lavin & Gray 2016): the correlation of m outputs with a
# 3-tap filter, y[i] = sum_j g[j] d[i + j], is  A^T [(G g) * (B^T d)]  on m + 2 inputs, with
# m + 2 products instead of 3 m. The matrices follow from the Toom-Cook construction on the
# points below and infinity (exact rationals; B^T solved from the identity above).
class _Winograd(NamedTuple):
    bt: tuple  # (m + 2, m + 2)
    g: tuple  # (m + 2, 3)
    at: tuple  # (m, m + 2)


_WINOGRAD = {
    # points 0, +-1, +-2 (Lavin & Gray's F(4, 3))
    4: _Winograd(
        bt=(
            (4, 0, -5, 0, 1, 0),
            (0, -4, -4, 1, 1, 0),
            (0, 4, -4, -1, 1, 0),
            (0, -2, -1, 2, 1, 0),
            (0, 2, -1, -2, 1, 0),
            (0, 4, 0, -5, 0, 1),
        ),
        g=(
            (1 / 4, 0, 0),
            (-1 / 6, -1 / 6, -1 / 6),
            (-1 / 6, 1 / 6, -1 / 6),
            (1 / 24, 1 / 12, 1 / 6),
            (1 / 24, -1 / 12, 1 / 6),
            (0, 0, 1),
        ),
        at=(
            (1, 1, 1, 1, 1, 0),
            (0, 1, -1, 2, -2, 0),
            (0, 1, 1, 4, 4, 0),
            (0, 1, -1, 8, -8, 1),
        ),
    ),
    # points 0, +-1, +-2, +-1/2, +-3/4: of the sets of small rationals tried, the smallest
    # float32 round-off (relative 2.6e-6 against 4.6e-7 for F(4, 3) on 48 channels)
    8: _Winograd(
        bt=(
            (9 / 16, 0, -253 / 64, 0, 525 / 64, 0, -93 / 16, 0, 1, 0),
            (0, -9 / 16, -9 / 16, 217 / 64, 217 / 64, -77 / 16, -77 / 16, 1, 1, 0),
            (0, 9 / 16, -9 / 16, -217 / 64, 217 / 64, 77 / 16, -77 / 16, -1, 1, 0),
            (0, -9 / 32, -9 / 64, 61 / 32, 61 / 64, -29 / 8, -29 / 16, 2, 1, 0),
            (0, 9 / 32, -9 / 64, -61 / 32, 61 / 64, 29 / 8, -29 / 16, -2, 1, 0),
            (0, -9 / 8, -9 / 4, 109 / 32, 109 / 16, -89 / 32, -89 / 16, 1 / 2, 1, 0),
            (0, 9 / 8, -9 / 4, -109 / 32, 109 / 16, 89 / 32, -89 / 16, -1 / 2, 1, 0),
            (0, -3 / 4, -1, 63 / 16, 21 / 4, -63 / 16, -21 / 4, 3 / 4, 1, 0),
            (0, 3 / 4, -1, -63 / 16, 21 / 4, 63 / 16, -21 / 4, -3 / 4, 1, 0),
            (0, 9 / 16, 0, -253 / 64, 0, 525 / 64, 0, -93 / 16, 0, 1),
        ),
        g=(
            (16 / 9, 0, 0),
            (-32 / 63, -32 / 63, -32 / 63),
            (-32 / 63, 32 / 63, -32 / 63),
            (8 / 2475, 16 / 2475, 32 / 2475),
            (8 / 2475, -16 / 2475, 32 / 2475),
            (-512 / 225, -256 / 225, -128 / 225),
            (-512 / 225, 256 / 225, -128 / 225),
            (32768 / 17325, 8192 / 5775, 2048 / 1925),
            (32768 / 17325, -8192 / 5775, 2048 / 1925),
            (0, 0, 1),
        ),
        at=tuple(
            tuple(a**i for a in (0, 1, -1, 2, -2, 1 / 2, -1 / 2, 3 / 4, -3 / 4)) + (int(i == 7),)
            for i in range(8)
        ),
    ),
}
_CHUNK_BYTES = 4 * 2**20  # Winograd tiles of at most this many bytes are transformed at a time


def _tile_sizes(grid: tuple[int, ...]) -> tuple[int, ...] | None:
    """Outputs per Winograd tile along each axis of ``grid`` (sizes of the grid), or None
    where a size is not a multiple of 4: F(8, 3) along the first axis when its size is a
    multiple of 8 (1.25 products per point instead of 1.5), F(4, 3) otherwise. In float32,
    F(8, 3) along both axes of a 2-D grid would round off 50 to 180 times more than
    F(4 x 4, 3 x 3) (relative 7e-5 to 3e-4 with the point sets tried); along one axis it
    rounds off about 6 times more (8e-6), as F(8, 3) does in 1-D. Under ``torch.compile`` a
    2-D grid keeps 4 x 4 tiles: Inductor took over 10 minutes to compile the 8 x 4 ones for
    a one-layer model of width 16 on 64 x 64 (the 4 x 4 ones: under 2 minutes)."""
    if any(n % 4 for n in grid):
        return None
    wide = grid[0] % 8 == 0 and not (len(grid) == 2 and torch.compiler.is_compiling())
    return (8 if wide else 4, *[4] * (len(grid) - 1))


def _winograd_matrix(rows: tuple, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64).to(like.device, like.dtype)


def _transform(first: torch.Tensor, second: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``first`` (p1 x q1) applied to axis 0 and ``second`` (p2 x q2) to axis 1 of the
    contiguous ``t`` (q1, q2, ...): ``(p1, p2, ...)``, written into ``t``'s memory when it
    fits (``t`` is overwritten: fresh memory costs page faults). Plain matrix products with
    the long trailing axis (a batched product with so few rows is several times slower on
    the CPU).
    """
    (p1, q1), p2 = first.shape, second.shape[0]
    half = torch.mm(first, t.view(q1, -1)).view(p1, second.shape[1], -1)
    size = p1 * p2 * half.shape[-1]
    out = (t.view(-1)[:size] if size <= t.numel() else t.new_empty(size)).view(p1, p2, -1)
    for i in range(p1):
        torch.mm(second, half[i], out=out[i])
    return out.view(p1, p2, *t.shape[2:])


def _tile_rows(n: int, m: int, device: torch.device) -> torch.Tensor:
    """``(m + 2, n // m)``: grid index (periodic) of input ``j`` of tile ``t``, ``m t + j - 1``."""
    starts = m * torch.arange(n // m, device=device)
    return (starts[None, :] + torch.arange(m + 2, device=device)[:, None] - 1) % n


def _tiles_2d(c: torch.Tensor, m_x: int, m_y: int) -> torch.Tensor:
    """The periodic ``(m_x + 2) x (m_y + 2)`` tiles of channels-last ``c`` ``(b, n_x, n_y,
    ch)`` as ``(m_x + 2, m_y + 2, n_x / m_x, n_y / m_y, b, ch)``: input ``(i, j)`` of tile
    ``(s, t)`` is ``c[:, m_x s + i - 1, m_y t + j - 1]`` (periodic). One circular padding by
    a grid point on each side, then a copy of a strided view of it (several times faster on
    the CPU than gathering by index tensors, which copies element by element)."""
    p = torch.cat([c[:, -1:], c, c[:, :1]], 1)
    p = torch.cat([p[:, :, -1:], p, p[:, :, :1]], 2)  # (b, n_x + 2, n_y + 2, ch)
    sb, sx, sy, sc = p.stride()
    b, n_x, n_y, ch = c.shape
    shape = (m_x + 2, m_y + 2, n_x // m_x, n_y // m_y, b, ch)
    return p.as_strided(shape, (sx, sy, m_x * sx, m_y * sy, sb, sc)).contiguous()


def _batch_chunks(shape: torch.Size, like: torch.Tensor, ms: tuple[int, ...]) -> list[slice]:
    """Slices of the batch (dim 0 of a channels-last ``shape``) whose Winograd tiles (``ms``
    outputs per tile and axis) take at most `_CHUNK_BYTES` each (at least one sample per
    slice)."""
    b, *grid, channels = shape
    per_sample = channels * like.dtype.itemsize
    for n, m in zip(grid, ms):
        per_sample *= (m + 2) * (n // m)
    k = max(1, min(b, _CHUNK_BYTES // per_sample))
    return [slice(i, min(i + k, b)) for i in range(0, b, k)]


def _fold_axis(tiles: torch.Tensor, axis: int, tile_axis: int, m: int) -> torch.Tensor:
    """Adjoint of the periodic tile gather along one axis: ``tiles`` holds the ``m + 2``
    inputs ``j`` of each tile at ``axis`` and the tile index at ``tile_axis > axis``; input
    ``j`` of tile ``t`` sits at ``m t + j - 1``, i.e. slot ``j - 1`` of tile ``t``, and
    ``j = 0`` and ``j = m + 1`` spill into the neighbouring tiles' slots ``m - 1`` and 0.
    Returns the ``m`` slots."""
    main = tiles.narrow(axis, 1, m).clone()
    shifted = tile_axis - 1  # the tile axis once ``axis`` is selected
    main.select(axis, m - 1).add_(tiles.select(axis, 0).roll(-1, dims=shifted))
    main.select(axis, 0).add_(tiles.select(axis, m + 1).roll(1, dims=shifted))
    return main


class _PeriodicConv3x3(torch.autograd.Function):
    """Periodic 3 x 3 correlation plus bias, channels last, by Winograd F(m_x x m_y, 3 x 3).

    ``forward(c, u, bias, ms)``: ``c`` is ``(b, n_x, n_y, in)``, ``ms = (m_x, m_y)`` the
    outputs per tile and axis (:func:`_tile_sizes`; ``n_x``, ``n_y`` their multiples), ``u``
    the transformed kernel ``((m_x + 2)(m_y + 2), in, out)`` (:func:`_winograd_kernel`),
    ``bias`` ``(out,)``; returns ``out[b, x, y] = bias + sum_{p, q} c[b, x + p - 1, y + q -
    1] @ K[:, :, p, q].T`` (indices periodic), the same as ``conv2d`` on a circularly padded
    input. Each ``m_x x m_y`` block of outputs reads a ``(m_x + 2) x (m_y + 2)`` tile, which
    is transformed by ``B_x^T . B_y``, multiplied channel-wise by ``u`` (one matrix product
    of ``in x out`` per tile entry over all tiles of the batch: 1.875 products per output
    point for 8 x 4 tiles, 2.25 for 4 x 4, instead of the direct convolution's 9) and
    transformed back by ``A_x^T . A_y``. The tiles are laid out ``(m_x + 2, m_y + 2,
    tile_x, tile_y, batch, channel)``. The backward pass applies the transposed transforms
    and products and the adjoint of the tile gather; only the transformed tiles are stored.

    The batch is processed in chunks of samples whose tiles take at most `_CHUNK_BYTES`:
    the transforms and products then work on a few megabytes at a time instead of about
    twice the whole batch's activations (at Navier-Stokes sizes and a batch of 16, tens of
    megabytes per intermediate: beyond glibc's largest threshold for reusing freed memory,
    so every one of them would be fresh, page-faulted memory).
    """

    @staticmethod
    def forward(ctx, c, u, bias, ms):
        b, n_x, n_y, n_in = c.shape
        (m_x, m_y), n_out = ms, u.shape[-1]
        w_x, w_y = _WINOGRAD[m_x], _WINOGRAD[m_y]
        bt_x, bt_y = _winograd_matrix(w_x.bt, c), _winograd_matrix(w_y.bt, c)
        at_x, at_y = _winograd_matrix(w_x.at, c), _winograd_matrix(w_y.at, c)
        n_tx, n_ty = n_x // m_x, n_y // m_y
        result = c.new_empty(b, n_x, n_y, n_out)
        vs = []
        for chunk in _batch_chunks(c.shape, c, ms):
            v = _transform(bt_x, bt_y, _tiles_2d(c[chunk], m_x, m_y))
            v = v.view(u.shape[0], -1, n_in)  # (tile entries, tiles * chunk, in)
            prod = torch.bmm(v, u).view(m_x + 2, m_y + 2, -1)
            out = _transform(at_x, at_y, prod).view(m_x, m_y, n_tx, n_ty, -1, n_out)
            # the bias is added while the chunk is in cache, then copied to the grid layout
            blocks = result[chunk].view(-1, n_tx, m_x, n_ty, m_y, n_out)
            blocks.copy_(out.add_(bias).permute(4, 2, 0, 3, 1, 5))
            vs.append(v)
        ctx.save_for_backward(u, *vs)
        ctx.ms = ms
        return result

    @staticmethod
    def backward(ctx, grad):
        u, *vs = ctx.saved_tensors
        (m_x, m_y), (n_x, n_y, n_out), n_in = ctx.ms, grad.shape[1:], u.shape[1]
        w_x, w_y = _WINOGRAD[m_x], _WINOGRAD[m_y]
        bt_x, bt_y = _winograd_matrix(w_x.bt, grad), _winograd_matrix(w_y.bt, grad)
        at_x, at_y = _winograd_matrix(w_x.at, grad), _winograd_matrix(w_y.at, grad)
        n_tx, n_ty = n_x // m_x, n_y // m_y
        grad_u, grad_c = None, None
        if ctx.needs_input_grad[0]:
            grad_c = grad.new_empty(*grad.shape[:-1], n_in)
        for chunk, v in zip(_batch_chunks(grad.shape, grad, ctx.ms), vs):
            g = grad[chunk].reshape(-1, n_tx, m_x, n_ty, m_y, n_out).permute(2, 4, 1, 3, 0, 5)
            g = _transform(at_x.T, at_y.T, g.contiguous()).view(u.shape[0], -1, n_out)
            if ctx.needs_input_grad[1]:
                vg = torch.bmm(v.transpose(1, 2), g)
                grad_u = vg if grad_u is None else grad_u.add_(vg)
            if grad_c is not None:
                gv = torch.bmm(g, u.transpose(1, 2)).view(m_x + 2, m_y + 2, n_tx, n_ty, -1, n_in)
                tiles = _transform(bt_x.T, bt_y.T, gv)
                tiles = _fold_axis(_fold_axis(tiles, 0, 2, m_x), 1, 3, m_y)
                blocks = grad_c[chunk].view(-1, n_tx, m_x, n_ty, m_y, n_in)
                blocks.copy_(tiles.permute(4, 2, 0, 3, 1, 5))
        grad_bias = grad.sum((0, 1, 2)) if ctx.needs_input_grad[2] else None
        return grad_c, grad_u, grad_bias, None


class _PeriodicConv3(torch.autograd.Function):
    """Periodic 3-tap correlation plus bias, channels last, by Winograd F(m, 3).

    ``forward(c, u, bias, ms)``: ``c`` is ``(b, n, in)``, ``ms = (m,)`` the outputs per
    tile (:func:`_tile_sizes`: 8, or 4, with ``n`` a multiple), ``u`` the transformed
    kernel ``(m + 2, in, out)`` (:func:`_winograd_kernel`), ``bias`` ``(out,)``; returns
    ``out[b, x] = bias + sum_p c[b, x + p - 1] @ K[:, :, p].T`` (periodic), the 1-D
    counterpart of :class:`_PeriodicConv3x3`: ``m + 2`` products of ``in x out`` per ``m``
    outputs instead of ``3 m``. The tiles are laid out ``(m + 2, tile, batch, channel)``,
    so each product is one matrix product over all tiles of a chunk of the batch (chunks as
    in :class:`_PeriodicConv3x3`).
    """

    @staticmethod
    def forward(ctx, c, u, bias, ms):
        b, n, n_in = c.shape
        (m,), n_out = ms, u.shape[-1]
        bt, at = _winograd_matrix(_WINOGRAD[m].bt, c), _winograd_matrix(_WINOGRAD[m].at, c)
        rows = _tile_rows(n, m, c.device).flatten()
        parts, vs = [], []
        for chunk in _batch_chunks(c.shape, c, ms):
            tiles = c[chunk].transpose(0, 1).index_select(0, rows)  # ((m+2) tiles, chunk, in)
            v = torch.mm(bt, tiles.view(m + 2, -1)).view(m + 2, -1, n_in)
            prod = torch.bmm(v, u)
            out = torch.mm(at, prod.view(m + 2, -1)).view(m, n // m, -1, n_out)
            parts.append((out.permute(2, 1, 0, 3) + bias).reshape(-1, n, n_out))
            vs.append(v)
        ctx.save_for_backward(u, *vs)
        ctx.ms = ms
        return torch.cat(parts) if len(parts) > 1 else parts[0]

    @staticmethod
    def backward(ctx, grad):
        u, *vs = ctx.saved_tensors
        (m,), (n, n_out), n_in = ctx.ms, grad.shape[1:], u.shape[1]
        bt, at = _winograd_matrix(_WINOGRAD[m].bt, grad), _winograd_matrix(_WINOGRAD[m].at, grad)
        grad_u, grad_cs = None, []
        for chunk, v in zip(_batch_chunks(grad.shape, grad, ctx.ms), vs):
            g = grad[chunk].reshape(-1, n // m, m, n_out).permute(2, 1, 0, 3).reshape(m, -1)
            g = torch.mm(at.T, g).view(m + 2, -1, n_out)  # (m + 2, tiles * chunk, out)
            if ctx.needs_input_grad[1]:
                vg = torch.bmm(v.transpose(1, 2), g)
                grad_u = vg if grad_u is None else grad_u + vg
            if ctx.needs_input_grad[0]:
                gv = torch.bmm(g, u.transpose(1, 2))
                tiles = torch.mm(bt.T, gv.view(m + 2, -1)).view(m + 2, n // m, -1, n_in)
                grad_cs.append(_fold_axis(tiles, 0, 1, m).permute(2, 1, 0, 3).reshape(-1, n, n_in))
        grad_c = (torch.cat(grad_cs) if len(grad_cs) > 1 else grad_cs[0]) if grad_cs else None
        grad_bias = grad.sum((0, 1)) if ctx.needs_input_grad[2] else None
        return grad_c, grad_u, grad_bias, None


def _winograd_kernel(kernel: torch.Tensor, ms: tuple[int, ...]) -> torch.Tensor:
    """``G_x K G_y^T`` of a ``(out, in, 3, 3)`` kernel as ``((m_x + 2)(m_y + 2), in, out)``,
    or ``G K`` of a ``(out, in, 3)`` kernel as ``(m + 2, in, out)``, for ``ms`` outputs per
    tile and axis."""
    g = [_winograd_matrix(_WINOGRAD[m].g, kernel) for m in ms]
    if kernel.ndim == 3:
        return torch.einsum("pj,oij->pio", g[0], kernel)
    u = torch.einsum("pj,oijk,qk->pqio", g[0], kernel, g[1])
    return u.reshape(-1, kernel.shape[1], kernel.shape[0])


def _periodic_conv3(c: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Periodic correlation of channels-last ``c`` (b, *grid, in) with a 3-tap or 3 x 3
    ``kernel`` (out, in, 3[, 3]), plus ``bias`` (out,): on the CPU by Winograd's minimal
    filtering (tiles of :func:`_tile_sizes`) when every grid size is a multiple of 4;
    otherwise (and on accelerators, whose convolution libraries choose their own fast
    algorithms) by ``conv1d`` / ``conv2d`` on the circularly padded input."""
    ms = _tile_sizes(tuple(c.shape[1:-1]))
    if c.device.type == "cpu" and ms is not None:
        fn = _PeriodicConv3 if kernel.ndim == 3 else _PeriodicConv3x3
        return fn.apply(c, _winograd_kernel(kernel, ms), bias, ms)
    x = c.movedim(-1, 1)
    padded = F.pad(x, (1, 1) * (kernel.ndim - 2), mode="circular")
    return _CONV_FN[kernel.ndim - 2](padded, kernel, bias).movedim(1, -1)


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

    - ``W`` is folded into the centre tap of ``D``'s stencil and the sum ``W + D/spacing``
      is applied as one periodic 3-tap (1-D) or 3x3 (2-D) convolution. On the CPU, when
      every grid size is a multiple of 4, it is evaluated by Winograd's minimal filtering:
      F(8, 3) along the first axis when its size is a multiple of 8, F(4, 3) otherwise
      (1-D: 1.25 or 1.5 instead of 3 ``h x h`` products per point; 2-D, 8 x 4 or 4 x 4
      tiles: 1.875 or 2.25 instead of 9). It is exact up to round-off, which F(8, 3)
      makes a few times larger in float32 (the model's output within ~3e-6 of float64,
      relative, against ~6e-7 with F(4, 3) alone); see ``_PeriodicConv3`` and
      ``_PeriodicConv3x3``. Otherwise ``conv1d`` / ``conv2d``. The biases of ``W`` and
      ``A`` are added in the same pass;
    - a pointwise ``Lc`` is one matrix product (a wider 1-D ``Lc`` shares one matrix
      product with the stencil's taps, whose column blocks are rolled and summed);
    - ``G`` keeps its modes by partial-DFT matrix products (see :class:`SpectralConv`);
    - ``A``'s two 1x1 convolutions, having no activation between them, are applied as
      their product ``A_2 A_1`` (``h x h``) with bias ``A_2 b_1 + b_2``.

    All are exact rewritings of the same formula (round-off aside), checked against a
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

    def _wide_local_parts_1d(self, c: torch.Tensor, spacing: float, bias: torch.Tensor):
        """1-D with a wide ``Lc``: every tap of ``W + D/spacing`` and of ``Lc`` in one matrix
        product, the blocks rolled and summed."""
        h = self.channels
        kernel, lc_bias, blocks = self._fused_taps(spacing, c.dtype)
        taps = F.linear(c, kernel)  # (batch, n, n_blocks * h)
        parts: list[torch.Tensor | None] = [None, None]
        # split (not slicing) so that the backward pass is one concatenation, not one
        # zero-filled full-size gradient per block
        for block, (offset, target) in zip(taps.split(h, dim=-1), blocks):
            if any(offset):  # out[x] += (c @ K_s)[x + s]
                block = torch.roll(block, shifts=-offset[0], dims=1)
            parts[target] = block if parts[target] is None else parts[target] + block
        return parts[0] + bias, parts[1] + lc_bias[h:]  # type: ignore[operator]

    def _local_parts(self, c: torch.Tensor, spacing: float, bias: torch.Tensor):
        """``(W c + D(c)/spacing + bias, Lc(c) or None)`` for channels-last ``c``.

        ``W`` is folded into the centre tap of ``D``'s stencil and the sum applied as one
        periodic 3-tap (3x3) convolution (:func:`_periodic_conv3`); a pointwise ``Lc`` is
        one matrix product."""
        lc_conv = self.mixing.local_transform
        if self.n_dim == 1 and lc_conv is not None and self.mixing.local_kernel_size > 1:
            return self._wide_local_parts_1d(c, spacing, bias)
        lc = None  # (before the stencil: see forward_channels_last)
        if lc_conv is not None and self.mixing.local_kernel_size == 1:
            lc = F.linear(c, _matrix(lc_conv).to(c.dtype), lc_conv.bias.to(c.dtype))
        elif lc_conv is not None:
            lc = lc_conv(c.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        w = _matrix(self.linear)[(..., *[None] * self.n_dim)]
        kernel = self.derivative.stencil / spacing + F.pad(w, (1, 1) * self.n_dim)
        return _periodic_conv3(c, kernel.to(c.dtype), bias), lc

    def forward_channels_last(self, c: torch.Tensor, *, spacing: float = 1.0) -> torch.Tensor:
        """``F(c)`` for ``c`` of shape ``(batch, *spatial, h)`` (channels last), same shape."""
        h = self.channels
        a1, a2 = self.residual
        a = _matrix(a2) @ _matrix(a1)
        # W's bias and A's (folded) bias, added once by the stencil's convolution
        bias = self.linear.bias + _matrix(a2) @ a1.bias + a2.bias
        # The matrix products that read c (G's DFT, Lc) come before the stencil's tile
        # gather. It changes nothing eagerly; under torch.compile the previous layer's
        # c = c + g GELU(pre) is then stored before the gather is generated, and the gather
        # reads it instead of recomputing the GELU at every tile element (1.5 x per point in
        # 1-D, 2.25 x in 2-D).
        g = None
        if self.mixing.global_transform is not None:
            g = self.mixing.global_transform(c, channels_last=True)
        linear, lc = self._local_parts(c, spacing, bias.to(c.dtype))
        mixed = self.mixing.combine(g, lc)
        pre = torch.addmm(linear.reshape(-1, h), mixed.reshape(-1, h), a.to(c.dtype).T)
        return F.gelu(pre).view_as(linear)

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
