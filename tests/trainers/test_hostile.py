"""Hostile inputs on the task paths (issue 22): checkpoints that would allocate before
they are checked, untrusted cached files, resumes that must repeat the run, and one clear
error before any work for each weak case."""

import pytest
import torch

import opkit
from opkit.models import FNO, PROSE
from opkit.models.pinns import MLP, Convection
from opkit.trainers import _datasets as datasets

TINY = dict(width=16, n_heads=2, ff_width=32, n_fusion_layers=1, n_data_decoder_layers=1,
            n_symbol_decoder_layers=1, n_data_encoder_layers=1,
            n_symbol_encoder_layers=1)  # fmt: skip


@pytest.fixture(scope="module")
def prose_result(odes_file):
    return opkit.fit(PROSE, odes_file, max_steps=2, batch_size=8, progress=False, **TINY)


@pytest.fixture(scope="module")
def fno_result(burgers_file):
    return opkit.fit(FNO, burgers_file, max_epochs=1, progress=False, hidden_channels=4,
                     n_modes=4)  # fmt: skip


def test_huge_records_are_refused_before_anything_is_allocated(prose_result, fno_result,
                                                               tmp_path):  # fmt: skip
    # A PROSE record inflated to 6.4 GB of weights: the meta-device check refuses it.
    raw = torch.load(prose_result.save(tmp_path / "p.pt"), weights_only=True)
    raw["hyper_parameters"]["model_record"]["init_args"].update(width=40000, ff_width=400000)
    torch.save(raw, tmp_path / "huge_prose.pt")
    with pytest.raises(ValueError, match="does not match the stored weights"):
        opkit.load(tmp_path / "huge_prose.pt")
    # An operator record of a 160 GB Linear whose weights were left out.
    raw = torch.load(fno_result.save(tmp_path / "f.pt"), weights_only=True)
    raw["hyper_parameters"]["model_record"] = {
        "class_path": "torch.nn.Linear",
        "init_args": {"in_features": 200000, "out_features": 200000},
    }
    raw["state_dict"] = {k: v for k, v in raw["state_dict"].items() if not k.startswith("model.")}
    torch.save(raw, tmp_path / "huge_linear.pt")
    with pytest.raises(ValueError, match="missing"):
        opkit.load(tmp_path / "huge_linear.pt")


def test_broken_bundles_get_one_clear_error(fno_result, tmp_path):
    raw = torch.load(fno_result.save(tmp_path / "f.pt"), weights_only=True)
    cases = {
        "no_state": ({k: v for k, v in raw.items() if k != "state_dict"}, "not an opkit"),
        "no_record": ({k: v for k, v in raw.items() if k != "opkit"}, "not an opkit"),
        "bad_task": ({**raw, "opkit": {**raw["opkit"], "task": "zen"}}, "task 'zen'"),
        "unknown_arg": (
            {**raw, "hyper_parameters": {**raw["hyper_parameters"], "loss": "nonsense"}},
            "hyper-parameters",
        ),
        "nan_weights": (
            {**raw, "state_dict": {k: torch.full_like(v, float("nan")) if v.is_floating_point()
                                   else v for k, v in raw["state_dict"].items()}},
            "NaN",
        ),
    }  # fmt: skip
    for name, (bundle, message) in cases.items():
        torch.save(bundle, tmp_path / f"{name}.pt")
        with pytest.raises(ValueError, match=message):
            opkit.load(tmp_path / f"{name}.pt")


def test_a_cached_odes_file_of_another_size_is_not_trusted(monkeypatch, tmp_path, odes_file):
    """`odes-cpu-seed0.h5` holding 30 samples is not the 3000-sample built-in: it is made
    again (here: the generation call is recorded instead of run)."""
    monkeypatch.setenv("OPKIT_CACHE", str(tmp_path))
    (tmp_path / "odes-cpu-seed0.h5").write_bytes(odes_file.read_bytes())
    made = []
    monkeypatch.setattr(datasets, "generate", lambda name, **kw: made.append((name, kw)))
    datasets.builtin_path("odes", size="cpu", seed=0)
    assert made and made[0][0] == "odes" and made[0][1]["overwrite"] is True


def test_prose_resumes_bit_for_bit(odes_file, tmp_path):
    """Two epochs straight equal one epoch, then a resume from its last.ckpt (noise,
    corruption, shuffling and the random query subsets are functions of (seed, step))."""
    import lightning as L

    class Interrupt(L.Callback):  # the run is killed after its first epoch
        def on_train_epoch_end(self, trainer, pl_module):
            trainer.should_stop = True

    opts = dict(batch_size=8, progress=False, train_query_points=16, noise=0.02, **TINY)
    whole = opkit.fit(PROSE, odes_file, max_epochs=2, log_dir=tmp_path / "a", **opts)
    opkit.fit(PROSE, odes_file, max_epochs=2, log_dir=tmp_path / "b", callbacks=[Interrupt()],
              **opts)  # fmt: skip
    resumed = opkit.fit(PROSE, odes_file, max_epochs=2, log_dir=tmp_path / "c",
                        resume=tmp_path / "b" / "checkpoints" / "last.ckpt", **opts)  # fmt: skip
    a = torch.load(tmp_path / "a" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    c = torch.load(tmp_path / "c" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == c.keys()
    assert all(torch.equal(a[k], c[k]) for k in a)
    assert whole.metrics["step"] == resumed.metrics["step"]


def test_max_samples_is_honoured_on_every_split(prose_result):
    scores = opkit.evaluate(prose_result, split="train", max_samples=5, variants=("clean",),
                            max_len=4)  # fmt: skip
    assert scores["n_samples"] == 5


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda r, f: opkit.fit(PROSE, f, max_epochs=0), ValueError, "max_epochs"),
        (lambda r, f: opkit.fit(PROSE, f, size="huge"), ValueError, "size"),
        (lambda r, f: opkit.fit(PROSE, f, max_train_samples=0), ValueError, "max_train_samples"),
        (lambda r, f: opkit.fit(PROSE, opkit.open_dataset(f)), TypeError, "ODE file"),
        (lambda r, f: opkit.fit(PROSE, f, resume="nowhere/last.ckpt"), FileNotFoundError,
         "resume"),
        (lambda r, f: opkit.evaluate(r, max_samples=0, variants=("clean",)), ValueError,
         "max_samples"),
        (lambda r, f: r.predict(torch.full((64, 3), float("nan"))), ValueError, "NaN"),
        (lambda r, f: opkit.fit(MLP, Convection(), max_train_samples=3), ValueError,
         "PINN"),
    ],
)  # fmt: skip
def test_weak_cases_fail_before_any_work(call, error, message, prose_result, odes_file):
    with pytest.raises(error, match=message):
        call(prose_result, odes_file)


def test_operator_weak_cases(fno_result, trajectory_file):
    x = torch.full((1, 1, fno_result.spec.spatial_shape[0]), float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        fno_result.predict(x)
    with pytest.raises(ValueError, match="transfer"):  # another PDE: not its test error
        opkit.evaluate(fno_result, trajectory_file, solver_samples=0)


def test_a_loss_that_overflows_is_named(burgers_file, tmp_path):
    huge = opkit.open_dataset(burgers_file)
    huge = huge.assign(u=huge["u"] * 1e30)
    with pytest.raises((FloatingPointError, ValueError), match="NaN|Inf|non-finite"):
        opkit.fit(FNO, huge, max_epochs=1, progress=False, normalization="none",
                  hidden_channels=4, n_modes=4, lr=10.0)  # fmt: skip
