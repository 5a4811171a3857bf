"""Lagrangian PINNs: exact residuals, chain rule, periodicity, interpolation, and training."""

import math

import pytest
import torch
from torch import nn

from opkit.models.pinns import (
    MLP,
    AllenCahn,
    Burgers,
    Convection,
    LagrangianPINN,
    PeriodicEmbedding,
    collocation_points,
    lagrangian_loss,
    lagrangian_residuals,
    lagrangian_to_eulerian,
    solution_on_grid,
)

F64 = torch.float64
TWO_PI = 2 * math.pi


class _Analytic(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.dummy = nn.Parameter(torch.zeros((), dtype=F64))

    def forward(self, coords):
        return self.fn(coords[:, 0], coords[:, 1])[:, None] + 0 * self.dummy


@pytest.fixture(autouse=True)
def _one_thread():
    # Small networks on a shared CPU: one thread avoids OpenMP oversubscription stalls.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _branch(seed, width=24, depth=2):
    emb = PeriodicEmbedding(periods=(None, TWO_PI), n_harmonics=1)
    gen = torch.Generator().manual_seed(seed)
    return MLP(width=width, depth=depth, embedding=emb, generator=gen)


def test_exact_convection_characteristics_have_zero_residual():
    beta = 30.0
    net = LagrangianPINN(
        _Analytic(lambda t, x0: beta * t), _Analytic(lambda t, x0: torch.sin(x0) + 0 * t)
    )
    t = torch.rand(50, dtype=F64)
    x0 = TWO_PI * torch.rand(50, dtype=F64)
    r_x, r_u = lagrangian_residuals(net, Convection(beta=beta), t, x0)
    assert r_x.abs().max() < 1e-12 and r_u.abs().max() < 1e-12
    loss, parts = lagrangian_loss(net, Convection(beta=beta), t, x0, x0)
    assert float(loss) < 1e-10


def test_chain_rule_gives_the_eulerian_second_derivative():
    # X = x0 + 0.3 t sin(x0) (monotone), u = sin(X): u_XX = -sin(X) exactly, u_t = cos(X) X_t.
    nu = 0.05
    net = LagrangianPINN(
        _Analytic(lambda t, x0: 0.3 * t * torch.sin(x0)),
        _Analytic(lambda t, x0: torch.sin(x0 + 0.3 * t * torch.sin(x0))),
    )
    t = torch.rand(40, dtype=F64)
    x0 = TWO_PI * torch.rand(40, dtype=F64)
    X = x0 + 0.3 * t * torch.sin(x0)
    X_t = 0.3 * torch.sin(x0)
    r_x, r_u = lagrangian_residuals(net, Burgers(nu=nu, offset=0.0), t, x0)
    torch.testing.assert_close(r_x, X_t - torch.sin(X), rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(r_u, torch.cos(X) * X_t + nu * torch.sin(X), rtol=1e-11, atol=1e-12)


def test_characteristic_branch_is_exactly_periodic():
    net = LagrangianPINN(_branch(0), _branch(1)).double()
    t = torch.rand(30, dtype=F64)
    x0 = TWO_PI * torch.rand(30, dtype=F64)
    a = net(torch.stack([t, x0], -1))
    b = net(torch.stack([t, x0 + TWO_PI], -1))
    assert (b[:, 0] - a[:, 0] - TWO_PI).abs().max() < 1e-12  # X(x0 + L) = X(x0) + L
    assert (b[:, 1] - a[:, 1]).abs().max() < 1e-12  # u periodic


def test_lagrangian_to_eulerian_reproduces_the_exact_convected_field():
    beta = 50.0
    net = LagrangianPINN(
        _Analytic(lambda t, x0: beta * t), _Analytic(lambda t, x0: torch.sin(x0) + 0 * t)
    )
    problem = Convection(beta=beta)
    t = torch.linspace(0, 1, 11, dtype=F64)
    x, u_ref = problem.reference(t, n_x=128)
    u = lagrangian_to_eulerian(net, problem, t, x, n_labels=1024)
    # Linear interpolation on labels h = 2π/1024 apart: error <= h²/8 max|u''| ~ 5e-6.
    assert (u - u_ref).abs().max() < 1e-5
    u = solution_on_grid(net, problem, t, x)
    assert float((u - u_ref).norm() / u_ref.norm()) < 1e-5


def test_lpinn_recovers_the_characteristics_x0_plus_beta_t():
    # A short training run: the characteristic branch must learn X = x0 + βt.
    beta = 30.0
    problem = Convection(beta=beta)
    net = LagrangianPINN(_branch(0, 16, 2), _branch(1, 16, 2), displacement_scale=beta)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    x_ic = TWO_PI * torch.arange(64) / 64
    steps = 400
    for i in range(steps):
        tu, xu = collocation_points(16, 32, generator=gen)
        t = tu[:, None].expand(-1, 32).reshape(-1)
        x0 = TWO_PI * xu.reshape(-1)
        loss, _ = lagrangian_loss(net, problem, t, x0, x_ic)
        opt.zero_grad()
        loss.backward()
        opt.step()
        for group in opt.param_groups:
            group["lr"] = 3e-3 * 0.1 ** (i / steps)
    t = torch.linspace(0, 1, 21, requires_grad=True)
    x0 = TWO_PI * torch.arange(50) / 50
    tt, xx = torch.meshgrid(t, x0, indexing="ij")
    X = net.positions(torch.stack([tt.reshape(-1), xx.reshape(-1)], -1))
    (X_t,) = torch.autograd.grad(X.sum(), t)
    err = (X.detach() - (xx.reshape(-1) + beta * tt.reshape(-1)).detach()).abs()
    # Within a few percent of the distance travelled (βT = 30) after 400 steps ...
    assert float(err.max()) < 0.05 * beta, float(err.max())
    assert float(err.mean()) < 0.02 * beta, float(err.mean())
    assert abs(float(X_t.mean()) / 50 - beta) < 0.05 * beta  # X_t = β (50 labels per time)
    # ... and the state branch carries u0 unchanged along them (D_t u = 0).
    with torch.no_grad():
        u = net.values(torch.stack([tt.reshape(-1), xx.reshape(-1)], -1))
    assert float((u - torch.sin(xx.reshape(-1))).abs().max()) < 0.1


def test_lagrangian_input_validation():
    net = LagrangianPINN(_branch(0), _branch(1))
    t = torch.rand(4)
    with pytest.raises(ValueError, match="Lagrangian"):
        lagrangian_residuals(net, AllenCahn(), t, t)
    with pytest.raises(TypeError, match="LagrangianPINN"):
        lagrangian_residuals(_branch(2), Convection(), t, t)
    with pytest.raises(TypeError, match="characteristic"):
        LagrangianPINN("mlp", _branch(1))
    with pytest.raises(ValueError, match="weights"):
        lagrangian_loss(net, Convection(), t, t, t, weights=(1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="displacement_scale"):
        LagrangianPINN(_branch(0), _branch(1), displacement_scale=0.0)
