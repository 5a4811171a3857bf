"""PROSE training layer: batches, the loss, save/load, fit/evaluate through the public API,
and a tiny end-to-end run on real generated ODE data that beats the trivial baseline."""

import math
from pathlib import Path

import lightning as L
import pytest
import sympy
import torch

import opkit
from opkit import symbolic
from opkit.models import PROSE
from opkit.trainers import ProseModule, TrainedProse
from opkit.trainers._prose_data import _pad, collate_prose, model_symbols
from opkit.trainers._prose_eval import _vector_field_errors
from opkit.trainers._prose_module import relative_l2_masked, squared_relative_error

TINY = dict(width=32, n_heads=4, ff_width=64, n_fusion_layers=1, n_data_decoder_layers=1,
            n_symbol_decoder_layers=1)  # fmt: skip


def _oscillator_items(n, seed=0):
    """Harmonic oscillators u'' = -w^2 u as first-order systems [w v, -w u] (dim 2, padded
    to 5), in the item layout of `opkit.pde_data.ODETrajectories`."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 6, 192)
    x, y = sympy.Symbol("u_0"), sympy.Symbol("u_1")
    items = []
    for _ in range(n):
        w = float(f"{0.5 + torch.rand((), generator=g).item():.3g}")
        a, b = (torch.rand(2, generator=g) * 4 - 2).tolist()
        u = torch.zeros(192, 5)
        u[:, 0] = a * torch.cos(w * t) + b * torch.sin(w * t)
        u[:, 1] = -a * torch.sin(w * t) + b * torch.cos(w * t)
        system = [sympy.Float(w) * y, -sympy.Float(w) * x]
        items.append(
            {
                "t_in": t[:64], "u_in": u[:64], "t_out": t[64:], "u_out": u[64:], "dim": 2,
                "family": "oscillator",
                "symbols_in": symbolic.encode(system, placeholders=True),
                "symbols_target": symbolic.encode(system),
            }
        )  # fmt: skip
    return items


def test_collate_layout():
    items = _oscillator_items(3)
    items[1]["symbols_in"] = items[1]["symbols_in"][:3]  # a shorter guess gets padded
    batch = collate_prose(items)
    assert batch["u_in"].shape == (3, 64, 5) and batch["u_out"].shape == (3, 128, 5)
    assert batch["dim"].tolist() == [2, 2, 2]
    s = batch["symbols"]
    assert (s[:, 0] == symbolic.BOS_ID).all()
    assert symbolic.from_ids(s[0, 1:-1].tolist()) == items[0]["symbols_in"]
    assert s[1, 4] == symbolic.EOS_ID and (s[1, 5:] == symbolic.PAD_ID).all()
    target = batch["target"][0]
    assert symbolic.from_ids(target[1:-1].tolist()) == items[0]["symbols_target"]
    assert symbolic.PLACEHOLDER_ID not in target.tolist()
    # items without a clean target: the labels are the clean target
    assert torch.equal(batch["u_out_clean"], batch["u_out"])
    items[2]["u_out_clean"] = items[2]["u_out"] + 1.0
    assert torch.equal(collate_prose(items)["u_out_clean"][2], items[2]["u_out"] + 1.0)


def test_symbol_input_is_bare_for_the_authors_network():
    """The authors' network reads the guess without <BOS>/<EOS> (its padding where the
    markers were); opkit's reads the batch as it is; the decoder target keeps them."""
    items = _oscillator_items(2)
    items[1]["symbols_in"] = items[1]["symbols_in"][:3]
    batch = collate_prose(items)
    opkit_net, authors = PROSE(variant="opkit", **TINY), PROSE(**TINY)  # authors': default
    assert model_symbols(opkit_net, batch["symbols"]) is batch["symbols"]
    bare = model_symbols(authors, batch["symbols"])
    assert bare.shape[1] == batch["symbols"].shape[1] - 2
    assert symbolic.from_ids(bare[0].tolist()) == items[0]["symbols_in"]
    assert symbolic.from_ids(bare[1, :3].tolist()) == items[1]["symbols_in"]
    assert (bare[1, 3:] == symbolic.PAD_ID).all()
    assert symbolic.BOS_ID not in bare.tolist()[0] and symbolic.EOS_ID not in bare.tolist()[0]
    module = ProseModule(authors)
    torch.manual_seed(0)
    u, _ = module(batch)
    torch.manual_seed(0)
    u_direct, _ = authors(batch["t_in"], batch["u_in"], bare, batch["t_out"],
                          batch["target"][:, :-1], dim=batch["dim"])  # fmt: skip
    torch.testing.assert_close(u, u_direct)


