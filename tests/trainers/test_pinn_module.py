"""PINNModule / CollocationDataModule: configs, the ε and window state machine, resume."""

import math
from pathlib import Path

import lightning as L
import pytest
import torch

from opkit._records import RecordError
from opkit.models.pinns import (
    MLP,
    AllenCahn,
    CausalLoss,
    CausalSchedule,
    Convection,
    KuramotoSivashinsky,
    LagrangianLoss,
    LagrangianPINN,
    PeriodicEmbedding,
    PlainLoss,
    evaluate_field,
)
from opkit.trainers import CollocationDataModule, PINNModule

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("pinn_*.yaml"))


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny networks on a shared CPU: one thread avoids OpenMP oversubscription stalls.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _net(seed=0, period=2 * math.pi):
    emb = PeriodicEmbedding(periods=(None, period), n_harmonics=2)
    return MLP(width=8, depth=2, embedding=emb, generator=torch.Generator().manual_seed(seed))


def _trainer(tmp_path, **kwargs):
    opts = dict(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        num_sanity_val_steps=0,
    )
    opts.update(kwargs)
    return L.Trainer(**opts)


def _data(**kwargs):
    opts = dict(n_t=4, n_x=8, n_ic=16, steps_per_epoch=50, seed=0)
    opts.update(kwargs)
    return CollocationDataModule(**opts)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_pinn_config_instantiates_with_lightning_cli(path):
    from lightning.pytorch.cli import LightningCLI

    cli = LightningCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=["--config", str(path)],
        run=False,
    )
    assert isinstance(cli.model, PINNModule)
    assert isinstance(cli.datamodule, CollocationDataModule)
    batch = next(iter(cli.datamodule.train_dataloader()))
    n_t, n_x = cli.datamodule.hparams.n_t, cli.datamodule.hparams.n_x
    assert batch["t"].shape == (n_t,) and batch["x"].shape == (n_t, n_x)
    # One loss evaluation (on a slice of the batch, to stay cheap) works and is finite.
    small = {"t": batch["t"][:2], "x": batch["x"][:2, :8], "x_ic": batch["x_ic"][:16]}
    loss, _, _ = cli.model.loss(small)
    assert torch.isfinite(loss)
    # The configs still describe the published problems and losses.
    published = {
        "pinn_allen_cahn": (AllenCahn(), CausalLoss(ic_weight=100.0)),
        "pinn_ks": (KuramotoSivashinsky(), CausalLoss(ic_weight=1000.0)),
        "pinn_convection_lpinn.yaml": (Convection(beta=30.0), LagrangianLoss()),
        "pinn_convection_lpinn_paper": (Convection(beta=50.0), LagrangianLoss()),
    }
    key = next(k for k in published if path.name.startswith(k))
    assert (cli.model.problem, cli.model.loss_fn) == published[key]


def test_causal_schedule_advances_and_training_stops(tmp_path):
    # Tiny ε: every weight is ~1 > δ, so each step moves to the next ε; after the last the
    # window (and the run) ends.
    module = PINNModule(
        _net(), Convection(beta=1.0), loss=CausalLoss(CausalSchedule(epsilons=(1e-9, 1e-8, 1e-7)))
    )
    trainer = _trainer(tmp_path, max_steps=100, limit_val_batches=0)
    trainer.fit(module, _data())
    assert bool(module.finished) and int(module.eps_index) == 2
    assert trainer.global_step == 3


def test_time_marching_hands_the_prediction_to_the_next_window(tmp_path):
    problem = Convection(beta=1.0)
    module = PINNModule(_net(), problem, n_windows=2, steps_per_window=3, lr=1e-2)
    trainer = _trainer(tmp_path, max_steps=100, limit_val_batches=0)
    trainer.fit(module, _data())
    assert int(module.window) == 1 and bool(module.finished) and trainer.global_step == 6
    first, second = module.networks
    # The second window started from a copy of the first and was then trained on.
    assert any(not torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters()))
    # Its initial condition is the first network at the end of the first window.
    x_ic = problem.x_min + problem.length * torch.arange(16) / 16
    target = module._ic_target(x_ic)
    with torch.no_grad():
        expected = evaluate_field(first, torch.full_like(x_ic, 0.5), x_ic)
    torch.testing.assert_close(target, expected)
    # The solution is stitched: t in (0.5, 1] is read from the second window at t - 0.5.
    t = torch.tensor([0.25, 0.75], dtype=torch.float64)
    x = torch.tensor([1.0], dtype=torch.float64)
    grid = module.predict_grid(t, x)
    with torch.no_grad():
        a = evaluate_field(first, torch.tensor([0.25]), torch.tensor([1.0]))
        b = evaluate_field(second, torch.tensor([0.25]), torch.tensor([1.0]))
    torch.testing.assert_close(grid[:, 0].float(), torch.cat([a, b]))


