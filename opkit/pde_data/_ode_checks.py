"""What an ``odes`` file's reader checks before it trusts the file.

:class:`~opkit.pde_data.ODETrajectories` calls :func:`check_trajectories` on the samples it
keeps. The checks are those that cost far less than reading the trajectories:

* the ``families`` and ``param_names`` attributes name known systems with their
  coefficients (:data:`~opkit.pde_data.ODE_SYSTEMS`);
* every ``family`` is an index into ``families``; every ``dim`` is its family's;
  every ``params`` row is finite;
* the time grid ``t`` is finite and strictly increasing;
* every ``equation`` parses (:func:`opkit.symbolic.evaluate_systems`), has ``dim``
  components in ``u_0 .. u_{dim-1}``, and *is* its family's vector field at its stored
  ``params``: both are evaluated at 8 fixed points of ``[-2, 2]^dim`` (the initial
  conditions' box) and must agree to :data:`EQUATION_RTOL` in the relative Frobenius
  norm. The stored equation writes each coefficient rounded to 3 significant digits
  (:func:`opkit.symbolic.encode`), which moves the field far less than that; two draws of
  one family differ by up to 10 % per coefficient, so a swapped or edited equation fails.

Each failure is a :class:`~opkit.pde_data.DatasetFileError` naming the file, the samples
(global indices, at most 5 shown) and the values found and expected.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ._odes import ODE_SYSTEMS
from ._store import DatasetFileError

__all__ = ["EQUATION_RTOL", "check_trajectories"]

#: Largest relative difference allowed between a stored equation and its family's field
#: at the stored coefficients (rounding the coefficients to 3 digits stays well below).
EQUATION_RTOL = 2e-3
_N_PROBES = 8
_SHOWN = 5


def _probes(dim: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return (torch.rand(_N_PROBES, 5, dtype=torch.float64, generator=g) * 4 - 2)[:, :dim]


def _fail(path: str, samples: Sequence[int], what: str, fix: str = "") -> DatasetFileError:
    shown = [int(s) for s in samples[:_SHOWN]]
    more = f" (and {len(samples) - _SHOWN} more)" if len(samples) > _SHOWN else ""
    fix = fix or "the file was edited or damaged; regenerate it with opkit.generate('odes', ...)"
    return DatasetFileError(f"{path!r}: sample(s) {shown}{more}: {what}; {fix}.")


def check_header(path: str, families: Sequence[str], param_names: dict[str, list[str]]) -> None:
    """The ``families`` and ``param_names`` attributes against :data:`ODE_SYSTEMS`."""
    unknown = [name for name in families if name not in ODE_SYSTEMS]
    if unknown:
        raise DatasetFileError(
            f"{path!r} lists unknown ODE families {unknown} in its `families` attribute; "
            f"known: {sorted(ODE_SYSTEMS)}. Regenerate the file with opkit.generate('odes', ...)."
        )
    for name in families:
        stored, known = list(param_names.get(name, [])), list(ODE_SYSTEMS[name].param_names)
        if stored != known:
            raise DatasetFileError(
                f"{path!r}: `param_names` of family {name!r} is {stored}, but the system's "
                f"coefficients are {known}; the file was written by another version of opkit "
                "or edited. Regenerate it with opkit.generate('odes', ...)."
            )


def check_trajectories(
    path: str,
    *,
    families: Sequence[str],
    param_names: dict[str, list[str]],
    t: np.ndarray,
    sample_index: np.ndarray,
    family: np.ndarray,
    dim: np.ndarray,
    params: np.ndarray,
    equations: Sequence[str],
) -> None:
    """Check the kept samples of an ``odes`` file (see the module docstring).

    Args:
        path: the file (for messages).
        families, param_names: the file's attributes (decoded JSON).
        t: ``(n_t,)`` the stored times.
        sample_index, family, dim: ``(n,)`` global index, family index and dimension of
            each kept sample.
        params: ``(n, n_params)`` stored coefficients (zero-padded).
        equations: ``n`` stored equations (space-separated tokens).

    Raises:
        DatasetFileError: the first check that fails (module docstring).
    """
    from opkit import symbolic

    check_header(path, families, param_names)
    t = np.asarray(t, np.float64)
    steps = np.diff(t)
    if t.ndim != 1 or len(t) < 2 or not np.isfinite(t).all() or not (steps > 0).all():
        where = np.flatnonzero(~(steps > 0))[:_SHOWN].tolist() if t.ndim == 1 else []
        raise DatasetFileError(
            f"{path!r}: the time grid `t` must be finite and strictly increasing, but "
            f"t[i + 1] <= t[i] (or NaN) at i = {where} (t starts {t.ravel()[:4].tolist()}); "
            "the file was edited or damaged; regenerate it with opkit.generate('odes', ...)."
        )
    sample_index = np.asarray(sample_index)
    family = np.asarray(family, np.int64)
    bad = np.flatnonzero((family < 0) | (family >= len(families)))
    if len(bad):
        raise _fail(
            path,
            sample_index[bad],
            f"`family` = {family[bad[:_SHOWN]].tolist()} is not an index into the file's "
            f"{len(families)} `families` (0 .. {len(families) - 1})",
        )
    expected_dim = np.array([ODE_SYSTEMS[name].dim for name in families], np.int64)[family]
    bad = np.flatnonzero(np.asarray(dim, np.int64) != expected_dim)
    if len(bad):
        names = [families[family[i]] for i in bad[:_SHOWN]]
        raise _fail(
            path,
            sample_index[bad],
            f"`dim` = {np.asarray(dim)[bad[:_SHOWN]].tolist()}, but their families {names} "
            f"have dimension {expected_dim[bad[:_SHOWN]].tolist()}",
        )
    bad = np.flatnonzero(~np.isfinite(params).all(axis=1))
    if len(bad):
        raise _fail(path, sample_index[bad], "`params` holds NaN/Inf")
    # samples that share an equation (several initial conditions per draw) check it once
    first: dict[tuple, int] = {}
    for i, key in enumerate(zip(family.tolist(), equations, map(bytes, params))):
        first.setdefault(key, i)
    distinct = np.zeros(len(family), bool)
    distinct[list(first.values())] = True
    for code in np.unique(family):
        rows = np.flatnonzero((family == code) & distinct)
        _check_equations(path, families[code], rows, sample_index, params, equations, symbolic)


def _check_equations(path, name, rows, sample_index, params, equations, symbolic) -> None:
    """The stored equations of one family's samples ``rows`` against its vector field
    (draws of one family share their structure: one batched evaluation per structure)."""
    system = ODE_SYSTEMS[name]
    u = _probes(system.dim)
    coeffs = {
        k: torch.as_tensor(params[rows, j], dtype=torch.float64).view(-1, 1)
        for j, k in enumerate(system.param_names)
    }
    truth = system.rhs(u.expand(len(rows), -1, -1), coeffs)  # (n, probes, dim)
    try:
        fields = symbolic.evaluate_systems([equations[r] for r in rows], u)
    except symbolic.TokenError as err:
        index = int(sample_index[rows[err.system]])
        raise _fail(
            path, [index], f"its stored `equation` is not a valid token sequence ({err})"
        ) from None
    except ValueError as err:  # a variable beyond the family's dimension
        raise _fail(
            path,
            sample_index[rows].tolist(),
            f"a stored `equation` of family {name!r} ({system.dim} variables) does not fit "
            f"it ({err})",
        ) from None
    for row, stored in zip(rows, fields):
        if stored.shape[-1] != system.dim:
            raise _fail(
                path,
                [int(sample_index[row])],
                f"its stored `equation` has {stored.shape[-1]} components, but its family "
                f"{name!r} has {system.dim}",
            )
    stored = torch.stack(fields)  # (n, probes, dim)
    diff = (stored - truth).flatten(1).norm(dim=1) / truth.flatten(1).norm(dim=1).clamp_min(1e-300)
    bad = np.flatnonzero(~(diff <= EQUATION_RTOL).numpy())
    if len(bad):
        raise _fail(
            path,
            sample_index[rows[bad]].tolist(),
            f"the stored `equation` is not the vector field of its family {name!r} at its "
            f"stored `params` (relative difference {float(diff[bad[0]]):.2g} at {_N_PROBES} "
            f"points; rounding the coefficients to 3 digits stays below {EQUATION_RTOL:g})",
        )
