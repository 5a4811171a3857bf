"""Model order reduction of neural ODEs: POD, DEIM, compress and the baselines, checked
against their defining identities (float64)."""

import pytest
import torch

from opkit.models import NeuralODE
from opkit.models.mor import (
    ReducedNeuralODE,
    compress,
    deim,
    deim_interpolate,
    pod,
    prune_neurons,
    snapshots,
    truncate_svd,
)

D = torch.float64


def _model(**kwargs):
    settings = dict(in_channels=2, out_channels=1, grid_shape=(8,), width=4, latent_channels=2)
    settings.update(kwargs)
    torch.manual_seed(0)
    return NeuralODE(**settings).double().eval()


def _windows(n=30, seed=1):
    return torch.randn(n, 2, 8, dtype=D, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- POD


def test_pod_energy_is_reported_monotone_and_one_at_full_rank():
    g = torch.Generator().manual_seed(0)
    S = torch.randn(12, 40, dtype=D, generator=g) * torch.logspace(0, -3, 12, dtype=D)[:, None]
    energies = [pod(S, k)[1] for k in range(1, 13)]
    assert all(b >= a for a, b in zip(energies, energies[1:]))
    assert energies[-1] == pytest.approx(1.0, abs=1e-14)
    assert energies[0] < 0.9
    for k in (1, 4, 9):
        V, energy = pod(S, k)
        torch.testing.assert_close(V.T @ V, torch.eye(k, dtype=D))
        # Eckart-Young: the residual energy is the discarded fraction.
        residual = (S - V @ (V.T @ S)).pow(2).sum() / S.pow(2).sum()
        assert float(residual) == pytest.approx(1 - energy, rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("k", [0, -1, 13, 41])
def test_pod_bad_k(k):
    with pytest.raises(ValueError, match="1 <= k <= 12"):
        pod(torch.randn(12, 40), k)


def test_pod_bad_snapshots():
    with pytest.raises(ValueError, match="2-D"):
        pod(torch.randn(12), 1)
    with pytest.raises(TypeError, match="k"):
        pod(torch.randn(4, 5), 1.5)


# ----------------------------------------------------------------------------- DEIM


def test_deim_indices_distinct_and_interpolant_exact_on_span():
    g = torch.Generator().manual_seed(3)
    U, _ = torch.linalg.qr(torch.randn(40, 9, dtype=D, generator=g))
    P = deim(U)
    assert P.dtype == torch.long and P.shape == (9,)
    assert len(set(P.tolist())) == 9
    assert torch.linalg.matrix_rank(U[P]) == 9
    v = U @ torch.randn(9, 5, dtype=D, generator=g)  # five vectors in span(U)
    torch.testing.assert_close(deim_interpolate(U, P, v.T[:, P]).T, v, rtol=1e-12, atol=1e-12)
    # Outside the span the interpolant differs, but still matches at the indices.
    w = torch.randn(40, dtype=D, generator=g)
    interp = deim_interpolate(U, P, w[P])
    torch.testing.assert_close(interp[P], w[P])
    assert (interp - w).abs().max() > 1e-3


def test_deim_first_index_and_greedy_residual():
    U = torch.eye(5, dtype=D)[:, [3, 1]] + 0.1 * torch.eye(5, dtype=D)[:, [0, 0]]
    # column 0 peaks at row 3; column 1's residual after interpolating at 3 peaks at 1
    assert deim(U).tolist() == [3, 1]


def test_deim_bad_input():
    with pytest.raises(ValueError, match="1 <= m <= n"):
        deim(torch.randn(3, 4))
    with pytest.raises(ValueError, match="linearly independent"):
        deim(torch.ones(6, 2, dtype=D))


# ----------------------------------------------------------------------------- compress


@pytest.mark.parametrize("offset", ["none", "initial"])
def test_full_size_reduction_reproduces_the_full_model(offset):
    model = _model(n_inputs=2)
    x = _windows()
    u = torch.randn(30, 2, dtype=D)
    n = model.state_size
    reduced = compress(model, x, n, n, u=u, offset=offset)
    assert isinstance(reduced, ReducedNeuralODE)
    assert float(reduced.state_energy) == pytest.approx(1.0)
    with torch.no_grad():
        torch.testing.assert_close(reduced(x, u), model(x, u), rtol=1e-12, atol=1e-12)


def test_reduced_vector_field_is_the_deim_galerkin_projection():
    model = _model()
    x = _windows()
    k, m = 5, 7
    reduced = compress(model, x, k, m)
    states, nonlinear = snapshots(model, x)
    V, _ = pod(states, k)
    U, _ = pod(nonlinear, m)
    P = deim(U)
    assert torch.equal(P, reduced.deim_indices)
    torch.testing.assert_close(reduced.basis.abs(), V.abs())  # modes up to sign
    V = reduced.basis
    layer = model.vector_field.layers[0]
    z = torch.randn(4, k, dtype=D)
    with torch.no_grad():
        f_full = torch.tanh((z @ V.T) @ layer.weight.T + layer.bias)  # f(A V z + b)
        expected = deim_interpolate(U, P, f_full[:, P]) @ V  # V^T U (P^T U)^-1 P^T f
        torch.testing.assert_close(reduced.vector_field(None, z), expected)
    assert reduced.cost() == {"macs": 2 * k * m, "f_evals": m}


def test_reduction_error_shrinks_with_size_and_state_dict_rebuilds():
    model = _model()
    x = _windows()
    with torch.no_grad():
        y = model(x)
        errors = [float((compress(model, x, k, k)(x) - y).abs().max()) for k in (2, 8, 16)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-12
    reduced = compress(model, x, 6, 4)  # m < k is valid
    again = ReducedNeuralODE(full_config=model.config, k=6, m=4).double()
    again.load_state_dict(reduced.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(again(x), reduced(x))


@pytest.mark.parametrize(
    "k, m, match",
    [(0, 4, "1 <= k <= n = 16"), (17, 4, "1 <= k <= n = 16"), (4, 0, "1 <= m"), (4, 20, "m")],
)
def test_compress_bad_sizes(k, m, match):
    with pytest.raises(ValueError, match=match):
        compress(_model(), _windows(), k, m)


def test_compress_refuses_what_it_does_not_support():
    with pytest.raises(ValueError, match="n_layers=2"):
        compress(_model(n_layers=2), _windows(), 2, 2)
    with pytest.raises(TypeError, match="NeuralODE"):
        compress(torch.nn.Linear(2, 2), _windows(), 2, 2)
    with pytest.raises(ValueError, match="snapshots"):
        compress(_model(), _windows(n=1), 6, 6)  # 1 window x 5 times < 6
    with pytest.raises(ValueError, match="offset"):
        compress(_model(), _windows(), 2, 2, offset="mean")


# ----------------------------------------------------------------------------- baselines


def test_pruning_removes_units_that_never_move_exactly():
    model = _model()
    layer = model.vector_field.layers[0]
    dead = [1, 4, 9, 12]
    with torch.no_grad():
        layer.weight[dead] = 0.0
        layer.bias[dead] = 0.0  # tanh(0) = 0: these units have zero velocity
    x = _windows()
    pruned = prune_neurons(model, x, 12)
    assert set(pruned.keep.tolist()).isdisjoint(dead)
    assert pruned.cost() == {"macs": 144, "f_evals": 12}
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), model(x), rtol=1e-12, atol=1e-12)
        assert (prune_neurons(model, x, 6)(x) - model(x)).abs().max() > 1e-6


def test_svd_truncation_is_exact_at_the_rank_of_A():
    model = _model()
    layer = model.vector_field.layers[0]
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(16, 3, dtype=D, generator=g) @ torch.randn(3, 16, dtype=D))
    x = _windows()
    with torch.no_grad():
        torch.testing.assert_close(truncate_svd(model, 3)(x), model(x), rtol=1e-10, atol=1e-12)
        assert (truncate_svd(model, 2)(x) - model(x)).abs().max() > 1e-6
    assert truncate_svd(model, 3).cost() == {"macs": 2 * 16 * 3, "f_evals": 16}
    with pytest.raises(ValueError, match="rank"):
        truncate_svd(model, 0)
    with pytest.raises(ValueError, match="size"):
        prune_neurons(model, x, 17)
