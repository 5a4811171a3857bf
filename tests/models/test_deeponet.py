"""DeepONet and POD-DeepONet: hand-computed forwards, POD algebra, errors, a learning run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from opkit.models import DeepONet, PODDeepONet
from opkit.models.layers import MLP
from opkit.pde_data import DataSpec


@pytest.fixture(autouse=True)
def _one_thread():
    # These problems are tiny: a second intra-op thread only adds contention on a shared
    # CPU (measured 30x slower under load). Restored afterwards.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- the MLP block ---------------------------------------------------------------------------
def test_mlp_initialisation_is_reproducible_and_glorot_scaled():
    a = MLP([400, 300, 5], generator=_gen(3))
    b = MLP([400, 300, 5], generator=_gen(3))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    w = a.linears[0].weight.detach()
    # Glorot normal: std sqrt(2 / (fan_in + fan_out)) = 0.0535 here; zero biases.
    assert abs(float(w.std()) / math.sqrt(2 / 700) - 1) < 0.02
    assert float(a.linears[0].bias.detach().abs().max()) == 0.0
    torch_init = MLP([400, 300], init="torch", generator=_gen(3))
    assert float(torch_init.linears[0].weight.detach().abs().max()) <= 400**-0.5
    # The activation acts between layers, and after the last one only when asked.
    x = torch.randn(7, 400, generator=_gen(4))
    last = MLP([400, 300, 5], activate_last=True, generator=_gen(3))
    torch.testing.assert_close(last(x), torch.tanh(a(x)))
    with pytest.raises(ValueError, match=r"MLP input `x` must have 400 features"):
        a(torch.randn(2, 399))


# -- DeepONet: the formula on fixed weights ------------------------------------------------
def _set_linear(lin: nn.Linear, weight: np.ndarray, bias: np.ndarray) -> None:
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(weight))
        lin.bias.copy_(torch.from_numpy(bias))


def test_forward_matches_hand_computation_on_fixed_weights():
    # 3 sensors, 2 outputs, p = 2: branch 3 -> 2 -> 4, trunk 1 -> 2 -> 2 (tanh everywhere,
    # the trunk's last layer activated too).
    net = DeepONet(
        branch_layers=[3, 2, 4], trunk_layers=[1, 2, 2], activation="tanh", n_outputs=2
    ).double()
    wb1 = np.array([[0.1, -0.2, 0.3], [0.05, 0.0, -0.1]])
    bb1 = np.array([0.01, -0.02])
    wb2 = np.array([[0.2, 0.1], [-0.3, 0.4], [0.5, -0.1], [0.0, 0.25]])
    bb2 = np.array([0.1, 0.0, -0.05, 0.02])
    wt1 = np.array([[1.5], [-0.7]])
    bt1 = np.array([0.1, 0.3])
    wt2 = np.array([[0.6, -0.4], [0.2, 0.9]])
    bt2 = np.array([-0.1, 0.05])
    _set_linear(net.branch.linears[0], wb1, bb1)
    _set_linear(net.branch.linears[1], wb2, bb2)
    _set_linear(net.trunk.linears[0], wt1, bt1)
    _set_linear(net.trunk.linears[1], wt2, bt2)
    with torch.no_grad():
        net.bias.copy_(torch.tensor([0.3, -0.2], dtype=torch.float64))
    net.set_normalization(x_mean=0.5, x_std=2.0, y_mean=[1.0, -1.0], y_std=[3.0, 0.5])

    u = np.array([[1.0, 2.0, -1.0], [0.0, 0.5, 0.25]])
    y = np.array([[0.0], [0.25], [0.8]])
    out = net.forward_operator(torch.from_numpy(u), torch.from_numpy(y)).detach().numpy()

    expected = np.zeros((2, 3, 2))
    for i in range(2):
        b = wb2 @ np.tanh(wb1 @ ((u[i] - 0.5) / 2.0) + bb1) + bb2
        for n in range(3):
            t = np.tanh(wt2 @ np.tanh(wt1 @ y[n] + bt1) + bt2)
            for k, (mu, sd, beta) in enumerate([(1.0, 3.0, 0.3), (-1.0, 0.5, -0.2)]):
                expected[i, n, k] = (b[2 * k : 2 * k + 2] @ t + beta) * sd + mu
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_single_output_is_a_plain_dot_product_plus_bias():
    # One output: G(u)(y) = <b(u), t(y)> + beta, with t computed by the trunk module.
    net = DeepONet(branch_layers=[5, 8, 6], trunk_layers=[2, 7, 6], generator=_gen(0)).double()
    with torch.no_grad():
        net.bias.fill_(0.7)
    u = torch.randn(4, 5, generator=_gen(1), dtype=torch.float64)
    pts = torch.rand(9, 2, generator=_gen(2), dtype=torch.float64)
    out = net.forward_operator(u, pts)
    assert out.shape == (4, 9)
    expected = net.branch(u) @ net.trunk(pts).T + 0.7
    torch.testing.assert_close(out, expected, rtol=1e-13, atol=1e-13)


def test_every_parameter_gets_a_gradient():
    spec = DataSpec(spatial_shape=(16,), lengths=(2.0,), in_frames=2, out_frames=2)
    net = DeepONet.from_spec(spec, branch_hidden=(8,), trunk_hidden=(8,), latent=4)
    x = torch.randn(3, 2, 16, generator=_gen(0))
    net(x).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


def test_shared_and_per_sample_points_agree():
    net = DeepONet(branch_layers=[6, 10, 12], trunk_layers=[2, 10, 4], n_outputs=3)
    net = net.double()
    u = torch.randn(5, 6, generator=_gen(0), dtype=torch.float64)
    pts = torch.rand(11, 2, generator=_gen(1), dtype=torch.float64)
    shared = net.forward_operator(u, pts)
    per_sample = net.forward_operator(u, pts.expand(5, 11, 2))
    assert shared.shape == (5, 11, 3)
    torch.testing.assert_close(shared, per_sample, rtol=1e-13, atol=1e-13)
    # ... and per-sample points really are used per sample.
    other = torch.rand(5, 11, 2, generator=_gen(2), dtype=torch.float64)
    mixed = net.forward_operator(u, other)
    torch.testing.assert_close(mixed[2], net.forward_operator(u[2:3], other[2])[0])


@pytest.mark.parametrize("shape", [(32,), (8, 6)])
def test_grid_mode_is_the_operator_on_the_unit_grid(shape):
    spec = DataSpec(spatial_shape=shape, lengths=(2.0,) * len(shape), in_frames=2, out_frames=3)
    net = DeepONet.from_spec(
        spec, branch_hidden=(16,), trunk_hidden=(16,), latent=8, generator=_gen(0)
    ).double()
    x = torch.randn(4, 2, *shape, generator=_gen(1), dtype=torch.float64)
    out = net(x)
    assert out.shape == (4, 3, *shape)
    # The grid buffer is the spec's grid scaled to [0, 1) per dimension, C order.
    lengths = torch.tensor(spec.lengths, dtype=torch.float64)
    torch.testing.assert_close(net.grid, spec.grid() / lengths)
    # Grid layout = operator call at the grid points, with sensors = grid values (C order).
    u = x.flatten(2).transpose(1, 2)
    ref = net.forward_operator(u, net.grid)  # (batch, n_points, 3)
    torch.testing.assert_close(out, ref.transpose(1, 2).reshape(out.shape))
    # `points` given: the operator layout at those points.
    pts = torch.rand(7, len(shape), generator=_gen(2), dtype=torch.float64)
    torch.testing.assert_close(net(x, pts), net.forward_operator(u, pts))


def test_periodic_features_make_the_trunk_one_periodic():
    net = DeepONet(
        branch_layers=[4, 8, 8], trunk_layers=[2, 8, 8], periodic_features=2, generator=_gen(0)
    ).double()
    u = torch.randn(3, 4, generator=_gen(1), dtype=torch.float64)
    pts = torch.rand(10, 2, generator=_gen(2), dtype=torch.float64)
    shift = torch.tensor([1.0, -3.0], dtype=torch.float64)
    torch.testing.assert_close(net.forward_operator(u, pts), net.forward_operator(u, pts + shift))
    assert not torch.allclose(net.forward_operator(u, pts), net.forward_operator(u, pts + 0.25))


# -- normalisation -----------------------------------------------------------------------
def test_normalisation_is_the_affine_conjugate_and_survives_the_state_dict():
    spec = DataSpec(spatial_shape=(12,), lengths=(1.0,), in_frames=2, out_frames=2)
    plain = DeepONet.from_spec(spec, branch_hidden=(8,), trunk_hidden=(8,), latent=4).double()
    normed = DeepONet.from_spec(spec, branch_hidden=(8,), trunk_hidden=(8,), latent=4).double()
    normed.load_state_dict(plain.state_dict())
    x_train = 3.0 + 2.0 * torch.randn(50, 2, 12, generator=_gen(0), dtype=torch.float64)
    x_train[:, 1] = 10 * x_train[:, 1] - 4
    y_train = -1.0 + 0.1 * torch.randn(50, 2, 12, generator=_gen(1), dtype=torch.float64)
    normed.fit_data_statistics(x_train, y_train)

    # The statistics are the per-channel mean and population std of the training data.
    for k in range(2):
        torch.testing.assert_close(normed.x_norm.mean[k], x_train[:, k].mean())
        torch.testing.assert_close(normed.x_norm.std[k], x_train[:, k].std(correction=0))
        torch.testing.assert_close(normed.y_norm.mean[k], y_train[:, k].mean())
        torch.testing.assert_close(normed.y_norm.std[k], y_train[:, k].std(correction=0))
    z = normed.x_norm.normalize(x_train, dim=1)
    torch.testing.assert_close(z.mean((0, 2)), torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(z.std((0, 2), correction=0), torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(
        normed.y_norm.denormalize(normed.y_norm.normalize(y_train, dim=1), dim=1), y_train
    )

    # normed(x) = y_std * plain((x - x_mean) / x_std) + y_mean, channel by channel.
    x = torch.randn(3, 2, 12, generator=_gen(2), dtype=torch.float64)
    xm, xs = normed.x_norm.mean.view(1, 2, 1), normed.x_norm.std.view(1, 2, 1)
    ym, ys = normed.y_norm.mean.view(1, 2, 1), normed.y_norm.std.view(1, 2, 1)
    torch.testing.assert_close(normed(x), ys * plain((x - xm) / xs) + ym)

    # The statistics are buffers in the state dict: a fresh model reproduces the output.
    state = normed.state_dict()
    assert {"x_norm.mean", "x_norm.std", "y_norm.mean", "y_norm.std"} <= set(state)
    assert "grid" not in state  # derived from spatial_shape
    fresh = DeepONet.from_spec(spec, branch_hidden=(8,), trunk_hidden=(8,), latent=4).double()
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh(x), normed(x))


def test_constant_channel_keeps_unit_std():
    net = DeepONet(branch_layers=[4, 4, 4], trunk_layers=[1, 4, 4], spatial_shape=(4,))
    net.fit_data_statistics(torch.full((5, 1, 4), 2.0), torch.randn(5, 1, 4))
    assert float(net.x_norm.mean) == 2.0 and float(net.x_norm.std) == 1.0


# -- errors --------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    net = DeepONet(branch_layers=[64, 8, 8], trunk_layers=[1, 8, 8])
    with pytest.raises(ValueError, match=r"`u` has 32 sensors.*n_sensors=64"):
        net.forward_operator(torch.randn(2, 32), torch.rand(5, 1))
    with pytest.raises(ValueError, match=r"`points` have dimension 2.*dim=1"):
        net.forward_operator(torch.randn(2, 64), torch.rand(5, 2))
    with pytest.raises(ValueError, match=r"batch size 3, `u` has 2"):
        net.forward_operator(torch.randn(2, 64), torch.rand(3, 5, 1))
    with pytest.raises(ValueError, match=r"`u` has 2 channels"):
        net.forward_operator(torch.randn(2, 64, 2), torch.rand(5, 1))
    with pytest.raises(TypeError, match=r"`u` has dtype torch.float64 but the model is"):
        net.forward_operator(torch.randn(2, 64, dtype=torch.float64), torch.rand(5, 1))
    with pytest.raises(TypeError, match=r"`u` must be a torch.Tensor"):
        net.forward_operator(np.zeros((2, 64)), torch.rand(5, 1))
    with pytest.raises(ValueError, match=r"has no grid"):
        net(torch.randn(2, 1, 64))

    grid = DeepONet.from_spec(DataSpec(spatial_shape=(16,), lengths=(1.0,)))
    with pytest.raises(ValueError, match=r"`x` must have shape \(batch, 1, 16\)"):
        grid(torch.randn(2, 1, 32))
    with pytest.raises(ValueError, match=r"`x_std` must be > 0"):
        grid.set_normalization(x_std=0.0)
    with pytest.raises(ValueError, match=r"`y_mean` must be a number or have 1 entries"):
        grid.set_normalization(y_mean=[0.0, 1.0])
    with pytest.raises(ValueError, match=r"`y_train` must be \(n_samples, 1, \*spatial\)"):
        grid.fit_data_statistics(torch.randn(4, 1, 16), torch.randn(4, 2, 16))


def test_inconsistent_sizes_are_rejected_at_construction():
    with pytest.raises(ValueError, match=r"exactly one of `branch`"):
        DeepONet(branch=MLP([4, 4]), branch_layers=[4, 4], trunk_layers=[1, 4])
    with pytest.raises(ValueError, match=r"`branch_layers\[-1\]` \(=8\) must be n_outputs \* "):
        DeepONet(branch_layers=[4, 8], trunk_layers=[1, 8], n_outputs=2)
    with pytest.raises(ValueError, match=r"`branch_layers\[0\]` \(=4\) must equal prod"):
        DeepONet(branch_layers=[4, 8], trunk_layers=[1, 8], spatial_shape=(8,))
    with pytest.raises(ValueError, match=r"`trunk_layers\[0\]` \(=1\) must be the dimension"):
        DeepONet(branch_layers=[16, 8], trunk_layers=[1, 8], spatial_shape=(4, 4))
    with pytest.raises(ValueError, match=r"`branch_layers` must hold at least two"):
        DeepONet(branch_layers=[4], trunk_layers=[1, 8])
    with pytest.raises(TypeError, match=r"`trunk` must be a torch.nn.Module"):
        DeepONet(branch_layers=[4, 8], trunk=lambda y: y)
    with pytest.raises(ValueError, match=r"`activation` must be one of"):
        DeepONet(branch_layers=[4, 8], trunk_layers=[1, 8], activation="swish2")
    with pytest.raises(TypeError, match=r"`spec` must be an opkit.pde_data.DataSpec"):
        DeepONet.from_spec({"spatial_shape": (8,)})
    # Custom modules whose widths disagree are caught at the call with a clear message.
    net = DeepONet(branch=MLP([4, 6]), trunk=MLP([1, 4]), n_outputs=2)
    with pytest.raises(ValueError, match=r"branch returned shape \(2, 6\).*= \(2, 2 \* 4\)"):
        net.forward_operator(torch.randn(2, 4), torch.rand(3, 1))


# -- POD-DeepONet ---------------------------------------------------------------------------
def _low_rank_outputs(n_samples: int, shape: tuple[int, ...], rank: int, seed: int):
    """Outputs ``mean(x) + sum_r a_r f_r(x)`` of exact rank ``rank`` after centring."""
    g = _gen(seed)
    axes = torch.meshgrid(*[torch.arange(n, dtype=torch.float64) / n for n in shape], indexing="ij")
    s = sum(axes)
    funcs = torch.stack([torch.sin(2 * math.pi * (r + 1) * s + r) for r in range(rank)])
    amps = torch.randn(n_samples, rank, generator=g, dtype=torch.float64) * (
        3.0 ** -torch.arange(rank)
    )
    mean = 1.0 + torch.cos(2 * math.pi * axes[0])
    return (mean + torch.einsum("sr,r...->s...", amps, funcs))[:, None]


@pytest.mark.parametrize("shape", [(40,), (6, 7)])
def test_pod_modes_are_orthonormal_and_reproduce_low_rank_data(shape):
    y = _low_rank_outputs(30, shape, rank=3, seed=0)
    n = math.prod(shape)
    net = PODDeepONet(spatial_shape=shape, n_modes=5, branch_layers=[n, 8, 5]).double()
    net.fit_pod(y)
    modes = net.modes[0]  # (points, p)
    torch.testing.assert_close(modes.T @ modes / n, torch.eye(5, dtype=torch.float64))
    torch.testing.assert_close(net.mean[0], y[:, 0].reshape(30, n).mean(0))
    # Rank 3 after centring: three modes already reproduce the training set exactly.
    torch.testing.assert_close(net.project(y), y, rtol=1e-10, atol=1e-10)
    three = PODDeepONet(spatial_shape=shape, n_modes=3, branch_layers=[n, 3]).double()
    three.fit_pod(y)
    torch.testing.assert_close(three.project(y), y, rtol=1e-10, atol=1e-10)
    two = PODDeepONet(spatial_shape=shape, n_modes=2, branch_layers=[n, 2]).double()
    two.fit_pod(y)
    assert float((two.project(y) - y).abs().max()) > 1e-3
    # The scales are the RMS of the training coefficients <y - mean, phi_j>.
    coef = (y[:, 0].reshape(30, n) - net.mean[0]) @ modes / n
    torch.testing.assert_close(net.coef_scale[0], coef.pow(2).mean(0).sqrt())


def test_pod_deeponet_forward_is_the_pod_expansion():
    # With the branch set to the exact (scaled) POD projection, model(y) == y on low-rank
    # data: checks the expansion mean + sum_j s_j b_j phi_j, scales and layout included.
    shape = (24,)
    y = _low_rank_outputs(20, shape, rank=3, seed=1)
    ref = PODDeepONet(spatial_shape=shape, n_modes=3, branch_layers=[24, 3]).double()
    ref.fit_pod(y)
    lin = nn.Linear(24, 3).double()
    with torch.no_grad():
        lin.weight.copy_(ref.modes[0].T / 24 / ref.coef_scale[0][:, None])
        lin.bias.copy_(-lin.weight @ ref.mean[0])
    net = PODDeepONet(spatial_shape=shape, n_modes=3, branch=lin).double()
    net.fit_pod(y)
    torch.testing.assert_close(net(y), y, rtol=1e-10, atol=1e-10)


def test_pod_multiple_outputs_have_their_own_modes_and_state_dict_round_trip():
    shape = (16,)
    y = torch.cat(
        [_low_rank_outputs(12, shape, 2, seed=2), 5 * _low_rank_outputs(12, shape, 1, seed=3)], 1
    )
    spec = DataSpec(spatial_shape=shape, lengths=(1.0,), in_frames=1, out_frames=2)
    net = PODDeepONet.from_spec(spec, n_modes=2, branch_hidden=(8,)).double()
    x = torch.randn(12, 1, 16, generator=_gen(0), dtype=torch.float64)
    net.fit_data_statistics(x, y)
    torch.testing.assert_close(net.project(y), y, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(net.x_norm.mean[0], x.mean())
    out = net(x)
    assert out.shape == (12, 2, 16)
    out.square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name
    fresh = PODDeepONet.from_spec(spec, n_modes=2, branch_hidden=(8,)).double()
    fresh.load_state_dict(net.state_dict())
    torch.testing.assert_close(fresh(x), out.detach())


def test_pod_errors():
    net = PODDeepONet(spatial_shape=(8,), n_modes=4, branch_layers=[8, 4])
    with pytest.raises(RuntimeError, match=r"call `fit_pod\(y_train\)`"):
        net(torch.randn(2, 1, 8))
    with pytest.raises(ValueError, match=r"`y_train` has 3 samples, POD needs at least"):
        net.fit_pod(torch.randn(3, 1, 8))
    with pytest.raises(ValueError, match=r"`y_train` must have shape \(batch, 1, 8\)"):
        net.fit_pod(torch.randn(10, 1, 9))
    with pytest.raises(ValueError, match=r"`branch_layers\[-1\]` \(=3\) must be n_outputs"):
        PODDeepONet(spatial_shape=(8,), n_modes=4, branch_layers=[8, 3])
    with pytest.raises(ValueError, match=r"`n_modes` \(=9\) must be <= the number of grid"):
        PODDeepONet(spatial_shape=(8,), n_modes=9, branch_layers=[8, 9])


# -- learning --------------------------------------------------------------------------------
def _fourier_inputs(n: int, gen: torch.Generator, n_harmonics: int = 4):
    k = torch.arange(1, n_harmonics + 1, dtype=torch.float64)
    a = torch.randn(n, n_harmonics, generator=gen, dtype=torch.float64) / k
    b = torch.randn(n, n_harmonics, generator=gen, dtype=torch.float64) / k
    return a, b, k


def _u(a, b, k, x):
    angle = 2 * math.pi * k * x[..., None]
    return (a[:, None] * torch.cos(angle) + b[:, None] * torch.sin(angle)).sum(-1)


def _antiderivative(a, b, k, x):
    """Exact ``int_0^x u`` of the Fourier series ``u``."""
    angle = 2 * math.pi * k * x[..., None]
    terms = a[:, None] * torch.sin(angle) + b[:, None] * (1 - torch.cos(angle))
    return (terms / (2 * math.pi * k)).sum(-1)


def test_learns_the_antiderivative_operator():
    gen = _gen(0)
    sensors = torch.arange(64, dtype=torch.float64) / 64
    a, b, k = _fourier_inputs(256, gen)
    u_train = _u(a, b, k, sensors).float()
    y_train = _antiderivative(a, b, k, sensors).float()
    a_t, b_t, _ = _fourier_inputs(128, gen)
    u_test = _u(a_t, b_t, k, sensors).float()
    # Unseen functions at unseen, per-sample query points.
    queries = torch.rand(128, 100, generator=gen, dtype=torch.float64)
    g_test = _antiderivative(a_t, b_t, k, queries).float()

    net = DeepONet(
        branch_layers=[64, 64, 64], trunk_layers=[1, 64, 64], activation="relu", generator=_gen(1)
    )
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    steps = 500
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    points = sensors.float()[:, None]
    for _ in range(steps):
        opt.zero_grad()
        err = net.forward_operator(u_train, points) - y_train
        (err.square().sum(1) / y_train.square().sum(1)).mean().backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        pred = net.forward_operator(u_test, queries.float()[..., None])
    rel = ((pred - g_test).norm(dim=1) / g_test.norm(dim=1)).mean()
    # The best constant-in-u predictor: the mean training output G(mean u), by linearity.
    mean_pred = _antiderivative(a.mean(0, keepdim=True), b.mean(0, keepdim=True), k, queries)
    trivial = ((mean_pred.float() - g_test).norm(dim=1) / g_test.norm(dim=1)).mean()
    assert float(trivial) > 0.9
    assert float(rel) < 0.2 * float(trivial), (float(rel), float(trivial))


# -- against an independent implementation ----------------------------------------------------
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_equals_deepxde_cartesian_product_deeponet_on_the_same_weights(n_outputs, monkeypatch):
    monkeypatch.setenv("DDE_BACKEND", "pytorch")
    dde_nn = pytest.importorskip("deepxde.nn.pytorch")
    p = 8
    strategy = "split_branch" if n_outputs > 1 else None
    with torch.random.fork_rng():
        torch.manual_seed(0)
        ref = dde_nn.DeepONetCartesianProd(
            [32, 16, 16, n_outputs * p],
            [1, 16, 16, p],
            "tanh",
            "Glorot normal",
            num_outputs=n_outputs,
            multi_output_strategy=strategy,
        )
        net = DeepONet(
            branch_layers=[32, 16, 16, n_outputs * p],
            trunk_layers=[1, 16, 16, p],
            n_outputs=n_outputs,
        )
        with torch.no_grad():
            pairs = [*zip(net.branch.linears, ref.branch.linears)]
            pairs += [*zip(net.trunk.linears, ref.trunk.linears)]
            for ours, theirs in pairs:
                theirs.bias.normal_(0.0, 0.1)  # DeepXDE starts at zero: make biases matter
                ours.weight.copy_(theirs.weight)
                ours.bias.copy_(theirs.bias)
            for k in range(n_outputs):
                ref.b[k].fill_(0.1 * (k + 1))
                net.bias[k] = 0.1 * (k + 1)
        u, x = torch.randn(5, 32), torch.rand(20, 1)
    expected = ref((u, x))
    torch.testing.assert_close(net.forward_operator(u, x), expected, rtol=1e-6, atol=1e-6)
