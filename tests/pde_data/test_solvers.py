"""What every solver of `opkit.pde_data` promises: the `AbstractPDE` contract.

Batch invariance (bitwise), blow-up isolation, dtype/device handling, validation of bad
input before any work, and the metadata the data store reads.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from opkit.pde_data import (
    GRF1D,
    GRF2D,
    AbstractPDE,
    Advection1D,
    AllenCahn1D,
    Burgers1D,
    KuramotoSivashinsky1D,
    NavierStokes2D,
)
from tests.problems import torch_threads


def _make(name: str, n: int = 64) -> AbstractPDE:
    if name == "burgers":
        return Burgers1D(nu=0.01, n_x=n)
    if name == "ks":
        return KuramotoSivashinsky1D(length=22.0, n_x=n)
    if name == "ns":
        return NavierStokes2D(nu=1e-3, n=n, forcing="fno")
    if name == "allen_cahn":
        return AllenCahn1D(eps=1e-3, n_x=n)
    if name == "advection":
        return Advection1D(c=2.0, nu=0.01, n_x=n)
    raise AssertionError(name)


NAMES = ["burgers", "ks", "ns", "allen_cahn", "advection"]


def _initial(pde: AbstractPDE, batch: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if isinstance(pde, NavierStokes2D):
        return GRF2D().sample(batch, pde.n, generator=g)
    length = getattr(pde, "length", 1.0)
    return GRF1D(alpha=2.0, tau=5.0, sigma=None, length=length).sample(
        batch, pde.spatial_shape[0], generator=g
    )


# 1-D: 256 points go through batched FFT calls, 4608 (36 KiB rows) one sample per call;
# 2-D: 16 x 16, and 64 x 64 where with 2 threads the batch of 5 is split across threads.
# Two threads only where batched calls could split work across threads.
CASES = [
    (name, n, th) for name in NAMES if name != "ns" for n, th in ((256, 1), (256, 2), (4608, 1))
]
CASES += [("ns", 16, 1), ("ns", 64, 1), ("ns", 64, 2)]


@pytest.mark.parametrize(("name", "n", "threads"), CASES)
def test_batch_invariance_is_bitwise(name, n, threads):
    """A sample's result is byte-identical alone, in a batch of 2 and in a batch of 5."""
    pde = _make(name, n)
    u0 = _initial(pde, 5)
    t = torch.tensor([0.0, pde.default_dt, 2 * pde.default_dt], dtype=torch.float64)
    with torch_threads(threads):
        full = pde.solve(u0, t)
        pair = pde.solve(u0[2:4], t)
        alone = [pde.solve(u0[i : i + 1], t) for i in range(5)]
    assert not torch.equal(full[:, 1], full[:, 0])  # something happened
    for i in range(5):
        assert torch.equal(full[i], alone[i][0]), i
    assert torch.equal(full[2:4], pair)


@pytest.mark.parametrize("name", NAMES + ["ns-unforced"])
def test_translation_invariance_is_what_the_pde_claims(name):
    # Solving a shifted initial condition must give the shifted solution exactly when the
    # PDE says it is translation-invariant (shift augmentation relies on it), and must not
    # for the forced flow, whose forcing is pinned to positions.
    pde = NavierStokes2D(nu=1e-3, n=32) if name == "ns-unforced" else _make(name, 32)
    u0 = _initial(pde, 2).double()
    dims = tuple(range(-pde.ndim, 0))
    shift = (5, 11)[: pde.ndim]
    t = torch.tensor([0.0, 0.2 if pde.ndim == 1 else 2.0], dtype=torch.float64)
    solved_shifted = pde.solve(torch.roll(u0, shift, dims), t)
    shifted_solution = torch.roll(pde.solve(u0, t), shift, dims)
    gap = float((solved_shifted - shifted_solution).abs().max() / shifted_solution.abs().max())
    if pde.translation_invariant:
        assert gap < 1e-10
    else:
        assert name == "ns" and gap > 1e-3


@pytest.mark.parametrize("name", ["burgers", "ks", "ns", "allen_cahn"])
def test_blow_up_is_isolated(name):
    """A huge sample at a far too large step turns non-finite, silently, and leaves its
    neighbour bit-for-bit as if it had been solved alone. (Advection is exact and linear:
    nothing can blow up.)"""
    pde = _make(name, 16 if name == "ns" else 64)
    normal = 0.1 * _initial(pde, 1)
    huge = 1e6 * _initial(pde, 1, seed=1)
    if name == "allen_cahn":
        huge = torch.full_like(normal, 1e3)
    dt = {"burgers": 0.1, "ks": 0.5, "ns": 0.05, "allen_cahn": 0.1}[name]
    t = torch.tensor([0.0, 4 * dt, 8 * dt], dtype=torch.float64)
    with torch_threads(1):
        both = pde.solve(torch.cat([normal, huge]), t, dt=dt)
        alone = pde.solve(normal, t, dt=dt)
    assert not bool(torch.isfinite(both[1, -1]).all())
    assert bool(torch.isfinite(both[0]).all())
    assert torch.equal(both[0], alone[0])


@pytest.mark.parametrize("name", NAMES)
def test_float32_runs_in_float32_and_agrees(name):
    pde = _make(name, 16 if name == "ns" else 64)
    u0 = _initial(pde, 2)
    t = torch.tensor([0.0, 10 * pde.default_dt], dtype=torch.float64)
    with torch_threads(1):
        u64 = pde.solve(u0, t)
        u32 = pde.solve(u0.float(), t)
    assert u32.dtype == torch.float32 and u32.device == u0.device
    scale = float(u64.abs().max())
    assert float((u32.double() - u64).abs().max()) < 1e-5 * scale


