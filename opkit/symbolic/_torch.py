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

from ._errors import TokenError
from ._floats import SIGN_TOKENS, decode_float
from ._sympy import tree_from_sympy
from ._tokens import INT_TOKENS, body_bounds, tree_from_tokens
from ._tree import Const, Int, Op, Placeholder, Tree, Var, fold

__all__ = ["evaluate", "evaluate_systems", "vector_field", "VectorField"]

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


def _run(
    program: list[tuple[int, object]], u: torch.Tensor, constants: torch.Tensor | None = None
) -> torch.Tensor:
    """Run a compiled program at ``u``; ``constants`` ``(n, k)``: the values of its ``k``
    numbers (left to right) for ``n`` systems of this structure -> ``(n, *u.shape[:-1])``."""
    stack: list[torch.Tensor] = []
    batch: tuple[int, ...] = () if constants is None else (constants.shape[0],)
    column = 0
    for kind, arg in program:
        if kind == _VAR:
            if arg >= u.shape[-1]:
                raise ValueError(
                    f"the expression uses u_{arg} but `u` has last dimension {u.shape[-1]} "
                    f"(shape {tuple(u.shape)})."
                )
            stack.append(u[..., arg])
        elif kind == _CONST and constants is not None:
            stack.append(constants[:, column].view(batch + (1,) * (u.ndim - 1)))
            column += 1
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
    return result.expand(batch + u.shape[:-1])


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


def _numbers_apart(tokens: list[str]) -> tuple[tuple[str, ...], list[float]]:
    """A token sequence's structure (every number as ``#``) and its numbers, left to right
    (the order in which a compiled program reads them)."""
    structure: list[str] = []
    numbers: list[float] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in SIGN_TOKENS:
            try:
                numbers.append(decode_float(tokens[i : i + 3]))
            except TokenError as err:
                raise TokenError(err.reason, i + (err.position or 0), err.token) from None
            structure.append("#")
            i += 3
            continue
        if tok in INT_TOKENS:
            numbers.append(float(tok))
            tok = "#"
        structure.append(tok)
        i += 1
    return tuple(structure), numbers


def evaluate_systems(systems: Sequence[Sequence[str] | str], u: torch.Tensor) -> list[torch.Tensor]:
    """Many systems, written as tokens, at the same points ``u``.

    Systems that differ only in their numbers (e.g. draws of one ODE family) share one
    parse and one compiled program, run once for all of them with their numbers as a batch:
    far cheaper than one :func:`vector_field` per system.

    Args:
        systems: token sequences (lists of str or whitespace-separated strings, as
            :func:`vector_field` takes them).
        u: floating tensor of shape ``(..., d)``.

    Returns:
        one tensor per system, ``(..., n_components)`` of that system.

    Raises:
        TokenError: a malformed system; its message starts with ``system k:`` and its
            attribute ``system`` is ``k``.
        ValueError: a placeholder, or a variable ``u_i`` with ``i >= d`` (naming the
            first system that uses it).
    """
    u = _check_u(u)
    groups: dict[tuple[str, ...], list[tuple[int, list[float]]]] = {}
    first: dict[tuple[str, ...], list[str]] = {}
    for k, system in enumerate(systems):
        tokens = system.split() if isinstance(system, str) else list(system)
        start, end = body_bounds(tokens)
        try:
            structure, numbers = _numbers_apart(tokens[start:end])
        except TokenError as err:
            raise _of_system(err, k, start) from None
        groups.setdefault(structure, []).append((k, numbers))
        first.setdefault(structure, tokens)
    out: list[torch.Tensor | None] = [None] * len(systems)
    for structure, members in groups.items():
        k0 = members[0][0]
        try:
            programs = [_compile(t) for t in tree_from_tokens(first[structure])]
        except TokenError as err:
            raise _of_system(err, k0, 0) from None
        constants = torch.tensor([m[1] for m in members], dtype=u.dtype, device=u.device)
        used = [arg for p in programs for kind, arg in p if kind == _VAR]
        if used and max(used) >= u.shape[-1]:
            raise ValueError(
                f"system {k0} (and the {len(members) - 1} others written alike) uses "
                f"u_{max(used)} but `u` has last dimension {u.shape[-1]}."
            )
        values, column = [], 0
        for p in programs:
            n_numbers = sum(kind == _CONST for kind, _ in p)
            part = constants[:, column : column + n_numbers].reshape(len(members), n_numbers)
            values.append(_run(p, u, part))
            column += n_numbers
        stacked = torch.stack(values, dim=-1)
        for row, (k, _) in enumerate(members):
            out[k] = stacked[row]
    return out  # type: ignore[return-value]


def _of_system(err: TokenError, k: int, offset: int) -> TokenError:
    position = None if err.position is None else err.position + offset
    new = TokenError(f"system {k}: {err.reason}", position, err.token)
    new.system = k  # type: ignore[attr-defined]
    return new


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
