"""Float tokens: sign, 3-digit mantissa, exponent; 3 significant digits."""

import math

import numpy as np
import pytest
import sympy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from opkit.symbolic import (
    EXPONENT_MAX,
    EXPONENT_MIN,
    TOKEN_ID,
    TokenError,
    decode_float,
    encode_float,
)


@pytest.mark.parametrize(
    ("x", "tokens"),
    [
        (0.17, ["+", "N170", "E-3"]),
        (-0.38, ["-", "N380", "E-3"]),
        (28, ["+", "N280", "E-1"]),
        (0.0, ["+", "N000", "E0"]),
        (-0.0, ["+", "N000", "E0"]),
        (1e-10, ["+", "N100", "E-12"]),
        (-9.99e12, ["-", "N999", "E10"]),
        (999.6, ["+", "N100", "E1"]),  # rounding carries into the exponent
        (0.123456, ["+", "N123", "E-3"]),
        (1.0, ["+", "N100", "E-2"]),
    ],
)
def test_worked_examples(x, tokens):
    assert encode_float(x) == tokens
    assert all(t in TOKEN_ID for t in tokens)
    assert decode_float(tokens) == float(f"{abs(x):.2e}") * math.copysign(1.0, x) or x == 0


def test_the_issue_examples_decode_to_the_exact_doubles():
    assert decode_float(["+", "N170", "E-3"]) == 0.17
    assert decode_float(["-", "N380", "E-3"]) == -0.38
    assert decode_float(["+", "N280", "E-1"]) == 28.0
    assert decode_float("+ N000 E0") == 0.0


@settings(max_examples=200, deadline=None)
@given(
    sign=st.sampled_from([-1.0, 1.0]),
    log10=st.floats(min_value=-10.0, max_value=10.0, allow_nan=False),
)
def test_round_trip_is_three_significant_digits(sign, log10):
    x = sign * 10.0**log10
    if abs(x) < 1e-10:  # 10**-10 computed in floating point may fall a hair below 1e-10
        x = sign * 1e-10
    tokens = encode_float(x)
    y = decode_float(tokens)
    # relative error at most half a unit of the third digit: 0.5 / 100
    assert abs(y - x) <= 5e-3 * abs(x) * (1 + 1e-12)
    assert math.copysign(1.0, y) == sign
    # y has 3 significant digits: the decimal mantissa is an integer in 100..999
    m, e = f"{abs(y):.2e}".split("e")
    assert float(m) * 10 ** int(e) == pytest.approx(abs(y), rel=1e-15)
    assert encode_float(y) == tokens  # idempotent


def test_every_float_token_triple_round_trips():
    mantissas = [f"N{m}" for m in range(100, 1000)]
    for e in range(EXPONENT_MIN, EXPONENT_MAX + 1):
        for sign in "+-":
            for m in mantissas[:: 7 if e % 3 else 1]:
                tokens = [sign, m, f"E{e}"]
                value = decode_float(tokens)
                assert value == float(f"{sign}{m[1:]}e{e}")
                assert encode_float(value) == tokens


@pytest.mark.parametrize("x", [1e13, -2.5e13, 9.99e-11, 1e-300, 1e300])
def test_out_of_range_raises_naming_the_range(x):
    with pytest.raises(ValueError, match=r"1\.00e-10 \.\.\. 9\.99e12"):
        encode_float(x)


def test_just_below_the_range_rounds_into_it():
    assert encode_float(9.996e-11) == ["+", "N100", "E-12"]


@pytest.mark.parametrize("x", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_raise(x):
    with pytest.raises(ValueError, match="finite"):
        encode_float(x)


@pytest.mark.parametrize("x", ["0.17", True, None, 1j])
def test_non_numbers_raise_type_error(x):
    with pytest.raises(TypeError, match="real number"):
        encode_float(x)


@pytest.mark.parametrize(
    "x", [np.float32(0.17), np.int64(28), sympy.Float(0.17), sympy.Rational(17, 100)]
)
def test_scalars_of_other_libraries(x):
    assert decode_float(encode_float(x)) == pytest.approx(float(x), rel=5e-3)
    assert encode_float(torch.tensor(0.17, dtype=torch.float64)) == ["+", "N170", "E-3"]


@pytest.mark.parametrize(
    ("tokens", "position", "token"),
    [
        (["+", "N170"], 2, None),
        (["+", "N170", "E-3", "E-3"], 3, "E-3"),
        (["*", "N170", "E-3"], 0, "*"),
        (["+", "N050", "E-3"], 1, "N050"),
        (["+", "170", "E-3"], 1, "170"),
        (["+", "N170", "E11"], 2, "E11"),
        (["+", "N170", "E-13"], 2, "E-13"),
    ],
)
def test_malformed_floats_raise_token_error(tokens, position, token):
    with pytest.raises(TokenError) as info:
        decode_float(tokens)
    assert isinstance(info.value, ValueError)
    assert info.value.position == position
    assert info.value.token == token
    assert f"position {position}" in str(info.value)


@pytest.mark.parametrize("x", [10**400, -(10**309), sympy.Integer(10**400)])
def test_beyond_the_float_range_is_a_value_error(x):
    # issue 22: encode_float(10**400) raised OverflowError
    with pytest.raises(ValueError, match="beyond the float range|must be finite"):
        encode_float(x)
