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


# ----------------------------------------------------------------------------- conv field


def _conv_model(grid=(8,), channels=3, kernel=3, **kwargs):
    settings = dict(
        in_channels=2,
        out_channels=1,
        grid_shape=grid,
        width=4,
        latent_channels=channels,
        field="conv",
        field_kernel=kernel,
    )
    settings.update(kwargs)
    torch.manual_seed(0)
    return NeuralODE(**settings).double().eval()


def _conv_windows(grid=(8,), n=30, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, *grid, dtype=D, generator=g)


def _explicit_conv_matrix(weight, grid, padding):
    """The n x n matrix of a 'same' convolution, entry by entry from the kernel (loops over
    the stencil; independent of torch's convolution)."""
    C, w = weight.shape[0], weight.shape[2]
    half = w // 2
    points = (
        [(i,) for i in range(grid[0])]
        if len(grid) == 1
        else [(i, j) for i in range(grid[0]) for j in range(grid[1])]
    )
    index = {p: q for q, p in enumerate(points)}
    N = len(points)
    K = torch.zeros(C * N, C * N, dtype=D)
    offsets = (
        [(s,) for s in range(w)] if len(grid) == 1 else [(s, r) for s in range(w) for r in range(w)]
    )
    for o in range(C):
        for p in points:
            for c in range(C):
                for off in offsets:
                    src = [p[d] + off[d] - half for d in range(len(grid))]
                    if padding == "circular":
                        src = [s % grid[d] for d, s in enumerate(src)]
                    elif any(not 0 <= s < grid[d] for d, s in enumerate(src)):
                        continue
                    K[o * N + index[p], c * N + index[tuple(src)]] += float(weight[(o, c, *off)])
    return K


@pytest.mark.parametrize("padding", ["circular", "zeros"])
def test_conv_field_is_its_explicit_matrix(padding):
    from opkit.models import ConvVectorField

    torch.manual_seed(2)
    for grid in ((7,), (4, 5)):
        field = ConvVectorField(2, grid, kernel_size=3, padding=padding).double()
        K = _explicit_conv_matrix(field.conv.weight.detach(), grid, padding)
        b = field.bias_vector()
        x = torch.randn(3, field.state_size, dtype=D)
        with torch.no_grad():
            torch.testing.assert_close(field(None, x), torch.tanh(x @ K.T + b), rtol=0, atol=1e-13)
            rows = field.rows(torch.tensor([0, 5, field.state_size - 1]))
        torch.testing.assert_close(rows, K[[0, 5, field.state_size - 1]], rtol=0, atol=1e-14)


@pytest.mark.parametrize("offset", ["none", "initial"])
def test_conv_reduced_field_is_the_dense_deim_galerkin_formula(offset):
    """The reduced conv field (built by convolving the POD modes, never forming K) equals
    N f(P^T (K V z + b)) with K the explicit matrix of the convolution, to 1e-10."""
    model = _conv_model(grid=(10,), channels=3, kernel=5)
    x = _conv_windows(grid=(10,))
    k, m = 7, 11
    reduced = compress(model, x, k, m, offset=offset)
    states, nonlinear = snapshots(model, x, relative=offset == "initial")
    V = reduced.basis
    U, _ = pod(nonlinear, m)
    P = reduced.deim_indices
    assert torch.equal(P, deim(U))
    K = _explicit_conv_matrix(model.vector_field.conv.weight.detach(), (10,), "circular")
    b = model.vector_field.bias_vector()
    N = V.T @ U @ torch.linalg.inv(U[P])
    z = torch.randn(4, k, dtype=D)
    shift = torch.randn(4, m, dtype=D) if offset == "initial" else torch.zeros(4, m, dtype=D)
    expected = torch.tanh((z @ V.T @ K.T + b)[:, P] + shift) @ N.T
    with torch.no_grad():
        context = {"shift": shift} if offset == "initial" else None
        torch.testing.assert_close(
            reduced.vector_field(None, z, None, context), expected, rtol=0, atol=1e-10
        )
        if offset == "initial":
            torch.testing.assert_close(reduced.A_rows, K[P], rtol=0, atol=1e-14)
    assert reduced.cost() == {"macs": 2 * k * m, "f_evals": m}


