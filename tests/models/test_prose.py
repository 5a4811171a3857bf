"""PROSE: shapes, causality of the symbol decoder, masks, gradients, the paper's size, in
both variants (the authors' network and opkit's design)."""

import pytest
import torch

from opkit.models import PROSE
from opkit.models._prose import VARIANTS

V, PAD, BOS, EOS = 40, 0, 1, 2


def _net(**kw):
    torch.manual_seed(0)
    kw = {"vocab_size": V, "pad_id": PAD, "bos_id": BOS, "eos_id": EOS, "width": 32,
          "n_heads": 4, "ff_width": 64, **kw}  # fmt: skip
    return PROSE(**kw).eval()


def _batch(b=3, s=12, length=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    t_in = torch.linspace(0, 2, 64).expand(b, 64)
    u_in = torch.randn(b, 64, 5, generator=g) * torch.tensor([1.0, 10.0, 0.1, 1.0, 1.0])
    symbols = torch.randint(3, V, (b, s), generator=g)
    target_in = torch.cat(
        [torch.full((b, 1), BOS), torch.randint(3, V, (b, length - 1), generator=g)], 1
    )
    return t_in, u_in, symbols, torch.linspace(2, 6, 128), target_in


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes(variant):
    net = _net(variant=variant)
    t_in, u_in, symbols, t_out, target_in = _batch()
    u, logits = net(t_in, u_in, symbols, t_out, target_in)
    assert u.shape == (3, 128, 5) and logits.shape == (3, 10, V)
    assert torch.isfinite(u).all() and torch.isfinite(logits).all()
    # components beyond `dim` come back as zeros
    u, _ = net(t_in, u_in, symbols, t_out, dim=torch.tensor([3, 4, 5]))
    assert (u[0, :, 3:] == 0).all() and (u[1, :, 4] == 0).all() and (u[2] != 0).all()
    gen = net.generate(t_in, u_in, symbols, max_len=7)
    assert gen.shape[0] == 3 and gen.shape[1] <= 7 and gen.dtype == torch.long


@pytest.mark.parametrize("variant", VARIANTS)
def test_symbol_decoder_cannot_see_future_tokens(variant):
    net = _net(variant=variant)
    t_in, u_in, symbols, t_out, target_in = _batch(length=12)
    _, logits = net(t_in, u_in, symbols, t_out, target_in)
    for k in (1, 5, 11):
        changed = target_in.clone()
        changed[:, k] = (changed[:, k] + 7 - 3) % (V - 3) + 3  # another ordinary token
        _, again = net(t_in, u_in, symbols, t_out, changed)
        torch.testing.assert_close(again[:, :k], logits[:, :k], rtol=0, atol=1e-5)
        assert (again[:, k] - logits[:, k]).abs().max() > 1e-3  # position k does see it


@pytest.mark.parametrize("variant", VARIANTS)
def test_symbol_padding_is_ignored(variant):
    net = _net(variant=variant)
    t_in, u_in, symbols, t_out, target_in = _batch()
    u, logits = net(t_in, u_in, symbols, t_out, target_in)
    padded = torch.cat([symbols, torch.full((3, 5), PAD)], dim=1)
    u2, logits2 = net(t_in, u_in, padded, t_out, target_in)
    torch.testing.assert_close(u2, u, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits2, logits, rtol=1e-4, atol=1e-4)
    # ...while the symbols themselves do matter to both outputs
    u3, logits3 = net(t_in, u_in, symbols.flip(1), t_out, target_in)
    assert (u3 - u).abs().max() > 1e-4 and (logits3 - logits).abs().max() > 1e-3


@pytest.mark.parametrize("variant", VARIANTS)
def test_output_times_are_decoded_independently(variant):
    """No self-attention among the queries: a time's value does not depend on the others."""
    net = _net(variant=variant)
    t_in, u_in, symbols, t_out, _ = _batch()
    u, _ = net(t_in, u_in, symbols, t_out)
    some = torch.tensor([3, 50, 127])
    u_some, _ = net(t_in, u_in, symbols, t_out[some])
    torch.testing.assert_close(u_some, u[:, some], rtol=1e-5, atol=1e-5)


def test_prediction_is_in_the_data_units():
    """opkit's variant standardises per sample: a shifted input moves the prediction by the
    same shift at initialisation up to the asinh feature; with it, the output scale follows
    the input."""
    net = _net(variant="opkit")
    t_in, u_in, symbols, t_out, _ = _batch()
    u, _ = net(t_in, u_in, symbols, t_out)
    # component 1 of the inputs is 100x component 2: so is the spread of the predictions
    spread = u.std(dim=1).mean(0)
    assert spread[1] > 10 * spread[2]


@pytest.mark.parametrize("variant", VARIANTS)
def test_greedy_generation_is_the_argmax_of_teacher_forcing(variant):
    net = _net(variant=variant)
    t_in, u_in, symbols, _, _ = _batch()
    gen = net.generate(t_in, u_in, symbols, max_len=9)
    target_in = torch.cat([torch.full((3, 1), BOS), gen[:, :-1]], dim=1)
    _, logits = net(t_in, u_in, symbols, torch.linspace(2, 6, 4), target_in)
    best = logits.argmax(-1)
    for i in range(3):
        row = gen[i]
        n = int((row == EOS).nonzero()[0]) + 1 if (row == EOS).any() else len(row)
        assert torch.equal(best[i, :n], row[:n])
        assert (row[n:] == PAD).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_temperature_sampling_is_reproducible_and_differs_from_greedy(variant):
    net = _net(variant=variant)
    t_in, u_in, symbols, _, _ = _batch()
    a = net.generate(t_in, u_in, symbols, max_len=8, temperature=5.0,
                     generator=torch.Generator().manual_seed(3))  # fmt: skip
    b = net.generate(t_in, u_in, symbols, max_len=8, temperature=5.0,
                     generator=torch.Generator().manual_seed(3))  # fmt: skip
    greedy = net.generate(t_in, u_in, symbols, max_len=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, greedy)


def test_constrained_generation_is_the_argmax_over_the_grammar_and_always_parses():
    """With opkit's vocabulary, an untrained PROSE decoded under the prefix grammar writes
    systems of the requested dimension, and each token is the argmax of the teacher-forced
    logits over the tokens the grammar allows at that step."""
    from opkit import symbolic

    torch.manual_seed(0)
    net = PROSE(width=32, n_heads=4, ff_width=64).eval()
    t_in, u_in, _, _, _ = _batch()
    symbols = torch.randint(4, len(symbolic.VOCAB), (3, 12), generator=torch.Generator())
    dim = torch.tensor([1, 3, 5])
    gen = net.generate(t_in, u_in, symbols, max_len=25, constrained=True, dim=dim)
    target_in = torch.cat([torch.full((3, 1), symbolic.BOS_ID), gen[:, :-1]], dim=1)
    _, logits = net(t_in, u_in, symbols, torch.linspace(2, 6, 4), target_in)
    grammar = symbolic.PrefixGrammar(dim, max_len=25)
    for k in range(gen.shape[1]):
        allowed = grammar.allowed()
        best = logits[:, k].masked_fill(~allowed, -torch.inf).argmax(-1)
        live = ~grammar.done
        assert torch.equal(best[live], gen[live, k])
        grammar.update(gen[:, k])
    for row, d in zip(gen.tolist(), dim.tolist()):
        f = symbolic.vector_field(symbolic.from_ids(row))  # stops at <EOS>
        assert f.n_components == d and f.n_variables <= d
    with pytest.raises(ValueError, match="dim"):
        net.generate(t_in, u_in, symbols, max_len=25, constrained=True)
    with pytest.raises(ValueError, match="vocabulary"):
        _net().generate(t_in, u_in, _batch()[2], max_len=9, constrained=True, dim=dim)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("operator_only", [False, True])
def test_every_parameter_gets_a_gradient(operator_only, variant):
    net = _net(operator_only=operator_only, variant=variant).train()
    t_in, u_in, symbols, t_out, target_in = _batch()
    u, logits = net(t_in, u_in, symbols, t_out, target_in)
    loss = u.pow(2).mean() + (0 if logits is None else logits.pow(2).mean())
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


@pytest.mark.parametrize("variant", VARIANTS)
def test_operator_only_ignores_symbols(variant):
    net = _net(variant=variant, operator_only=True)
    t_in, u_in, symbols, t_out, target_in = _batch()
    u, logits = net(t_in, u_in, symbols, t_out, target_in)
    assert logits is None
    u2, _ = net(t_in, u_in, None, t_out)
    torch.testing.assert_close(u, u2)
    # the authors' ablation: no symbol encoder, no fusion stack, no symbol decoder
    assert not any(
        n.startswith(("symbol", "token", "target", "fusion", "modality"))
        for n, _ in net.named_parameters()
    )
    with pytest.raises(ValueError, match="operator_only"):
        net.generate(t_in, u_in, symbols)


@pytest.mark.parametrize("variant", VARIANTS)
def test_rebuilds_from_its_init_args(variant):
    net = _net(variant=variant, n_fusion_layers=1)
    again = PROSE(**net.init_args)
    again.load_state_dict(net.state_dict())
    t_in, u_in, symbols, t_out, target_in = _batch()
    torch.testing.assert_close(
        again.eval()(t_in, u_in, symbols, t_out, target_in)[0],
        net(t_in, u_in, symbols, t_out, target_in)[0],
    )
    assert all(isinstance(v, (int, float, bool, str)) for v in net.init_args.values())


@pytest.mark.parametrize("variant", VARIANTS)
def test_bad_input_is_refused(variant):
    net = _net(variant=variant)
    t_in, u_in, symbols, t_out, target_in = _batch()
    with pytest.raises(ValueError, match="u_in"):
        net(t_in, u_in[..., :3], symbols, t_out)
    with pytest.raises(ValueError, match="token ids"):
        net(t_in, u_in, symbols + V, t_out)
    with pytest.raises(ValueError, match="symbols"):
        net(t_in, u_in, None, t_out)
    with pytest.raises(ValueError, match="n_heads"):
        PROSE(vocab_size=V, pad_id=0, bos_id=1, eos_id=2, width=30, n_heads=4)
    with pytest.raises(ValueError, match="pad_id"):
        PROSE(vocab_size=V, pad_id=V, bos_id=1, eos_id=2)


def test_paper_configuration_has_104m_parameters():
    from opkit import symbolic

    with torch.device("meta"):  # no memory is allocated
        net = PROSE.paper()
    n = sum(p.numel() for p in net.parameters())
    assert net.vocab_size == len(symbolic.VOCAB)
    assert abs(n - 104e6) / 104e6 < 0.05, n
    assert (net.width, net.init_args["n_fusion_layers"], net.init_args["ff_width"]) == (
        512,
        8,
        2048,
    )


def test_authors_variant_reads_bare_guesses_and_refuses_empty_ones():
    net = _net(variant="authors")
    assert not net.symbol_markers and _net(variant="opkit").symbol_markers
    t_in, u_in, symbols, t_out, _ = _batch()
    symbols[1] = PAD
    with pytest.raises(ValueError, match="all <PAD>"):
        net(t_in, u_in, symbols, t_out)
    with pytest.raises(ValueError, match="variant"):
        _net(variant="paper")
