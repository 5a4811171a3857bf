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


@pytest.fixture(scope="module")
def trained_conv(trajectory_file, tmp_path_factory):
    return opkit.fit(
        NeuralODE,
        trajectory_file,
        max_epochs=2,
        in_frames=2,
        batch_size=16,
        progress=False,
        accelerator="cpu",
        log_dir=tmp_path_factory.mktemp("conv_node"),
        width=4,
        latent_channels=3,
        field="conv",
        field_kernel=3,
    )


def test_conv_field_fits_compresses_saves_and_loads(trained_conv, trajectory_file, tmp_path):
    model = trained_conv.model
    assert model.field == "conv" and model.state_size == 3 * 64
    assert 0 < trained_conv.metrics["test/rel_l2"] < 1
    again = opkit.load(trained_conv.save(tmp_path / "conv.pt"))
    x = torch.randn(3, 2, 64)
    torch.testing.assert_close(again.predict(x), trained_conv.predict(x))
    reduced = compress_trained(trained_conv, k=20, m=30)
    assert isinstance(reduced.model, ReducedNeuralODE)
    assert reduced.model.full_config["field"] == "conv"
    rom = opkit.load(reduced.save(tmp_path / "rom.pt"))
    torch.testing.assert_close(rom.predict(x), reduced.predict(x))
    assert (rom.predict(x) - trained_conv.predict(x)).abs().max() > 0
    assert opkit.evaluate(rom, trajectory_file, solver_samples=0)["rel_l2"] > 0
    n = model.state_size
    full_size = compress_trained(trained_conv, k=n, m=n)
    torch.testing.assert_close(full_size.predict(x), trained_conv.predict(x), rtol=1e-4, atol=1e-4)


def _cli_error(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--repeats", "--windows"])
def test_cli_compress_zero_counts_are_refused_before_any_work(flag, tmp_path, capsys):
    # the checkpoint does not even exist: the flag is checked before anything is loaded
    argv = ["compress", str(tmp_path / "missing.pt"), "--k", "2", "--m", "2"]
    code, err = _cli_error([*argv, "--out", str(tmp_path / "r.pt"), flag, "0"], capsys)
    assert code == 2 and f"`{flag}` must be an integer >= 1, got 0" in err
    assert not (tmp_path / "r.pt").exists()


def test_cli_compress_read_only_folder_is_refused_before_work_naming_the_real_path(
    trained, tmp_path, capsys
):
    ckpt = trained.save(tmp_path / "node.pt")
    locked = tmp_path / "locked"
    locked.mkdir()
    (tmp_path / "alias").symlink_to(locked)
    locked.chmod(0o555)
    try:
        argv = ["compress", str(ckpt), "--k", "4", "--m", "4", "--repeats", "1"]
        code, err = _cli_error([*argv, "--out", str(tmp_path / "alias" / "rom.pt")], capsys)
        assert code == 2 and "read-only" in err
        assert repr(str(locked / "rom.pt")) in err  # the real path, not the alias or a temp
        assert ".tmp" not in err
        out = capsys.readouterr().out
        assert "POD energy" not in out  # nothing was computed
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_cli_compress_refuses_to_replace_a_read_only_file(trained, tmp_path, capsys):
    ckpt = trained.save(tmp_path / "node.pt")
    out = tmp_path / "rom.pt"
    out.write_bytes(b"keep me")
    out.chmod(0o444)
    argv = ["compress", str(ckpt), "--k", "4", "--m", "4", "--repeats", "1", "--out", str(out)]
    code, err = _cli_error(argv, capsys)
    assert code == 2 and "read-only" in err and str(out) in err
    assert out.read_bytes() == b"keep me" and (out.stat().st_mode & 0o777) == 0o444
    # a missing folder is named too
    code, err = _cli_error([*argv[:-1], str(tmp_path / "nowhere" / "rom.pt")], capsys)
    assert code == 2 and "does not exist" in err and str(tmp_path / "nowhere") in err
