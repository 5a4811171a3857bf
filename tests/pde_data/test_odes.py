"""The 15 PROSE ODE systems and the batched integrator: the mathematics, not just shapes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import sympy
import torch
from _heat import one_torch_thread
from scipy.integrate import solve_ivp

from opkit.pde_data import ODE_SYSTEMS, AbstractODESystem, solve_ode
from opkit.pde_data._odes import round_sig


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


# Transcribed independently from issue 11 (x, y, z = u_0, u_1, u_2), numpy, per point.
def _issue(name, p):
    s, c = np.sin, np.cos

    def f(u):
        x, y, z = u[0], u[1], u[2] if len(u) > 2 else None
        if name == "thomas":
            return [s(y) - p["b"] * x, s(z) - p["b"] * y, s(x) - p["b"] * z]
        if name == "lorenz_3d":
            return [p["sigma"] * (y - x), x * (p["rho"] - z) - y, x * y - p["beta"] * z]
        if name == "aizawa":
            a, b, cc, d, ff = (p[k] for k in "abcdf")
            return [
                (z - b) * x - d * y,
                d * x + (z - b) * y,
                cc + a * z - z**3 / 3 - x**2 + ff * z * x**3,
            ]
        if name == "chen_lee":
            return [p["a"] * x - y * z, -10 * y + x * z, p["d"] * z + x * y / 3]
        if name == "dadras":
            a, b, cc, d, e = (p[k] for k in "abcde")
            return [0.5 * y - a * x + b * y * z, cc * y - 0.5 * x * z + 0.5 * z, d * x * y - e * z]
        if name == "rossler":
            return [-y - z, x + p["a"] * y, p["b"] + z * (x - p["c"])]
        if name == "halvorsen":
            a = p["a"]
            return [
                a * x - y - z - 0.25 * y**2,
                a * y - z - x - 0.25 * z**2,
                a * z - x - y - 0.25 * x**2,
            ]
        if name == "fabrikant":
            g = p["gamma"]
            return [
                y * (z - 1 + x**2) + g * x,
                x * (3 * z + 1 - x**2) + g * y,
                p["alpha"] * z - 2 * x * y * z,
            ]
        if name == "sprott_B":
            return [p["a"] * y * z, x - p["b"] * y, p["c"] - x * y]
        if name == "sprott_linz_F":
            return [y + z, -x + p["a"] * y, x**2 - z]
        if name == "four_wing":
            return [p["a"] * x + y * z, p["b"] * x + p["c"] * y - x * z, -z - x * y]
        if name.startswith("lorenz_96"):
            n = len(u)
            return [
                (u[(i + 1) % n] - u[(i - 2) % n]) * u[(i - 1) % n] - u[i] + p["F"] for i in range(n)
            ]
        if name == "duffing":
            t, xx, v = u
            return [
                1.0,
                v,
                p["delta"] * v
                + p["alpha"] * xx
                + p["beta"] * xx**3
                + p["gamma"] * c(p["omega"] * t),
            ]
        if name == "double_pendulum":
            t1, t2, w1, w2 = u
            d = t1 - t2
            den = 3 - c(2 * d)
            return [
                w1,
                w2,
                (p["a"] * s(t1) + p["b"] * s(t1 - 2 * t2) - 2 * s(d) * (w2**2 + w1**2 * c(d)))
                / den,
                s(d) * (4 * w1**2 + p["c"] * c(t1) + w2**2 * c(d)) / den,
            ]
        raise KeyError(name)

    return f


def test_the_fifteen_systems_and_their_nominal_values():
    assert list(ODE_SYSTEMS) == [
        "thomas", "lorenz_3d", "aizawa", "chen_lee", "dadras", "rossler", "halvorsen",
        "fabrikant", "sprott_B", "sprott_linz_F", "four_wing", "lorenz_96_4d", "lorenz_96_5d",
        "duffing", "double_pendulum",
    ]  # fmt: skip
    dims = {n: s.dim for n, s in ODE_SYSTEMS.items()}
    assert dims["lorenz_96_5d"] == 5 and dims["lorenz_96_4d"] == dims["double_pendulum"] == 4
    assert sum(d == 3 for d in dims.values()) == 12
    assert ODE_SYSTEMS["lorenz_3d"].params == {"sigma": 10.0, "rho": 28.0, "beta": 8 / 3}
    assert ODE_SYSTEMS["chen_lee"].params == {"a": 5.0, "d": -0.38}  # b = -10 fixed
    assert ODE_SYSTEMS["fabrikant"].params == {"alpha": -1.96, "gamma": 0.1}
    assert ODE_SYSTEMS["double_pendulum"].params == pytest.approx(
        {"a": -3 * 9.81, "b": -9.81, "c": 4 * 9.81}
    )
    assert ODE_SYSTEMS["duffing"].params == {
        "alpha": -1.0, "beta": -5.0, "gamma": 8.0, "delta": -0.02, "omega": 0.5
    }  # fmt: skip
    assert ODE_SYSTEMS["fabrikant"].blow_up == 1e5 and ODE_SYSTEMS["lorenz_3d"].blow_up == 1e3
    with pytest.raises(dataclasses.FrozenInstanceError):
        ODE_SYSTEMS["thomas"].b = 1.0


@pytest.mark.parametrize("name", list(ODE_SYSTEMS))
def test_rhs_equals_expression_and_the_issue(name):
    system = ODE_SYSTEMS[name]
    g = torch.Generator().manual_seed(list(ODE_SYSTEMS).index(name))
    u = (torch.rand(16, system.dim, generator=g, dtype=torch.float64) - 0.5) * 6
    draws = [system.draw_params(g) for _ in range(16)]
    # one call with per-sample coefficient tensors
    batched = {k: torch.tensor([d[k] for d in draws], dtype=torch.float64) for k in draws[0]}
    rhs = system.rhs(u, batched).numpy()
    symbols = [sympy.Symbol(f"u_{i}") for i in range(system.dim)]
    for b in range(16):
        exprs = system.expression(draws[b])
        assert len(exprs) == system.dim
        assert all(isinstance(e, sympy.Expr) for e in exprs)
        floats = [abs(float(f)) for e in exprs for f in e.atoms(sympy.Float)]
        for k, v in draws[b].items():  # every coefficient is a Float leaf of the expression
            assert any(math.isclose(f, abs(v)) for f in floats), (name, k, v, exprs)
        reference = sympy.lambdify(symbols, exprs, modules="numpy")(*u[b].numpy())
        np.testing.assert_allclose(rhs[b], np.asarray(reference, float), rtol=1e-12, atol=1e-12)
        issue = _issue(name, draws[b])(u[b].numpy())
        np.testing.assert_allclose(rhs[b], np.asarray(issue, float), rtol=1e-12, atol=1e-12)
        single = system.rhs(u[b], draws[b]).numpy()
        np.testing.assert_allclose(single, rhs[b], rtol=1e-15, atol=1e-15)
    # default coefficients are the nominal ones
    np.testing.assert_allclose(system.rhs(u), system.rhs(u, system.params))


def test_structural_integers_and_float_coefficients():
    e = ODE_SYSTEMS["double_pendulum"].expression()
    ints = set().union(*(x.atoms(sympy.Integer) for x in e))
    assert {2, 3, 4} <= {int(i) for i in ints}
    assert ODE_SYSTEMS["duffing"].expression()[0] == sympy.Integer(1)
    fab = ODE_SYSTEMS["fabrikant"].expression()
    assert {1, 2, 3} <= {abs(int(i)) for i in set().union(*(x.atoms(sympy.Integer) for x in fab))}
    # coefficients are Floats, never Rationals (tokens are float triples or small integers)
    for system in ODE_SYSTEMS.values():
        for x in system.expression(system.draw_params(torch.Generator().manual_seed(0))):
            assert not any(isinstance(a, sympy.Rational) and not a.is_Integer for a in x.atoms())


@pytest.mark.parametrize("name", list(ODE_SYSTEMS))
def test_draw_params_within_ten_percent_and_three_digits(name):
    system = ODE_SYSTEMS[name]
    g = torch.Generator().manual_seed(7)
    draws = [system.draw_params(g) for _ in range(200)]
    for k, nominal in system.params.items():
        values = np.array([d[k] for d in draws])
        assert all(round_sig(v) == v for v in values)
        # the pendulum's a, b, c are multiples of g / l with g and l each within 10 %
        spread = (0.9 / 1.1, 1.1 / 0.9) if name == "double_pendulum" else (0.9, 1.1)
        lo, hi = sorted((spread[0] * nominal, spread[1] * nominal))
        slack = 0.005 * abs(nominal)
        assert values.min() >= lo - slack and values.max() <= hi + slack
        # uniform: both halves of the interval are hit, and the spread is not degenerate
        assert (values < nominal).mean() > 0.3 and (values > nominal).mean() > 0.3
    if name == "double_pendulum":
        a, b, c = (np.array([d[k] for d in draws]) for k in "abc")
        np.testing.assert_allclose(a / b, 3.0, rtol=2e-2)  # a = -3 g/l, b = -g/l
        np.testing.assert_allclose(c / b, -4.0, rtol=2e-2)  # c = 4 g/l
    # a pure function of the generator's state
    assert system.draw_params(torch.Generator().manual_seed(3)) == system.draw_params(
        torch.Generator().manual_seed(3)
    )


def _scipy(name, u0, params, t):
    """scipy's DOP853 on the numpy transcription of the issue (independent of opkit)."""
    f = _issue(name, params)
    sol = solve_ivp(
        lambda _, y: f(y), (t[0], t[-1]), u0, method="DOP853", t_eval=t, rtol=1e-10, atol=1e-12
    )
    assert sol.success
    return sol.y.T


