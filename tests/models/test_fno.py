"""The FNO adapter: same function as neuralop's FNO, the paper's modes, invariances."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from opkit.models import FNO
from opkit.pde_data import DataSpec


@pytest.fixture(autouse=True)
def _one_thread():
    # Small problems: a second intra-op thread only adds contention on a shared CPU.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _build(**kwargs) -> FNO:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return FNO(**kwargs)


def _smooth(shape: tuple[int, ...], channels: int = 1) -> torch.Tensor:
    """A band-limited periodic input on a grid of ``shape``."""
    axes = torch.meshgrid(*[torch.arange(n) / n for n in shape], indexing="ij")
    s = sum(axes)
    u = torch.sin(2 * math.pi * s) + 0.5 * torch.cos(6 * math.pi * axes[0] + 1)
    u = u + 0.2 * torch.sin(10 * math.pi * axes[-1])
    return torch.stack([u * (c + 1) for c in range(channels)])[None].float()


@pytest.mark.parametrize("n_modes, shape", [((8,), (32,)), ((6, 5), (16, 12))])
def test_output_equals_the_wrapped_neuralop_fno(n_modes, shape):
    from neuralop.models import FNO as NeuralopFNO

    ours = _build(
        in_channels=2, out_channels=3, n_modes=n_modes, hidden_channels=16, projection_channels=32
    )
    # The paper's FNO written directly against neuralop: linear lifting, no channel MLP,
    # linear skip, GELU, grid embedding; neuralop counts +-k, hence 2 * modes - 1.
    ref = NeuralopFNO(
        n_modes=tuple(2 * m - 1 for m in n_modes),
        in_channels=2,
        out_channels=3,
        hidden_channels=16,
        n_layers=4,
        lifting_channel_ratio=0,
        projection_channel_ratio=2,
        positional_embedding="grid",
        non_linearity=F.gelu,
        use_channel_mlp=False,
        fno_skip="linear",
    )
    ref.load_state_dict(ours.net.state_dict())  # strict: same modules, same shapes
    x = torch.randn(3, 2, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=0)


@pytest.mark.parametrize("n_dim", [1, 2])
def test_spectral_layers_keep_exactly_the_modes_below_n_modes(n_dim):
    m = 5
    model = _build(in_channels=1, out_channels=1, n_modes=(m,) * n_dim, hidden_channels=4)
    conv = model.net.fno_blocks.convs[0]
    n = 24
    axes = torch.meshgrid(*[torch.arange(n) / n for _ in range(n_dim)], indexing="ij")

    def response(k: int, axis: int) -> float:
        wave = torch.cos(2 * math.pi * k * axes[axis]).expand(1, 4, *([n] * n_dim))
        with torch.no_grad():
            return float((conv(wave) - conv(torch.zeros_like(wave))).abs().max())

    for axis in range(n_dim):
        assert response(m - 1, axis) > 1e-3  # |k| = m - 1 < m passes
        assert response(m, axis) < 1e-6  # |k| = m is cut


def test_resolution_invariance_same_weights_on_64_and_128_points():
    model = _build(in_channels=1, out_channels=1)  # the paper's 1-D defaults
    with torch.no_grad():
        coarse = model(_smooth((64,)))
        fine = model(_smooth((128,)))
    assert coarse.shape == (1, 1, 64) and fine.shape == (1, 1, 128)
    # The fine run, read on the coarse grid, is the coarse run up to the aliasing of the
    # harmonics the pointwise non-linearities create (measured 1.3e-3).
    rel = (fine[..., ::2] - coarse).norm() / coarse.norm()
    assert float(rel) < 1e-2, float(rel)


def test_without_positional_embedding_the_fno_commutes_with_periodic_shifts():
    model = _build(in_channels=2, out_channels=1, n_modes=(6, 6), positional_embedding=False)
    x = torch.randn(2, 2, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        shifted = model(torch.roll(x, shifts=(3, -5), dims=(-2, -1)))
        expected = torch.roll(model(x), shifts=(3, -5), dims=(-2, -1))
    torch.testing.assert_close(shifted, expected, rtol=1e-5, atol=1e-5)


def test_every_parameter_gets_a_gradient():
    spec = DataSpec(spatial_shape=(32,), lengths=(1.0,), in_frames=2, out_frames=2)
    model = FNO.from_spec(spec, hidden_channels=8, n_modes=8, channel_mlp=True)
    model(torch.randn(2, 2, 32)).square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


def test_from_spec_sizes_channels_dimensions_and_caps_modes():
    spec = DataSpec(spatial_shape=(32, 20), lengths=(1.0, 1.0), n_fields=2, in_frames=3)
    model = FNO.from_spec(spec, hidden_channels=8)
    assert model.n_modes == (16, 10)  # min(16, n // 2) per dimension
    assert (model.in_channels, model.out_channels, model.n_dim) == (6, 2, 2)
    assert model(torch.randn(2, 6, 32, 20)).shape == (2, 2, 32, 20)
    # A config may give one int for all dimensions (LightningCLI passes n_dim from the data).
    assert FNO(in_channels=1, out_channels=1, n_modes=12, n_dim=2).n_modes == (12, 12)
    # The 1-D default is the paper's Burgers FNO: width 64, 4 layers, |k| < 16.
    burgers = FNO.from_spec(DataSpec(spatial_shape=(1024,), lengths=(1.0,)))
    assert burgers.n_modes == (16,)
    assert burgers.net.fno_blocks.convs[0].weight.shape == (64, 64, 16)
    assert burgers.net.n_layers == 4 and burgers.net.projection.fcs[0].out_channels == 128


def test_bad_inputs_raise_clear_errors():
    model = FNO(in_channels=2, out_channels=1, n_modes=4, hidden_channels=4)
    with pytest.raises(ValueError, match=r"`x` must have shape \(batch, 2, n_1\)"):
        model(torch.randn(1, 3, 16))
    with pytest.raises(ValueError, match=r"1-D FNO"):
        model(torch.randn(1, 2, 16, 16))
    with pytest.raises(TypeError, match=r"`x` must be float32"):
        model(torch.randn(1, 2, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"`n_modes\[1\]` must be an integer >= 1, got 0"):
        FNO(in_channels=1, out_channels=1, n_modes=(4, 0))
    with pytest.raises(ValueError, match=r"`n_modes` \(4, 4\) gives 2 dimensions but `n_dim` is 3"):
        FNO(in_channels=1, out_channels=1, n_modes=(4, 4), n_dim=3)
    with pytest.raises(TypeError, match=r"`in_channels` must be an int"):
        FNO(in_channels=1.5, out_channels=1)
    with pytest.raises(ValueError, match=r"`activation` must be one of"):
        FNO(in_channels=1, out_channels=1, activation="nope")
    with pytest.raises(TypeError, match=r"`spec` must be an opkit.pde_data.DataSpec"):
        FNO.from_spec((64,))


def test_import_is_lazy_and_building_leaves_warning_filters_alone():
    # neuralop calls warnings.filterwarnings("once") when imported. A fresh interpreter is
    # the only place where the first import (the one with side effects) can be observed.
    code = """
