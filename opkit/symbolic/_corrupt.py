"""Symbol corruption: the wrong-but-close equations PROSE reads as its symbolic input.

PROSE (Liu, Zhang & Schaeffer, arXiv:2309.16816, section 4.1) trains with symbol inputs
whose terms were randomly added or deleted, so that the model learns to correct an
equation, not only to copy it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import sympy
import torch

from .._checks import check_probability
from ._floats import round_float
from ._tree import MAX_DIM

__all__ = ["corrupt"]


class _Draws:
    """Uniform draws from a ``random.Random`` or a ``torch.Generator``."""

    def __init__(self, rng: random.Random | torch.Generator):
        if isinstance(rng, random.Random):
            self.uniform = rng.random
            self.below = rng.randrange
        elif isinstance(rng, torch.Generator):
            self.uniform = lambda: float(torch.rand((), generator=rng, dtype=torch.float64))
            self.below = lambda n: int(torch.randint(n, (), generator=rng))
        else:
            raise TypeError(
                f"`rng` must be a random.Random or a torch.Generator; got {type(rng).__name__}."
            )


def corrupt(
    system: Sequence[sympy.Expr],
    *,
    rng: random.Random | torch.Generator,
    p_add: float = 0.15,
    p_delete: float = 0.15,
    dim: int,
) -> list[sympy.Expr]:
    """Randomly add and delete terms of each component of a system.

    For each component ``f_k`` in order, with terms ``T = sympy.Add.make_args(f_k)``:

    1. draw ``a ~ U[0, 1)`` and ``b ~ U[0, 1)`` (always both, so every component consumes
       the stream alike);
    2. if ``b < p_delete`` and ``len(T) >= 2``: delete the term ``T[j]``, ``j`` uniform in
       ``0..len(T)-1``;
    3. if ``a < p_add``: add one term ``c * m`` whose monomial ``m`` is not the monomial of
       any original term (``term.as_coeff_Mul()[1]``, so the new term never merges into an
       old one). ``m`` is drawn in two steps: a kind uniformly among the kinds that have a
       monomial left -- the constant ``1``, ``u_i``, ``u_i*u_j`` (``i <= j < dim``) -- then
       a monomial of that kind uniformly. ``c = s * r`` with ``s = +-1`` equally likely and
       ``r ~ U[0.1, 1)``, rounded to 3 significant digits (a ``sympy.Float``). If every
       monomial is taken (tiny ``dim``, dense component) nothing is added.

    So with ``p_add=1`` every component gains exactly one term, with ``p_delete=1`` every
    component with at least two terms loses exactly one, and with both, terms are swapped.

    Args:
        system: sequence of sympy expressions in ``u_0 ... u_{dim-1}``.
        rng: ``random.Random`` or ``torch.Generator``; the result is a pure function of
            its state (and it is advanced).
        p_add, p_delete: probabilities in [0, 1].
        dim: number of variables the added terms may use (1..10).

    Returns:
        the corrupted system, a new list of sympy expressions.
    """
    draws = _Draws(rng)
    p_add = check_probability("p_add", p_add)
    p_delete = check_probability("p_delete", p_delete)
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
        raise ValueError(f"`dim` (={dim!r}) must be an int in 1..{MAX_DIM}.")
    if isinstance(system, (sympy.Basic, str)) or not isinstance(system, Sequence):
        raise TypeError(
            "`system` must be a sequence of sympy expressions (one per component); got "
            f"{type(system).__name__}."
        )
    u = [sympy.Symbol(f"u_{i}") for i in range(dim)]
    kinds = (
        [sympy.Integer(1)],
        list(u),
        [u[i] * u[j] for i in range(dim) for j in range(i, dim)],
    )
    out = []
    for k, expr in enumerate(system):
        if not isinstance(expr, sympy.Expr):
            raise TypeError(
                f"component {k} of `system` must be a sympy expression; got "
                f"{type(expr).__name__}: {expr!r}."
            )
        terms = list(sympy.Add.make_args(expr))
        a, b = draws.uniform(), draws.uniform()
        kept = list(terms)
        if b < p_delete and len(terms) >= 2:
            del kept[draws.below(len(terms))]
        if a < p_add:
            taken = {t.as_coeff_Mul()[1] for t in terms}
            left = [[m for m in kind if m not in taken] for kind in kinds]
            left = [kind for kind in left if kind]
            if left:
                kind = left[draws.below(len(left))]
                monomial = kind[draws.below(len(kind))]
                sign = -1.0 if draws.uniform() < 0.5 else 1.0
                c = round_float(sign * (0.1 + 0.9 * draws.uniform()), 3)
                kept.append(sympy.Float(c) * monomial)
        out.append(sympy.Add(*kept))
    return out