def _check_against_scipy(name, n):
    system = ODE_SYSTEMS[name]
    g = torch.Generator().manual_seed(11)
    u0 = (torch.rand(n, system.dim, generator=g, dtype=torch.float64) * 4) - 2
    draws = [system.draw_params(g) for _ in range(n)]
    params = {k: torch.tensor([d[k] for d in draws], dtype=torch.float64) for k in draws[0]}
    t = torch.linspace(0, 6, 192, dtype=torch.float64)
    u, status = solve_ode(system, u0, t, params)
    ok = status == 0
    assert torch.equal(u[ok, 0], u0[ok])
    checked = 0
    for b in range(n):
        if status[b] != 0:  # blew up (Fabrikant, Sprott-Linz F): redrawn by the generator
            assert torch.isnan(u[b]).all()
            continue
        ref = _scipy(name, u0[b].numpy(), draws[b], t.numpy())
        rel = np.linalg.norm(u[b].numpy() - ref) / np.linalg.norm(ref)
        assert rel < 1e-6, (name, b, rel)
        checked += 1
    assert checked >= 1


@pytest.mark.parametrize("name", ["lorenz_3d", "double_pendulum"])
def test_trajectories_match_scipy_dop853(name):
    """Lorenz is chaotic (errors grow ~e^{0.9 t} over t in [0, 6]); the pendulum is the
    most intricate field (sin/cos, a quotient). Relative L2 over the whole trajectory."""
    _check_against_scipy(name, 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ODE_SYSTEMS))
