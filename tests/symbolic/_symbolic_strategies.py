"""Hypothesis strategies for the symbolic tests: random sympy expressions and trees.

The sympy strategy builds expressions with sympy's own operators (not with opkit's trees),
so a round trip through ``opkit.symbolic`` is checked against an independent construction.
"""

from __future__ import annotations

import sympy
from hypothesis import strategies as st

from opkit.symbolic import Const, Int, Op, Placeholder, Var, decode_float, encode_float

N_VARS = 5
U = [sympy.Symbol(f"u_{i}") for i in range(N_VARS)]

# floats with 1..6 significant digits over 1e-3 .. 1e3, both signs
_float_values = st.builds(
    lambda sign, mantissa, exponent: sign * mantissa * 10.0**exponent,
    st.sampled_from([-1.0, 1.0]),
    st.floats(min_value=1.0, max_value=9.99999, allow_nan=False, allow_infinity=False),
    st.integers(min_value=-3, max_value=2),
)

sympy_leaves = st.one_of(
    st.sampled_from(U),
    st.integers(min_value=-10, max_value=10).map(sympy.Integer),
    _float_values.map(sympy.Float),
    st.sampled_from([sympy.Integer(12), sympy.Integer(-250), sympy.Rational(1, 3)]),
)

_UNARY = [
    lambda a: -a,
    sympy.sin,
    sympy.cos,
    lambda a: a**2,
    lambda a: a**3,
    lambda a: 1 / a,
    lambda a: a**-2,
    lambda a: a / 3,
]
_BINARY = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: a / b,
]


def _extend(children):
    return st.one_of(
        st.builds(lambda f, a: f(a), st.sampled_from(_UNARY), children),
        st.builds(lambda f, a, b: f(a, b), st.sampled_from(_BINARY), children, children),
    )


def _finite(e: sympy.Expr) -> bool:
    return not e.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)


sympy_expressions = st.recursive(sympy_leaves, _extend, max_leaves=10).filter(_finite)
sympy_systems = st.lists(sympy_expressions, min_size=1, max_size=4)

# Trees whose constants are already on the 3-digit float grid, so tokens round-trip them.
_grid_floats = _float_values.map(lambda x: decode_float(encode_float(x)))
_numeric_leaves = st.one_of(
    st.integers(min_value=0, max_value=9).map(Var),
    st.integers(min_value=-10, max_value=10).map(Int),
    _grid_floats.map(Const),
)
_ARITY = {"add": 2, "sub": 2, "mul": 2, "div": 2, "neg": 1, "inv": 1, "sin": 1, "cos": 1}
_ARITY["pow2"] = 1


def _extend_tree(children):
    return st.one_of(
        *(
            st.tuples(*([children] * arity)).map(lambda args, name=name: Op(name, args))
            for name, arity in _ARITY.items()
        )
    )


#: random trees over every operator, u_0..u_9, integers, grid floats and placeholders
trees = st.recursive(
    st.one_of(_numeric_leaves, st.just(Placeholder())), _extend_tree, max_leaves=20
)
#: the same without placeholders (sympy renumbers placeholders in its own term order)
numeric_trees = st.recursive(_numeric_leaves, _extend_tree, max_leaves=20)