def test_relative_l2_ignores_padded_components():
    g = torch.Generator().manual_seed(0)
    true = torch.randn(2, 128, 5, generator=g)
    pred = true + 0.1 * torch.randn(2, 128, 5, generator=g)
    dim = torch.tensor([2, 5])
    rel = relative_l2_masked(pred, true, dim)
    manual = (pred[0, :, :2] - true[0, :, :2]).norm() / true[0, :, :2].norm()
    torch.testing.assert_close(rel[0], manual)
    spoiled = pred.clone()
    spoiled[0, :, 2:] += 100.0  # padded components of sample 0 do not count
    torch.testing.assert_close(relative_l2_masked(spoiled, true, dim), rel)


def test_loss_is_six_relative_squared_l2_plus_cross_entropy():
    """The authors' loss: 6 x mean of ||u - y||^2 / (||y||^2 + 1e-5) against the noisy
    labels ``u_out`` + token CE; the logged error is against the clean target."""
    torch.manual_seed(0)
    module = ProseModule(PROSE(**TINY))
    items = _oscillator_items(4)
    g = torch.Generator().manual_seed(1)
    for it in items:
        it["u_out_clean"] = it["u_out"]
        it["u_out"] = it["u_out"] + 0.05 * torch.randn(128, 5, generator=g) * (torch.arange(5) < 2)
    batch = collate_prose(items)
    out = module.losses(batch)
    u, logits = module(batch)
    m = (torch.arange(5) < 2).float()
    num = ((u - batch["u_out"]) * m).pow(2).sum((1, 2))
    rel2 = (num / ((batch["u_out"] * m).pow(2).sum((1, 2)) + 1e-5)).mean()
    torch.testing.assert_close(squared_relative_error(u, batch["u_out"], batch["dim"]).mean(), rel2)
    clean = relative_l2_masked(u, batch["u_out_clean"], batch["dim"]).mean()
    noisy = relative_l2_masked(u, batch["u_out"], batch["dim"]).mean()
    torch.testing.assert_close(out["rel_l2"], clean)
    torch.testing.assert_close(out["rel_l2_noisy_target"], noisy)
    assert not torch.isclose(clean, noisy)
    labels = batch["target"][:, 1:]
    keep = labels != symbolic.PAD_ID
    ce = -torch.log_softmax(logits, -1).gather(-1, labels[..., None])[..., 0][keep].mean()
    torch.testing.assert_close(out["loss"], 6 * rel2 + ce, rtol=1e-5, atol=1e-5)
    only = ProseModule(PROSE(operator_only=True, **TINY)).losses(batch)
    assert "symbol_loss" not in only and torch.isclose(only["loss"], 6 * only["data_loss"])


