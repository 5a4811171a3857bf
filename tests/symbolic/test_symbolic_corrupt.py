"""Symbol corruption: adding and deleting terms, deterministic in the generator."""

import random

import pytest
import sympy
import torch
from sympy import Add, Float, Rational, Symbol, sin

from opkit.symbolic import corrupt, encode

x, y, z = (Symbol(f"u_{i}") for i in range(3))
LORENZ = [10 * (y - x), x * (28 - z) - y, x * y - Rational(8, 3) * z]
SYSTEM = [*LORENZ, sin(x) * y, Float(0.5)]  # two single-term components


def _terms(expr):
    return set(Add.make_args(expr))


def _rngs(seed):
    return [random.Random(seed), torch.Generator().manual_seed(seed)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", [0, 1])
def test_p_add_one_adds_exactly_one_new_term_everywhere(seed, kind):
    rng = _rngs(seed)[kind]
    out = corrupt(SYSTEM, rng=rng, p_add=1.0, p_delete=0.0, dim=3)
    for before, after in zip(SYSTEM, out):
        old, new = _terms(before), _terms(after)
        assert old < new and len(new) == len(old) + 1
        (added,) = new - old
        coefficient, monomial = added.as_coeff_Mul()
        assert isinstance(coefficient, Float) and 0.1 <= abs(float(coefficient)) <= 1.0
        assert float(coefficient) == float(f"{float(coefficient):.2e}")  # 3 digits
        # c, c*u_i or c*u_i*u_j with i, j < dim
        assert monomial == 1 or (
            monomial.is_polynomial(x, y, z)
            and sympy.Poly(monomial, x, y, z).total_degree() in (1, 2)
            and sympy.Poly(monomial, x, y, z).is_monomial
        )
        assert monomial.free_symbols <= {x, y, z}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", [0, 1])
def test_p_delete_one_removes_exactly_one_term_of_multi_term_components(seed, kind):
    rng = _rngs(seed)[kind]
    out = corrupt(SYSTEM, rng=rng, p_add=0.0, p_delete=1.0, dim=3)
    for before, after in zip(SYSTEM, out):
        old, new = _terms(before), _terms(after)
        if len(old) >= 2:
            assert new < old and len(new) == len(old) - 1
        else:
            assert after == before


def test_zero_probabilities_change_nothing():
    assert corrupt(SYSTEM, rng=random.Random(0), p_add=0.0, p_delete=0.0, dim=3) == SYSTEM


def test_deterministic_for_a_seed_and_varied_across_seeds():
    for make in (random.Random, lambda s: torch.Generator().manual_seed(s)):
        runs = [corrupt(SYSTEM, rng=make(7), p_add=0.5, p_delete=0.5, dim=3) for _ in range(2)]
        assert runs[0] == runs[1]
        variety = {tuple(encode(corrupt(SYSTEM, rng=make(s), dim=3))) for s in range(40)}
        assert len(variety) > 10


def test_frequencies_match_the_probabilities():
    """Over many components, adds and deletes happen at rates p_add and p_delete."""
    rng = random.Random(123)
    system = [x + y] * 2000
    out = corrupt(system, rng=rng, p_add=0.15, p_delete=0.3, dim=3)
    sizes = [len(Add.make_args(e)) for e in out]
    added = sum(not _terms(e) <= {x, y} for e in out)
    deleted = sum(len({x, y} - _terms(e)) for e in out)
    assert abs(added / 2000 - 0.15) < 0.03
    assert abs(deleted / 2000 - 0.3) < 0.04
    assert set(sizes) <= {1, 2, 3}


def test_all_monomials_taken_adds_nothing():
    full = [1 + x + x**2]
    assert corrupt(full, rng=random.Random(0), p_add=1.0, p_delete=0.0, dim=1) == full


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"rng": 0, "dim": 3}, TypeError, "rng"),
        ({"rng": random.Random(0), "dim": 0}, ValueError, "dim"),
        ({"rng": random.Random(0), "dim": 11}, ValueError, "dim"),
        ({"rng": random.Random(0), "dim": 3, "p_add": 1.5}, ValueError, "p_add"),
        ({"rng": random.Random(0), "dim": 3, "p_delete": -0.1}, ValueError, "p_delete"),
    ],
)
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        corrupt(LORENZ, **kwargs)
    with pytest.raises(TypeError, match="system"):
        corrupt(x + y, rng=random.Random(0), dim=3)
