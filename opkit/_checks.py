"""The argument validators every layer uses (one home; nothing else in opkit imported).

Each names the argument, shows what was received and what was expected. A value of the
wrong type raises `ArgumentTypeError`, which is both a ``TypeError`` and a
``ValueError`` (callers may catch either); a value of the right type outside its range
raises ``ValueError``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

__all__ = ["ArgumentTypeError", "check_int", "check_positive", "check_probability"]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a ``TypeError`` that is also a ``ValueError``)."""


def check_int(name: str, value: object, *, minimum: int = 1, hint: str = "") -> int:
    """``value`` as an ``int`` that is at least ``minimum``.

    ``bool`` is refused although it is an ``int`` subclass: ``n_layers=True`` is a
    mistake, not a 1. NumPy integers are accepted.
    """
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ArgumentTypeError(
            f"`{name}` must be an integer >= {minimum}, got {value!r} "
            f"({type(value).__name__}).{hint}"
        )
    if value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value}.{hint}")
    return int(value)


def check_positive(
    name: str, value: object, *, allow_none: bool = False, strict: bool = True
) -> float | None:
    """``value`` as a finite ``float`` that is > 0 (``strict``) or >= 0.

    Args:
        allow_none: ``None`` passes through unchanged.
    """
    if value is None and allow_none:
        return None
    expected = f"a finite number {'>' if strict else '>='} 0{' or None' if allow_none else ''}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ArgumentTypeError(f"`{name}` must be {expected}, got {value!r}.")
    if not math.isfinite(value) or (value <= 0 if strict else value < 0):
        raise ValueError(f"`{name}` must be {expected}, got {value!r}.")
    return float(value)


def check_probability(name: str, value: object) -> float:
    """``value`` as a ``float`` in ``[0, 1]``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ArgumentTypeError(f"`{name}` must be a probability in [0, 1], got {value!r}.")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be a probability in [0, 1], got {value!r}.")
    return float(value)