@pytest.mark.parametrize("name", NAMES)
def test_metadata_contract(name):
    pde = _make(name, 16 if name == "ns" else 64)
    assert isinstance(pde, AbstractPDE)
    assert pde.name == name
    assert pde.field == ("vorticity" if name == "ns" else "u")
    assert isinstance(pde.solver, str) and "\n" not in pde.solver
    coords = pde.coords()
    assert list(coords) == (["x", "y"] if name == "ns" else ["x"])
    for c, n in zip(coords.values(), pde.spatial_shape):
        assert c.dtype == torch.float64 and c.shape == (n,) and c[0] == 0.0
        step = float(c[1] - c[0])
        assert float(c[-1]) + step == pytest.approx(getattr(pde, "length", 1.0))
    assert pde.default_dt > 0 and math.isfinite(pde.default_dt)
    params = json.loads(json.dumps(pde.params()))
    assert type(pde)(**params) == pde  # the recorded parameters rebuild the PDE
    with pytest.raises(dataclasses.FrozenInstanceError):
        pde.n_x = 3  # type: ignore[misc]


@pytest.mark.parametrize("name", NAMES)
def test_solve_rejects_bad_input_before_work(name):
    pde = _make(name, 16 if name == "ns" else 64)
    u0 = _initial(pde, 1)
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    with pytest.raises(ValueError, match="`u0` must have shape"):
        pde.solve(u0[0], t)
    with pytest.raises(ValueError, match="NaN"):
        pde.solve(u0 * float("nan"), t)
    with pytest.raises(TypeError, match="floating"):
        pde.solve(u0.long(), t)
    with pytest.raises(TypeError, match="float32 or float64"):
        pde.solve(u0.half(), t)
    with pytest.raises(ValueError, match="start at 0"):
        pde.solve(u0, t + 1)
    with pytest.raises(ValueError, match="increasing"):
        pde.solve(u0, torch.tensor([0.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="`dt`"):
        pde.solve(u0, t, dt=-1e-3)


BAD_PARAMS = [
    (Burgers1D, {"nu": 0.0}, ValueError, "nu"),
    (Burgers1D, {"nu": -1e-3}, ValueError, "nu"),
    (Burgers1D, {"nu": float("nan")}, ValueError, "nu"),
    (Burgers1D, {"nu": 0.1, "n_x": 4}, ValueError, "n_x"),
    (Burgers1D, {"nu": 0.1, "n_x": 64.0}, TypeError, "n_x"),
    (Burgers1D, {"nu": 0.1, "length": float("inf")}, ValueError, "length"),
    (Burgers1D, {"nu": "0.1"}, TypeError, "nu"),
    (KuramotoSivashinsky1D, {"length": 22.0, "n_x": 64, "gamma": 0.0}, ValueError, "gamma"),
    (KuramotoSivashinsky1D, {"length": 22.0, "n_x": 64, "beta": -1.0}, ValueError, "beta"),
    (KuramotoSivashinsky1D, {"length": 22.0, "n_x": 64, "alpha": math.inf}, ValueError, "alpha"),
    (KuramotoSivashinsky1D, {"length": -1.0, "n_x": 64}, ValueError, "length"),
    (NavierStokes2D, {"nu": 0.0, "n": 32}, ValueError, "nu"),
    (NavierStokes2D, {"nu": 1e-3, "n": 2}, ValueError, "`n`"),
    (NavierStokes2D, {"nu": 1e-3, "n": 32, "forcing": torch.zeros(16, 16)}, ValueError, "forcing"),
    (AllenCahn1D, {"eps": 0.0}, ValueError, "eps"),
    (AllenCahn1D, {"k": -5.0}, ValueError, "`k`"),
    (AllenCahn1D, {"n_x": 7}, ValueError, "n_x"),
    (Advection1D, {"c": math.nan}, ValueError, "`c`"),
    (Advection1D, {"c": 1.0, "nu": -0.1}, ValueError, "nu"),
    (Advection1D, {"c": 1.0, "n_x": True}, TypeError, "n_x"),
]


@pytest.mark.parametrize(("cls", "kwargs", "exc", "match"), BAD_PARAMS)
def test_constructor_validation(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls(**kwargs)


def test_parameters_are_normalised():
    import numpy as np

    pde = Burgers1D(nu=1, n_x=np.int64(64))
    assert type(pde.nu) is float and type(pde.n_x) is int
    assert pde == Burgers1D(nu=1.0, n_x=64)


@pytest.mark.parametrize(
    "module",
    [
        "opkit.pde_data.solvers._burgers",
        "opkit.pde_data.solvers._kuramoto_sivashinsky",
        "opkit.pde_data.solvers._navier_stokes",
        "opkit.pde_data.solvers._allen_cahn",
        "opkit.pde_data.solvers._advection",
        "opkit.pde_data._initial_conditions",
    ],
)
def test_docstring_examples_run(module):
    import doctest
    import importlib

    with torch_threads(1):
        result = doctest.testmod(importlib.import_module(module), verbose=False)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", NAMES)
def test_progress_bar_changes_nothing(name, capsys):
    pde = _make(name, 16 if name == "ns" else 64)
    u0 = _initial(pde, 2)
    t = torch.tensor([0.0, 2 * pde.default_dt], dtype=torch.float64)
    with torch_threads(1):
        assert torch.equal(pde.solve(u0, t, progress=True), pde.solve(u0, t))
