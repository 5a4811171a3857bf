"""Every YAML in configs/ is instantiated by LightningCLI and runs one fast_dev_run batch."""

from pathlib import Path

import pytest
import torch
import yaml

import opkit
from opkit._records import class_path, import_class
from opkit.trainers import OperatorModule
from opkit.trainers._build import build_from_spec
from opkit.trainers._cli import make_cli

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def test_configs_exist_for_every_model_and_suite():
    names = {p.stem for p in CONFIGS}
    for suite in ("burgers", "ks", "ns"):
        for model in ("fno", "deeponet", "dymixop"):
            assert f"{suite}_{model}" in names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_instantiates_and_runs(path, request, tmp_path):
    cfg = yaml.safe_load(path.read_text())
    args = ["--config", str(path), "--trainer.default_root_dir", str(tmp_path)]
    data_cls = cfg.get("data", {}).get("class_path", "")
    if data_cls == "opkit.trainers.OperatorDataModule":
        fixture = {"burgers": "burgers_file", "ks": "trajectory_file", "ns": "ns_file"}
        data = request.getfixturevalue(fixture[path.stem.split("_")[0]])
        args += ["--data.init_args.path", str(data), "--data.init_args.batch_size", "4"]
        if (cfg["data"]["init_args"].get("unroll") or 1) > 1:
            # the 12-frame test files hold no 10 + 10 frame windows: unroll over 2 calls
            args += ["--data.init_args.unroll", "2"]
        settings = dict(cfg["model"]["init_args"]["model"].get("init_args") or {})
        if path.stem.startswith("ns") and "n_modes" in settings:
            # the tiny test file is 16 x 16: keep the paper's modes within its Nyquist limit
            args += ["--model.init_args.model.init_args.n_modes", "6"]
            settings["n_modes"] = 6
    elif data_cls == "opkit.trainers.ProseDataModule":
        data = request.getfixturevalue("odes_file")
        args += ["--data.init_args.path", str(data), "--data.init_args.batch_size", "4"]
        if "paper" in path.stem:  # the paper's 104 M parameters are not for a unit test
            for key, value in (("width", 32), ("ff_width", 64), ("n_heads", 2)):
                args += [f"--model.init_args.model.init_args.{key}", str(value)]
    args += ["--trainer.fast_dev_run", "true", "--trainer.accelerator", "cpu"]
    cli = make_cli(args, run=False)
    module, dm = cli.model, cli.datamodule
    inner = cfg["model"]["init_args"].get("model") or cfg["model"]["init_args"].get("network")
    if isinstance(inner, dict) and "class_path" in inner:
        assert (
            class_path(getattr(module, "model", getattr(module, "network", None)))
            == (inner["class_path"])
        )
    cli.trainer.fit(module, datamodule=dm)
    assert cli.trainer.state.finished
    loss = cli.trainer.callback_metrics.get("train/loss")
    assert loss is not None and torch.isfinite(loss), cli.trainer.callback_metrics
    if isinstance(module, OperatorModule):
        # the CLI sizes the network for the data as Python's `from_spec` does with the
        # config's settings (`opkit.fit`)
        net_cls = import_class(cfg["model"]["init_args"]["model"]["class_path"])
        reference, _ = build_from_spec(net_cls, dm.spec, **settings)
        assert _shapes(module.model) == _shapes(reference)
        # the data's description reached the module as a constructor argument, so that
        # Lightning's own checkpoint rebuilds the trained network with `opkit.load`
        assert module.spec == dm.spec
        ckpt = tmp_path / "check.ckpt"
        cli.trainer.save_checkpoint(ckpt)
        again = opkit.load(ckpt)
        x, _ = dm.example("val")
        module.eval()
        with torch.no_grad():
            assert torch.equal(again.module(x[None].float()), module(x[None].float()))


def _shapes(net: torch.nn.Module) -> dict:
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}