def test_end_window_lets_a_callback_share_a_budget_between_windows(tmp_path):
    class EveryThreeSteps(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if int(module.window_step) == 3:
                module.end_window()

    module = PINNModule(_net(), Convection(beta=1.0), n_windows=3, steps_per_window=10**6)
    with pytest.raises(RuntimeError, match="training step"):
        module.end_window()
    trainer = _trainer(tmp_path, max_steps=100, limit_val_batches=0, callbacks=[EveryThreeSteps()])
    trainer.fit(module, _data())
    assert bool(module.finished) and int(module.window) == 2 and trainer.global_step == 9


def test_validation_logs_relative_l2_on_the_reference_grid(tmp_path):
    module = PINNModule(_net(), Convection(beta=2.0), eval_n_t=5, eval_n_x=32)
    trainer = _trainer(tmp_path, max_steps=4, val_check_interval=4, check_val_every_n_epoch=None)
    trainer.fit(module, _data())
    logged = float(trainer.callback_metrics["val/rel_l2"])
    t, x, u_ref = module.reference()
    assert u_ref.shape == (5, 32)
    # The logged score is ||u - u_ref|| / ||u_ref|| with the exact convected sine.
    pred = module.predict_grid(t, x)
    exact = torch.sin(x[None, :] - 2.0 * t[:, None])
    expected = float((pred - exact).norm() / exact.norm())
    assert abs(logged - expected) < 1e-5 and abs(module.relative_l2() - expected) < 1e-12


def test_opkit_evaluate_scores_a_pinn_on_its_reference_like_an_operator():
    import opkit

    module = PINNModule(_net(), Convection(beta=2.0), eval_n_t=5, eval_n_x=32)
    metrics = opkit.evaluate(module)
    t, x, u_ref = module.reference()
    pred = module.predict_grid(t, x)
    assert metrics["rel_l2"] == pytest.approx(module.relative_l2(), rel=1e-12)
    per_time = [float((pred[i] - u_ref[i]).norm() / u_ref[i].norm()) for i in range(5)]
    assert metrics["error_per_time"] == pytest.approx(per_time, rel=1e-10)
    assert metrics["max_error"] == pytest.approx(float((pred - u_ref).abs().max()))
    assert metrics["t"] == pytest.approx(t.tolist()) and metrics["n_points"] == 5 * 32
    with pytest.raises(ValueError, match="without a dataset"):
        opkit.evaluate(module, "burgers")


def test_evaluate_solution_on_an_exact_and_a_late_failing_solution():
    from opkit.trainers import evaluate_solution

    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    x = torch.linspace(0, 2 * math.pi, 64, dtype=torch.float64)[:-1]
    exact = torch.sin(x[None, :] - t[:, None])

    class Solution:
        def __init__(self, fail_after):
            self.fail_after = fail_after

        def reference(self):
            return t, x, exact

        def predict_grid(self, t_, x_):
            # exact up to fail_after, then zero: the error jumps to 1 at that time
            return torch.where(t_[:, None] <= self.fail_after, exact, torch.zeros_like(exact))

    good = evaluate_solution(Solution(2.0))
    assert good["rel_l2"] == 0.0 and good["valid_prediction_time"] == pytest.approx(1.0)
    bad = evaluate_solution(Solution(0.45))
    # wrong from t = 0.5 on (6 of 11 equal-norm frames): rel L2 = sqrt(6/11)
    assert bad["rel_l2"] == pytest.approx(math.sqrt(6 / 11), rel=1e-12)
    assert bad["error_per_time"][:5] == [0.0] * 5 and bad["error_per_time"][5] == 1.0
    assert bad["valid_prediction_time"] == pytest.approx(0.5)


def test_lbfgs_refinement_lowers_the_loss(tmp_path):
    module = PINNModule(_net(), Convection(beta=1.0), steps_per_window=2, lbfgs_steps=20)
    batch = next(iter(_data(sampler="grid").train_dataloader()))
    before = float(module.loss(batch, weighted=False)[0].detach())
    trainer = _trainer(tmp_path, max_steps=100, limit_val_batches=0)
    trainer.fit(module, _data(sampler="grid"))
    after = float(module.loss(batch, weighted=False)[0].detach())
    assert bool(module.finished) and after < 0.5 * before


def test_checkpoint_resumes_the_schedule_and_loads_weights_only(tmp_path):
    loss = CausalLoss(CausalSchedule(epsilons=(1e-9, 1e-8, 1e-7, 1.0)), ic_weight=50.0)
    module = PINNModule(_net(), AllenCahn(), loss=loss)
    trainer = _trainer(tmp_path, max_steps=2, limit_val_batches=0)
    trainer.fit(module, _data())
    assert int(module.eps_index) == 2
    path = tmp_path / "pinn.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    assert int(ckpt["state_dict"]["eps_index"]) == 2
    # The problem (holding its PDE and initial condition) and the loss are records.
    problem = ckpt["hyper_parameters"]["problem"]
    assert problem["class_path"] == "opkit.models.pinns.PINNProblem"
    assert problem["init_args"]["pde"]["class_path"] == "opkit.pde_data.AllenCahn1D"
    assert problem["init_args"]["pde"]["init_args"]["eps"] == 1e-4
    assert ckpt["hyper_parameters"]["loss"]["class_path"] == "opkit.models.pinns.CausalLoss"
    # Only the network has to be given back: the rest is rebuilt from the records.
    fresh = PINNModule.load_from_checkpoint(path, model=_net(seed=1), weights_only=True)
    assert fresh.problem == AllenCahn() and fresh.loss_fn == loss
    assert int(fresh.eps_index) == 2
    for a, b in zip(module.parameters(), fresh.parameters()):
        assert torch.equal(a, b)
    t, x, u = fresh.reference()
    torch.testing.assert_close(u, module.reference()[2], rtol=0, atol=0)


def test_default_loss_is_the_plain_pinn_with_the_papers_ic_weight():
    assert PINNModule(_net(), Convection()).loss_fn == PlainLoss(ic_weight=100.0)
    with pytest.raises(TypeError):
        PINNModule(_net(), Convection(), causal=CausalSchedule())  # no legacy keywords


def test_lagrangian_formulation_trains(tmp_path):
    branch = lambda s: _net(seed=s)  # noqa: E731
    net = LagrangianPINN(branch(0), branch(1), displacement_scale=5.0)
    module = PINNModule(net, Convection(beta=5.0), loss=LagrangianLoss(), lr=3e-3)
    batch = next(iter(_data(sampler="grid").train_dataloader()))
    before = float(module.loss(batch)[0].detach())
    _trainer(tmp_path, max_steps=60, limit_val_batches=0).fit(module, _data(sampler="grid"))
    assert float(module.loss(batch)[0].detach()) < 0.5 * before


def test_bad_settings_are_rejected_before_training():
    with pytest.raises(TypeError, match="problem"):
        PINNModule(_net(), "allen_cahn")
    with pytest.raises(TypeError, match="LagrangianPINN"):
        PINNModule(_net(), Convection(), loss=LagrangianLoss())
    with pytest.raises(ValueError, match="Lagrangian"):
        PINNModule(LagrangianPINN(_net(0), _net(1)), AllenCahn(), loss=LagrangianLoss())
    with pytest.raises(ValueError, match="LagrangianLoss"):
        PINNModule(LagrangianPINN(_net(0), _net(1)), Convection(), loss=CausalLoss())
    with pytest.raises(ValueError, match="one window"):
        PINNModule(
            LagrangianPINN(_net(0), _net(1)),
            Convection(),
            loss=LagrangianLoss(),
            n_windows=2,
            steps_per_window=5,
        )
    with pytest.raises(TypeError, match="loss"):
        PINNModule(_net(), Convection(), loss="causal")
    with pytest.raises(RecordError, match="outside"):
        PINNModule(_net(), {"class_path": "os.system", "init_args": {}})
    with pytest.raises(ValueError, match="steps_per_window"):
        PINNModule(_net(), Convection(), n_windows=3)
    with pytest.raises(ValueError, match="lr"):
        PINNModule(_net(), Convection(), lr=0.0)
    with pytest.raises(ValueError, match="sampler"):
        CollocationDataModule(sampler="uniform")
    with pytest.raises(ValueError, match="n_t"):
        CollocationDataModule(n_t=1)
