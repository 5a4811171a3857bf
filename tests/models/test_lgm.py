"""Local-Global-Mixing layers: the zero-sum derivative, the spectral mode convention,
the mixing ablations and the layer equation against plain-torch references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from opkit.models.layers import LGMLayer, LocalGlobalMixing, ZeroSumConv, _lgm
from opkit.models.layers._lgm import SpectralConv, _periodic_conv3


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors: one intra-op thread is faster and does not oversubscribe a shared CPU
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------- independent references


def pointwise_ref(conv: torch.nn.Module, c: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution as a channel contraction plus bias."""
    w = conv.weight.reshape(conv.weight.shape[0], conv.weight.shape[1]).to(c.dtype)
    out = torch.einsum("oi,bi...->bo...", w, c)
    return out + conv.bias.to(c.dtype).view(1, -1, *[1] * (c.ndim - 2))


def stencil_ref(stencil: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``out[x] = sum_j s[j] c[x + j - r]`` on the periodic grid, by explicit shifts."""
    s = stencil.to(c.dtype)
    r = s.shape[-1] // 2
    out = torch.zeros(c.shape[0], s.shape[0], *c.shape[2:], dtype=c.dtype)
    if c.ndim == 3:
        for j in range(s.shape[-1]):
            out += torch.einsum("oi,bin->bon", s[..., j], torch.roll(c, -(j - r), dims=-1))
        return out
    for j in range(s.shape[-2]):
        for k in range(s.shape[-1]):
            shifted = torch.roll(c, (-(j - r), -(k - r)), dims=(-2, -1))
            out += torch.einsum("oi,bixy->boxy", s[..., j, k], shifted)
    return out


def spectral_ref(c: torch.Tensor, weight: torch.Tensor, m: int) -> torch.Tensor:
    """FNO spectral convolution written out: frequencies 0..m-1 on the last axis and
    -m..m-1 on the first axis in 2-D; ``weight`` is ``(in, out, [2m,] m)``, its rows ordered
    from frequency -m up to m-1."""
    w = weight.to(torch.complex128)
    c = c.to(torch.float64)
    if c.ndim == 3:
        n = c.shape[-1]
        coeffs = torch.fft.rfft(c)
        out = torch.zeros(c.shape[0], w.shape[1], n // 2 + 1, dtype=torch.complex128)
        out[..., :m] = torch.einsum("bik,iok->bok", coeffs[..., :m], w)
        return torch.fft.irfft(out, n=n)
    nx, ny = c.shape[-2:]
    coeffs = torch.fft.rfft2(c)
    out = torch.zeros(c.shape[0], w.shape[1], nx, ny // 2 + 1, dtype=torch.complex128)
    out[..., :m, :m] = torch.einsum("bikl,iokl->bokl", coeffs[..., :m, :m], w[:, :, m:])
    out[..., -m:, :m] = torch.einsum("bikl,iokl->bokl", coeffs[..., -m:, :m], w[:, :, :m])
    return torch.fft.irfft2(out, s=(nx, ny))


def spectral_weight(block: LocalGlobalMixing) -> torch.Tensor:
    return block.global_transform.weight.detach()


def periodic_grid(n: int) -> torch.Tensor:
    return torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)


# ----------------------------------------------------------------- zero-sum derivative


@pytest.mark.parametrize("n_dim", [1, 2])
def test_stencil_sums_to_zero_at_init_and_after_an_optimiser_step(n_dim):
    torch.manual_seed(0)
    conv = ZeroSumConv(3, 4, n_dim=n_dim)
    taps = tuple(range(2, 2 + n_dim))
    assert conv.weight.sum(dim=taps).abs().max() > 1e-3  # the raw weight is not zero-sum
    assert conv.stencil.sum(dim=taps).abs().max() < 1e-6

    x = torch.randn(2, 3, *[8] * n_dim)
    target = torch.randn(2, 4, *[8] * n_dim)
    opt = torch.optim.Adam(conv.parameters(), lr=0.1)
    before = conv.stencil.detach().clone()
    for _ in range(3):
        opt.zero_grad()
        F.mse_loss(conv(x), target).backward()
        opt.step()
    assert (conv.stencil.detach() - before).abs().max() > 1e-2  # it did learn
    assert conv.stencil.sum(dim=taps).abs().max() < 1e-6
    # a zero-sum stencil annihilates constants, as a derivative does
    const = torch.full((1, 3, *[8] * n_dim), 2.5)
    assert conv(const).abs().max() < 1e-5


def test_central_difference_stencil_differentiates_a_sine_at_second_order():
    k = 3
    errors, spacings = [], []
    for n in (16, 32, 64, 128, 256):
        x = periodic_grid(n)
        dx = 2 * math.pi / n
        u = torch.sin(k * x).view(1, 1, n)
        conv = ZeroSumConv(1, 1, n_dim=1).double()
        with torch.no_grad():
            conv.weight.copy_(torch.tensor([[[-1.0, 0.0, 1.0]]], dtype=torch.float64) / (2 * dx))
        du = conv(u).view(n)
        # the discrete operator is exactly sin(k dx)/dx * cos(kx) ...
        torch.testing.assert_close(du, math.sin(k * dx) / dx * torch.cos(k * x), rtol=0, atol=1e-12)
        # ... and the same taps with spacing=dx, or any raw weight with the same zero-sum
        # projection (raw + constant), give the same result
        with torch.no_grad():
            conv.weight.copy_(torch.tensor([[[1.0, 1.5, 2.0]]]))
        torch.testing.assert_close(conv(u, spacing=dx).view(n), du, rtol=0, atol=1e-12)
        errors.append((du - k * torch.cos(k * x)).abs().max().item())
        spacings.append(dx)
    slope = np.polyfit(np.log(spacings), np.log(errors), 1)[0]
    assert abs(slope - 2.0) < 0.05, slope
    # leading error term k^3 dx^2 / 6 of the central difference
    assert errors[2] == pytest.approx(k**3 * spacings[2] ** 2 / 6, rel=0.01)


def test_2d_stencil_differentiates_along_the_chosen_axis():
    n = 64
    x = periodic_grid(n)
    dx = 2 * math.pi / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    u = (torch.sin(X) * torch.cos(2 * Y)).view(1, 1, n, n)
    conv = ZeroSumConv(1, 1, n_dim=2).double()
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, :] = torch.tensor([-0.5, 0.0, 0.5])  # d/dy (last axis)
    du_dy = conv(u, spacing=dx).view(n, n)
    exact = -2 * torch.sin(X) * torch.sin(2 * Y)
    assert (du_dy - exact).abs().max() < 2**3 * dx**2 / 6 * 1.01
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, :, 1] = torch.tensor([-0.5, 0.0, 0.5])  # d/dx (first axis)
    du_dx = conv(u, spacing=dx).view(n, n)
    assert (du_dx - torch.cos(X) * torch.cos(2 * Y)).abs().max() < dx**2 / 6 * 1.01


# ----------------------------------------------------------------- global transform


def test_global_transform_keeps_exactly_the_lowest_modes_1d():
    torch.manual_seed(0)
    m, n = 5, 32
    block = LocalGlobalMixing(2, n_dim=1, n_modes=m, mixing="global")
    x = periodic_grid(n).float()
    for k in range(n // 2):
        u = torch.stack([torch.cos(k * x), torch.sin(k * x + 0.3)]).unsqueeze(0)
        out = block(u)
        if k < m:
            assert out.abs().max() > 1e-3, k
        else:
            assert out.abs().max() < 1e-5, k
    c = torch.randn(3, 2, n)
    torch.testing.assert_close(
        block(c).double(), spectral_ref(c, spectral_weight(block), m), rtol=1e-5, atol=1e-5
    )


def test_global_transform_mode_convention_2d():
    torch.manual_seed(0)
    m, n = 4, 16
    block = LocalGlobalMixing(2, n_dim=2, n_modes=m, mixing="global")
    x = periodic_grid(n).float()
    X, Y = torch.meshgrid(x, x, indexing="ij")
    for kx, ky, kept in [(m - 1, m - 1, True), (m + 1, 0, False), (0, m, False), (2, 1, True)]:
        u = torch.cos(kx * X + ky * Y + 0.2).expand(1, 2, n, n)
        assert (block(u).abs().max() > 1e-3) == kept, (kx, ky)
    c = torch.randn(2, 2, n, 12)
    torch.testing.assert_close(
        block(c).double(), spectral_ref(c, spectral_weight(block), m), rtol=1e-5, atol=1e-5
    )


# ----------------------------------------------------------------- mixing ablations


@pytest.mark.parametrize("n_dim", [1, 2])
def test_mixing_ablations_compute_what_they_claim(n_dim):
    torch.manual_seed(1)
    h, m, shape = 3, 3, [12] * n_dim
    product = LocalGlobalMixing(h, n_dim=n_dim, n_modes=m, mixing="product")
    summed = LocalGlobalMixing(h, n_dim=n_dim, n_modes=m, mixing="sum")
    local = LocalGlobalMixing(h, n_dim=n_dim, n_modes=m, mixing="local")
    glob = LocalGlobalMixing(h, n_dim=n_dim, n_modes=m, mixing="global")
    summed.load_state_dict(product.state_dict())
    local.local_transform.load_state_dict(product.local_transform.state_dict())
    glob.global_transform.load_state_dict(product.global_transform.state_dict())
    # the ablations drop the other transform's weights altogether
    assert glob.local_transform is None and local.global_transform is None
    assert not any(p.is_complex() for p in local.parameters())
    assert all(p.is_complex() for p in glob.parameters())
    assert isinstance(glob.global_transform, SpectralConv)

    c = torch.randn(2, h, *shape)
    g = spectral_ref(c, spectral_weight(product), m)
    lc = pointwise_ref(product.local_transform, c.double())
    with torch.no_grad():
        torch.testing.assert_close(product(c).double(), g * lc, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(summed(c).double(), g + lc, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(local(c).double(), lc, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(glob(c).double(), g, rtol=1e-5, atol=1e-5)
        assert (product(c) - summed(c)).abs().max() > 0.1


def test_wider_local_kernel_is_a_periodic_convolution():
    torch.manual_seed(2)
    block = LocalGlobalMixing(2, n_dim=1, n_modes=3, local_kernel_size=5, mixing="local")
    c = torch.randn(2, 2, 16, dtype=torch.float64)
    lt = block.local_transform.double()
    expected = stencil_ref(lt.weight, c) + lt.bias.view(1, -1, 1)
    torch.testing.assert_close(block.double()(c), expected, rtol=0, atol=1e-12)


# ----------------------------------------------------------------- the layer


@pytest.mark.parametrize(
    ("n_dim", "grid"),
    # (12,) and (12, 8) take the Winograd path of the stencil, (10,) and (10, 10) the direct one
    [(1, (10,)), (1, (12,)), (2, (10, 10)), (2, (12, 8))],
)
def test_lgm_layer_matches_plain_torch_reference_in_float64(n_dim, grid):
    torch.manual_seed(3)
    h, m = 4, 3
    layer = LGMLayer(h, n_dim=n_dim, n_modes=m).double()
    c = torch.randn(2, h, *grid, dtype=torch.float64)
    spacing = 0.5

    g = spectral_ref(c, spectral_weight(layer.mixing), m)
    mixed = g * pointwise_ref(layer.mixing.local_transform, c)
    residual = pointwise_ref(layer.residual[1], pointwise_ref(layer.residual[0], mixed))
    derivative = stencil_ref(layer.derivative.stencil, c) / spacing
    expected = F.gelu(pointwise_ref(layer.linear, c) + derivative + residual)

    out = layer(c, spacing=spacing)
    assert out.dtype == torch.float64
    # the fused, channels-last evaluation is the same formula: float64 round-off only
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_dim", [1, 2])
@pytest.mark.parametrize("mixing", ["product", "sum", "local", "global"])
def test_every_layer_parameter_gets_a_gradient(n_dim, mixing):
    torch.manual_seed(4)
    layer = LGMLayer(4, n_dim=n_dim, n_modes=3, local_kernel_size=3, mixing=mixing)
    layer(torch.randn(2, 4, *[12] * n_dim)).square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().max() > 0, name


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("factory", "error", "words"),
    [
        (lambda: ZeroSumConv(2, 2, kernel_size=4), ValueError, ["kernel_size", "4", "odd"]),
        (lambda: ZeroSumConv(2, 2, kernel_size=1), ValueError, ["kernel_size", ">= 3"]),
        (lambda: ZeroSumConv(2, 2, n_dim=3), ValueError, ["n_dim", "3"]),
        (lambda: ZeroSumConv(2.0, 2), TypeError, ["in_channels", "2.0"]),
        (lambda: LocalGlobalMixing(4, mixing="times"), ValueError, ["mixing", "times"]),
        (lambda: LocalGlobalMixing(0), ValueError, ["channels", "0"]),
        (lambda: LGMLayer(4, n_modes=0), ValueError, ["n_modes", ">= 1"]),
        (lambda: LGMLayer(4, local_kernel_size=2), ValueError, ["local_kernel_size", "2"]),
    ],
)
def test_bad_arguments_are_named(factory, error, words):
    with pytest.raises(error) as info:
        factory()
    for word in words:
        assert word in str(info.value)


def test_bad_inputs_are_named():
    conv = ZeroSumConv(2, 2)
    with pytest.raises(ValueError, match="spacing"):
        conv(torch.zeros(1, 2, 8), spacing=0.0)
    with pytest.raises(ValueError, match=r"\(batch, 2, n\).*\(1, 3, 8\)"):
        conv(torch.zeros(1, 3, 8))
    with pytest.raises(ValueError, match=r"`c` must have shape \(batch, 4, n, n\)"):
        LGMLayer(4, n_dim=2, n_modes=2)(torch.zeros(1, 4, 8))


@pytest.mark.parametrize("n_dim", [1, 2])
def test_spectral_conv_is_float64_throughout_and_channels_last_agrees(n_dim):
    torch.manual_seed(5)
    m = 3
    conv = SpectralConv(3, 2, n_dim=n_dim, n_modes=m)
    c = torch.randn(2, 3, *[10] * n_dim, dtype=torch.float64)
    out = conv(c)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, spectral_ref(c, conv.weight.detach(), m), rtol=0, atol=1e-12)
    last = conv(c.movedim(1, -1), channels_last=True).movedim(-1, 1)
    torch.testing.assert_close(last, out, rtol=0, atol=1e-12)
    # a grid too coarse for m modes keeps the modes it can hold
    assert conv(torch.randn(1, 3, *[4] * n_dim)).shape == (1, 2, *[4] * n_dim)


@pytest.mark.parametrize("n_dim", [1, 2])
def test_layer_with_wide_local_kernel_matches_reference_in_float64(n_dim):
    torch.manual_seed(6)
    h, m = 3, 2
    layer = LGMLayer(h, n_dim=n_dim, n_modes=m, local_kernel_size=5).double()
    c = torch.randn(2, h, *[9] * n_dim, dtype=torch.float64)
    lt = layer.mixing.local_transform
    lc = stencil_ref(lt.weight, c) + lt.bias.view(1, -1, *[1] * n_dim)
    mixed = spectral_ref(c, spectral_weight(layer.mixing), m) * lc
    residual = pointwise_ref(layer.residual[1], pointwise_ref(layer.residual[0], mixed))
    expected = F.gelu(
        pointwise_ref(layer.linear, c) + stencil_ref(layer.derivative.stencil, c) + residual
    )
    torch.testing.assert_close(layer(c), expected, rtol=0, atol=1e-12)


# ----------------------------------------------------------------- fast paths


def _assert_periodic_stencil(grid: tuple[int, ...], batch: int, seed: int) -> None:
    """`_periodic_conv3` on a random batch equals the circular correlation plus bias (float64
    round-off), and its gradients pass `gradcheck`."""
    torch.manual_seed(seed)
    c = torch.randn(batch, *grid, 3, dtype=torch.float64, requires_grad=True)
    kernel = torch.randn(4, 3, *[3] * len(grid), dtype=torch.float64, requires_grad=True)
    bias = torch.randn(4, dtype=torch.float64, requires_grad=True)
    expected = stencil_ref(kernel.detach(), c.detach().movedim(-1, 1)).movedim(1, -1)
    out = _periodic_conv3(c, kernel, bias)
    torch.testing.assert_close(out, expected + bias.detach(), rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(_periodic_conv3, (c, kernel, bias))


@pytest.mark.parametrize(
    "grid", [(8, 12), (4, 4), (16, 8), (6, 10), (12,), (4,), (8,), (24,), (10,)]
)
def test_periodic_stencil_convolution_is_the_circular_correlation_and_its_gradient(grid):
    # grid sizes that are multiples of 4 take Winograd (custom autograd Functions): F(8, 3)
    # along a first axis that is a multiple of 8, F(4, 3) otherwise; the others conv1d /
    # conv2d
    _assert_periodic_stencil(grid, batch=2, seed=7)


def test_winograd_tiles_are_8_on_a_first_axis_that_allows_it_and_4_elsewhere():
    assert _lgm._tile_sizes((256,)) == (8,)
    assert _lgm._tile_sizes((12,)) == (4,)
    assert _lgm._tile_sizes((64, 64)) == (8, 4)
    assert _lgm._tile_sizes((12, 8)) == (4, 4)
    assert _lgm._tile_sizes((8, 6)) is None and _lgm._tile_sizes((10,)) is None


@pytest.mark.parametrize("grid", [(8, 12), (12, 8), (12,), (16,)])
def test_winograd_stencil_in_chunks_of_the_batch_is_the_same_correlation(grid, monkeypatch):
    # large batches are transformed a few samples at a time; one sample per chunk here
    monkeypatch.setattr(_lgm, "_CHUNK_BYTES", 1)
    ms = _lgm._tile_sizes(grid)
    assert len(_lgm._batch_chunks(torch.Size((3, *grid, 3)), torch.empty(0), ms)) == 3
    _assert_periodic_stencil(grid, batch=3, seed=9)


@pytest.mark.parametrize("n_dim", [1, 2])
def test_periodic_stencil_convolution_float32_round_off_is_small(n_dim):
    # 16 points take F(8, 3) along the first axis, the tiles that round off most
    torch.manual_seed(8)
    c = torch.randn(2, *[16] * n_dim, 32)
    kernel = torch.randn(32, 32, *[3] * n_dim) / 10
    bias = torch.zeros(32)
    exact = _periodic_conv3(c.double(), kernel.double(), bias.double())
    err = (_periodic_conv3(c, kernel, bias) - exact).norm() / exact.norm()
    assert err < 1e-5, err


@pytest.mark.parametrize("n_dim", [1, 2])
def test_spectral_weight_is_stored_mode_major_and_its_gradient_too(n_dim):
    # the mode-wise products read each (in, out) matrix in place and write its gradient in
    # place: the gradient has the parameter's strides, so autograd keeps it without a copy
    torch.manual_seed(9)
    conv = SpectralConv(3, 5, n_dim=n_dim, n_modes=4)
    w = conv.weight
    assert w.shape == ((3, 5, 4) if n_dim == 1 else (3, 5, 8, 4))
    assert w.stride()[1] == 1 and w.stride()[0] == 5
    conv(torch.randn(2, 3, *[16] * n_dim)).square().sum().backward()
    assert w.grad.stride() == w.stride()
    # state dicts carry the values in the public (in, out, *modes) layout
    other = SpectralConv(3, 5, n_dim=n_dim, n_modes=4)
    other.load_state_dict({"weight": w.detach().contiguous()})
    assert torch.equal(other.weight, w) and other.weight.stride() == w.stride()