def test_decoded_systems_are_classified_and_scored_against_the_truth():
    """Each decoded system is valid or gets the first reason it is not; a valid one's
    vector-field error is the relative L2 at the drawn points (here 0.1 / 1 exactly: the
    decoded system is 1.1 times the true one)."""
    target = _pad([symbolic.to_ids(symbolic.encode([sympy.Symbol("u_1"), sympy.Integer(2)]))])
    decoded = {
        "valid": "mul + N110 E-2 u_1 | mul + N110 E-2 2",
        "syntax": "add u_0 | 1",
        "components": "u_0",
        "other": "<PLACEHOLDER> | u_0",
        "non_finite": "inv 0 | u_1",
        "no_eos": "u_1 | 2",
    }
    tokens = [text.split() for text in decoded.values()]
    ended = [name != "no_eos" for name in decoded]
    n = len(tokens)
    reasons, errors = _vector_field_errors(
        tokens, ended, target.expand(n, -1), torch.full((n,), 2),
        generator=torch.Generator().manual_seed(0), n_points=50,
    )  # fmt: skip
    assert reasons == list(decoded)
    assert errors[0] == pytest.approx(0.1, rel=1e-12)
    assert all(math.isnan(e) for e in errors[1:])


def test_inverse_sqrt_schedule():
    """The authors' schedule: linear from 1e-7 to lr over the warm-up, then lr sqrt(w / s)."""
    module = ProseModule(PROSE(**TINY), lr=1e-4, scheduler="inverse_sqrt", warmup_steps=100)
    sched = module.configure_optimizers()["lr_scheduler"]["scheduler"]
    f = sched.lr_lambdas[0]
    assert math.isclose(1e-4 * f(0), 1e-7)
    assert math.isclose(1e-4 * f(50), 1e-7 + (1e-4 - 1e-7) / 2)
    assert math.isclose(f(100), 1.0) and math.isclose(f(400), 0.5)  # sqrt(100 / 400)
    with pytest.raises(ValueError, match="warmup_init_lr"):
        ProseModule(PROSE(**TINY), lr=1e-4, warmup_init_lr=1e-3)


def test_training_learns_synthetic_oscillators(tmp_path):
    """A few hundred steps on oscillators: the trajectory error falls well below the
    held-last-value baseline and teacher-forced tokens become mostly right."""
    items = _oscillator_items(64)
    loader = torch.utils.data.DataLoader(items, batch_size=16, shuffle=True,
                                         collate_fn=collate_prose)  # fmt: skip
    torch.manual_seed(0)
    module = ProseModule(PROSE(**TINY), lr=3e-3, scheduler="none")
    trainer = L.Trainer(max_steps=150, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        gradient_clip_val=1.0)  # fmt: skip
    trainer.fit(module, loader)
    test = collate_prose(_oscillator_items(32, seed=1))
    with torch.no_grad():
        out = module.eval().losses(test)
    base = relative_l2_masked(
        test["u_in"][:, -1:].expand_as(test["u_out"]), test["u_out"], test["dim"]
    ).mean()
    assert out["rel_l2"] < 0.5 * base, (float(out["rel_l2"]), float(base))
    assert out["token_accuracy"] > 0.6


def test_save_load_roundtrip(tmp_path):
    torch.manual_seed(0)
    result = TrainedProse(ProseModule(PROSE(**TINY)), metrics={"val/rel_l2": 0.5})
    path = result.save(tmp_path / "prose.pt")
    assert torch.load(path, weights_only=True)["opkit"]["task"] == "prose"
    again = opkit.load(path)
    assert isinstance(again, TrainedProse) and again.metrics["val/rel_l2"] == 0.5
    u_in = torch.randn(2, 64, 3)
    x, y, z = (sympy.Symbol(f"u_{i}") for i in range(3))
    guess = [[y, z, x * y]] * 2
    a, b = result.predict(u_in, guess, max_len=5), again.predict(u_in, guess, max_len=5)
    assert a.u.shape == (2, 128, 3)
    torch.testing.assert_close(a.u, b.u)
    assert a.tokens == b.tokens
    # a record naming a class outside opkit is never imported
    raw = torch.load(path, weights_only=True)
    raw["hyper_parameters"]["model_record"]["class_path"] = "os.system"
    torch.save(raw, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="opkit"):
        opkit.load(tmp_path / "evil.pt")


def test_empty_guess_is_bos_eos():
    assert _pad([[]]).tolist() == [[symbolic.BOS_ID, symbolic.EOS_ID]]


