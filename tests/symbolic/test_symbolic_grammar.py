"""The prefix grammar of constrained decoding: it accepts every valid system (complete: no
valid sequence is ever masked) and only valid ones (sound: any walk through the allowed
tokens parses, with the right number of components, within the length limit)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from opkit.pde_data import ODE_SYSTEMS
from opkit.symbolic import (
    EOS,
    PAD_ID,
    TOKEN_ID,
    VOCAB,
    PrefixGrammar,
    encode,
    system_to_tokens,
    tree_from_tokens,
    vector_field,
)
from tests.symbolic._symbolic_strategies import numeric_trees


def _accepts(tokens: list[str], n: int, max_len: int) -> None:
    """Feed ``tokens + [<EOS>]`` through the grammar; every token must be allowed."""
    g = PrefixGrammar(torch.tensor([n]), max_len=max_len)
    for position, tok in enumerate([*tokens, EOS]):
        assert g.allowed()[0, TOKEN_ID[tok]], (position, tok, tokens)
        g.update(torch.tensor([TOKEN_ID[tok]]))
    assert bool(g.done[0])
    allowed = g.allowed()[0]
    assert allowed[PAD_ID] and int(allowed.sum()) == 1  # only <PAD> after <EOS>


@settings(max_examples=150, deadline=None)
@given(st.lists(numeric_trees, min_size=1, max_size=4))
def test_every_valid_system_is_allowed_even_at_the_exact_length(system):
    k = len(system)
    # the grammar ties variables to components (u_0 .. u_{k-1}): fold the variables
    tokens = [f"u_{int(t[2:]) % k}" if t.startswith("u_") else t for t in system_to_tokens(system)]
    _accepts(tokens, k, max_len=len(tokens) + 1)


@pytest.mark.parametrize("name", sorted(ODE_SYSTEMS))
def test_the_fifteen_systems_are_allowed(name):
    system = ODE_SYSTEMS[name]
    tokens = encode(system.expression())
    _accepts(tokens, system.dim, max_len=len(tokens) + 1)


def test_one_token_too_few_is_refused():
    """Two components in 4 tokens leave room for ``u_i | u_j <EOS>`` only: an operator
    (``neg u_0 | u_1 <EOS>`` is 5) or a float is masked from the start."""
    g = PrefixGrammar(torch.tensor([2]), max_len=4)
    allowed = g.allowed()[0]
    assert not allowed[TOKEN_ID["add"]] and not allowed[TOKEN_ID["neg"]]
    assert allowed[TOKEN_ID["u_1"]] and not allowed[TOKEN_ID["u_2"]]
    assert not allowed[TOKEN_ID["+"]]  # + N.. E.. | u_0 <EOS> is 6
    assert allowed[TOKEN_ID["-3"]] and not allowed[TOKEN_ID["<PLACEHOLDER>"]]


@pytest.mark.parametrize("max_len", [6, 12, 40])
def test_random_walks_through_the_allowed_tokens_always_parse(max_len):
    gen = torch.Generator().manual_seed(max_len)
    n = torch.randint(1, 4, (300,), generator=gen)
    g = PrefixGrammar(n, max_len=max_len)
    rows = torch.empty(300, 0, dtype=torch.long)
    for _ in range(max_len):
        weights = g.allowed().float()
        assert bool((weights.sum(1) > 0).all()), "a state with no way forward"
        nxt = torch.multinomial(weights, 1, generator=gen)[:, 0]
        g.update(nxt)
        rows = torch.cat([rows, nxt[:, None]], 1)
    assert bool(g.done.all())
    for row, d in zip(rows.tolist(), n.tolist()):
        tokens = [VOCAB[i] for i in row]
        assert EOS in tokens
        trees = tree_from_tokens(tokens)
        assert len(trees) == d
        f = vector_field(tokens)
        assert f.n_components == d and f.n_variables <= d


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="n_components"):
        PrefixGrammar(torch.tensor([0, 3]), max_len=20)
    with pytest.raises(ValueError, match="n_components"):
        PrefixGrammar(torch.tensor([[1]]), max_len=20)
    with pytest.raises(ValueError, match="max_len"):
        PrefixGrammar(torch.tensor([3]), max_len=5)
