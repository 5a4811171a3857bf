"""Symbol corruption: adding and deleting terms, deterministic in the generator."""

import random

import pytest
import sympy
import torch
from sympy import Add, Float, Rational, Symbol, sin

from opkit.symbolic import (
    CORRUPTION_MODES,
    corrupt,
    draw_corruption_mode,
    encode,
    encode_guess,
    hide_integers,
)

x, y, z = (Symbol(f"u_{i}") for i in range(3))
LORENZ = [10 * (y - x), x * (28 - z) - y, x * y - Rational(8, 3) * z]
SYSTEM = [*LORENZ, sin(x) * y, Float(0.5)]  # two single-term components


def _terms(expr):
    return set(Add.make_args(expr))


def _rngs(seed):
    return [random.Random(seed), torch.Generator().manual_seed(seed)]


def _lorenz96(d):
    u = [Symbol(f"u_{i}") for i in range(d)]
    return [(u[(i + 1) % d] - u[i - 2]) * u[i - 1] - u[i] + Float(8.0) for i in range(d)]


def _sizes(system):
    return [len(Add.make_args(e)) for e in system]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", [0, 1])
def test_add_mode_adds_exactly_one_new_term_to_one_component(seed, kind):
    rng = _rngs(seed)[kind]
    out = corrupt(SYSTEM, rng=rng, dim=3, mode="add")
    changed = [k for k, (a, b) in enumerate(zip(SYSTEM, out)) if a != b]
    assert len(changed) == 1
    before, after = SYSTEM[changed[0]], out[changed[0]]
    old, new = _terms(before), _terms(after)
    assert old < new and len(new) == len(old) + 1
    (added,) = new - old
    coefficient, monomial = added.as_coeff_Mul()
    assert isinstance(coefficient, Float) and 0.1 <= abs(float(coefficient)) <= 1.0
    assert float(coefficient) == float(f"{float(coefficient):.2e}")  # 3 digits
    # c, c*u_i or c*u_i*u_j with i, j < dim, never the monomial of an existing term
    assert monomial == 1 or (
        monomial.is_polynomial(x, y, z)
        and sympy.Poly(monomial, x, y, z).total_degree() in (1, 2)
        and sympy.Poly(monomial, x, y, z).is_monomial
    )
    assert monomial.free_symbols <= {x, y, z}
    assert monomial not in {t.as_coeff_Mul()[1] for t in old}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", [0, 1])
def test_delete_mode_removes_exactly_one_term_of_a_multi_term_component(seed, kind):
    rng = _rngs(seed)[kind]
    out = corrupt(SYSTEM, rng=rng, dim=3, mode="delete")
    changed = [k for k, (a, b) in enumerate(zip(SYSTEM, out)) if a != b]
    assert len(changed) == 1 and len(_terms(SYSTEM[changed[0]])) >= 2
    old, new = _terms(SYSTEM[changed[0]]), _terms(out[changed[0]])
    assert new < old and len(new) == len(old) - 1


def test_clean_mode_and_zero_probabilities_change_nothing():
    assert corrupt(SYSTEM, rng=random.Random(0), mode="clean", dim=3) == SYSTEM
    assert corrupt(SYSTEM, rng=random.Random(0), p_add=0.0, p_delete=0.0, dim=3) == SYSTEM


def test_deterministic_for_a_seed_and_varied_across_seeds():
    for make in (random.Random, lambda s: torch.Generator().manual_seed(s)):
        runs = [corrupt(SYSTEM, rng=make(7), p_add=0.5, p_delete=0.5, dim=3) for _ in range(2)]
        assert runs[0] == runs[1]
        variety = {tuple(encode(corrupt(SYSTEM, rng=make(s), dim=3))) for s in range(60)}
        assert len(variety) > 10


