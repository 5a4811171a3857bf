"""The PROSE vocabulary and prefix (Polish) token sequences of expression trees.

A system ``[f_0, ..., f_{n-1}]`` is written as the prefix sequences of its components
separated by ``|``, e.g. Lorenz with sigma=10 starts ``add mul -10 u_0 mul 10 u_1 | ...``.
Parsing walks the tokens with the arity table :data:`OPERATOR_ARITY` and an explicit stack;
it never hands a token to ``eval``, ``exec``, ``compile``, ``sympify`` or any other parser.

References:
    G. Lample, F. Charton, "Deep learning for symbolic mathematics", ICLR 2020 (prefix
    notation); Y. Liu, Z. Zhang, H. Schaeffer, "PROSE", arXiv:2309.16816, section 3 (the
    vocabulary).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence

from ._errors import TokenError
from ._floats import (
    EXPONENT_MAX,
    EXPONENT_MIN,
    EXPONENT_TOKENS,
    MANTISSA_TOKENS,
    SIGN_TOKENS,
    decode_float,
    encode_float,
)
from ._tree import INT_MAX, INT_MIN, MAX_DIM, OPERATOR_ARITY, Const, Int, Op, Placeholder, Tree, Var

__all__ = [
    "PAD",
    "BOS",
    "EOS",
    "PLACEHOLDER",
    "SEPARATOR",
    "VOCAB",
    "TOKEN_ID",
    "PAD_ID",
    "BOS_ID",
    "EOS_ID",
    "PLACEHOLDER_ID",
    "SEPARATOR_ID",
    "to_ids",
    "from_ids",
    "tree_to_tokens",
    "system_to_tokens",
    "tree_from_tokens",
]

PAD, BOS, EOS, PLACEHOLDER = "<PAD>", "<BOS>", "<EOS>", "<PLACEHOLDER>"
SEPARATOR = "|"
_VARIABLES = tuple(f"u_{i}" for i in range(MAX_DIM))
_INTEGERS = tuple(str(n) for n in range(INT_MIN, INT_MAX + 1))
INT_TOKENS = frozenset(_INTEGERS)

#: The fixed vocabulary: specials (``<PAD>`` has id 0), ``|``, operators, variables
#: ``u_0..u_9``, integers ``-10..10``, float signs ``+ -``, mantissas ``N000 N100..N999``,
#: exponents ``E-12..E10``. Order is part of the format: ids index this tuple.
VOCAB: tuple[str, ...] = (
    (PAD, BOS, EOS, PLACEHOLDER, SEPARATOR)
    + tuple(OPERATOR_ARITY)
    + _VARIABLES
    + _INTEGERS
    + SIGN_TOKENS
    + MANTISSA_TOKENS
    + EXPONENT_TOKENS
)
TOKEN_ID: dict[str, int] = {t: i for i, t in enumerate(VOCAB)}
assert len(TOKEN_ID) == len(VOCAB), "vocabulary tokens must be distinct"
PAD_ID, BOS_ID, EOS_ID = TOKEN_ID[PAD], TOKEN_ID[BOS], TOKEN_ID[EOS]
PLACEHOLDER_ID, SEPARATOR_ID = TOKEN_ID[PLACEHOLDER], TOKEN_ID[SEPARATOR]

_VAR_INDEX = {t: i for i, t in enumerate(_VARIABLES)}
_INT_VALUE = {t: int(t) for t in _INTEGERS}
_MANTISSA_SET = frozenset(MANTISSA_TOKENS)
_EXPONENT_SET = frozenset(EXPONENT_TOKENS)


def to_ids(tokens: Iterable[str]) -> list[int]:
    """Token ids (indices into :data:`VOCAB`); :class:`TokenError` names an unknown token."""
    ids = []
    for position, token in enumerate(tokens):
        i = TOKEN_ID.get(token) if isinstance(token, str) else None
        if i is None:
            raise TokenError("unknown token (not in opkit.symbolic.VOCAB).", position, token)
        ids.append(i)
    return ids


def from_ids(ids: Iterable[int]) -> list[str]:
    """Tokens of ids (ints, numpy ints or integer tensor elements; a 1-D tensor works).

    Raises:
        TokenError: an id that is not an integer (bools included: ``True`` is not id 1),
            or out of range.
    """
    tokens = []
    for position, raw in enumerate(ids):
        if isinstance(raw, bool) or str(getattr(raw, "dtype", "")) in ("bool", "torch.bool"):
            raise TokenError(
                "token ids must be integers; got a bool (True is not id 1: pass ints).",
                position,
                raw,
            )
        try:
            i = operator.index(raw)
        except TypeError:
            raise TokenError(
                f"token ids must be integers; got {type(raw).__name__}.", position, raw
            ) from None
        if not 0 <= i < len(VOCAB):
            raise TokenError(f"token id out of range 0..{len(VOCAB) - 1}.", position, i)
        tokens.append(VOCAB[i])
    return tokens


def tree_to_tokens(tree: Tree, *, placeholders: bool = False) -> list[str]:
    """Prefix tokens of one tree; ``placeholders=True`` writes every ``Const`` as
    ``<PLACEHOLDER>`` (``Int`` leaves stay). Raises ``ValueError`` for a constant outside the
    float tokens' range (see :func:`opkit.symbolic.encode_float`)."""
    out: list[str] = []
    stack: list[Tree] = [tree]
    while stack:
        t = stack.pop()
        if isinstance(t, Op):
            out.append(t.name)
            stack.extend(reversed(t.args))
        elif isinstance(t, Var):
            out.append(_VARIABLES[t.index])
        elif isinstance(t, Int):
            out.append(str(t.value))
        elif isinstance(t, Const):
            out.extend([PLACEHOLDER] if placeholders else encode_float(t.value))
        elif isinstance(t, Placeholder):
            out.append(PLACEHOLDER)
        else:
            raise TypeError(f"expected an expression tree node; got {type(t).__name__}: {t!r}.")
    return out


