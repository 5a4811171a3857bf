"""Batched torch evaluation of expression trees, by walking them (nothing is executed).

A tree is compiled once into a postfix program (a list of ``(kind, argument)`` pairs) that
a small stack machine runs with torch operations on each call. Division (``div``, ``inv``)
is plain IEEE division: ``inf``/``nan`` may appear and the caller checks finiteness, e.g.
``torch.isfinite(f(u)).all()`` for PROSE's valid-expression test (Liu, Zhang & Schaeffer,
arXiv:2309.16816, section 4). Gradients flow through the result (autograd).
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy
import torch

from ._sympy import tree_from_sympy
from ._tokens import tree_from_tokens
from ._tree import Const, Int, Op, Placeholder, Tree, Var, fold

__all__ = ["evaluate", "vector_field", "VectorField"]

_VAR, _CONST, _OP = 0, 1, 2
_TORCH_OPS = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "neg": torch.neg,
    "inv": torch.reciprocal,
    "sin": torch.sin,
    "cos": torch.cos,
    "pow2": torch.square,
}


def _compile(tree: Tree) -> list[tuple[int, object]]:
    program: list[tuple[int, object]] = []

    def leaf(t: Tree) -> None:
        if isinstance(t, Var):
            program.append((_VAR, t.index))
        elif isinstance(t, (Int, Const)):
            program.append((_CONST, float(t.value)))
        elif isinstance(t, Placeholder):
            raise ValueError(
                "cannot evaluate an expression with <PLACEHOLDER> constants: give the "
                "constants' values first (decode a sequence with floats)."
            )

    def node(op: Op, _values: list) -> None:
        program.append((_OP, (_TORCH_OPS[op.name], len(op.args))))

    fold(tree, leaf, node)
    return program


def _check_u(u: object) -> torch.Tensor:
    if not isinstance(u, torch.Tensor):
        raise TypeError(f"`u` must be a torch.Tensor of shape (..., d); got {type(u).__name__}.")
    if u.ndim == 0 or not u.is_floating_point():
        raise ValueError(
            f"`u` must be a floating-point tensor of shape (..., d); got dtype {u.dtype} "
            f"and shape {tuple(u.shape)}."
        )
    return u


def _run(program: list[tuple[int, object]], u: torch.Tensor) -> torch.Tensor:
    stack: list[torch.Tensor] = []
    for kind, arg in program:
        if kind == _VAR:
            if arg >= u.shape[-1]:
                raise ValueError(
                    f"the expression uses u_{arg} but `u` has last dimension {u.shape[-1]} "
                    f"(shape {tuple(u.shape)})."
                )
            stack.append(u[..., arg])
        elif kind == _CONST:
            stack.append(torch.tensor(arg, dtype=u.dtype, device=u.device))
        else:
            fn, arity = arg
            if arity == 2:
                b = stack.pop()
                stack.append(fn(stack.pop(), b))
            else:
                stack.append(fn(stack.pop()))
    (result,) = stack
    return result.expand(u.shape[:-1])


def evaluate(tree: Tree, u: torch.Tensor) -> torch.Tensor:
    """One expression at points ``u``.

    Args:
        tree: an expression tree without placeholders.
        u: floating tensor of shape ``(..., d)``; ``u[..., i]`` is ``u_i``.

    Returns:
        tensor of shape ``u.shape[:-1]``, dtype and device of ``u``.

    Raises:
        ValueError: a placeholder in the tree, or a variable ``u_i`` with ``i >= d``.
    """
    return _run(_compile(tree), _check_u(u))


class VectorField:
    """A system of expressions as a batched torch function ``u (..., d) -> (..., n)``.

    Built by :func:`vector_field`; ``n_components`` and ``n_variables`` (one more than the
    largest variable index used, the least ``d`` accepted) describe it.
    """

    def __init__(self, trees: Sequence[Tree]):
        self.trees = tuple(trees)
        self._programs = [_compile(t) for t in self.trees]
        self.n_components = len(self.trees)
        used = [arg for p in self._programs for kind, arg in p if kind == _VAR]
        self.n_variables = max(used) + 1 if used else 0

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        u = _check_u(u)
        if u.shape[-1] < self.n_variables:
            raise ValueError(
                f"the system uses u_{self.n_variables - 1} but `u` has last dimension "
                f"{u.shape[-1]} (shape {tuple(u.shape)})."
            )
        return torch.stack([_run(p, u) for p in self._programs], dim=-1)

    def __repr__(self) -> str:
        return f"VectorField(n_components={self.n_components}, n_variables={self.n_variables})"


def vector_field(system_or_tokens) -> VectorField:
    """The batched torch function of a system.

    Args:
        system_or_tokens: a sequence of sympy expressions (one per component), a token
            sequence (list of str, or one whitespace-separated str; ``<BOS>``/``<EOS>``
            allowed), or a sequence of expression trees.

    Returns:
        :class:`VectorField` ``f`` with ``f(u)`` of shape ``(..., n_components)`` for ``u``
        of shape ``(..., d)``, in ``u``'s dtype and device.

    Raises:
        TokenError: malformed tokens. ValueError: unsupported sympy nodes, placeholders.

    Examples:
        >>> import torch
        >>> f = vector_field("add u_0 mul 2 u_1 | sin u_0")
        >>> f(torch.tensor([[0.0, 1.0]], dtype=torch.float64))
        tensor([[2., 0.]], dtype=torch.float64)
    """
    if isinstance(system_or_tokens, str):
        return VectorField(tree_from_tokens(system_or_tokens))
    if isinstance(system_or_tokens, sympy.Basic):
        raise TypeError(
            "`system_or_tokens` must be a sequence (one expression per component); wrap a "
            "single expression in a list."
        )
    items = list(system_or_tokens)
    if not items:
        raise ValueError("`system_or_tokens` is empty; a system needs at least one component.")
    if any(isinstance(x, str) for x in items):
        return VectorField(tree_from_tokens(items))
    if all(isinstance(x, (Var, Int, Const, Placeholder, Op)) for x in items):
        return VectorField(items)
    return VectorField([tree_from_sympy(x) for x in items])