def test_conv_full_size_reduction_reproduces_the_full_model():
    model = _conv_model(n_inputs=2)
    x = _conv_windows()
    u = torch.randn(30, 2, dtype=D)
    n = model.state_size
    for offset in ("none", "initial"):
        reduced = compress(model, x, n, n, u=u, offset=offset)
        with torch.no_grad():
            torch.testing.assert_close(reduced(x, u), model(x, u), rtol=1e-12, atol=1e-12)
    with torch.no_grad():  # and it is a real reduction below full size
        assert (compress(model, x, 4, 6, u=u)(x, u) - model(x, u)).abs().max() > 1e-6


def test_channel_pruning_full_and_dead_channels_reproduce_the_model():
    from opkit.models.mor import prune_channels

    model = _conv_model(channels=4, n_inputs=1)
    x = _conv_windows()
    u = torch.randn(30, 1, dtype=D)
    with torch.no_grad():
        full = prune_channels(model, x, 4, u=u)
        torch.testing.assert_close(full(x, u), model(x, u), rtol=1e-12, atol=1e-12)
        conv = model.vector_field.conv
        conv.weight[[1, 3]] = 0.0  # channels 1 and 3 never move: f(0) = tanh(0) = 0
        conv.bias[[1, 3]] = 0.0
        model.vector_field.input_map.weight[8:16] = 0.0  # channel 1's rows of Z
        model.vector_field.input_map.weight[24:32] = 0.0  # channel 3's
        pruned = prune_channels(model, x, 2, u=u)
        assert pruned.vector_field.keep.tolist() == [0, 2]
        torch.testing.assert_close(pruned(x, u), model(x, u), rtol=1e-12, atol=1e-12)
        conv.weight[1, 0] = 0.5  # channel 1 moves now: pruning it is an approximation
        conv.bias[1] = 0.3
        assert (pruned(x, u) - model(x, u)).abs().max() > 1e-6
    # s^2 N w^d multiply-adds + s N n_inputs
    assert pruned.cost() == {"macs": 2 * 8 * 2 * 3 + 2 * 8 * 1, "f_evals": 16}


def test_channel_low_rank_at_full_rank_and_on_a_low_rank_kernel():
    from opkit.models.mor import truncate_channels

    model = _conv_model(channels=4, kernel=3)
    x = _conv_windows()
    with torch.no_grad():
        torch.testing.assert_close(truncate_channels(model, 4)(x), model(x), rtol=1e-12, atol=1e-12)
        g = torch.Generator().manual_seed(4)
        W = torch.randn(4, 2, dtype=D, generator=g) @ torch.randn(2, 12, dtype=D, generator=g)
        model.vector_field.conv.weight.copy_(W.reshape(4, 4, 3))
        torch.testing.assert_close(truncate_channels(model, 2)(x), model(x), rtol=1e-10, atol=1e-12)
        assert (truncate_channels(model, 1)(x) - model(x)).abs().max() > 1e-6
    # N r (C w + C): r filters C x w, then a 1x1 mix r -> C
    assert truncate_channels(model, 2).cost() == {"macs": 8 * 2 * (4 * 3 + 4), "f_evals": 32}


