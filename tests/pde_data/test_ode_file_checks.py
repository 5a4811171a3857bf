"""ODETrajectories checks an ``odes`` file before trusting it (issue 22, item 4).

Each case edits one field of a copy of a small generated file, as a hostile or careless
user would, and the reader must refuse it with an error naming the file and the sample.
"""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from _heat import one_torch_thread

from opkit.pde_data import (
    ODE_FAMILIES,
    DatasetFileError,
    ODEDatasetRecipe,
    ODETrajectories,
    generate,
)
from opkit.pde_data._ode_checks import EQUATION_RTOL

RECIPE = ODEDatasetRecipe(
    families=("thomas", "lorenz_3d", "four_wing"),
    t_end=1.0,
    n_t=16,
    n_input=8,
    splits=(8, 2, 2),
    batch_size=12,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    yield from one_torch_thread()


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    out = tmp_path_factory.mktemp("odes") / "odes.h5"
    return generate(RECIPE, 12, out=out, seed=3, progress=False)


def _edited(clean, tmp_path, edit):
    path = tmp_path / "edited.h5"
    shutil.copy(clean, path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def _equation(f, row):
    return b"".join(f["equation"][row]).decode()


def _set_equation(f, row, text):
    raw = np.zeros(f["equation"].shape[1], "S1")
    raw[: len(text)] = np.frombuffer(text.encode(), "S1")
    f["equation"][row] = raw


def test_a_clean_file_passes_and_its_equations_are_its_fields(clean):
    # the positive control: every split reads, and every stored equation is within the
    # tolerance of its family's field (the check compares the same two things)
    for split in ("train", "val", "test", None):
        ds = ODETrajectories(clean, split=split)
        assert len(ds) == {"train": 8, "val": 2, "test": 2, None: 12}[split]
    with h5py.File(clean) as f:
        names = [ODE_FAMILIES[i] for i in f["family"][:]]
    assert names[:3] == ["thomas", "lorenz_3d", "four_wing"]
    assert EQUATION_RTOL < 0.01  # below the spread of two draws of one family (+-10 %)


def _swap_same_family(f):  # samples 1 and 4 are both lorenz_3d (i mod 3)
    a, b = _equation(f, 1), _equation(f, 4)
    assert a != b
    _set_equation(f, 1, b)
    _set_equation(f, 4, a)


def _swap_other_family(f):  # lorenz_3d's equation on a four_wing sample
    _set_equation(f, 2, _equation(f, 1))


def _times_zero(f):
    f["t"][:] = 0.0


def _set(name, row, value):
    def edit(f):
        f[name][row] = value

    return edit


CASES = {
    "dim = 9": (_set("dim", 5, 9), "sample(s) [5]", "`dim` = [9]"),
    "family = 99": (_set("family", 7, 99), "sample(s) [7]", "`family` = [99]"),
    "all times 0": (_times_zero, "edited.h5", "strictly increasing"),
    "equations swapped within a family": (
        _swap_same_family,
        "sample(s) [1, 4]",
        "not the vector field of its family 'lorenz_3d'",
    ),
    "another family's equation": (_swap_other_family, "sample(s) [2]", "four_wing"),
    "garbage equation": (
        lambda f: _set_equation(f, 3, "add mul u_0 frobnicate"),
        "sample(s) [3]",
        "not a valid token sequence",
    ),
    "NaN coefficient": (_set("params", 6, np.nan), "sample(s) [6]", "NaN"),
    "unknown family name": (
        lambda f: f.attrs.__setitem__("families", '["thomas", "zen"]'),
        "edited.h5",
        "unknown ODE families ['zen']",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_edited_file_is_refused_naming_file_and_sample(clean, tmp_path, case):
    edit, where, what = CASES[case]
    path = _edited(clean, tmp_path, edit)
    with pytest.raises(DatasetFileError) as err:
        ODETrajectories(path, split=None)
    message = str(err.value)
    assert str(path) in message and where in message and what in message, message
