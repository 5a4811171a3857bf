"""Floats as three tokens: sign, 3-digit mantissa, power-of-ten exponent.

``x = sign * mantissa * 10**exponent`` with ``mantissa`` in 100..999 (3 significant digits)
and the tokens ``+``/``-``, ``N100``...``N999`` and ``E-12``...``E10``; zero is
``+ N000 E0``. Examples: ``0.17 -> + N170 E-3``, ``-0.38 -> - N380 E-3``,
``28 -> + N280 E-1``.

**Exponent range.** The PROSE issue lists exponents -10..10 *and* asks for round trips over
magnitudes 1e-10..1e10. With a 3-digit mantissa, ``1e-10 = 100 * 10**-12`` needs ``E-12``,
so the range is widened downwards to ``E-12 ... E10``: every nonzero magnitude from
``1.00e-10`` to ``9.99e12`` is representable (after rounding to 3 significant digits).
Anything else raises ``ValueError``.

References:
    F. Charton, "Linear algebra with transformers", TMLR 2022 (the sign/mantissa/exponent
    "P10" encoding); Y. Liu, Z. Zhang, H. Schaeffer, "PROSE: Predicting Operators and
    Symbolic Expressions using Multimodal Transformers", arXiv:2309.16816 (its use for ODE
    coefficients).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real

from ._errors import TokenError

__all__ = [
    "EXPONENT_MIN",
    "EXPONENT_MAX",
    "SIGN_TOKENS",
    "MANTISSA_TOKENS",
    "EXPONENT_TOKENS",
    "encode_float",
    "decode_float",
    "round_float",
]

EXPONENT_MIN, EXPONENT_MAX = -12, 10
SIGN_TOKENS = ("+", "-")
#: ``N000`` (zero only) then ``N100 ... N999``.
MANTISSA_TOKENS = ("N000",) + tuple(f"N{m}" for m in range(100, 1000))
EXPONENT_TOKENS = tuple(f"E{e}" for e in range(EXPONENT_MIN, EXPONENT_MAX + 1))
_MANTISSA = {t: int(t[1:]) for t in MANTISSA_TOKENS}
_EXPONENT = {t: int(t[1:]) for t in EXPONENT_TOKENS}
_RANGE = f"nonzero magnitudes 1.00e{EXPONENT_MIN + 2} ... 9.99e{EXPONENT_MAX + 2}, or 0"


def _as_finite_float(x: object, name: str = "x") -> float:
    if isinstance(x, bool) or not isinstance(x, Real):
        try:  # sympy numbers, numpy scalars, 0-d tensors convert; strings, bools are refused
            if isinstance(x, (str, bytes, bool)):
                raise TypeError
            value = float(x)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise TypeError(
                f"`{name}` must be a real number; got {type(x).__name__}: {x!r}."
            ) from None
    else:
        try:
            value = float(x)
        except OverflowError:  # an int beyond float's range (10**400)
            text = str(x)
            shown = text if len(text) <= 30 else f"{text[:12]}... ({len(text)} digits)"
            raise ValueError(
                f"`{name}` (={shown}) is beyond the float range (about 1.8e308); float "
                f"tokens hold {_RANGE}."
            ) from None
    if not math.isfinite(value):
        raise ValueError(f"`{name}` (={value!r}) must be finite; NaN and inf have no tokens.")
    return value


def _mantissa_exponent(value: float, digits: int) -> tuple[int, int]:
    """``|value|`` rounded to ``digits`` significant digits as ``(m, e)``, ``m`` an int."""
    text = f"{abs(value):.{digits - 1}e}"  # correctly rounded by Python, e.g. "1.70e-01"
    digits_part, exp_part = text.split("e")
    m = int(digits_part.replace(".", ""))
    return m, int(exp_part) - (digits - 1)


def round_float(x: float, digits: int = 3) -> float:
    """``x`` rounded to ``digits`` significant digits (round-half-even on its exact value)."""
    if type(digits) is not int or digits < 1:
        raise ValueError(f"`digits` (={digits!r}) must be a positive int.")
    value = _as_finite_float(x)
    if value == 0.0:
        return 0.0
    m, e = _mantissa_exponent(value, digits)
    return math.copysign(float(f"{m}e{e}"), value)


def encode_float(x: float) -> list[str]:
    """Three tokens ``[sign, mantissa, exponent]`` for ``x`` rounded to 3 significant digits.

    Args:
        x: a finite real number (``float``, ``int``, numpy/sympy/torch scalar).

    Returns:
        e.g. ``["+", "N170", "E-3"]`` for 0.17; ``["+", "N000", "E0"]`` for 0 (and -0.0).

    Raises:
        TypeError: ``x`` is not a real number.
        ValueError: ``x`` is NaN/inf, or its rounded magnitude lies outside
            ``1.00e-10 ... 9.99e12`` (exponent tokens ``E-12 ... E10``).
    """
    value = _as_finite_float(x)
    if value == 0.0:
        return ["+", "N000", "E0"]
    m, e = _mantissa_exponent(value, 3)
    if not EXPONENT_MIN <= e <= EXPONENT_MAX:
        raise ValueError(
            f"`x` (={value!r}) rounds to {m}e{e}, outside the representable range: {_RANGE} "
            f"(exponent tokens E{EXPONENT_MIN} ... E{EXPONENT_MAX})."
        )
    return ["+" if value > 0 else "-", f"N{m}", f"E{e}"]


def decode_float(tokens: Sequence[str]) -> float:
    """The float written by three tokens ``[sign, mantissa, exponent]``.

    ``decode_float(encode_float(x))`` is ``x`` rounded to 3 significant digits (the
    nearest double to the decimal ``m * 10**e``). A zero mantissa gives ``0.0`` whatever
    the sign and exponent.

    Raises:
        TokenError: not exactly three tokens, or a token in the wrong slot (the message
            gives its position and the token).
    """
    if isinstance(tokens, str):
        tokens = tokens.split()
    tokens = list(tokens)
    if len(tokens) != 3:
        raise TokenError(
            f"a float is exactly 3 tokens (sign, mantissa, exponent); got {len(tokens)}: "
            f"{tokens!r}.",
            position=min(len(tokens), 3),
            token=tokens[3] if len(tokens) > 3 else None,
        )
    sign, mant, expo = tokens
    if sign not in SIGN_TOKENS:
        raise TokenError("expected a sign token '+' or '-'.", position=0, token=sign)
    m = _MANTISSA.get(mant) if isinstance(mant, str) else None
    if m is None:
        raise TokenError("expected a mantissa token N000 or N100 ... N999.", 1, mant)
    e = _EXPONENT.get(expo) if isinstance(expo, str) else None
    if e is None:
        raise TokenError(
            f"expected an exponent token E{EXPONENT_MIN} ... E{EXPONENT_MAX}.", 2, expo
        )
    if m == 0:
        return 0.0
    # float() of a decimal literal built from two validated ints: correctly rounded, and
    # nothing from the token sequence reaches a parser other than int/float literals.
    magnitude = float(f"{m}e{e}")
    return magnitude if sign == "+" else -magnitude
