"""PINN networks: exact periodicity, hand-computed references, gradients, bad input."""

import math

import pytest
import torch

from opkit.models.pinns import MLP, FourierFeatures, ModifiedMLP, PeriodicEmbedding


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_periodic_embedding_features_by_hand():
    emb = PeriodicEmbedding(periods=(None, 2.0), n_harmonics=2).double()
    z = torch.tensor([[0.3, 0.25]], dtype=torch.float64)
    w = 2 * math.pi / 2.0
    expected = [0.3, 1.0, math.cos(w * 0.25), math.cos(2 * w * 0.25)]
    expected += [math.sin(w * 0.25), math.sin(2 * w * 0.25)]
    assert emb.out_features == 6
    torch.testing.assert_close(emb(z)[0], torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("cls", [MLP, ModifiedMLP])
def test_network_with_periodic_embedding_is_exactly_periodic(cls):
    period = 2.0
    emb = PeriodicEmbedding(periods=(None, period), n_harmonics=5)
    net = cls(width=32, depth=3, embedding=emb, generator=_gen()).double()
    t = torch.rand(200, dtype=torch.float64, generator=_gen(1))
    x = -1 + 2 * torch.rand(200, dtype=torch.float64, generator=_gen(2))
    x.requires_grad_(True)
    u = net(torch.stack([t, x], -1))[:, 0]
    u_shift = net(torch.stack([t, x + period], -1))[:, 0]
    u_shift3 = net(torch.stack([t, x - 3 * period], -1))[:, 0]
    # Periodic to rounding: the only difference is cos(kωx + 2πk) vs cos(kωx).
    assert (u - u_shift).abs().max() < 1e-12
    assert (u - u_shift3).abs().max() < 1e-12
    # ... and so are its derivatives (no boundary loss is needed).
    (du,) = torch.autograd.grad(u.sum(), x)
    (du_shift,) = torch.autograd.grad(u_shift.sum(), x)
    assert (du - du_shift).abs().max() < 1e-11
    # The embedding is not trivially constant: the network does vary along x.
    assert u.std() > 1e-3


def test_modified_mlp_matches_its_formula_on_fixed_weights():
    net = ModifiedMLP(2, 1, width=4, depth=2, generator=_gen(3)).double()
    z = torch.rand(5, 2, dtype=torch.float64, generator=_gen(4))

    def lin(layer, h):
        return h @ layer.weight.T + layer.bias

    U = torch.tanh(lin(net.encoder_u, z))
    V = torch.tanh(lin(net.encoder_v, z))
    h = z
    for layer in net.hidden:
        gate = torch.tanh(lin(layer, h))
        h = (1 - gate) * U + gate * V
    torch.testing.assert_close(net(z), lin(net.head, h))


def test_mlp_matches_its_formula_and_glorot_init():
    net = MLP(3, 2, width=64, depth=2, activation="sin", generator=_gen(5)).double()
    z = torch.rand(7, 3, dtype=torch.float64, generator=_gen(6))
    *hidden, head = net.mlp.linears
    h = z
    for layer in hidden:
        h = torch.sin(h @ layer.weight.T + layer.bias)
    torch.testing.assert_close(net(z), h @ head.weight.T + head.bias)
    # Glorot normal: std sqrt(2 / (fan_in + fan_out)), zero bias.
    w = hidden[1].weight
    assert abs(float(w.std()) - math.sqrt(2 / 128)) < 0.1 * math.sqrt(2 / 128)
    assert float(hidden[1].bias.abs().max()) == 0.0


def test_pinn_mlp_is_the_layers_mlp_after_the_embedding():
    # One MLP in opkit: the PINN network is `layers.MLP` on the embedded coordinates, with
    # the same weights for the same generator.
    from opkit.models.layers import MLP as LayersMLP

    emb = PeriodicEmbedding(periods=(None, 2.0), n_harmonics=3)
    net = MLP(width=16, depth=3, embedding=emb, generator=_gen(11)).double()
    plain = LayersMLP([emb.out_features, 16, 16, 16, 1], generator=_gen(11)).double()
    for a, b in zip(net.mlp.parameters(), plain.parameters()):
        assert torch.equal(a, b)
    z = torch.rand(9, 2, dtype=torch.float64, generator=_gen(12))
    torch.testing.assert_close(net(z), plain(emb(z)), rtol=0, atol=0)


def test_deeponet_and_pinns_share_one_periodic_embedding():
    # DeepONet's trunk features are PeriodicEmbedding(periods=(1,) * d, constant=False):
    # cos/sin(2 pi k y) for k = 1..K, all cosines first.
    from opkit.models import layers, pinns

    assert pinns.PeriodicEmbedding is layers.PeriodicEmbedding
    emb = layers.PeriodicEmbedding(periods=(1.0, 1.0), n_harmonics=3, constant=False)
    y = torch.rand(4, 5, 2, generator=_gen(13))
    angle = (2 * math.pi) * (y[..., None] * torch.arange(1.0, 4.0)).flatten(-2)
    expected = torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)
    assert torch.equal(emb(y), expected)  # bit for bit: DeepONet's numerics are unchanged


def test_initialisation_is_reproducible_from_the_generator():
    a = ModifiedMLP(width=8, depth=2, generator=_gen(7))
    b = ModifiedMLP(width=8, depth=2, generator=_gen(7))
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("cls", [MLP, ModifiedMLP])
def test_every_parameter_gets_a_gradient(cls):
    net = cls(width=8, depth=3, embedding=PeriodicEmbedding(periods=(None, 1.0)))
    net(torch.rand(10, 2)).pow(2).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


def test_fourier_features_formula_and_shapes():
    ff = FourierFeatures(2, n_features=3, sigma=2.0, generator=_gen(8)).double()
    z = torch.rand(4, 2, dtype=torch.float64, generator=_gen(9))
    proj = 2 * math.pi * z @ ff.B
    torch.testing.assert_close(ff(z), torch.cat([torch.cos(proj), torch.sin(proj)], -1))
    net = MLP(2, 1, width=8, depth=1, embedding=ff)
    assert net.double()(z).shape == (4, 1)
    # Frequencies are drawn with the requested spread.
    big = FourierFeatures(1, n_features=4000, sigma=2.0, generator=_gen(10))
    assert abs(float(big.B.std()) - 2.0) < 0.1


def test_bad_input_is_rejected_before_work():
    with pytest.raises(ValueError, match="smooth"):
        MLP(activation="relu")
    with pytest.raises(ValueError, match="activation"):
        ModifiedMLP(activation="swish")
    with pytest.raises(ValueError, match="width"):
        ModifiedMLP(width=0)
    with pytest.raises(ValueError, match="periods"):
        PeriodicEmbedding(2, periods=(None,))
    with pytest.raises(ValueError, match="periods"):
        PeriodicEmbedding(2, periods=(None, -1.0))
    with pytest.raises(ValueError, match="in_features"):
        MLP(in_features=3, embedding=PeriodicEmbedding(2, periods=(None, 1.0)))
    with pytest.raises(TypeError, match="embedding"):
        MLP(embedding="periodic")
    with pytest.raises(ValueError, match="sigma"):
        FourierFeatures(2, sigma=0.0)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        PeriodicEmbedding(periods=(None, 1.0))(torch.zeros(3, 3))