def system_to_tokens(trees: Sequence[Tree], *, placeholders: bool = False) -> list[str]:
    """Components' prefix tokens joined by ``|`` (no ``<BOS>``/``<EOS>``)."""
    out: list[str] = []
    for k, tree in enumerate(trees):
        if k:
            out.append(SEPARATOR)
        out.extend(tree_to_tokens(tree, placeholders=placeholders))
    return out


def body_bounds(tokens: list) -> tuple[int, int]:
    """``[start, end)`` of the expression part: after a leading ``<BOS>``, before the first
    ``<EOS>`` (everything after ``<EOS>`` is ignored)."""
    start = 1 if tokens and tokens[0] == BOS else 0
    end = len(tokens)
    for i in range(start, len(tokens)):
        if tokens[i] == EOS:
            end = i
            break
    return start, end


def _parse_float(tokens: list, i: int, end: int) -> tuple[Const, int]:
    for offset, allowed, what in (
        (1, _MANTISSA_SET, "a mantissa token (N000, N100 ... N999)"),
        (2, _EXPONENT_SET, f"an exponent token (E{EXPONENT_MIN} ... E{EXPONENT_MAX})"),
    ):
        j = i + offset
        if j >= end:
            raise TokenError(
                f"the float starting at position {i} needs {what} here; the component ended.",
                j,
                tokens[j] if j < len(tokens) else None,
            )
        if tokens[j] not in allowed:
            raise TokenError(f"the float starting at position {i} needs {what} here.", j, tokens[j])
    return Const(decode_float(tokens[i : i + 3])), i + 3


def _parse_leaf(tokens: list, i: int, end: int) -> tuple[Tree, int]:
    tok = tokens[i]
    if tok in _VAR_INDEX:
        return Var(_VAR_INDEX[tok]), i + 1
    if tok in _INT_VALUE:
        return Int(_INT_VALUE[tok]), i + 1
    if tok == PLACEHOLDER:
        return Placeholder(), i + 1
    if tok in SIGN_TOKENS:
        return _parse_float(tokens, i, end)
    if tok in _MANTISSA_SET or tok in _EXPONENT_SET:
        raise TokenError("mantissa/exponent token outside a float (a float is + N.. E..).", i, tok)
    if tok == PAD:
        raise TokenError("<PAD> before <EOS>.", i, tok)
    if tok == BOS:
        raise TokenError("<BOS> is allowed only as the first token.", i, tok)
    raise TokenError("unknown token (not in opkit.symbolic.VOCAB).", i, tok)


def _parse_component(tokens: list, start: int, end: int, k: int, max_depth: int | None) -> Tree:
    frames: list[tuple[str, int, list[Tree]]] = []  # (operator, position, operands so far)
    result: Tree | None = None
    i = start
    while i < end:
        tok = tokens[i]
        if result is not None:
            raise TokenError(
                f"component {k} is already a complete expression (tokens {start}..{i - 1}); "
                f"unexpected trailing token (a missing '|' or an operator too few?).",
                i,
                tok,
            )
        if tok in OPERATOR_ARITY:
            if max_depth is not None and len(frames) >= max_depth:
                raise TokenError(
                    f"operators nest deeper than {max_depth} here; sympy's recursion cannot "
                    "hold such an expression (tree_from_tokens/vector_field have no limit).",
                    i,
                    tok,
                )
            frames.append((tok, i, []))
            i += 1
            continue
        node, i = _parse_leaf(tokens, i, end)
        while frames:
            name, _, operands = frames[-1]
            operands.append(node)
            if len(operands) < OPERATOR_ARITY[name]:
                node = None
                break
            frames.pop()
            node = Op(name, tuple(operands))
        if node is not None:
            result = node
    if result is None:
        at = tokens[end] if end < len(tokens) else None
        if frames:
            name, pos, operands = frames[-1]
            raise TokenError(
                f"component {k} ended but operator {name!r} at position {pos} has "
                f"{len(operands)} of its {OPERATOR_ARITY[name]} operand(s).",
                end,
                at,
            )
        raise TokenError(f"component {k} is empty.", end, at)
    return result


def tree_from_tokens(tokens: Sequence[str] | str, *, max_depth: int | None = None) -> list[Tree]:
    """Parse a token sequence into one tree per component.

    Args:
        tokens: prefix tokens, components separated by ``|``; may start with ``<BOS>`` and
            stop at ``<EOS>`` (tokens after the first ``<EOS>``, e.g. ``<PAD>``, are
            ignored). A string is split on whitespace.
        max_depth: refuse operators nested deeper than this (``None``: no limit; parsing
            itself never recurses).

    Raises:
        TokenError: unknown token, non-string token, operator short of operands, tokens
            after a complete component, empty component, a malformed float, ``<PAD>``
            or ``<BOS>`` inside the expression. The message gives the position (index in
            ``tokens`` as given) and the token.
    """
    if isinstance(tokens, str):
        tokens = tokens.split()
    tokens = list(tokens)
    for position, tok in enumerate(tokens):
        if not isinstance(tok, str):
            raise TokenError(
                f"tokens must be strings (use from_ids for ids); got {type(tok).__name__}.",
                position,
                tok,
            )
        if tok == EOS:
            break
    start, end = body_bounds(tokens)
    trees: list[Tree] = []
    component_start = start
    for i in range(start, end + 1):
        if i == end or tokens[i] == SEPARATOR:
            trees.append(_parse_component(tokens, component_start, i, len(trees), max_depth))
            component_start = i + 1
    return trees
