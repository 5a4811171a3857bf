"""The ``odes`` recipe with several initial conditions per equation (the authors' 20)."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
from _heat import one_torch_thread

from opkit.pde_data import ODE_FAMILIES, ODEDatasetRecipe, generate, named_dataset

RECIPE = ODEDatasetRecipe(
    families=("thomas", "sprott_B"),
    t_end=1.0,
    n_t=32,
    n_input=8,
    blow_up=2.5,  # forces redraws of some initial conditions
    splits=(12, 3, 3),
    ics_per_equation=3,
    batch_size=5,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


def test_samples_of_one_equation_share_its_coefficients_not_their_initial_conditions(tmp_path):
    out = generate(RECIPE, 18, out=tmp_path / "o.h5", seed=2, progress=False)
    with h5py.File(out, "r") as f:
        params, u0, family = f["params"][:], f["u0"][:], f["family"][:]
        equation, status = f["equation"][:], f["status"][:]
    assert (status == 0).all()
    for e in range(6):
        block = slice(3 * e, 3 * e + 3)
        name = RECIPE.families[e % 2]
        assert (family[block] == ODE_FAMILIES.index(name)).all()
        assert (params[block] == params[3 * e]).all()  # one equation...
        assert len({row.tobytes() for row in equation[block]}) == 1
        assert len({tuple(row) for row in u0[block]}) == 3  # ...three initial conditions
    # different equations of one family have different coefficients
    assert not np.array_equal(params[0], params[6])
    # the attempts redraw the initial condition only: still within U(-2, 2)
    assert np.abs(u0[:, :3]).max() <= 2.0


def test_one_initial_condition_per_equation_keeps_the_old_recipe_record():
    cpu, paper = named_dataset("odes", "cpu"), named_dataset("odes", "paper")
    assert cpu.ics_per_equation == 1 and paper.ics_per_equation == 20
    kw = {"n_samples": 3000, "seed": 0, "splits": (2400, 300, 300), "device": "cpu"}
    assert "ics_per_equation" not in cpu.to_json(**kw)  # cpu files stay byte-identical
    assert paper.to_json(**kw)["ics_per_equation"] == 20
    assert paper.splits == (512000, 6000, 6000)
    assert all(s % 20 == 0 for s in paper.splits)  # whole equations (25 600 for training)
    assert paper.splits[1] % (20 * 15) == paper.splits[2] % (20 * 15) == 0  # balanced


def test_splits_must_hold_whole_equations():
    with pytest.raises(ValueError, match="ics_per_equation"):
        dataclasses.replace(RECIPE, splits=(10, 4, 4))
    with pytest.raises(ValueError, match="ics_per_equation"):
        dataclasses.replace(RECIPE, ics_per_equation=0)
