"""Torch evaluation of decoded systems against sympy's own numerical evaluation."""

import math

import numpy as np
import pytest
import sympy
import torch
from hypothesis import HealthCheck, assume, given, settings

from opkit.symbolic import Const, Op, Var, decode, encode, evaluate, vector_field
from tests.symbolic._symbolic_strategies import N_VARS, U, sympy_systems

POINTS = np.random.default_rng(0).uniform(-2.0, 2.0, size=(4, N_VARS))


def _sympy_values(expr, points):
    """Reference: sympy's evalf at 30 digits, one point at a time."""
    out = []
    for p in points:
        value = complex(expr.evalf(30, subs={u: sympy.Float(float(v), 30) for u, v in zip(U, p)}))
        out.append(value.real if value.imag == 0 else math.nan)
    return np.array(out)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(system=sympy_systems)
def test_vector_field_matches_sympy_evalf(system):
    try:
        decoded = decode(encode(system))
    except ValueError as err:
        assume("outside the representable range" not in str(err))
        raise
    assume(all(not e.has(sympy.zoo, sympy.nan) for e in decoded))
    f = vector_field(decoded)
    got = f(torch.tensor(POINTS, dtype=torch.float64)).numpy()
    assert got.shape == (len(POINTS), len(decoded))
    for k, expr in enumerate(decoded):
        want = _sympy_values(expr, POINTS)
        finite = np.isfinite(want) & (np.abs(want) < 1e12)
        # float64 against 30 digits: relative error of a few ulps per operation, which a
        # near-cancellation can magnify; 1e-7 of the larger of the value and 1 is generous
        # for trees of <= 10 leaves and clear of any wrong operator
        scale = np.maximum(np.abs(want[finite]), 1.0)
        assert np.all(np.abs(got[finite, k] - want[finite]) <= 1e-7 * scale), (expr, got, want)


def test_lorenz_tokens_evaluate_to_the_lorenz_field():
    f = vector_field(
        "<BOS> add mul -10 u_0 mul 10 u_1 | add neg u_1 mul u_0 add + N280 E-1 neg u_2 | "
        "add mul - N267 E-2 u_2 mul u_0 u_1 <EOS>"
    )
    u = torch.randn(7, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x, y, z = u.unbind(-1)
    expected = torch.stack([10 * (y - x), x * (28 - z) - y, x * y - 2.67 * z], dim=-1)
    assert f(u).shape == (7, 5, 3)
    assert torch.allclose(f(u), expected, rtol=1e-14, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_device_broadcasting_and_constants(dtype):
    x, y = sympy.symbols("u_0 u_1")
    f = vector_field([sympy.Integer(3), x / y, sympy.Float(0.5)])
    u = torch.tensor([[1.0, 2.0], [3.0, 0.0]], dtype=dtype)
    out = f(u)
    assert out.dtype == dtype and out.shape == (2, 3)
    assert out[:, 0].tolist() == [3.0, 3.0]
    assert out[0, 1].item() == 0.5 and out[1, 1].item() == math.inf  # plain IEEE division
    assert out[:, 2].tolist() == [0.5, 0.5]
    assert f.n_components == 3 and f.n_variables == 2


def test_gradients_flow():
    f = vector_field(decode("mul u_0 sin u_1"))
    u = torch.tensor([[2.0, 0.3]], dtype=torch.float64, requires_grad=True)
    f(u).sum().backward()
    assert torch.allclose(u.grad, torch.tensor([[math.sin(0.3), 2 * math.cos(0.3)]]).double())


def test_evaluate_and_errors():
    tree = Op("pow2", (Op("sub", (Var(1), Const(0.5))),))
    u = torch.tensor([[0.0, 2.0], [0.0, -1.0]])
    assert evaluate(tree, u).tolist() == [2.25, 2.25]
    with pytest.raises(ValueError, match="u_1 but `u` has last dimension 1"):
        evaluate(tree, u[:, :1])
    with pytest.raises(ValueError, match="PLACEHOLDER"):
        vector_field("mul <PLACEHOLDER> u_0")
    with pytest.raises(ValueError, match="floating-point"):
        vector_field("u_0")(torch.tensor([[1, 2]]))
    with pytest.raises(TypeError, match="torch.Tensor"):
        vector_field("u_0")([[1.0]])
    with pytest.raises(TypeError, match="list"):
        vector_field(sympy.Symbol("u_0"))
    with pytest.raises(ValueError, match="empty"):
        vector_field([])