def test_every_system_matches_scipy_dop853(name):
    _check_against_scipy(name, 4)


def test_solution_is_bitwise_independent_of_its_batch():
    """Per-sample step sizes and padded, component-major batches: a sample's bytes do not
    depend on its batch-mates or its position (sin and cos included)."""
    for name, t_end in (("thomas", 6.0), ("double_pendulum", 0.5)):
        t = torch.linspace(0, t_end, 192 if t_end == 6.0 else 17, dtype=torch.float64)
        system = ODE_SYSTEMS[name]
        g = torch.Generator().manual_seed(5)
        u0 = torch.rand(70, system.dim, generator=g, dtype=torch.float64) * 4 - 2
        draws = [system.draw_params(g) for _ in range(70)]
        params = {k: torch.tensor([d[k] for d in draws], dtype=torch.float64) for k in draws[0]}
        full, _ = solve_ode(system, u0, t, params)
        for i in (3, 69):
            alone, _ = solve_ode(
                system, u0[i : i + 1], t, {k: v[i : i + 1] for k, v in params.items()}
            )
            assert alone.numpy().tobytes() == full[i : i + 1].numpy().tobytes(), (name, i)
        sub = [9, 4, 66]
        part, _ = solve_ode(system, u0[sub], t, {k: v[sub] for k, v in params.items()})
        assert part.numpy().tobytes() == full[sub].numpy().tobytes()


