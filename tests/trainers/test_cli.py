"""The `opkit` console script: fit from a config, evaluate the checkpoint, bad keys."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import opkit
from opkit.cli import main
from opkit.trainers._suite import trivial_baseline

CONFIGS = Path(__file__).parents[2] / "configs"


def test_fit_then_evaluate_from_the_command_line(burgers_file, tmp_path, capsys):
    code = main(
        [
            "fit",
            "--config",
            str(CONFIGS / "burgers_fno.yaml"),
            "--data.init_args.path",
            str(burgers_file),
            "--model.init_args.model.init_args.hidden_channels",
            "16",
            "--data.init_args.batch_size",
            "8",
            "--trainer.max_epochs",
            "6",
            "--trainer.accelerator",
            "cpu",
            "--trainer.default_root_dir",
            str(tmp_path),
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    assert code == 0
    ckpts = sorted(tmp_path.rglob("last.ckpt"))
    assert ckpts, list(tmp_path.rglob("*"))
    out = tmp_path / "metrics.json"
    assert main(["evaluate", str(ckpts[0]), "--data", str(burgers_file), "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["n_samples"] == 20
    # learned something: below the mean-output predictor (zeros would score 1.0)
    baseline = trivial_baseline(burgers_file, in_frames=1)["rel_l2"]
    assert 0 < metrics["rel_l2"] < 0.8 * baseline < 1.0, (metrics["rel_l2"], baseline)

    # `opkit predict` writes the test split's predictions to a file it names
    capsys.readouterr()
    predicted = tmp_path / "predict"
    args = ["predict", "--config", str(CONFIGS / "burgers_fno.yaml")]
    args += ["--data.init_args.path", str(burgers_file), "--ckpt_path", str(ckpts[0])]
    args += ["--model.init_args.model.init_args.hidden_channels", "16"]
    args += ["--trainer.default_root_dir", str(predicted), "--trainer.logger", "false"]
    assert main(args) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("predictions: ")]
    path = Path(line[-1].removeprefix("predictions: "))
    y = torch.load(path, weights_only=True)
    with opkit.open_dataset(burgers_file) as ds:
        test = torch.as_tensor(ds["u"].values[ds["split"].values == 2][:, -1])
    assert y.shape == (20, 1, 128)
    rel = ((y[:, 0] - test).norm(dim=1) / test.norm(dim=1)).mean()
    assert float(rel) == pytest.approx(metrics["rel_l2"], rel=1e-3)  # the same model's outputs


def test_unknown_config_key_is_reported(burgers_file, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "opkit.cli",
            "fit",
            "--config",
            str(CONFIGS / "burgers_fno.yaml"),
            "--data.init_args.path",
            str(burgers_file),
            "--model.init_args.lrr",
            "0.1",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "lrr" in proc.stderr


def test_unknown_command():
    assert main(["frobnicate"]) == 2


@pytest.mark.parametrize("command", ["fit", "evaluate", "benchmark", "demo", "generate"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out.lower()
