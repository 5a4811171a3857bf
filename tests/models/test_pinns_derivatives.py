"""Derivatives up to 4th order and the PDE residuals of networks, against analytic results
in float64 (the residuals themselves are the PDEs' own, `opkit.pde_data`)."""

import math

import pytest
import torch
from torch import nn

from opkit.models.pinns import (
    MLP,
    AllenCahn,
    Burgers,
    Convection,
    FieldDerivatives,
    KuramotoSivashinsky,
    derivatives,
    taylor_derivatives,
)

F64 = torch.float64


def _f_and_derivatives(x):
    """f = sin(3x) exp(x/2) + x^5 and its derivatives of order 1..4 (by hand)."""
    s, c, e = torch.sin(3 * x), torch.cos(3 * x), torch.exp(x / 2)
    # (sin(3x) e^{x/2})^(n) = e^{x/2} Im[(1/2 + 3i)^n e^{3ix}] for n >= 0.
    z = complex(0.5, 3.0)
    out = []
    for n in range(5):
        zn = z**n
        val = e * (zn.real * s + zn.imag * c)
        poly = [x**5, 5 * x**4, 20 * x**3, 60 * x**2, 120 * x][n]
        out.append(val + poly)
    return out


def test_autograd_derivatives_up_to_fourth_order_match_analytic():
    x = torch.linspace(-1.3, 1.7, 101, dtype=F64, requires_grad=True)
    exact = _f_and_derivatives(x.detach())
    got = derivatives(_f_and_derivatives(x)[0], x, 4)
    for n in range(4):
        torch.testing.assert_close(got[n], exact[n + 1], rtol=1e-12, atol=1e-11)


def test_forward_mode_derivatives_match_analytic():
    x = torch.linspace(-1.3, 1.7, 101, dtype=F64)
    exact = _f_and_derivatives(x)
    got = taylor_derivatives(lambda z: _f_and_derivatives(z)[0], x, 4)
    for n in range(5):
        torch.testing.assert_close(got[n], exact[n], rtol=1e-12, atol=1e-11)


def test_network_derivatives_two_routes_agree_and_match_tanh_formula():
    # One tanh unit, u = a tanh(w x + b): derivatives of tanh are polynomials in T = tanh.
    a, w, b = 0.7, 1.3, -0.2
    x = torch.linspace(-2, 2, 57, dtype=F64, requires_grad=True)
    T = torch.tanh(w * x + b)
    S = 1 - T**2
    exact = [
        a * w * S,
        a * w**2 * (-2 * T * S),
        a * w**3 * (-2 * S * (1 - 3 * T**2)),
        a * w**4 * (8 * T * S * (2 - 3 * T**2)),
    ]
    got = derivatives(a * torch.tanh(w * x + b), x, 4)
    for n in range(4):
        torch.testing.assert_close(got[n], exact[n].detach(), rtol=1e-12, atol=1e-12)
    # A real network: reverse mode and forward (Taylor) mode agree to rounding.
    net = MLP(2, 1, width=16, depth=3, generator=torch.Generator().manual_seed(0)).double()
    t = torch.full((40,), 0.3, dtype=F64)
    xs = torch.linspace(-1, 1, 40, dtype=F64, requires_grad=True)
    rev = derivatives(net(torch.stack([t, xs], -1))[:, 0], xs, 4)
    fwd = taylor_derivatives(lambda z: net(torch.stack([t, z], -1))[:, 0], xs.detach(), 4)
    for n in range(4):
        torch.testing.assert_close(rev[n], fwd[n + 1], rtol=1e-10, atol=1e-10)


