"""Immutable expression trees for vector fields over ``u_0 ... u_9``.

A tree is one of five frozen node types: :class:`Var` (``u_i``), :class:`Int` (an integer
in -10..10), :class:`Const` (any other real constant, a float), :class:`Placeholder` (a
hidden constant) and :class:`Op` (an operator of the vocabulary with its operands). Every
conversion in :mod:`opkit.symbolic` (tokens, sympy, torch) goes through these trees.

Traversals here are iterative (an explicit stack), so a pathologically deep tree, such as
ten thousand nested ``neg`` decoded from a model's output, never hits Python's recursion
limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "MAX_DIM",
    "INT_MIN",
    "INT_MAX",
    "OPERATOR_ARITY",
    "Var",
    "Int",
    "Const",
    "Placeholder",
    "Op",
    "Tree",
    "fold",
    "leaves",
]

#: Variables ``u_0 ... u_{MAX_DIM-1}`` exist in the vocabulary.
MAX_DIM = 10
#: Integer tokens cover ``INT_MIN ... INT_MAX``.
INT_MIN, INT_MAX = -10, 10

#: The operators of the PROSE vocabulary and their arities. ``sub``/``div`` are decoded but
#: never produced by :func:`opkit.symbolic.encode` (it writes ``add``/``neg`` and ``div``
#: only for numerator/denominator products, see :func:`opkit.symbolic.tree_from_sympy`).
OPERATOR_ARITY: dict[str, int] = {
    "add": 2,
    "sub": 2,
    "mul": 2,
    "div": 2,
    "neg": 1,
    "inv": 1,
    "sin": 1,
    "cos": 1,
    "pow2": 1,
}


@dataclass(frozen=True, slots=True)
class Var:
    """The variable ``u_index`` (``0 <= index < MAX_DIM``)."""

    index: int

    def __post_init__(self) -> None:
        if type(self.index) is not int or not 0 <= self.index < MAX_DIM:
            raise ValueError(
                f"`index` (={self.index!r}) must be an int in 0..{MAX_DIM - 1} "
                f"(variables u_0 ... u_{MAX_DIM - 1})."
            )


@dataclass(frozen=True, slots=True)
class Int:
    """An integer constant in ``INT_MIN .. INT_MAX`` (one token)."""

    value: int

    def __post_init__(self) -> None:
        if type(self.value) is not int or not INT_MIN <= self.value <= INT_MAX:
            raise ValueError(
                f"`value` (={self.value!r}) must be an int in {INT_MIN}..{INT_MAX}; "
                "other numbers are `Const` leaves."
            )


@dataclass(frozen=True, slots=True)
class Const:
    """A real constant, written as a float (three tokens: sign, mantissa, exponent)."""

    value: float

    def __post_init__(self) -> None:
        if not isinstance(self.value, float) or not math.isfinite(self.value):
            raise ValueError(f"`value` (={self.value!r}) must be a finite float.")


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A hidden constant: the token ``<PLACEHOLDER>``."""


@dataclass(frozen=True, slots=True)
class Op:
    """Operator ``name`` (a key of :data:`OPERATOR_ARITY`) applied to ``args``."""

    name: str
    args: tuple[Tree, ...]

    def __post_init__(self) -> None:
        arity = OPERATOR_ARITY.get(self.name)
        if arity is None:
            raise ValueError(f"`name` (={self.name!r}) must be one of {sorted(OPERATOR_ARITY)}.")
        if not isinstance(self.args, tuple) or len(self.args) != arity:
            raise ValueError(
                f"operator {self.name!r} takes {arity} operand(s) as a tuple; got {self.args!r}."
            )
        for a in self.args:
            if not isinstance(a, _NODE_TYPES):
                raise TypeError(f"operands of {self.name!r} must be trees; got {type(a).__name__}.")


Tree = Var | Int | Const | Placeholder | Op
_NODE_TYPES = (Var, Int, Const, Placeholder, Op)

R = TypeVar("R")


def fold(tree: Tree, leaf: Callable[[Tree], R], node: Callable[[Op, list[R]], R]) -> R:
    """Post-order fold without recursion.

    ``leaf(t)`` maps a leaf to a value; ``node(op, values)`` combines the values of an
    operator's operands (in order). Leaves are visited left to right, i.e. in the order of
    the prefix token sequence.
    """
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    out: list[R] = []
    while stack:
        t, expanded = stack.pop()
        if isinstance(t, Op):
            if expanded:
                n = len(t.args)
                values = out[-n:]
                del out[-n:]
                out.append(node(t, values))
            else:
                stack.append((t, True))
                stack.extend((a, False) for a in reversed(t.args))
        elif isinstance(t, _NODE_TYPES):
            out.append(leaf(t))
        else:
            raise TypeError(f"expected an expression tree node; got {type(t).__name__}: {t!r}.")
    return out[0]


def leaves(tree: Tree) -> list[Tree]:
    """The leaves of ``tree``, left to right (prefix order)."""
    out: list[Tree] = []
    stack: list[Tree] = [tree]
    while stack:
        t = stack.pop()
        if isinstance(t, Op):
            stack.extend(reversed(t.args))
        else:
            out.append(t)
    return out
