"""Vocabulary, ids, prefix parsing, and malformed sequences (nothing is ever executed)."""

import ast
import builtins
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy
import sympy.parsing.sympy_parser
import torch
from hypothesis import given, settings

import opkit.symbolic
from opkit.symbolic import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    PLACEHOLDER_ID,
    TOKEN_ID,
    VOCAB,
    Op,
    TokenError,
    Var,
    decode,
    from_ids,
    system_to_tokens,
    to_ids,
    tree_from_tokens,
    tree_to_tokens,
    vector_field,
)
from tests.symbolic._symbolic_strategies import trees


def test_vocabulary_layout():
    assert VOCAB[:4] == ("<PAD>", "<BOS>", "<EOS>", "<PLACEHOLDER>")
    assert (PAD_ID, BOS_ID, EOS_ID, PLACEHOLDER_ID) == (0, 1, 2, 3)
    assert len(set(VOCAB)) == len(VOCAB)
    assert all(TOKEN_ID[t] == i for i, t in enumerate(VOCAB))
    expected = (
        {"|", "add", "sub", "mul", "div", "neg", "inv", "sin", "cos", "pow2", "+", "-"}
        | {f"u_{i}" for i in range(10)}
        | {str(n) for n in range(-10, 11)}
        | {"N000"}
        | {f"N{m}" for m in range(100, 1000)}
        | {f"E{e}" for e in range(-12, 11)}
    )
    assert set(VOCAB[4:]) == expected


def test_ids_round_trip_and_accept_tensors():
    tokens = ["<BOS>", "add", "u_0", "-", "N170", "E-3", "<EOS>", "<PAD>"]
    ids = to_ids(tokens)
    assert ids[0] == BOS_ID and ids[-2:] == [EOS_ID, PAD_ID]
    assert from_ids(ids) == tokens
    assert from_ids(torch.tensor(ids)) == tokens


def test_unknown_tokens_and_ids_raise():
    with pytest.raises(TokenError, match="position 1") as info:
        to_ids(["u_0", "tan"])
    assert info.value.token == "tan"
    with pytest.raises(TokenError, match="out of range") as info:
        from_ids([0, len(VOCAB)])
    assert info.value.position == 1
    with pytest.raises(TokenError, match="integers"):
        from_ids([1.5])


@settings(max_examples=150, deadline=None)
@given(tree=trees, second=trees)
def test_tree_token_round_trip(tree, second):
    """Parsing is the exact inverse of writing (constants already on the 3-digit grid)."""
    assert tree_from_tokens(tree_to_tokens(tree)) == [tree]
    tokens = system_to_tokens([tree, second])
    assert tree_from_tokens(tokens) == [tree, second]
    assert tree_from_tokens(["<BOS>", *tokens, "<EOS>", "<PAD>", "<PAD>"]) == [tree, second]


def test_prefix_order():
    tree = Op("sub", (Op("mul", (Var(0), Var(1))), Op("sin", (Var(2),))))
    assert tree_to_tokens(tree) == ["sub", "mul", "u_0", "u_1", "sin", "u_2"]
    assert tree_from_tokens("sub mul u_0 u_1 sin u_2") == [tree]


def test_special_tokens_at_the_ends():
    x, y = sympy.symbols("u_0 u_1")
    assert decode(["<BOS>", "sub", "u_0", "u_1", "<EOS>", "<PAD>", "<PAD>"]) == [x - y]
    # everything after the first <EOS> is ignored, as greedy decoding leaves it
    assert decode(["mul", "u_0", "u_1", "<EOS>", "add", "<PAD>"]) == [x * y]