def test_blow_up_and_failure_statuses():
    t = torch.linspace(0, 6, 192, dtype=torch.float64)
    lin = ODE_SYSTEMS["sprott_linz_F"]
    u0 = torch.tensor([[1.0, 1.0, 1.0], [0.1, 0.1, 0.1]], dtype=torch.float64)
    u, status = solve_ode(lin, u0, t, blow_up=1.5)
    assert status[0] == 1
    assert torch.isnan(u[0]).all()
    ok = status == 0
    assert (u[ok].abs().amax() < 1.5).all()
    _, stalled = solve_ode(lin, u0[1:], t, max_steps=3)
    assert stalled.tolist() == [2]
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        solve_ode(lin, torch.zeros(2, 4, dtype=torch.float64), t)
    with pytest.raises(ValueError, match="strictly increasing"):
        solve_ode(lin, u0, torch.tensor([0.0, 1.0, 0.5]))


def test_rhs_errors():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        ODE_SYSTEMS["thomas"].rhs(torch.zeros(4, 5))
    with pytest.raises(ValueError, match="unknown coefficient"):
        ODE_SYSTEMS["thomas"].rhs(torch.zeros(4, 3), {"q": 1.0})
    with pytest.raises(TypeError, match="floating-point"):
        ODE_SYSTEMS["thomas"].rhs(np.zeros((4, 3)))


@dataclasses.dataclass(frozen=True)
class _Rotation(AbstractODESystem):
    """u' = w J u: exact solution a rotation by w t (test problem, not a PROSE system)."""

    w: float = 3.0

    name = "rotation"
    dim = 2

    def _rhs(self, u, p):
        return [-p["w"] * u[1], p["w"] * u[0]]

    def _expression(self, u, p):
        return [-p["w"] * u[1], p["w"] * u[0]]


def test_error_against_an_exact_solution_follows_the_tolerance():
    """Global error of the adaptive Dormand-Prince pair on an exact rotation: below the
    tolerance's order and shrinking with it (about 10^4 from rtol 1e-6 to 1e-10)."""
    system = _Rotation()
    # outputs 1 apart: the steps are set by the tolerance, not by landing on the outputs
    t = torch.linspace(0, 6, 7, dtype=torch.float64)
    u0 = torch.tensor([[1.0, 0.0], [0.3, -2.0]], dtype=torch.float64)
    w = torch.tensor([3.0, 1.5], dtype=torch.float64)  # one frequency per sample
    angle = w[:, None] * t[None, :]
    exact = torch.stack(
        [
            u0[:, :1] * torch.cos(angle) - u0[:, 1:] * torch.sin(angle),
            u0[:, :1] * torch.sin(angle) + u0[:, 1:] * torch.cos(angle),
        ],
        dim=-1,
    )
    errors = []
    for tol in (1e-6, 1e-8, 1e-10):
        u, status = solve_ode(system, u0, t, {"w": w}, rtol=tol, atol=tol)
        assert status.tolist() == [0, 0]
        errors.append(float((u - exact).abs().max()))
    # measured: 5.5e-6, 4.8e-8, 4.5e-10 (about 5 x tol: the error follows the tolerance)
    assert all(e < 50 * tol for e, tol in zip(errors, (1e-6, 1e-8, 1e-10)))
    assert errors[0] > errors[1] > errors[2]
    assert 1e3 < errors[0] / errors[2] < 1e5