def test_fourth_derivative_is_differentiable_in_the_parameters():
    # gradcheck: the graph kept by `derivatives` gives the right parameter gradients.
    x = torch.linspace(-1, 1, 7, dtype=F64)

    def u_xxxx(w, b):
        xx = x.clone().requires_grad_(True)
        return derivatives(torch.tanh(w * xx + b) * w, xx, 4)[-1]

    w = torch.tensor(0.9, dtype=F64, requires_grad=True)
    b = torch.tensor(0.1, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(u_xxxx, (w, b))


def test_derivatives_validate_input():
    x = torch.linspace(0, 1, 5, dtype=F64, requires_grad=True)
    with pytest.raises(ValueError, match="order"):
        derivatives(x**2, x, 5)
    with pytest.raises(ValueError, match="same shape"):
        derivatives((x**2)[:3], x, 1)
    with pytest.raises(RuntimeError, match="requires_grad"):
        derivatives(x.detach() ** 2, x.detach(), 1)
    # A polynomial of lower degree: higher derivatives are exactly zero.
    d = derivatives(3 * x, x, 3)
    assert torch.equal(d[1], torch.zeros_like(x)) and torch.equal(d[2], torch.zeros_like(x))


class _Field(nn.Module):
    """A 'network' that is an exact analytic field u(t, x)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.dummy = nn.Parameter(torch.zeros((), dtype=F64))

    def forward(self, coords):
        return self.fn(coords[:, 0], coords[:, 1])[:, None] + 0 * self.dummy


def _points(n=64, x0=-1.0, x1=1.0):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, dtype=F64, generator=g), x0 + (x1 - x0) * torch.rand(
        n, dtype=F64, generator=g
    )


def test_field_derivatives_match_analytic_and_are_computed_once():
    # u = exp(-t) sin(2x): every entry against its formula.
    t, x = _points()
    calls = []

    def fn(t_, x_):
        calls.append(1)
        return torch.exp(-t_) * torch.sin(2 * x_)

    d = FieldDerivatives(_Field(fn), t, x)
    e, s, c = torch.exp(-t), torch.sin(2 * x), torch.cos(2 * x)
    exact = {
        "u": e * s,
        "u_t": -e * s,
        "u_x": 2 * e * c,
        "u_xx": -4 * e * s,
        "u_xxx": -8 * e * c,
        "u_xxxx": 16 * e * s,
    }
    torch.testing.assert_close(d["u_xxxx"], exact["u_xxxx"], rtol=1e-12, atol=1e-11)
    assert set(d) == set(exact) and len(d) == 6
    for key, value in exact.items():
        torch.testing.assert_close(d[key], value, rtol=1e-12, atol=1e-11)
    assert len(calls) == 1  # one forward pass, the derivatives are cached
    with pytest.raises(KeyError, match="u_y"):
        d["u_y"]


def _perturbed(fn):
    # A smooth perturbation of size 1e-2 that no exact solution below absorbs.
    return lambda t, x: fn(t, x) + 1e-2 * torch.sin(x) * torch.cos(3 * t)


def test_residuals_vanish_on_exact_solutions_and_not_on_perturbed_ones():
    beta, nu = 7.0, 0.3
    c, A = 1.5, 0.8
    eps, k = 0.01, 5.0
    cases = [
        # Convection-diffusion: a decaying travelling mode.
        (
            Convection(beta=beta, nu=nu),
            lambda t, x: torch.exp(-nu * 4 * t) * torch.sin(2 * (x - beta * t)),
            1e-12,
        ),
        # Pure convection: any profile carried at speed beta.
        (Convection(beta=beta), lambda t, x: torch.exp(torch.cos(x - beta * t)), 1e-12),
        # Burgers: the viscous travelling front u = c - A tanh(A (x - c t) / (2 nu)).
        (Burgers(nu=nu), lambda t, x: c - A * torch.tanh(A * (x - 3 - c * t) / (2 * nu)), 1e-12),
        # Allen-Cahn: the standing kink tanh(x sqrt(k / (2 eps))).
        (
            AllenCahn(eps=eps, k=k),
            lambda t, x: torch.tanh(x * math.sqrt(k / (2 * eps))) + 0 * t,
            1e-10,
        ),
        # Kuramoto-Sivashinsky with alpha = 0 is linear: exp((beta - gamma) t) sin(x) solves
        # u_t + beta u_xx + gamma u_xxxx = 0 (wavenumber 1: u_xx = -u, u_xxxx = u).
        (
            KuramotoSivashinsky(alpha=0.0, beta=0.5, gamma=0.005),
            lambda t, x: torch.exp((0.5 - 0.005) * t) * torch.sin(x),
            1e-12,
        ),
    ]
    for problem, fn, tol in cases:
        t, x = _points(x0=problem.x_min, x1=problem.x_min + problem.length)
        exact = problem.residual(_Field(fn), t, x)
        assert exact.abs().max() < tol, (problem.pde, float(exact.abs().max()))
        wrong = problem.residual(_Field(_perturbed(fn)), t, x)
        assert wrong.abs().max() > 1e-3, problem.pde


def test_kuramoto_sivashinsky_residual_matches_hand_computation():
    t, x = _points()
    al, be, ga = 5.0, 0.5, 0.005
    p = math.pi
    field = _Field(lambda t, x: torch.exp(-t) * torch.sin(p * x))
    u = torch.exp(-t) * torch.sin(p * x)
    u_x = torch.exp(-t) * p * torch.cos(p * x)
    expected = -u + al * u * u_x + be * (-(p**2) * u) + ga * (p**4 * u)
    got = KuramotoSivashinsky(alpha=al, beta=be, gamma=ga).residual(field, t, x)
    torch.testing.assert_close(got, expected, rtol=1e-11, atol=1e-11)


def test_residual_gradients_reach_the_parameters_and_work_under_no_grad():
    net = MLP(2, 1, width=8, depth=2).double()
    t, x = _points(16)
    problem = KuramotoSivashinsky()
    with torch.no_grad():
        r = problem.residual(net, t, x)
    assert r.shape == (16,) and torch.isfinite(r).all()
    problem.residual(net, t, x).pow(2).mean().backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(ValueError, match="same length"):
        Convection(beta=1.0).residual(net, t, x[:3])
