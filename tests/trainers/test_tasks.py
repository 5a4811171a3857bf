"""One front door for every task: each family goes `opkit.fit` -> `.save` -> `opkit.load`
-> `opkit.evaluate` through the public API, and the same through the command line; data
sources travel with the result and evaluation refuses training samples."""

import math

import pytest
import torch

import opkit
from opkit.models import FNO, PROSE, DeepONet, DyMixOp, NeuralODE
from opkit.models.pinns import (
    MLP,
    AllenCahn,
    CausalLoss,
    CausalSchedule,
    Convection,
    LagrangianPINN,
)
from opkit.trainers import (
    TASKS,
    TrainedOperator,
    TrainedPINN,
    TrainedProse,
)
from opkit.trainers import _datasets as datasets

PROSE_TINY = dict(width=32, n_heads=4, ff_width=64, n_fusion_layers=1, n_data_decoder_layers=1,
                  n_symbol_decoder_layers=1)  # fmt: skip
PINN_DATA = dict(n_t=4, n_x=8, n_ic=16, steps_per_epoch=10)

# family -> (model, data fixture or problem, options of opkit.fit, result type)
FAMILIES = {
    "deeponet": (DeepONet, "burgers_file", dict(max_epochs=2), TrainedOperator),
    "fno": (FNO, "burgers_file", dict(max_epochs=2, hidden_channels=8, n_modes=4),
            TrainedOperator),
    "dymixop": (DyMixOp, "trajectory_file",
                dict(max_epochs=1, in_frames=2, hidden_channels=8, n_layers=2, n_modes=4),
                TrainedOperator),
    "neural_ode": (NeuralODE, "trajectory_file", dict(max_epochs=1), TrainedOperator),
    "prose": (PROSE, "odes_file", dict(max_steps=4, batch_size=8, **PROSE_TINY), TrainedProse),
    "plain_pinn": (MLP, Convection(beta=5.0), dict(max_steps=10, width=8, depth=2, **PINN_DATA),
                   TrainedPINN),
    "causal_pinn": (MLP, AllenCahn(), dict(max_steps=10, width=8, depth=2, n_harmonics=2,
                    loss=CausalLoss(CausalSchedule(epsilons=(1.0, 10.0))), **PINN_DATA),
                    TrainedPINN),
    "lagrangian_pinn": (LagrangianPINN, Convection(beta=5.0),
                        dict(max_steps=10, width=8, depth=2, **PINN_DATA), TrainedPINN),
}  # fmt: skip


def _outputs(result):
    """What the model predicts, for comparing a trained and a loaded result."""
    if isinstance(result, TrainedPINN):
        t, x, _ = result.reference()
        return result.predict_grid(t[:5], x[:16])
    if isinstance(result, TrainedProse):
        g = torch.Generator().manual_seed(0)
        guess = ["u_1", "|", "u_0", "|", "<PLACEHOLDER>"]  # the default network reads a guess
        return result.predict(torch.randn(2, 64, 3, generator=g), guess, max_len=8).u
    spec = result.spec
    g = torch.Generator().manual_seed(0)
    return result.predict(torch.randn(2, spec.in_channels, *spec.spatial_shape, generator=g))


