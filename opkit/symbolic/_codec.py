"""``encode``/``decode``: systems of sympy expressions <-> PROSE token sequences."""

from __future__ import annotations

from collections.abc import Sequence

import sympy

from ._sympy import MAX_NESTING, tree_from_sympy, tree_to_sympy
from ._tokens import system_to_tokens, tree_from_tokens
from ._tree import Placeholder, Tree, leaves

__all__ = ["encode", "decode", "system_from_sympy", "MAX_DECODE_DEPTH"]

#: ``decode`` refuses operators nested deeper than this (and ``encode`` expressions nested
#: deeper): sympy builds and prints expressions recursively and fails near 200 nested
#: ``sin`` (Python's default recursion limit); PROSE's equations nest a few levels.
#: ``vector_field`` has no limit.
MAX_DECODE_DEPTH = MAX_NESTING


def system_from_sympy(system: Sequence[sympy.Expr]) -> list[Tree]:
    """One expression tree per component (see :func:`opkit.symbolic.tree_from_sympy`)."""
    if isinstance(system, (sympy.Basic, str)) or not isinstance(system, Sequence):
        raise TypeError(
            "`system` must be a sequence of sympy expressions, one per vector component; got "
            f"{type(system).__name__}"
            + (" (wrap a single expression in a list)." if isinstance(system, sympy.Basic) else ".")
        )
    if len(system) == 0:
        raise ValueError("`system` is empty; it needs at least one component.")
    trees = []
    for k, expr in enumerate(system):
        try:
            trees.append(tree_from_sympy(expr))
        except (TypeError, ValueError) as err:
            raise type(err)(f"component {k} of `system`: {err}") from None
    return trees


def encode(system: Sequence[sympy.Expr], *, placeholders: bool = False) -> list[str]:
    """Prefix tokens of a system of sympy expressions in ``Symbol("u_0")``, ...

    Components are separated by ``|``; no ``<BOS>``/``<EOS>`` (the model adds them). The
    mapping of sympy's forms onto the vocabulary (n-ary sums, products, quotients, negative
    coefficients, integer powers) is given in :mod:`opkit.symbolic._sympy`; constants other
    than integers in -10..10 are floats rounded to 3 significant digits.

    Args:
        system: sequence of sympy expressions (Python ints/floats are accepted as
            constant components; strings are refused, never parsed).
        placeholders: write every float constant as ``<PLACEHOLDER>`` (integer tokens
            stay) -- PROSE's symbol *input*; the default keeps the floats (the *target*).

    Returns:
        list of tokens, all in :data:`opkit.symbolic.VOCAB`.

    Raises:
        TypeError: ``system`` is not a sequence of expressions.
        ValueError: an unsupported node (``tan``, ``exp``, ``sqrt``, a symbol other than
            ``u_0..u_9``/``c_k``), a constant outside ``1e-10 ... 9.99e12`` in magnitude,
            or nesting deeper than :data:`MAX_DECODE_DEPTH` (100; e.g. ``u_0**(2**1000)``
            or 500 nested ``sin``), which sympy's recursion cannot hold.

    Examples:
        >>> from sympy import Symbol, Rational
        >>> x, y = Symbol("u_0"), Symbol("u_1")
        >>> " ".join(encode([10 * (y - x), -Rational(8, 3) * y + x**3]))
        'add mul -10 u_0 mul 10 u_1 | add mul u_0 pow2 u_0 mul - N267 E-2 u_1'
    """
    return system_to_tokens(system_from_sympy(system), placeholders=placeholders)


def decode(tokens: Sequence[str] | str) -> list[sympy.Expr]:
    """The system of sympy expressions written by ``tokens`` (inverse of :func:`encode`).

    The sequence may start with ``<BOS>`` and stops at the first ``<EOS>`` (what follows,
    e.g. ``<PAD>``, is ignored); a string is split on whitespace. Parsing walks the tokens
    with the operators' arities; no token is ever evaluated as code. Floats become
    ``sympy.Float`` of their 3-significant-digit value, placeholders the symbols
    ``c_0, c_1, ...`` numbered in order of appearance across the whole system.

    Returns:
        one sympy expression per ``|``-separated component, in sympy's canonical form:
        ``decode(encode(system)) == round_sig(system)``.

    Raises:
        TokenError: any malformed sequence (the message names the position and token),
            or operators nested deeper than :data:`MAX_DECODE_DEPTH` (100).
    """
    trees = tree_from_tokens(tokens, max_depth=MAX_DECODE_DEPTH)
    out = []
    n_placeholders = 0
    for tree in trees:
        out.append(tree_to_sympy(tree, first_placeholder=n_placeholders))
        n_placeholders += sum(isinstance(t, Placeholder) for t in leaves(tree))
    return out