MALFORMED = [
    # (tokens, position, offending token or None at the end, words in the message)
    (["add", "u_0"], 2, None, ["'add' at position 0", "1 of its 2"]),
    (["u_0", "u_1"], 1, "u_1", ["trailing"]),
    (["add", "u_0", "u_1", "u_2"], 3, "u_2", ["trailing"]),
    (["<BOS>", "add", "u_0", "<EOS>"], 3, "<EOS>", ["'add' at position 1"]),
    (["u_0", "|"], 2, None, ["component 1 is empty"]),
    (["|", "u_0"], 0, "|", ["component 0 is empty"]),
    (["sin", "u_0", "|", "cos"], 4, None, ["'cos' at position 3"]),
    ([], 0, None, ["empty"]),
    (["<BOS>"], 1, None, ["empty"]),
    (["sin", "tan", "u_0"], 1, "tan", ["unknown"]),
    (["u_10"], 0, "u_10", ["unknown"]),
    (["11"], 0, "11", ["unknown"]),
    (
        ["__import__('os').system('touch /tmp/x')"],
        0,
        "__import__('os').system('touch /tmp/x')",
        ["unknown"],
    ),
    (["1+1"], 0, "1+1", ["unknown"]),
    (["add", "1+1", "2"], 1, "1+1", ["unknown"]),
    (["mul", "+", "N170", "u_0"], 3, "u_0", ["exponent"]),
    (["+", "N170"], 2, None, ["exponent"]),
    (["add", "u_0", "-", "N170", "|", "u_1"], 4, "|", ["exponent"]),
    (["+", "N050", "E-3"], 1, "N050", ["mantissa"]),
    (["N170"], 0, "N170", ["outside a float"]),
    (["E-3"], 0, "E-3", ["outside a float"]),
    (["<PAD>", "u_0"], 0, "<PAD>", ["<PAD>"]),
    (["add", "<BOS>", "u_0"], 1, "<BOS>", ["<BOS>"]),
    (["add", "u_0", 5], 2, 5, ["strings"]),
]


@pytest.mark.parametrize(("tokens", "position", "token", "words"), MALFORMED)
def test_malformed_sequences_raise_token_error(tokens, position, token, words):
    with pytest.raises(TokenError) as info:
        decode(tokens)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.position == position
    assert err.token == token
    message = str(err)
    assert f"position {position}" in message
    if err.token is not None:
        assert repr(err.token)[:40] in message
    for word in words:
        assert word in message
    # vector_field parses through the same path
    with pytest.raises(TokenError):
        vector_field(list(tokens) if tokens else ["|"])


def _forbid_code_execution(m):
    """Make every route from text to code fail loudly (inside a monkeypatch context)."""

    def forbidden(*args, **kwargs):
        raise AssertionError(f"code execution attempted: {args[:1]!r}")

    def text_forbidden(real):
        # the import system execs code objects of modules; text is what must never run
        def guarded(source, *args, **kwargs):
            if isinstance(source, (str, bytes)):
                forbidden(source)
            return real(source, *args, **kwargs)

        return guarded

    # warm up first, so that sympy's lazy imports are done before the guards go in
    vector_field(decode("add mul - N380 E-3 u_0 sin div u_1 + N250 E-2"))
    for name in ("eval", "exec", "compile"):
        m.setattr(builtins, name, text_forbidden(getattr(builtins, name)))
    m.setattr(sympy.parsing.sympy_parser, "parse_expr", forbidden)
    m.setattr(sys.modules["sympy.utilities.lambdify"], "lambdify", forbidden)
    m.setattr(sympy, "lambdify", forbidden)


def test_python_in_tokens_is_never_executed(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    payloads = [
        f"__import__('os').system('touch {marker}')",
        f"exec(\"open('{marker}', 'w').close()\")",
        f"open('{marker}', 'w')",
        "1+1",
        "u_0+u_1",
        "lambda: 0",
    ]
    errors = []
    u = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    with monkeypatch.context() as m:
        _forbid_code_execution(m)
        for payload in payloads:
            sequences = [[payload], ["add", "u_0", payload], ["<BOS>", "sin", payload, "<EOS>"]]
            for tokens in sequences:
                for parse in (decode, vector_field):
                    try:
                        parse(tokens)
                    except TokenError as err:
                        errors.append(err)
            try:
                decode(payload)  # a string is split on whitespace, never parsed as Python
            except TokenError as err:
                errors.append(err)
        # the ordinary path needs none of the forbidden routes either
        values = vector_field(decode("add mul - N380 E-3 u_0 sin div u_1 + N250 E-2"))(u)
    assert len(errors) == len(payloads) * 7
    assert all("unknown token" in str(err) for err in errors)
    assert not marker.exists()
    assert values.item() == pytest.approx(-0.38 + math.sin(2.0 / 2.5), rel=1e-14)


def test_symbolic_source_calls_no_code_executing_function():
    """Static check: no module of opkit.symbolic names eval/exec/compile/sympify/lambdify."""
    builtin = {"eval", "exec", "compile", "__import__"}  # as bare names (re.compile is fine)
    anywhere = {"sympify", "lambdify", "parse_expr", "parse_latex"}
    package = Path(opkit.symbolic.__file__).parent
    sources = sorted(package.glob("*.py"))
    assert len(sources) >= 5
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name):
                name, bad = node.id, node.id in builtin | anywhere
            elif isinstance(node, ast.Attribute):
                name, bad = node.attr, node.attr in anywhere
            else:
                continue
            assert not bad, f"{path.name}:{node.lineno} uses {name}"


