"""The `opkit` console script: fit from a config, evaluate the checkpoint, bad keys."""

import json
from pathlib import Path

import pytest
import torch
import yaml

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


def test_unknown_config_key_is_reported(burgers_file, capsys):
    args = ["fit", "--config", str(CONFIGS / "burgers_fno.yaml")]
    args += ["--data.init_args.path", str(burgers_file), "--model.init_args.lrr", "0.1"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Option 'lrr' is not accepted" in err[0], err


def test_unknown_command():
    assert main(["frobnicate"]) == 2


@pytest.mark.parametrize("command", ["fit", "evaluate", "benchmark", "demo", "generate"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out.lower()


SMALL_FNO = """\
model:
  init_args:
    model:
      init_args: {hidden_channels: 8, n_layers: 2}
    lr: 0.01
trainer:
  max_epochs: 1
"""


def test_print_config_merges_configs_and_reads_no_data(tmp_path, capsys):
    # LightningCLI's own parsing: a second --config and a dotted override merge into the
    # first; the sizes that the data fixes are not part of the config, so it prints
    # without any data file (the path does not exist).
    small = tmp_path / "small.yaml"
    small.write_text(SMALL_FNO)
    args = ["fit", "--config", str(CONFIGS / "burgers_fno.yaml"), "--config", str(small)]
    args += ["--data.init_args.path", str(tmp_path / "nowhere.h5")]
    args += ["--model.init_args.model.init_args.n_modes", "4", "--print_config"]
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    module = printed["model"]["init_args"]
    network = module["model"]
    assert network["class_path"] == "opkit.models.FNO"
    assert network["init_args"]["n_modes"] == 4  # command line
    assert network["init_args"]["hidden_channels"] == 8  # second config
    assert network["init_args"]["projection_channels"] == 128  # first config (default)
    assert module["lr"] == 0.01 and module["scheduler"] == "cosine"
    assert printed["trainer"]["max_epochs"] == 1
    assert not {"in_channels", "out_channels", "n_dim"} & network["init_args"].keys()
    assert not {"spec", "model_record", "n_fields", "in_frames"} & module.keys()


def test_merged_config_builds_the_network_for_the_data(burgers_file, tmp_path):
    from opkit._records import rebuild
    from opkit.models import FNO
    from opkit.trainers._cli import make_cli

    small = tmp_path / "small.yaml"
    small.write_text(SMALL_FNO)
    args = ["--config", str(CONFIGS / "burgers_fno.yaml"), "--config", str(small)]
    args += ["--data.init_args.path", str(burgers_file), "--trainer.accelerator", "cpu"]
    args += ["--model.init_args.model.init_args.n_modes", "4"]
    args += ["--trainer.default_root_dir", str(tmp_path)]
    cli = make_cli(args, run=False)
    net, spec = cli.model.model, cli.datamodule.spec
    assert isinstance(net, FNO)
    rec = cli.model.hparams["model_record"]
    assert rec["class_path"] == "opkit.models.FNO"
    # the settings of the configs, and the sizes of the data
    assert rec["init_args"]["hidden_channels"] == 8 and rec["init_args"]["n_layers"] == 2
    assert rec["init_args"]["n_modes"] == 4
    assert rec["init_args"]["in_channels"] == spec.in_channels
    assert rec["init_args"]["out_channels"] == spec.out_channels
    assert rec["init_args"]["n_dim"] == spec.ndim == 1
    # the record is complete: it rebuilds the very network (same parameters, same shapes)
    again = rebuild(rec)
    assert {k: v.shape for k, v in again.state_dict().items()} == {
        k: v.shape for k, v in net.state_dict().items()
    }
    x = torch.randn(3, spec.in_channels, *spec.spatial_shape)
    again.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(again(x), net(x))


def test_unknown_network_setting_is_reported_before_reading_data(tmp_path, capsys):
    # the network's settings are still checked against its constructor when parsing
    args = ["fit", "--config", str(CONFIGS / "burgers_fno.yaml")]
    args += ["--data.init_args.path", str(tmp_path / "nowhere.h5")]
    args += ["--model.init_args.model.init_args.hiden_channels", "3"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # one line, not a page of usage (issue 22)
    assert len(err) == 1 and err[0].startswith("opkit: error:"), err
    assert "Option 'hiden_channels' is not accepted" in err[0]
