"""Every failure of the `opkit` console script ends in one line `opkit: error: ...`
(issue 10, item 8; issue 22): exit 2 for bad input, 1 for a failed run, no traceback and
no page of usage; `--debug` shows the traceback.

The table runs in-process through `opkit.cli.main` (one import of torch and Lightning for
all cases, so the module belongs to the default suite); two cases run the real console
script in a subprocess, where the process boundary is the point (`--debug`, a read-only
folder).
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
import torch

import opkit
from opkit.cli import main

OPKIT = str(Path(sys.executable).with_name("opkit"))
CONFIGS = Path(__file__).resolve().parents[1] / "configs"

FNO_YAML = """\
seed_everything: 0
trainer:
  max_epochs: 1
  accelerator: cpu
  logger: false
  enable_progress_bar: false
model:
  class_path: opkit.trainers.OperatorModule
  init_args:
    model:
      class_path: opkit.models.FNO
      init_args: {{n_modes: 4, hidden_channels: 4, n_layers: 1}}
data:
  class_path: opkit.trainers.OperatorDataModule
  init_args: {{path: {path}, batch_size: {batch_size}}}
"""

# A checkpoint whose hyper-parameters name a class outside opkit./torch.: LightningCLI
# would import its module (`this` prints the Zen of Python) to rebuild the model.
ZEN = {
    "hyper_parameters": {"_class_path": "this.Zen"},
    "state_dict": {},
    "pytorch-lightning_version": "2.6.6",
    "epoch": 0,
    "global_step": 0,
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from opkit.models import DeepONet
    from opkit.pde_data import ODEDatasetRecipe

    root = tmp_path_factory.mktemp("cli")
    data = opkit.generate("burgers", 12, out=root / "d.h5", n_x=64, progress=False)
    opkit.generate("burgers", 12, out=root / "fine.h5", n_x=128, progress=False)
    odes = ODEDatasetRecipe(families=("thomas",), t_end=1.0, n_t=8, n_input=4, splits=(1, 1, 1))
    opkit.generate(odes, 3, out=root / "odes.h5", progress=False)
    torch.manual_seed(0)
    trained = opkit.fit(
        DeepONet, data, max_epochs=1, progress=False, log_dir=root / "fit", batch_size=4
    )
    model = trained.save(root / "model.pt")
    truncated = root / "truncated.pt"
    truncated.write_bytes(model.read_bytes()[:2000])
    (root / "random.h5").write_bytes(os.urandom(5000))
    bad_recipe = root / "bad_recipe.h5"
    bad_recipe.write_bytes(data.read_bytes())
    with h5py.File(bad_recipe, "r+") as f:
        f.attrs["recipe"] = "{not json"
    (root / "outdir").mkdir()
    torch.save(ZEN, root / "zen.ckpt")
    # the top-level keys of a TrainedProse.save bundle (not a Lightning checkpoint)
    prose = {"format": "opkit.trained-prose", "format_version": 1, "record": {}, "state_dict": {}}
    torch.save(prose, root / "prose.pt")
    allen_cahn = (CONFIGS / "pinn_allen_cahn_causal.yaml").read_text()
    negative, n = re.subn(r"epsilons: \[(\d)", r"epsilons: [-\1", allen_cahn, count=1)
    assert n == 1, "the Allen-Cahn config no longer lists `epsilons: [...]`"
    (root / "negative_eps.yaml").write_text(negative)
    for name, path, batch in [
        ("ok", data, 4),
        ("negative_batch", data, -4),
        ("missing_data", root / "nowhere.h5", 4),
        ("random_data", root / "random.h5", 4),
        ("odes_data", root / "odes.h5", 4),
    ]:
        (root / f"{name}.yaml").write_text(FNO_YAML.format(path=path, batch_size=batch))
    ok = (root / "ok.yaml").read_text()
    (root / "zen.yaml").write_text(ok + f"ckpt_path: {root / 'zen.ckpt'}\n")
    (root / "unknown_key.yaml").write_text(ok + "frobnicate: 3\n")
    (root / "wrong_type.yaml").write_text(ok.replace("max_epochs: 1", "max_epochs: many"))
    (root / "bad.yaml").write_text("trainer: [max_epochs: 1\n  x: {\n")
    return root


def _cases(root: Path) -> dict[str, tuple[list[str], int, str]]:
    """name -> (arguments, expected exit code, text the error line must contain)."""
    d = str(root / "d.h5")
    ok = str(root / "ok.yaml")
    return {
        "generate --out a directory": (
            ["generate", "burgers", "--n-samples", "2", "--out", str(root / "outdir")],
            2,
            "is a directory",
        ),
        "generate into a missing folder": (
            ["generate", "burgers", "--n-samples", "2", "--out", str(root / "no" / "b.h5")],
            2,
            "does not exist",
        ),
        "evaluate an HDF5 file as checkpoint": (["evaluate", d, "--data", d], 2, "d.h5"),
        "evaluate a truncated checkpoint": (
            ["evaluate", str(root / "truncated.pt"), "--data", d],
            2,
            "truncated.pt",
        ),
        "evaluate a missing checkpoint": (
            ["evaluate", str(root / "gone.pt"), "--data", d],
            2,
            "gone.pt",
        ),
        "evaluate on a grid the model was not built for": (
            ["evaluate", str(root / "model.pt"), "--data", str(root / "fine.h5")],
            2,
            "fine.h5",
        ),
        "evaluate --out into a missing folder": (
            ["evaluate", str(root / "model.pt"), "--out", str(root / "no" / "m.json")],
            2,
            "does not exist",
        ),
        "evaluate without a checkpoint": (["evaluate"], 2, "checkpoint"),
        "fit --ckpt_path missing": (
            ["fit", "--config", ok, "--ckpt_path", str(root / "gone.ckpt")],
            2,
            "gone.ckpt",
        ),
        "fit --ckpt_path an HDF5 file": (["fit", "--config", ok, "--ckpt_path", d], 2, "d.h5"),
        "fit --ckpt_path naming a foreign class": (
            ["fit", "--config", ok, "--ckpt_path", str(root / "zen.ckpt")],
            2,
            "this.Zen",
        ),
        "fit with `ckpt_path:` in the config naming a foreign class": (
            ["fit", "--config", str(root / "zen.yaml")],
            2,
            "this.Zen",
        ),
        "fit --ckpt_path a PROSE bundle under an FNO config": (
            ["fit", "--config", ok, "--ckpt_path", str(root / "prose.pt")],
            2,
            "not a Lightning checkpoint",
        ),
        "fit --ckpt_path a saved operator under an FNO config": (
            ["fit", "--config", ok, "--ckpt_path", str(root / "model.pt")],
            2,
            "opkit evaluate FILE",
        ),
        "fit with batch_size -4": (
            ["fit", "--config", str(root / "negative_batch.yaml")],
            2,
            "batch_size",
        ),
        "fit with a missing data file": (
            ["fit", "--config", str(root / "missing_data.yaml")],
            2,
            "nowhere.h5",
        ),
        "fit with random bytes as data": (
            ["fit", "--config", str(root / "random_data.yaml")],
            2,
            "random.h5",
        ),
        "an FNO config on an ODE file": (
            ["fit", "--config", str(root / "odes_data.yaml")],
            2,
            "holds the ODE trajectories",
        ),
        "a missing config file": (
            ["fit", "--config", str(root / "nowhere.yaml")],
            2,
            "nowhere.yaml",
        ),
        "a config that is not YAML": (["fit", "--config", str(root / "bad.yaml")], 2, "bad.yaml"),
        "an unknown config key": (
            ["fit", "--config", str(root / "unknown_key.yaml")],
            2,
            "does not accept option 'frobnicate'",
        ),
        "a config value of the wrong type": (
            ["fit", "--config", str(root / "wrong_type.yaml")],
            2,
            "Parser key \"trainer.max_epochs\": Expected a <class 'int'>; given value: many",
        ),
        "an unknown override": (
            ["fit", "--config", ok, "--model.init_args.lrr", "3"],
            2,
            "Option 'lrr' is not accepted",
        ),
        "PINN with a negative lr": (
            [
                "fit",
                "--config",
                str(CONFIGS / "pinn_convection_lpinn.yaml"),
                "--model.init_args.lr=-1.0",
            ],
            2,
            "lr",
        ),
        "PINN with a negative eps": (
            ["fit", "--config", str(root / "negative_eps.yaml")],
            2,
            "eps",
        ),
        "benchmark --budget 0": (
            ["benchmark", "--suite", "burgers", "--budget", "0", "--out", str(root / "rep")],
            2,
            "--budget",
        ),
        "benchmark into an unwritable --out": (
            ["benchmark", "--suite", "burgers", "--budget", "1", "--out", f"{d}/reports"],
            2,
            "--out",
        ),
        "benchmark --models ','": (
            ["benchmark", "--suite", "burgers", "--models", ",", "--out", str(root / "rep")],
            2,
            "--models ',' names no model",
        ),
        "benchmark --suite unknown": (
            ["benchmark", "--suite", "nope", "--out", str(root / "rep")],
            2,
            "invalid choice: 'nope'",
        ),
        "a recipe attribute that is not JSON": (
            ["data", "info", str(root / "bad_recipe.h5")],
            2,
            "bad_recipe.h5",
        ),
    }


CASE_NAMES = list(_cases(Path("/")))


@pytest.mark.parametrize("case", CASE_NAMES)
def test_every_failure_is_one_line(files, case, monkeypatch, capsys):
    args, code, text = _cases(files)[case]
    monkeypatch.chdir(files)
    monkeypatch.setenv("OPKIT_CACHE", str(files / "cache"))
    monkeypatch.delenv("OPKIT_DEBUG", raising=False)
    saved = sys.modules.pop("this", None)
    try:
        got = main(args)
        imported = "this" in sys.modules
    finally:
        sys.modules.pop("this", None)
        if saved is not None:
            sys.modules["this"] = saved
    out, err = capsys.readouterr()
    assert not imported, f"{case}: the module `this` named in a checkpoint was imported"
    lines = [ln for ln in err.splitlines() if ln.startswith("opkit: error:")]
    assert got == code, (case, err[-800:])
    assert len(lines) == 1 and text in lines[0], (case, err[-800:])
    assert "Traceback" not in err and "usage:" not in err, (case, err[-800:])
    assert "Beautiful is better than ugly" not in out
    assert not (files / "rep").exists()  # benchmark refused before writing a report


def test_ckpt_path_from_the_environment_is_checked(files, monkeypatch, capsys):
    # LightningCLI parses PL_FIT__CKPT_PATH when env parsing is on (JSONARGPARSE_DEFAULT_ENV)
    monkeypatch.setenv("JSONARGPARSE_DEFAULT_ENV", "true")
    monkeypatch.setenv("PL_FIT__CKPT_PATH", str(files / "zen.ckpt"))
    saved = sys.modules.pop("this", None)
    try:
        assert main(["fit", "--config", str(files / "ok.yaml")]) == 2
        assert "this" not in sys.modules
    finally:
        sys.modules.pop("this", None)
        if saved is not None:
            sys.modules["this"] = saved
    out, err = capsys.readouterr()
    assert "this.Zen" in err.strip().splitlines()[-1] and "Beautiful" not in out


def test_evaluate_out_is_checked_before_scoring(files, monkeypatch, capsys):
    from opkit.trainers import _fit

    def never(*args, **kwargs):
        raise AssertionError("evaluate ran before --out was checked")

    monkeypatch.setattr(_fit, "evaluate", never)
    out = files / "no" / "m.json"
    assert main(["evaluate", str(files / "model.pt"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_evaluate_without_data_scores_the_models_own_test_split(files, capsys):
    # `opkit evaluate CKPT`: the data the model was trained on (d.h5), its test split
    model = str(files / "model.pt")
    assert main(["evaluate", model, "--out", str(files / "own.json")]) == 0
    args = ["evaluate", model, "--data", str(files / "d.h5"), "--out", str(files / "d.json")]
    assert main(args) == 0
    own = json.loads((files / "own.json").read_text())
    explicit = json.loads((files / "d.json").read_text())
    assert own["n_samples"] == explicit["n_samples"] > 0
    assert own["rel_l2"] == explicit["rel_l2"] > 0


def test_full_disk_is_a_failure_with_a_hint(tmp_path, monkeypatch, capsys):
    # A full disk cannot be made here portably: the writer is made to fail as one would.
    from opkit.pde_data import _generate

    def full(path, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(_generate, "create_file", full)
    out = tmp_path / "b.h5"
    code = main(["generate", "burgers", "--n-samples", "2", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("opkit: error:") and "disk is full" in err[-1]
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback(files, monkeypatch):
    args = ["generate", "burgers", "--n-samples", "2", "--out", str(files / "outdir")]
    monkeypatch.setenv("OPKIT_DEBUG", "1")
    with pytest.raises(ValueError, match="is a directory"):
        main(args)
    # the real console script, where the traceback reaches the terminal
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPKIT_CACHE": str(files / "cache")}
    env.pop("OPKIT_DEBUG", None)
    proc = subprocess.run(
        [OPKIT, *args, "--debug"], cwd=files, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "is a directory" in proc.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [OPKIT, "generate", "burgers", "--n-samples", "2", "--out", str(ro / "b.h5")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("opkit: error:")