def test_symbolic_imports_no_other_layer():
    """opkit.symbolic sits below models, trainers and pde_data: it imports none of them
    (the shared validators, ``opkit._checks``, are the one import from above)."""
    package = Path(opkit.symbolic.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                shared = node.level == 2 and node.module == "_checks"
                assert node.level <= 1 or shared, f"{path.name}:{node.lineno} imports from outside"
                module = node.module or ""
            elif isinstance(node, ast.Import):
                module = ",".join(alias.name for alias in node.names)
            else:
                continue
            assert "opkit" not in module, f"{path.name}:{node.lineno} imports {module}"


def test_deep_nesting_does_not_recurse():
    x = sympy.Symbol("u_0")
    assert decode(["neg"] * 99 + ["u_0"]) == [-x]
    assert decode("sin " * 100 + "u_0")[0].count(sympy.sin) == 100
    # decode stops where sympy's recursion would fail, with a TokenError naming the place
    with pytest.raises(TokenError, match="deeper than 100") as info:
        decode(["u_1", "|"] + ["neg"] * 3001 + ["u_0"])
    assert info.value.position == 102 and info.value.token == "neg"
    # parsing and torch evaluation themselves have no depth limit
    assert len(tree_from_tokens(["neg"] * 3001 + ["u_0"])) == 1
    f = vector_field(["sin"] * 5000 + ["u_0"])
    u = torch.tensor([[0.5]], dtype=torch.float64)
    expected = torch.tensor(0.5, dtype=torch.float64)
    for _ in range(5000):
        expected = torch.sin(expected)
    assert torch.allclose(f(u)[0, 0], expected)
    with pytest.raises(TokenError, match="'add' at position 0 has 1 of its 2"):
        tree_from_tokens(["add"] * 5000 + ["u_0"] * 5000)


@pytest.mark.parametrize("ids", [[True], [5, False], torch.tensor([True]), np.array([True])])
def test_bools_are_not_token_ids(ids):
    # issue 22: from_ids([True]) was read as id 1
    with pytest.raises(TokenError, match="got a bool"):
        from_ids(ids)


def test_evaluate_systems_equals_one_vector_field_per_system():
    from opkit.symbolic import evaluate_systems

    systems = [
        "add mul -3 u_0 mul + N170 E-3 u_1 | sin u_1",
        "add mul 2 u_0 mul - N250 E0 u_1 | sin u_1",  # the same structure, other numbers
        "<BOS> mul u_0 pow2 u_1 <EOS> <PAD>",
        ["inv", "add", "u_0", "+", "N100", "E-1"],
    ]
    u = torch.randn(7, 3, 2, dtype=torch.float64)
    got = evaluate_systems(systems, u)
    for system, value in zip(systems, got):
        expected = vector_field(system)(u)
        assert value.shape == expected.shape
        assert torch.allclose(value, expected, rtol=1e-14, atol=0)
    assert float(got[1][0, 0, 0]) == float(2 * u[0, 0, 0] - 250.0 * u[0, 0, 1])
    with pytest.raises(TokenError, match="system 2: ") as info:
        evaluate_systems(["u_0", "add u_0 u_1", "add u_0 + N170 frob"], u)
    assert info.value.system == 2
    with pytest.raises(ValueError, match="system 0 .* uses u_4"):
        evaluate_systems(["u_4"], u)
