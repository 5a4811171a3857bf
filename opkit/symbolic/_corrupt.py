"""Symbol corruption: the wrong-but-close equations PROSE reads as its symbolic input.

PROSE (Liu, Zhang & Schaeffer, arXiv:2309.16816, section 4.1) trains with symbol inputs
from which one term was deleted or to which one term was added, so that the model learns to
correct an equation, not only to copy it. The law is the authors' (``prose_ode``: the
dataset's ``__getitem__`` draws one mode per *system*, the generator's
``tree_with_additional_term`` / ``tree_with_missing_term`` apply it).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import sympy
import torch

from .._checks import check_probability
from ._codec import encode
from ._floats import round_float
from ._tokens import PLACEHOLDER
from ._tree import INT_MAX, INT_MIN, MAX_DIM

__all__ = ["CORRUPTION_MODES", "corrupt", "draw_corruption_mode", "encode_guess", "hide_integers"]

#: The three corruption modes of a system, in the order of their draw.
CORRUPTION_MODES: tuple[str, ...] = ("clean", "add", "delete")
_INTEGER_TOKENS = frozenset(str(n) for n in range(INT_MIN, INT_MAX + 1))


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

    def weighted(self, weights: Sequence[int]) -> int:
        """Index ``k`` with probability ``weights[k] / sum(weights)`` (integer weights)."""
        r = self.below(sum(weights))
        for k, w in enumerate(weights):
            if r < w:
                return k
            r -= w
        raise AssertionError("unreachable")  # pragma: no cover


def _probabilities(p_add: float, p_delete: float) -> tuple[float, float]:
    p_add = check_probability("p_add", p_add)
    p_delete = check_probability("p_delete", p_delete)
    if p_add + p_delete > 1.0 + 1e-12:
        raise ValueError(
            f"`p_add` + `p_delete` (={p_add} + {p_delete}) must be <= 1: they are the "
            "probabilities of two exclusive modes (the rest is the clean system)."
        )
    return p_add, p_delete


def draw_corruption_mode(
    rng: random.Random | torch.Generator, *, p_add: float = 0.15, p_delete: float = 0.15
) -> str:
    """One corruption mode of a system: ``"add"`` with probability ``p_add``, ``"delete"``
    with probability ``p_delete``, else ``"clean"`` (one uniform draw ``a``: ``a < p_add``
    adds, ``p_add <= a < p_add + p_delete`` deletes).

    Raises:
        ValueError: a probability outside [0, 1] or ``p_add + p_delete > 1``.
        TypeError: ``rng`` neither a ``random.Random`` nor a ``torch.Generator``.
    """
    draws = _Draws(rng)
    p_add, p_delete = _probabilities(p_add, p_delete)
    a = draws.uniform()
    return "add" if a < p_add else "delete" if a < p_add + p_delete else "clean"


def corrupt(
    system: Sequence[sympy.Expr],
    *,
    rng: random.Random | torch.Generator,
    p_add: float = 0.15,
    p_delete: float = 0.15,
    dim: int,
    mode: str | None = None,
) -> list[sympy.Expr]:
    """Add one term to, or delete one term from, a system -- or leave it clean.

    The authors' law (``prose_ode``), one mode per *system*:

    1. the mode: ``mode`` if given, else :func:`draw_corruption_mode` (``"clean"``
       ``1 - p_add - p_delete``, ``"add"`` ``p_add``, ``"delete"`` ``p_delete``; the
       paper: 0.70 / 0.15 / 0.15);
    2. ``"delete"``: one term of the whole system is deleted, uniform over the terms of the
       components that have at least two (``T_k = sympy.Add.make_args(f_k)``; a component
       is hit with probability proportional to ``len(T_k)``, as the authors' uniform draw
       over term positions). No component with two terms: nothing is deleted.
    3. ``"add"``: component ``k`` is chosen with probability proportional to
       ``len(T_k) + 1`` (the authors' uniform draw over insertion positions), and gains one
       term ``c * m``. The monomial ``m`` is drawn in two steps: a kind uniformly among the
       kinds that have a monomial left -- the constant ``1``, ``u_i``, ``u_i*u_j`` (``i <=
       j < dim``) -- then a monomial of that kind uniformly; monomials of ``f_k``'s own terms
       are excluded (``term.as_coeff_Mul()[1]``), so the new term never merges into an old
       one. ``c = s * r`` with ``s = +-1`` equally likely and ``r ~ U[0.1, 1)``, rounded to
       3 significant digits (a ``sympy.Float``; PROSE's symbol input hides it behind a
       placeholder). Components whose every monomial is taken are not chosen; if none is
       left, nothing is added.

    Differences from the authors' draw of the added term: they pick uniformly from the
    list of ``1 + dim + dim (dim + 1) / 2`` monomials, including ones the component already
    has (a visible duplicate in their token string, which sympy's canonical sums cannot
    hold), and insert it at the drawn position (opkit's encoder orders the terms).

    Args:
        system: sequence of sympy expressions in ``u_0 ... u_{dim-1}``.
        rng: ``random.Random`` or ``torch.Generator``; the result is a pure function of
            its state (and it is advanced).
        p_add, p_delete: probabilities of the two modes, each in [0, 1], sum <= 1 (used
            only when ``mode`` is None).
        dim: number of variables the added terms may use (1..10).
        mode: ``"clean"``, ``"add"``, ``"delete"`` to force a mode, or None (default) to
            draw it.

    Returns:
        the corrupted system, a new list of sympy expressions (the system itself, copied,
        when clean).

    Raises:
        TypeError: ``rng`` of another type, ``system`` not a sequence of sympy expressions.
        ValueError: bad probabilities, ``dim`` or ``mode``.
    """
    draws = _Draws(rng)
    p_add, p_delete = _probabilities(p_add, p_delete)
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
        raise ValueError(f"`dim` (={dim!r}) must be an int in 1..{MAX_DIM}.")
    if mode is not None and mode not in CORRUPTION_MODES:
        raise ValueError(f"`mode` must be one of {CORRUPTION_MODES} or None, got {mode!r}.")
    if isinstance(system, (sympy.Basic, str)) or not isinstance(system, Sequence):
        raise TypeError(
            "`system` must be a sequence of sympy expressions (one per component); got "
            f"{type(system).__name__}."
        )
    for k, expr in enumerate(system):
        if not isinstance(expr, sympy.Expr):
            raise TypeError(
                f"component {k} of `system` must be a sympy expression; got "
                f"{type(expr).__name__}: {expr!r}."
            )
    if mode is None:
        mode = draw_corruption_mode(rng, p_add=p_add, p_delete=p_delete)
    terms = [list(sympy.Add.make_args(expr)) for expr in system]
    if mode == "delete":
        weights = [len(t) if len(t) >= 2 else 0 for t in terms]
        if sum(weights):
            k = draws.weighted(weights)
            del terms[k][draws.below(len(terms[k]))]
    elif mode == "add":
        u = [sympy.Symbol(f"u_{i}") for i in range(dim)]
        kinds = (
            [sympy.Integer(1)],
            list(u),
            [u[i] * u[j] for i in range(dim) for j in range(i, dim)],
        )
        left = []
        for t in terms:
            taken = {term.as_coeff_Mul()[1] for term in t}
            free = [[m for m in kind if m not in taken] for kind in kinds]
            left.append([kind for kind in free if kind])
        weights = [len(t) + 1 if free else 0 for t, free in zip(terms, left)]
        if sum(weights):
            k = draws.weighted(weights)
            kind = left[k][draws.below(len(left[k]))]
            monomial = kind[draws.below(len(kind))]
            sign = -1.0 if draws.uniform() < 0.5 else 1.0
            c = round_float(sign * (0.1 + 0.9 * draws.uniform()), 3)
            terms[k].append(sympy.Float(c) * monomial)
    return [sympy.Add(*t) for t in terms]


def hide_integers(tokens: Sequence[str]) -> list[str]:
    """The authors' symbol input from opkit's placeholder encoding: every integer leaf
    (``-10`` .. ``10``) becomes ``<PLACEHOLDER>`` too, so that *every* numeric leaf is
    hidden (``prose_ode``'s ``encode_with_placeholder`` replaces whatever parses as a
    number). Other tokens are kept.

    Args:
        tokens: a token sequence, e.g. ``opkit.symbolic.encode(system, placeholders=True)``.

    Returns:
        a new list of the same length.

    Raises:
        TypeError: ``tokens`` is not a sequence of str.

    Examples:
        >>> hide_integers(["mul", "-10", "u_0", "|", "add", "<PLACEHOLDER>", "u_1"])
        ['mul', '<PLACEHOLDER>', 'u_0', '|', 'add', '<PLACEHOLDER>', 'u_1']
    """
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        raise TypeError(f"`tokens` must be a sequence of str, got {type(tokens).__name__}.")
    return [PLACEHOLDER if t in _INTEGER_TOKENS else t for t in tokens]


_hide = hide_integers  # `encode_guess` has an argument of that name


def encode_guess(system: Sequence[sympy.Expr], *, hide_integers: bool = True) -> list[str]:
    """The tokens of a guessed system as PROSE reads it: every float constant as
    ``<PLACEHOLDER>`` (:func:`opkit.symbolic.encode` with ``placeholders=True``) and, by
    default, every integer leaf too (the authors' input, :func:`hide_integers`); no
    ``<BOS>``/``<EOS>``. `opkit.pde_data.ODETrajectories` writes its ``symbols_in`` with
    it; use it for guesses given at prediction time so that they read like training ones.

    Raises:
        TypeError: as :func:`opkit.symbolic.encode`.
        ValueError: as :func:`opkit.symbolic.encode`.
    """
    tokens = encode(system, placeholders=True)
    return _hide(tokens) if hide_integers else tokens