import sys, warnings
import opkit.models
assert "neuralop" not in sys.modules and "deepxde" not in sys.modules
before = list(warnings.filters)
opkit.models.FNO(in_channels=1, out_channels=1, n_modes=4, hidden_channels=4)
assert "neuralop" in sys.modules
assert warnings.filters == before, warnings.filters[:3]
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_a_model_moved_after_a_call_runs_on_its_new_device():
    # neuralop caches the coordinate grid of the positional embedding without its device;
    # the adapter drops a stale cache. The meta device stands in for a GPU here.
    model = _build(in_channels=1, out_channels=1, n_modes=4, hidden_channels=4)
    model(torch.randn(1, 1, 16))
    with pytest.raises(RuntimeError, match="device"):
        model.to("meta").net(torch.randn(1, 1, 16, device="meta"))  # neuralop alone fails
    out = model.to("meta")(torch.randn(1, 1, 16, device="meta"))
    assert out.shape == (1, 1, 16) and out.device.type == "meta"


def test_default_train_stride_keeps_16_points_per_mode():
    """The coarsest power-of-two training grid with >= 16 points per kept mode."""

    def stride(*shape, **kw):
        return FNO.default_train_stride(
            DataSpec(spatial_shape=shape, lengths=(1.0,) * len(shape)), **kw
        )

    assert stride(1024) == 4 and stride(256) == 1 and stride(64, 64) == 1  # burgers, ks, ns
    assert stride(1024, n_modes=8) == 8 and stride(8192) == 32 and stride(96) == 1
    assert stride(1024, 256) == 1  # every axis must allow it
