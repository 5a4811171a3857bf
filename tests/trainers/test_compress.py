"""A NeuralODE trained by `opkit.fit`, compressed by POD-DEIM: it saves, loads and evaluates
like any opkit model, and `opkit compress` reports energies and the measured speed-up."""

import pytest
import torch

import opkit
from opkit.cli import main
from opkit.models import NeuralODE
from opkit.models.mor import ReducedNeuralODE
from opkit.trainers import OperatorDataModule, compress_trained


@pytest.fixture(scope="module")
def trained(trajectory_file, tmp_path_factory):
    return opkit.fit(
        NeuralODE,
        trajectory_file,
        max_epochs=2,
        in_frames=2,
        batch_size=16,
        progress=False,
        accelerator="cpu",
        log_dir=tmp_path_factory.mktemp("node"),
        width=4,
        latent_channels=1,
    )


def test_fit_trains_a_neural_ode(trained, trajectory_file):
    assert isinstance(trained.model, NeuralODE) and trained.model.state_size == 64
    assert 0 < trained.metrics["test/rel_l2"] < 1
    # the prediction is not the last input frame: the vector field moved the state
    dm = OperatorDataModule(str(trajectory_file), in_frames=2)
    x, y = dm.example("test")
    pred = trained.predict(x[None])
    assert (pred[0, 0] - x[-1]).abs().max() > 1e-4


def test_compressed_model_saves_loads_and_evaluates(trained, trajectory_file, tmp_path):
    reduced = compress_trained(trained, k=16, m=24)
    assert isinstance(reduced.model, ReducedNeuralODE)
    assert 0 < float(reduced.model.state_energy) <= 1
    path = reduced.save(tmp_path / "rom.pt")
    again = opkit.load(path)
    assert isinstance(again.model, ReducedNeuralODE) and again.model.k == 16
    x = torch.randn(3, 2, 64)
    torch.testing.assert_close(again.predict(x), reduced.predict(x))
    metrics = opkit.evaluate(again, trajectory_file, solver_samples=0)
    assert metrics["rel_l2"] > 0 and "rollout_rel_l2" in metrics
    # at full size the reduced model is the full one (float32 round-off)
    full_size = compress_trained(trained, k=64, m=64)
    torch.testing.assert_close(full_size.predict(x), trained.predict(x), rtol=1e-4, atol=1e-4)


def test_cli_compress_prints_energies_and_speedup(trained, tmp_path, capsys):
    ckpt = trained.save(tmp_path / "node.pt")
    out = tmp_path / "rom.pt"
    code = main(
        ["compress", str(ckpt), "--k", "8", "--m", "12", "--out", str(out), "--repeats", "1"]
    )
    assert code == 0 and out.is_file()
    text = capsys.readouterr().out
    assert "POD energy captured: state" in text and "speed-up" in text
    assert opkit.load(out).model.m == 12


def test_compress_bad_sizes_are_named(trained):
    with pytest.raises(ValueError, match="1 <= k <= n = 64"):
        compress_trained(trained, k=65, m=8)
    with pytest.raises(ValueError, match="1 <= m <= n = 64"):
        compress_trained(trained, k=8, m=0)
