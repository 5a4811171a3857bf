"""PINN problems: the reference is the PDE's own `solve`, the residual its own `residual`,
and a problem is a record that rebuilds itself."""

import math

import pytest
import torch

from opkit._records import rebuild, record
from opkit.models.pinns import (
    AllenCahn,
    Burgers,
    Convection,
    KuramotoSivashinsky,
    MonomialCosine,
    PeriodicBump,
    PINNProblem,
    SineWave,
)
from opkit.pde_data import Advection1D, AllenCahn1D

F64 = torch.float64

# u(t = 1)[::8] and ||u|| on 5 times x 64 points, from the problems' references before the
# PDEs moved into opkit.pde_data (commit 76efd4c): the same numbers, to rounding.
OLD_REFERENCES = {
    "ac": (
        AllenCahn,
        {},
        [-1.016402339506, -1.01275746606, -0.078580132117, 0.951437806311]
        + [-0.012745372804, 0.951437806311, -0.078580132117, -1.01275746606],
        12.68159887612934,
    ),
    "ks": (
        KuramotoSivashinsky,
        {},
        [0.0, -1.424948473699, 0.002428813638, 1.476362910381]
        + [-0.0, -1.47636291038, -0.002428813638, 1.424948473699],
        18.85633274185134,
    ),
    "burgers": (
        Burgers,
        {},
        [5.627677692382, 5.910432211835, 5.88965666562, 4.014309685301]
        + [4.142657029807, 4.48732131845, 4.860026957853, 5.234443022293],
        90.32145832221543,
    ),
    "conv_bump": (
        Convection,
        {"beta": 30.0, "u0": "bump"},
        [0.000561551045, 0.069847167597, 0.925325602372, 0.287401346456]
        + [0.004151425016, 3.3376258e-05, 2.519369e-06, 8.111434e-06],
        5.983888589923424,
    ),
    "conv_diff": (
        Convection,
        {"beta": 5.0, "nu": 0.1},
        [0.867670564778, 0.79502753628, 0.256668159489, -0.432043944101]
        + [-0.867670564778, -0.79502753628, -0.256668159489, 0.432043944101],
        12.047247748148571,
    ),
}


@pytest.mark.parametrize("name", OLD_REFERENCES)
def test_reference_from_pde_solve_matches_the_old_problem_reference(name):
    factory, kwargs, values, norm = OLD_REFERENCES[name]
    problem = factory(**kwargs)
    x, u = problem.reference(torch.linspace(0, 1, 5, dtype=F64), n_x=64)
    assert u.shape == (5, 64) and u.dtype == F64
    torch.testing.assert_close(x, problem.x_min + torch.arange(64, dtype=F64) * problem.length / 64)
    torch.testing.assert_close(u[-1, ::8], torch.tensor(values, dtype=F64), rtol=0, atol=1e-11)
    assert float(u.norm()) == pytest.approx(norm, rel=1e-12)


@pytest.mark.parametrize("u0", ["sin", "bump"])
def test_convection_reference_is_the_exact_transport(u0):
    # nu = 0: u(t, x) = u0(x - beta t) (periodically); Advection1D.solve is exact in Fourier
    # space, so it agrees to rounding (the bump is resolved spectrally on 256 points).
    problem = Convection(beta=30.0, u0=u0)
    t = torch.linspace(0, 1, 11, dtype=F64)
    x, u = problem.reference(t, n_x=256)
    shifted = torch.remainder(x[None, :] - 30.0 * t[:, None], 2 * math.pi)
    torch.testing.assert_close(u, problem.initial_condition(shifted), rtol=0, atol=1e-10)


def test_benchmark_initial_conditions():
    x = torch.linspace(-1, 1, 9, dtype=F64)
    torch.testing.assert_close(AllenCahn().initial_condition(x), x**2 * torch.cos(math.pi * x))
    torch.testing.assert_close(KuramotoSivashinsky().initial_condition(x), -torch.sin(math.pi * x))
    y = torch.linspace(0, 2 * math.pi, 9, dtype=F64)
    torch.testing.assert_close(Burgers(offset=2.0).initial_condition(y), 2.0 + torch.sin(y))
    bump = Convection(u0="bump").initial_condition(y)
    expected = torch.exp((torch.cos(y - math.pi) - 1) / (math.pi / 8) ** 2)
    torch.testing.assert_close(bump, expected)
    # The bump is a Gaussian of the given width near its centre, and exactly periodic.
    b = PeriodicBump(center=1.0, width=0.01, period=3.0)
    z = torch.tensor([1.0, 1.01, 4.01], dtype=F64)
    torch.testing.assert_close(b(z)[:2], torch.exp(-((z[:2] - 1) ** 2) / 2e-4), rtol=1e-4, atol=0)
    torch.testing.assert_close(b(z)[2], b(z)[1])


@pytest.mark.parametrize(
    "problem",
    [AllenCahn(), KuramotoSivashinsky(), Convection(beta=20.0, u0="bump"), Burgers(nu=0.05)],
    ids=["ac", "ks", "convection", "burgers"],
)
def test_problem_records_rebuild_the_same_problem(problem):
    rec = record(problem)
    assert rec["class_path"] == "opkit.models.pinns.PINNProblem"
    assert rec["init_args"]["pde"]["class_path"].startswith("opkit.pde_data.")
    assert rec["init_args"]["initial_condition"]["class_path"].startswith("opkit.models.pinns.")
    assert rebuild(rec) == problem


def test_lagrangian_form_comes_from_the_pde():
    conv, burgers, ac = Convection(beta=3.0, nu=0.1), Burgers(nu=0.2), AllenCahn()
    u = torch.linspace(-1, 1, 5, dtype=F64)
    assert conv.supports_lagrangian and burgers.supports_lagrangian
    assert not ac.supports_lagrangian and not KuramotoSivashinsky().supports_lagrangian
    torch.testing.assert_close(conv.characteristic_speed(u), torch.full_like(u, 3.0))
    torch.testing.assert_close(burgers.characteristic_speed(u), u)
    assert (conv.nu, burgers.nu) == (0.1, 0.2)
    with pytest.raises(ValueError, match="Lagrangian"):
        ac.characteristic_speed(u)


def test_bad_problems_are_rejected():
    with pytest.raises(TypeError, match="pde"):
        PINNProblem("allen_cahn", MonomialCosine())
    with pytest.raises(TypeError, match="initial_condition"):
        PINNProblem(AllenCahn1D(), 3.0)
    with pytest.raises(ValueError, match="t_final"):
        PINNProblem(Advection1D(c=1.0), SineWave(), t_final=0.0)
    with pytest.raises(ValueError, match="x_min"):
        PINNProblem(Advection1D(c=1.0), SineWave(), x_min=float("nan"))
    with pytest.raises(ValueError, match="u0"):
        Convection(u0="square")
    with pytest.raises(ValueError, match="eps"):
        AllenCahn(eps=-1.0)
    with pytest.raises(ValueError, match="power"):
        MonomialCosine(power=-1)
    with pytest.raises(ValueError, match="width"):
        PeriodicBump(width=0.0)
    with pytest.raises(ValueError, match="n_x"):
        AllenCahn().grid(1)