# -- real generated ODE data -----------------------------------------------------------------
@pytest.fixture(scope="module")
def odes_file(tmp_path_factory):
    """The built-in ``odes`` recipe at a tiny size: 2 trajectories per family (30)."""
    out = tmp_path_factory.mktemp("odes") / "odes.h5"
    return opkit.generate("odes", 30, out=out, seed=0, progress=False)


def test_fit_evaluate_save_load_on_real_odes(odes_file, tmp_path):
    """`opkit.fit(PROSE, file)` trains (a tiny model, 250 steps) until its trajectory error
    on the training items is clearly below the held-last-value baseline; `opkit.evaluate`,
    `.save`, `opkit.load` and the Lightning checkpoint all go through the public API."""
    # No validation (3 items cannot select a checkpoint): the final weights are scored.
    result = opkit.fit(PROSE, odes_file, max_steps=250, batch_size=8, lr=3e-3, scheduler="none",
                       progress=False, log_dir=tmp_path, accelerator="cpu", devices=1,
                       trainer_kwargs={"limit_val_batches": 0}, **TINY)  # fmt: skip
    assert isinstance(result, TrainedProse) and result.metrics["step"] == 250
    assert math.isfinite(result.metrics["test/rel_l2"])
    scores = opkit.evaluate(result, odes_file, split="train", variants=("clean",),
                            max_len=40, decoders=("greedy", "constrained"))  # fmt: skip
    assert scores["n_samples"] == 24 and len(scores["rel_l2_per_family"]) == 15
    assert scores["noise"] == 0.02  # the authors' evaluation noise by default
    assert scores["rel_l2"] < 0.6 * scores["baseline_rel_l2"], scores
    # the noisy target carries the 2 % noise the clean one has not
    assert scores["rel_l2_noisy_target"] != scores["rel_l2"]
    assert scores["baseline_rel_l2_noisy_target"] != scores["baseline_rel_l2"]
    assert 0 <= scores["valid_fraction"] <= 1
    assert 0 <= scores["constrained_valid_fraction"] <= 1
    again = opkit.load(result.save(tmp_path / "prose.pt"))
    from opkit.pde_data import ODETrajectories

    item = ODETrajectories(odes_file, split="test")[0]
    d = int(item["dim"])
    a = result.predict(item["u_in"][:, :d], [item["symbols_in"]], max_len=10)
    b = again.predict(item["u_in"][:, :d], [item["symbols_in"]], max_len=10)
    torch.testing.assert_close(a.u, b.u)
    assert a.u.shape == (1, 128, d) and a.tokens == b.tokens
    c = result.predict(item["u_in"][:, :d], [item["symbols_in"]], max_len=40, constrained=True)
    assert c.equations[0] is not None and len(c.equations[0]) == d
    from_ckpt = opkit.load(tmp_path / "checkpoints" / "last.ckpt")
    assert isinstance(from_ckpt, TrainedProse)
    assert from_ckpt.model.init_args == result.model.init_args


def test_config_runs_through_the_cli(odes_file, tmp_path):
    from opkit.trainers._cli import make_cli

    path = Path(__file__).parents[2] / "configs" / "odes_prose.yaml"
    args = ["--config", str(path), "--trainer.default_root_dir", str(tmp_path),
            "--data.init_args.path", str(odes_file), "--data.init_args.batch_size", "4",
            "--trainer.fast_dev_run", "true", "--trainer.accelerator", "cpu"]  # fmt: skip
    cli = make_cli(args, run=False)
    assert isinstance(cli.model, ProseModule) and isinstance(cli.model.model, PROSE)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.state.finished