def _scores(result):
    if isinstance(result, TrainedPINN):
        return opkit.evaluate(result)
    if isinstance(result, TrainedProse):
        return opkit.evaluate(result, variants=("clean",), max_len=8, max_samples=4)
    return opkit.evaluate(result, solver_samples=0)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_through_the_front_door(family, request, tmp_path):
    model, data, options, kind = FAMILIES[family]
    dataset = request.getfixturevalue(data) if isinstance(data, str) else data
    result = opkit.fit(model, dataset, progress=False, log_dir=tmp_path / "run", **options)
    assert type(result) is kind and result.task in TASKS
    assert math.isfinite(result.metrics["test/rel_l2"]) and result.metrics["step"] > 0
    path = result.save(tmp_path / f"{family}.pt")
    assert torch.load(path, weights_only=True)["opkit"]["task"] == result.task
    loaded = opkit.load(path)
    assert type(loaded) is kind and loaded.metrics == result.metrics
    torch.testing.assert_close(_outputs(loaded), _outputs(result), rtol=0, atol=0)
    a, b = _scores(result), _scores(loaded)
    assert a["rel_l2"] == b["rel_l2"] and math.isfinite(a["rel_l2"])
    # Lightning's own checkpoint of the run is complete too
    from_ckpt = opkit.load(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert type(from_ckpt) is kind and from_ckpt.data == result.data


def test_results_record_their_data_and_evaluate_on_it_by_default(burgers_file, tmp_path):
    result = opkit.fit(FNO, burgers_file, max_epochs=1, max_train_samples=50, progress=False,
                       hidden_channels=8, n_modes=4)  # fmt: skip
    source = result.data
    assert source["path"] == str(burgers_file.resolve()) and source["seed"] == 1
    assert source["splits"] == {"train": [0, 50], "val": [120, 140], "test": [140, 160]}
    default = opkit.evaluate(result, solver_samples=0)
    explicit = opkit.evaluate(result, burgers_file, solver_samples=0)
    assert default["rel_l2"] == explicit["rel_l2"] and default["n_samples"] == 20


def test_a_split_that_shares_training_samples_is_refused(tmp_path):
    """Sample i is a function of (seed, i): the test split of a small file is training
    data of a larger file of the same recipe and seed."""
    small = opkit.generate("advection", 12, out=tmp_path / "small.h5", seed=0, progress=False)
    large = opkit.generate("advection", 40, out=tmp_path / "large.h5", seed=0, progress=False)
    other = opkit.generate("advection", 12, out=tmp_path / "other.h5", seed=1, progress=False)
    result = opkit.fit(FNO, large, max_epochs=1, progress=False, hidden_channels=8, n_modes=4)
    train = result.data["splits"]["train"]
    with pytest.raises(ValueError, match="shares samples") as err:
        opkit.evaluate(result, small, solver_samples=0)
    assert "small.h5" in str(err.value) and "large.h5" in str(err.value)
    assert f"{train[0]}-" in str(err.value)
    assert opkit.evaluate(result, small, split="train", solver_samples=0)["n_samples"] > 0
    assert opkit.evaluate(result, other, solver_samples=0)["n_samples"] > 0  # another seed


@pytest.fixture
def small_builtins(monkeypatch, tmp_path):
    """Built-in names generated at a small size (n_samples by size) into a fresh cache."""
    sizes = {"cpu": 12, "paper": 20}
    monkeypatch.setenv("OPKIT_CACHE", str(tmp_path / "cache"))
    real_generate, real_matches = datasets.generate, datasets.recipe_matches

    def n_samples(name, size):  # NS solves are the costly ones: 4 / 1 / 1
        return 6 if name == "ns" else sizes[size]

    def generate(name, *, out, seed, size, overwrite):
        return real_generate(name, n_samples(name, size), out=out, seed=seed, size=size,
                             overwrite=overwrite, progress=False)  # fmt: skip

    def recipe_matches(out, name, *, seed, size):
        return real_matches(out, name, n_samples(name, size), seed=seed, size=size)

    monkeypatch.setattr(datasets, "generate", generate)
    monkeypatch.setattr(datasets, "recipe_matches", recipe_matches)
    return sizes


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n == "ns" else n  # NS solves: ~30 s
        for n in sorted(opkit.pde_data.NAMED_DATASETS)
    ],
)
def test_every_builtin_name_trains(name, small_builtins):
    if name == "odes":
        model, options = PROSE, dict(max_steps=2, batch_size=4, **PROSE_TINY)
    elif name == "ns":
        model, options = FNO, dict(max_steps=2, hidden_channels=4, n_modes=2, batch_size=4)
    else:
        model, options = FNO, dict(max_steps=2, hidden_channels=4, n_modes=4)
    result = opkit.fit(model, name, progress=False, **options)
    assert result.data["name"] == name and math.isfinite(result.metrics["test/rel_l2"])


def test_a_paper_size_result_scores_the_paper_files_test_split(small_builtins):
    result = opkit.fit(FNO, "advection", size="paper", max_steps=2, progress=False,
                       hidden_channels=4, n_modes=4)  # fmt: skip
    assert result.data["size"] == "paper"
    scores = opkit.evaluate(result, "advection", solver_samples=0)
    assert result.data["path"].endswith("advection-paper-seed0.h5")
    test = result.data["splits"]["test"]
    windows_per_sample = scores["n_samples"] // (test[1] - test[0])
    assert scores["n_samples"] == windows_per_sample * (test[1] - test[0]) > 0