def test_cost_counters_match_the_flops_torch_counts():
    """cost()["macs"] is what one evaluation really does: torch's FLOP counter (2 flops per
    multiply-add in convolutions and matrix products) on one sample."""
    from torch.utils.flop_counter import FlopCounterMode

    from opkit.models.mor import prune_channels, truncate_channels

    model = _conv_model(grid=(4, 6), channels=3, kernel=3)
    x = _conv_windows(grid=(4, 6))
    variants = {
        "full": model,
        "pod-deim": compress(model, x, 5, 9),
        "pruned": prune_channels(model, x, 2),
        "low-rank": truncate_channels(model, 2),
        "dense": _model(),
    }
    for name, net in variants.items():
        field = net.vector_field
        state = torch.randn(1, net.state_size, dtype=D)
        context = {"shift": torch.zeros(1, 2, 4, 6, dtype=D)} if name == "pruned" else None
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            field(None, state, None, context)
        assert counter.get_total_flops() == 2 * net.cost()["macs"], name
    assert model.cost()["macs"] == 72 * 3 * 9  # n C w^2


def test_conv_baselines_refuse_a_dense_field_and_vice_versa():
    from opkit.models.mor import prune_channels, truncate_channels

    with pytest.raises(ValueError, match="field='dense'"):
        prune_channels(_model(), _windows(), 1)
    with pytest.raises(ValueError, match="field='dense'"):
        truncate_channels(_model(), 1)
    with pytest.raises(ValueError, match="field='conv'"):
        prune_neurons(_conv_model(), _conv_windows(), 4)
    with pytest.raises(ValueError, match="field='conv'"):
        truncate_svd(_conv_model(), 4)
    with pytest.raises(ValueError, match="1 <= size <= latent_channels = 3"):
        prune_channels(_conv_model(), _conv_windows(), 4)
    with pytest.raises(ValueError, match="rank"):
        truncate_channels(_conv_model(), 0)


def test_compress_many_equals_compress_at_each_size_from_one_svd():
    from opkit.models.mor import compress_many, pod_spectrum

    model = _conv_model()
    x = _conv_windows()
    sizes = [(3, 5), (6, 4), (10, 12)]
    many = compress_many(model, x, sizes)
    with torch.no_grad():
        for (k, m), reduced in zip(sizes, many):
            one = compress(model, x, k, m)
            assert (reduced.k, reduced.m) == (k, m)
            torch.testing.assert_close(reduced(x), one(x), rtol=1e-12, atol=1e-12)
            assert float(reduced.state_energy) == pytest.approx(float(one.state_energy))
    states, _ = snapshots(model, x)
    _, energies = pod_spectrum(states, 10)
    assert torch.all(energies[1:] >= energies[:-1]) and float(energies[-1]) <= 1
    assert float(energies[2]) == pytest.approx(pod(states, 3)[1], rel=1e-12)
    with pytest.raises(ValueError, match="at least one"):
        compress_many(model, x, [])


# ----------------------------------------------------------------------------- benchmark


def test_benchmark_quick_digits_runs_and_reports_the_formulas(tmp_path):
    """benchmarks/mor_node.py --quick --task digits: trains, compresses three ways, times,
    and writes a table whose cost columns are the formulas (a smoke test of the script)."""
    import importlib.util
    import json
    from pathlib import Path

    pytest.importorskip("sklearn")
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "mor_node.py"
    spec = importlib.util.spec_from_file_location("mor_node_bench", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    threads = torch.get_num_threads()
    try:
        assert bench.main(["--task", "digits", "--quick", "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    (result,) = json.loads((tmp_path / "mor_node_conv_quick.json").read_text())
    v = result["variants"]
    n, C = result["n"], 4
    assert v["full"]["macs"] == n * C * 9 and v["full"]["solve_speedup_1t"] == 1.0
    assert v["pod-deim k=8 m=12"]["macs"] == 2 * 8 * 12
    assert v["prune s=2"]["macs"] == 2 * 64 * 2 * 9 and v["low-rank r=2"]["f_evals"] == n
    assert 0.1 < v["full"]["accuracy"] <= 1.0  # 2 epochs: better than chance (0.1)
    assert (tmp_path / "mor_node_conv_quick.png").stat().st_size > 0