def test_evaluation_conditions_and_limits(odes_file):
    """Noise 0: both targets agree; the robustness conditions are scored under their own
    keys; ``max_samples`` limits every split; bad settings are refused by name."""
    torch.manual_seed(0)
    result = TrainedProse(ProseModule(PROSE(**TINY)))
    kw = dict(max_len=4, max_samples=2)
    clean = opkit.evaluate(result, odes_file, split="val", noise=0.0, variants=("clean",), **kw)
    assert clean["n_samples"] == 2 and clean["rel_l2"] == clean["rel_l2_noisy_target"]
    scores = opkit.evaluate(result, odes_file, split="test", noise_levels=(0.0, 0.1),
                            variants=("clean", "add", "delete", "other"), **kw)  # fmt: skip
    assert scores["n_samples"] == 2
    for prefix in ("add/", "delete/", "other/", "noise_0/", "noise_0.1/"):
        assert math.isfinite(scores[prefix + "rel_l2"]) and prefix + "valid_fraction" in scores
    # the same noise-free condition on the same split gives the same error
    test0 = opkit.evaluate(result, odes_file, noise=0.0, variants=("clean",), **kw)
    assert scores["noise_0/rel_l2"] == pytest.approx(test0["rel_l2"], rel=1e-6)
    data_only = opkit.evaluate(result, odes_file, decoders=(), variants=("clean",), **kw)
    assert data_only["rel_l2"] == pytest.approx(scores["rel_l2"], rel=1e-6)
    assert "valid_fraction" not in data_only
    with pytest.raises(ValueError, match="noise"):
        opkit.evaluate(result, odes_file, noise=1.5, **kw)
    with pytest.raises(ValueError, match="variants"):
        opkit.evaluate(result, odes_file, variants=("noisy",), **kw)


def test_predict_encodes_guesses_as_training_does():
    """A sympy guess is read as `symbolic.encode_guess` writes it (integers hidden by
    default): the prediction equals the one from those tokens, and differs from the one
    with the integer visible."""
    torch.manual_seed(0)
    result = TrainedProse(ProseModule(PROSE(**TINY)))
    x, y = sympy.Symbol("u_0"), sympy.Symbol("u_1")
    guess = [2 * y, -x]
    u_in = torch.randn(1, 64, 2)
    hidden = symbolic.encode_guess(guess)
    visible = symbolic.encode_guess(guess, hide_integers=False)
    assert hidden != visible
    a = result.predict(u_in, [guess], max_len=3).u
    torch.testing.assert_close(a, result.predict(u_in, [hidden], max_len=3).u)
    assert not torch.allclose(a, result.predict(u_in, [visible], max_len=3).u)


def test_both_variants_train_and_score(odes_file, tmp_path):
    """Through the front door: the authors' network (the default) reads bare guesses and has
    no empty-guess variant, and `predict` without a guess says so; opkit's design reads
    ``<BOS> ... <EOS>`` and is scored with the empty guess too."""
    kw = dict(max_steps=3, batch_size=8, progress=False, accelerator="cpu", devices=1, **TINY)
    authors = opkit.fit(PROSE, odes_file, log_dir=tmp_path / "a", **kw)
    assert authors.model.variant == "authors" and authors.model.symbol_markers is False
    assert authors.metrics["step"] == 3
    scores = opkit.evaluate(authors, odes_file, max_len=4, max_samples=3)
    assert "no_symbols/rel_l2" not in scores and "corrupted/rel_l2" in scores
    assert math.isfinite(scores["rel_l2"]) and math.isfinite(scores["rel_l2_noisy_target"])
    with pytest.raises(ValueError, match="reads a guess for every trajectory"):
        authors.predict(torch.randn(64, 3), None)
    mine = opkit.fit(PROSE, odes_file, log_dir=tmp_path / "o", variant="opkit", **kw)
    assert mine.model.symbol_markers is True
    scores = opkit.evaluate(mine, odes_file, max_len=4, max_samples=3,
                            variants=("clean", "no_symbols"))  # fmt: skip
    assert math.isfinite(scores["no_symbols/rel_l2"])
    assert mine.predict(torch.randn(64, 3), None, max_len=4).u.shape == (1, 128, 3)
