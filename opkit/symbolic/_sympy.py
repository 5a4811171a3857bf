"""The bridge between sympy expressions and expression trees.

**sympy -> tree** (:func:`tree_from_sympy`) maps sympy's canonical forms onto the
vocabulary by these rules:

- ``Symbol("u_i")`` (any assumptions), ``i`` in 0..9 -> ``u_i``; ``Symbol("c")`` or
  ``Symbol("c_k")`` -> ``<PLACEHOLDER>`` (what :func:`tree_to_sympy` writes for it). Any other
  symbol is refused.
- ``Integer`` in -10..10 -> an integer token. Every other number (``Float``, ``Rational``,
  integers outside -10..10, ``pi``/``E``) -> a float constant (3 significant digits once
  written as tokens).
- ``Add`` with n terms -> right-nested binary ``add``: ``a + b + c -> add a add b c``, terms
  in sympy's order. ``sub`` is never written.
- ``Mul``: its numeric factors multiply into one coefficient ``c``; factors ``b**-k``
  (negative integer power) form the denominator ``D``, the others the numerator ``N``, each
  a right-nested ``mul`` chain in sympy's order; the rest ``R`` is ``div N D``, ``N``
  alone, or ``inv D`` when ``N`` is empty; then ``c = 1 -> R``, ``c = -1 -> neg R``, other
  ``c -> mul c R`` (the coefficient outermost: ``2/y -> mul 2 inv u_1``, ``x*y/3 -> mul +
  N333 E-3 mul u_0 u_1``). **Negative coefficients:** exactly -1 is ``neg``
  (``-x*y -> neg mul u_0 u_1``); any other negative coefficient stays a negative leaf
  (``-3*x -> mul -3 u_0``, ``-0.38*x -> mul - N380 E-3 u_0``).
- ``Pow(b, n)`` with integer ``n``: ``n = 2 -> pow2 b``; ``n = -1 -> inv b``; ``n < 0 ->
  inv`` of ``b**|n|``; ``n >= 3`` by squaring: even ``n -> pow2`` of ``b**(n/2)``, odd ``n ->
  mul b b**(n-1)`` (``b**3 -> mul b pow2 b``, ``b**4 -> pow2 pow2 b``, ``b**5 -> mul b pow2
  pow2 b``). Non-integer exponents (``sqrt``) are refused.
- ``sin``, ``cos`` -> ``sin``, ``cos``. Anything else (``tan``, ``exp``, ``Abs``, ...) is
  refused with a ``ValueError``.

**tree -> sympy** (:func:`tree_to_sympy`) applies sympy's own operators (``+ - * /``,
``Pow``, ``sin``, ``cos``), so the result is in sympy's canonical form again and
``tree_to_sympy(tree_from_sympy(e)) == e`` whenever ``e`` has no non-integer constants.
Placeholders become ``Symbol("c_0")``, ``Symbol("c_1")``, ... numbered in prefix order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import sympy

from ._floats import round_float
from ._tree import INT_MAX, INT_MIN, MAX_DIM, Const, Int, Op, Placeholder, Tree, Var, fold

__all__ = ["tree_from_sympy", "tree_to_sympy", "round_sig", "placeholder_symbol", "MAX_NESTING"]

#: The deepest nesting read or written: sympy builds, compares and prints expressions
#: recursively and fails near 200 nested ``sin`` (Python's default recursion limit);
#: PROSE's equations nest a few levels. Deeper input is refused with a ``ValueError``
#: (``encode``) or ``TokenError`` (``decode``) instead of a ``RecursionError``.
MAX_NESTING = 100

_VAR_NAME = re.compile(r"u_(0|[1-9][0-9]*)")  # "u_01" is not u_1
_PLACEHOLDER_NAME = re.compile(r"c(_(0|[1-9][0-9]*))?")
_SUPPORTED = "u_0..u_9, numbers, +, -, *, /, integer powers, sin, cos"


def placeholder_symbol(k: int) -> sympy.Symbol:
    """The sympy symbol ``c_k`` that stands for the ``k``-th placeholder of a system."""
    return sympy.Symbol(f"c_{k}")


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _number(value: sympy.Expr, where: sympy.Expr) -> Tree:
    if value.is_Integer and INT_MIN <= int(value) <= INT_MAX:
        return Int(int(value))
    if value.is_extended_real and value.is_finite:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):  # sympy's float() of 10**400 is inf
            raise ValueError(
                f"cannot encode the number {_short(value)} in {_short(where)}: it is beyond "
                "the float range (about 1.8e308; float tokens reach 9.99e12)."
            )
        return Const(number)
    raise ValueError(
        f"cannot encode the number {_short(value)} in {_short(where)}: only finite reals are."
    )


def _chain(name: str, trees: list[Tree]) -> Tree:
    node = trees[-1]
    for t in reversed(trees[:-1]):
        node = Op(name, (t, node))
    return node


def _power(base: Tree, n: int) -> Tree:
    """``base**n`` for an integer ``n != 0`` (see the module docstring's rule)."""
    if n < 0:
        return Op("inv", (_power(base, -n),))
    if n == 1:
        return base
    if n % 2 == 0:
        return Op("pow2", (_power(base, n // 2),))
    return Op("mul", (base, _power(base, n - 1)))


def _check_exponent(expr: sympy.Pow) -> int:
    if not expr.exp.is_Integer:
        raise ValueError(
            f"cannot encode {_short(expr)}: only integer powers are supported (exponent "
            f"{_short(expr.exp)})."
        )
    n = abs(int(expr.exp))
    nesting = n.bit_length() + bin(n).count("1")  # pow2/mul levels of squaring (_power)
    if nesting > MAX_NESTING:
        raise ValueError(
            f"cannot encode {_short(expr)}: the exponent {_short(expr.exp)} needs about "
            f"{nesting} nested pow2/mul operators, more than the {MAX_NESTING} that "
            "opkit.symbolic reads back; write a smaller exponent."
        )
    return int(expr.exp)


def tree_from_sympy(expr: sympy.Expr) -> Tree:
    """The expression tree of one sympy expression (rules in the module docstring).

    Raises:
        TypeError: ``expr`` is not a sympy expression or a Python int/float (strings are
            never parsed).
        ValueError: an unsupported node (``tan``, ``exp``, ``sqrt``, a symbol not named
            ``u_i``/``c_k``, a complex or infinite number), naming it.
    """
    if isinstance(expr, bool) or not isinstance(expr, (sympy.Basic, int, float)):
        raise TypeError(
            f"expected a sympy expression; got {type(expr).__name__}: {expr!r} "
            "(strings are not parsed: build expressions with sympy.Symbol('u_0') etc.)."
        )
    if isinstance(expr, int):
        expr = sympy.Integer(expr)
    elif isinstance(expr, float):
        expr = sympy.Float(expr)
    if not isinstance(expr, sympy.Expr):
        raise TypeError(f"expected a sympy expression; got {type(expr).__name__}: {expr}.")
    return _from_sympy(expr)


def _too_deep(expr: sympy.Basic) -> ValueError:
    # not str(expr): printing a deep expression is itself what recursion cannot hold
    return ValueError(
        f"cannot encode the expression: it nests deeper than {MAX_NESTING} levels (found a "
        f"{type(expr).__name__} below {MAX_NESTING} nested nodes; sympy itself fails near "
        "200). Simplify it or split it into components."
    )


def _from_sympy(expr: sympy.Expr, depth: int = 0) -> Tree:
    if depth > MAX_NESTING:
        raise _too_deep(expr)
    depth += 1
    if expr.is_Symbol:
        name = expr.name
        match = _VAR_NAME.fullmatch(name)
        if match and int(match.group(1)) < MAX_DIM:
            return Var(int(match.group(1)))
        if _PLACEHOLDER_NAME.fullmatch(name):
            return Placeholder()
        raise ValueError(
            f"cannot encode the symbol {name!r}: variables are u_0 ... u_{MAX_DIM - 1} "
            "(and c / c_k for placeholders)."
        )
    if expr.is_Number or isinstance(expr, sympy.NumberSymbol):
        return _number(expr, expr)
    if expr.is_Add:
        return _chain("add", [_from_sympy(a, depth) for a in expr.args])
    if expr.is_Mul:
        coefficient = sympy.Integer(1)
        numerator: list[Tree] = []
        denominator: list[Tree] = []
        for factor in expr.args:
            if factor.is_Number:
                coefficient *= factor
            elif factor.is_Pow and factor.exp.is_Integer and factor.exp < 0:
                exponent = _check_exponent(factor)
                denominator.append(_power(_from_sympy(factor.base, depth), -exponent))
            else:
                numerator.append(_from_sympy(factor, depth))
        if numerator and denominator:
            node = Op("div", (_chain("mul", numerator), _chain("mul", denominator)))
        elif denominator:
            node = Op("inv", (_chain("mul", denominator),))
        elif numerator:
            node = _chain("mul", numerator)
        else:  # an unevaluated Mul of numbers only
            return _number(coefficient, expr)
        # The coefficient multiplies last: sympy distributes a number over a sum only in a
        # two-factor product, so `0.5 * ((x + y) / x)` decodes to sympy's form of the
        # original while `(0.5 * (x + y)) / x` would not. Exact integers only: a Float
        # coefficient 1.0 or -1.0 stays a float leaf.
        if coefficient.is_Integer and int(coefficient) == 1:
            return node
        if coefficient.is_Integer and int(coefficient) == -1:
            return Op("neg", (node,))
        return Op("mul", (_number(coefficient, expr), node))
    if expr.is_Pow:
        return _power(_from_sympy(expr.base, depth), _check_exponent(expr))
    if isinstance(expr, (sympy.sin, sympy.cos)):
        return Op(type(expr).__name__, (_from_sympy(expr.args[0], depth),))
    raise ValueError(f"cannot encode {type(expr).__name__} in {expr}: supported are {_SUPPORTED}.")


_SYMPY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "inv": lambda a: sympy.Pow(a, -1),
    "sin": sympy.sin,
    "cos": sympy.cos,
    "pow2": lambda a: sympy.Pow(a, 2),
}


def tree_to_sympy(tree: Tree, *, first_placeholder: int = 0) -> sympy.Expr:
    """The sympy expression of a tree (in sympy's canonical form).

    Variables become ``Symbol("u_i")`` (no assumptions), ``Const`` a ``sympy.Float`` of its
    value, ``Int`` a ``sympy.Integer`` and the ``k``-th placeholder (prefix order)
    ``Symbol(f"c_{first_placeholder + k}")``. Division by zero gives sympy's ``zoo``.
    """
    counter = [first_placeholder]

    def leaf(t: Tree) -> sympy.Expr:
        if isinstance(t, Var):
            return sympy.Symbol(f"u_{t.index}")
        if isinstance(t, Int):
            return sympy.Integer(t.value)
        if isinstance(t, Const):
            return sympy.Float(t.value)
        counter[0] += 1
        return placeholder_symbol(counter[0] - 1)

    return fold(tree, leaf, lambda op, values: _SYMPY_OPS[op.name](*values))


def _round_expr(expr: sympy.Basic, digits: int, depth: int = 0) -> sympy.Basic:
    if depth > MAX_NESTING:
        raise _too_deep(expr)
    depth += 1
    if expr.is_Number or isinstance(expr, sympy.NumberSymbol):
        if expr.is_Integer and INT_MIN <= int(expr) <= INT_MAX:
            return expr
        if expr.is_extended_real and expr.is_finite:
            return sympy.Float(round_float(_finite(expr), digits))
        return expr
    if expr.is_Atom:
        return expr
    if expr.is_Pow and expr.exp.is_Integer:  # integer exponents are structure, not constants
        return sympy.Pow(_round_expr(expr.base, digits, depth), expr.exp)
    return expr.func(*(_round_expr(a, digits, depth) for a in expr.args))


def _finite(number: sympy.Expr) -> float:
    try:
        return float(number)
    except OverflowError:
        raise ValueError(
            f"cannot round {_short(number)}: it is beyond the float range (about 1.8e308)."
        ) from None


def round_sig(expr_or_system, digits: int = 3):
    """Every constant of an expression (or a sequence of them) rounded to ``digits``
    significant digits, as :func:`opkit.symbolic.encode` writes it.

    Integers in -10..10 and integer exponents are kept; every other number (``Float``,
    ``Rational``, larger integers, ``pi``) becomes a ``sympy.Float`` of the rounded value.
    The result is rebuilt through sympy's constructors (canonical form), so for ``digits=3``
    ``decode(encode(system)) == round_sig(system)``. Returns an expression for an
    expression and a list for a sequence.
    """
    if type(digits) is not int or digits < 1:
        raise ValueError(f"`digits` (={digits!r}) must be a positive int.")
    if isinstance(expr_or_system, sympy.Basic):
        return _round_expr(expr_or_system, digits)
    if isinstance(expr_or_system, Sequence) and not isinstance(expr_or_system, str):
        out = []
        for e in expr_or_system:
            if not isinstance(e, sympy.Basic):
                raise TypeError(f"expected sympy expressions; got {type(e).__name__}: {e!r}.")
            out.append(_round_expr(e, digits))
        return out
    raise TypeError(
        "`expr_or_system` must be a sympy expression or a sequence of them; "
        f"got {type(expr_or_system).__name__}."
    )