def test_bad_options_are_refused_before_any_work(burgers_file):
    with pytest.raises(ValueError, match="max_epochs"):
        opkit.fit(FNO, burgers_file, max_epochs=0)
    with pytest.raises(TypeError, match="unknown option"):
        opkit.fit(FNO(in_channels=2, out_channels=1, n_dim=1), burgers_file, widht=3)
    with pytest.raises(ValueError, match="collocation"):
        opkit.fit(MLP, Convection(), batch_size=8)
    with pytest.raises(ValueError, match="loss"):
        opkit.fit(MLP, Convection(), loss="causel")
    with pytest.raises(FileNotFoundError, match="resume"):
        opkit.fit(FNO, burgers_file, resume="missing/last.ckpt")
    with pytest.raises(ValueError, match="reads a fixed grid"):  # its branch has 128 sensors
        opkit.fit(DeepONet, burgers_file, train_stride=2)


def test_model_class_defaults_and_a_coarse_training_grid(burgers_file, monkeypatch):
    """An FNO class brings its batch size and training stride; given options win; the
    model trained on every 2nd point is scored on the data's 128 points."""
    seen = {}
    task = opkit.trainers._task_operator.OperatorTask
    build = task.build

    def spy(self, *args, **kwargs):
        module, seen["dm"] = build(self, *args, **kwargs)
        return module, seen["dm"]

    monkeypatch.setattr(task, "build", spy)
    monkeypatch.setattr(FNO, "default_train_stride", classmethod(lambda cls, spec, **kw: 2))
    kw = dict(max_epochs=1, max_train_samples=32, progress=False, hidden_channels=8, n_modes=4)
    result = opkit.fit(FNO, burgers_file, **kw)
    assert seen["dm"].batch_size == FNO.fit_defaults["batch_size"] == 16
    assert seen["dm"].train_stride == 2
    assert opkit.evaluate(result, solver_samples=0)["n_samples"] == 20
    opkit.fit(FNO, burgers_file, batch_size=8, train_stride=1, **kw)
    assert seen["dm"].batch_size == 8 and seen["dm"].train_stride == 1
    opkit.fit(FNO(in_channels=1, out_channels=1, n_dim=1, n_modes=4, hidden_channels=8),
              burgers_file, max_epochs=1, max_train_samples=32, progress=False)  # fmt: skip
    assert seen["dm"].batch_size == 32 and seen["dm"].train_stride == 1  # a built instance
    deeponet = opkit.fit(DeepONet, burgers_file, max_epochs=1, progress=False)
    assert seen["dm"].batch_size == 128 and deeponet.module.hparams.lr == 1.4e-3


def test_the_command_line_trains_and_evaluates_each_task(tmp_path, burgers_file, odes_file,
                                                         capsys):  # fmt: skip
    from pathlib import Path

    from opkit.cli import main

    configs = Path(__file__).parents[2] / "configs"
    runs = {
        "operator": ("burgers_fno.yaml", ["--data.init_args.path", str(burgers_file),
                     "--model.init_args.model.init_args.hidden_channels", "8"]),
        "prose": ("odes_prose.yaml", ["--data.init_args.path", str(odes_file),
                  "--data.init_args.batch_size", "8",
                  *(f"--model.init_args.model.init_args.{k}={v}" for k, v in PROSE_TINY.items())]),
        "pinn": ("pinn_convection_lpinn.yaml", ["--data.init_args.steps_per_epoch", "3"]),
    }  # fmt: skip
    for task, (config, extra) in runs.items():
        root = tmp_path / task
        argv = ["fit", "--config", str(configs / config), "--trainer.default_root_dir", str(root),
                "--trainer.max_epochs", "1", "--trainer.max_steps", "3",
                "--trainer.limit_val_batches", "1", "--trainer.accelerator", "cpu",
                "--trainer.enable_progress_bar", "false", *extra]  # fmt: skip
        if task == "pinn":
            argv += ["--trainer.val_check_interval", "3"]
        assert main(argv) == 0
        ckpt = next(root.rglob("last.ckpt"))  # every config writes last.ckpt
        loaded = opkit.load(ckpt)
        assert loaded.task == task
        capsys.readouterr()
        extra_eval = ["--split", "val"] if task != "pinn" else []
        assert main(["evaluate", str(ckpt), *extra_eval]) == 0
        assert "rel_l2" in capsys.readouterr().out