@pytest.mark.parametrize("d", [3, 4, 5])
def test_one_mode_per_system_with_the_authors_frequencies(d):
    """10^4 systems: clean 0.70, one term added 0.15, one deleted 0.15 (each within 1 %);
    never two changes in one system (opkit's old per-component law left a 3-D system
    untouched only 0.85^6 = 38 % of the time)."""
    system = _lorenz96(d)
    base = _sizes(system)
    g = torch.Generator().manual_seed(d)
    counts = {"clean": 0, "add": 0, "delete": 0}
    n = 10_000
    for _ in range(n):
        diff = [a - b for a, b in zip(_sizes(corrupt(system, rng=g, dim=d)), base)]
        nonzero = [v for v in diff if v]
        assert len(nonzero) <= 1 and set(nonzero) <= {-1, 1}
        counts[{(): "clean", (1,): "add", (-1,): "delete"}[tuple(nonzero)]] += 1
    for mode, p in (("clean", 0.70), ("add", 0.15), ("delete", 0.15)):
        assert abs(counts[mode] / n - p) < 0.01, (mode, counts)


def test_added_term_lands_on_components_in_proportion_to_their_size_plus_one():
    """The authors draw an insertion position uniformly: component k with weight
    len(T_k) + 1; a deletion hits component k with weight len(T_k)."""
    system = [x + y + z, x, y * z]  # 3, 1 and 1 terms
    g = torch.Generator().manual_seed(0)
    n = 4000
    hits_add, hits_del = [0, 0, 0], [0, 0, 0]
    for _ in range(n):
        out = corrupt(system, rng=g, dim=3, mode="add")
        hits_add[[a != b for a, b in zip(system, out)].index(True)] += 1
        out = corrupt(system, rng=g, dim=3, mode="delete")
        hits_del[[a != b for a, b in zip(system, out)].index(True)] += 1
    for got, want in zip(hits_add, (4 / 8, 2 / 8, 2 / 8)):
        assert abs(got / n - want) < 0.03, hits_add
    assert hits_del == [n, 0, 0]


def test_draw_corruption_mode_is_one_uniform_draw():
    modes = [draw_corruption_mode(random.Random(s), p_add=0.2, p_delete=0.3) for s in range(3000)]
    for mode, p in (("clean", 0.5), ("add", 0.2), ("delete", 0.3)):
        assert abs(modes.count(mode) / 3000 - p) < 0.03
    assert set(modes) <= set(CORRUPTION_MODES)


def test_all_monomials_taken_adds_nothing():
    full = [1 + x + x**2]
    assert corrupt(full, rng=random.Random(0), dim=1, mode="add") == full
    single = [x, Float(0.5)]
    assert corrupt(single, rng=random.Random(0), dim=1, mode="delete") == single


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"rng": 0, "dim": 3}, TypeError, "rng"),
        ({"rng": random.Random(0), "dim": 0}, ValueError, "dim"),
        ({"rng": random.Random(0), "dim": 11}, ValueError, "dim"),
        ({"rng": random.Random(0), "dim": 3, "p_add": 1.5}, ValueError, "p_add"),
        ({"rng": random.Random(0), "dim": 3, "p_delete": -0.1}, ValueError, "p_delete"),
        ({"rng": random.Random(0), "dim": 3, "p_add": 0.6, "p_delete": 0.6}, ValueError, "<= 1"),
        ({"rng": random.Random(0), "dim": 3, "mode": "swap"}, ValueError, "mode"),
    ],
)
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        corrupt(LORENZ, **kwargs)
    with pytest.raises(TypeError, match="system"):
        corrupt(x + y, rng=random.Random(0), dim=3)


def test_guess_tokens_hide_every_number():
    guess = [Float(0.17) * y - 3 * x, x * y - 1]
    tokens = encode_guess(guess)
    assert tokens == ["add", "mul", "<PLACEHOLDER>", "u_0", "mul", "<PLACEHOLDER>", "u_1", "|",
                      "add", "<PLACEHOLDER>", "mul", "u_0", "u_1"]  # fmt: skip
    # -3 u_0 is written `mul -3 u_0` and -1 as the leaf `-1`: both hidden
    visible = encode_guess(guess, hide_integers=False)
    assert visible == encode(guess, placeholders=True) and "-3" in visible and "-1" in visible
    assert hide_integers(visible) == tokens
