"""`opkit.fit` / `evaluate` / `load` end to end on small generated data."""

import math

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

import opkit
from opkit.models import FNO, DeepONet, PODDeepONet
from opkit.trainers import FiniteLossGuard, OperatorDataModule, OperatorModule
from opkit.trainers._metrics import relative_l2
from opkit.trainers._suite import trivial_baseline


@pytest.fixture(scope="module")
def fno_burgers(burgers_file, tmp_path_factory):
    return opkit.fit(
        FNO,
        burgers_file,
        max_epochs=25,
        batch_size=16,
        lr=3e-3,
        n_modes=12,
        hidden_channels=24,
        n_layers=3,
        progress=False,
        log_dir=tmp_path_factory.mktemp("fno"),
    )


def test_fit_fno_learns_burgers_map(fno_burgers, burgers_file):
    baseline = trivial_baseline(burgers_file, in_frames=1)["rel_l2"]
    err = fno_burgers.metrics["test/rel_l2"]
    assert err < 0.2 * baseline, (err, baseline)
    assert set(fno_burgers.metrics) >= {"test/rel_l2", "val/best_rel_l2", "train/loss"}


def test_predict_save_load_roundtrip(fno_burgers, burgers_file, tmp_path):
    with opkit.open_dataset(burgers_file) as ds:
        u0 = torch.as_tensor(ds["u"].values[:4, 0])
    y = fno_burgers.predict(u0)
    assert y.shape == u0.shape
    path = fno_burgers.save(tmp_path / "fno.pt")
    again = opkit.load(path)
    assert torch.equal(again.predict(u0), y)
    assert again.metrics["test/rel_l2"] == pytest.approx(fno_burgers.metrics["test/rel_l2"])
    with pytest.raises(ValueError, match="holds a"):
        opkit.load(path, model=DeepONet.from_spec(fno_burgers.spec))


def test_evaluate_agrees_with_training_metrics(fno_burgers, burgers_file):
    m = opkit.evaluate(fno_burgers, burgers_file)
    # one METRICS table: the training module's test step and `evaluate` score alike
    for key in ("rel_l2", "nrmse", "max_error", "frmse_low", "frmse_mid", "frmse_high"):
        assert m[key] == pytest.approx(fno_burgers.metrics[f"test/{key}"], rel=1e-4), key
    assert m["n_samples"] == 20 and len(m["rel_l2_per_sample"]) == 20
    per_sample = torch.tensor(m["rel_l2_per_sample"])
    assert torch.isfinite(per_sample).all() and (per_sample > 0).all()
    assert m["rel_l2"] == pytest.approx(float(per_sample.mean()), rel=1e-6)
    assert per_sample.min() <= m["rel_l2_median"] <= per_sample.max()
    for key in ("nrmse", "frmse_low", "frmse_mid", "frmse_high", "samples_per_s", "speedup"):
        assert math.isfinite(m[key]), key
    assert m["solver_s_per_sample"] > 0
    # without a dataset: the model's own data (its training file's test split)
    assert opkit.evaluate(fno_burgers)["rel_l2"] == m["rel_l2"]
    with pytest.raises(TypeError, match="PINNModule"):
        opkit.evaluate(object(), burgers_file)


def test_fit_deeponet_learns(burgers_file, tmp_path):
    result = opkit.fit(  # batches of 32: 120 training items (the default 128 is one step)
        DeepONet,
        burgers_file,
        max_epochs=30,
        lr=2e-3,
        batch_size=32,
        progress=False,
        log_dir=tmp_path,
    )
    baseline = trivial_baseline(burgers_file, in_frames=1)["rel_l2"]
    assert result.metrics["test/rel_l2"] < 0.6 * baseline


def test_fit_pod_deeponet_gets_its_modes_from_the_training_split(burgers_file, tmp_path):
    result = opkit.fit(
        PODDeepONet, burgers_file, max_epochs=30, lr=2e-3, progress=False, log_dir=tmp_path
    )
    baseline = trivial_baseline(burgers_file, in_frames=1)["rel_l2"]
    assert result.metrics["test/rel_l2"] < 0.6 * baseline


def test_trajectory_fit_and_rollout_evaluation(trajectory_file, tmp_path):
    result = opkit.fit(
        FNO,
        trajectory_file,
        in_frames=2,
        max_epochs=15,
        lr=3e-3,
        n_modes=8,
        hidden_channels=16,
        n_layers=2,
        progress=False,
        log_dir=tmp_path,
    )
    m = opkit.evaluate(result, trajectory_file)
    base = trivial_baseline(trajectory_file, in_frames=2)
    assert len(m["rollout_error_per_step"]) == 10
    assert m["rollout_rel_l2"] < 0.5 * base["rollout_rel_l2"], (m["rollout_rel_l2"], base)
    assert 0 < m["valid_prediction_time"] <= 1.1 + 1e-9
    assert "val/rollout_rel_l2" in result.metrics


def test_resume_from_checkpoint_continues(burgers_file, tmp_path):
    def run(max_epochs, ckpt_path=None):
        dm = OperatorDataModule(str(burgers_file), batch_size=32)
        torch.manual_seed(0)
        model = FNO.from_spec(dm.spec, n_modes=8, hidden_channels=8, n_layers=2)
        module = OperatorModule(model, lr=1e-3)
        ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
        trainer = L.Trainer(
            max_epochs=max_epochs,
            callbacks=[ckpt],
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator="cpu",
        )
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
        return trainer, module

    first, m1 = run(2)
    steps = first.global_step
    shift = m1.in_norm.shift.clone()
    second, m2 = run(4, ckpt_path=str(tmp_path / "last.ckpt"))
    assert second.global_step == 2 * steps  # resumed at epoch 2, not restarted
    assert torch.equal(m2.in_norm.shift, shift)  # training statistics came from the checkpoint


def test_bad_inputs_fail_before_training(burgers_file, tmp_path):
    wrong = FNO(n_modes=8, in_channels=1, out_channels=2, hidden_channels=8)
    with pytest.raises(ValueError, match="targets are"):
        opkit.fit(wrong, burgers_file, max_epochs=1, progress=False)
    with pytest.raises(ValueError, match="built-in dataset"):
        opkit.fit(FNO, "burgerz", max_epochs=1)
    foreign = tmp_path / "foreign.h5"
    import h5py

    with h5py.File(foreign, "w") as f:
        f["a"] = [1, 2, 3]
    with pytest.raises(ValueError, match="not an opkit dataset"):
        opkit.fit(FNO, foreign, max_epochs=1)
    with pytest.raises(ValueError, match="max_time"):
        opkit.fit(FNO, burgers_file, max_time=-3)


class _Explodes(nn.Module):
    """Identity-like model whose output turns NaN after a few calls."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.w * x * (float("nan") if self.calls > 4 else 1.0)


def test_nonfinite_loss_stops_and_keeps_good_weights(burgers_file, tmp_path):
    dm = OperatorDataModule(str(burgers_file), batch_size=8)
    module = OperatorModule(_Explodes(), lr=1e-2, scheduler="none")
    guard = FiniteLossGuard()
    trainer = L.Trainer(
        max_epochs=3,
        callbacks=[guard],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=dm)
    assert guard.bad_step is not None and guard.bad_step <= 4
    assert trainer.global_step < 3 * 15  # stopped long before the budget
    assert torch.isfinite(module.model.w)


def test_unrolled_training_scores_one_step_on_validation(trajectory_file):
    dm = OperatorDataModule(str(trajectory_file), in_frames=2, unroll=3, batch_size=8)
    x, y = dm.dataset("train")[0]
    assert x.shape[0] == 2 and y.shape[0] == 3  # three frames of targets for training
    assert dm.dataset("val")[0][1].shape[0] == 1  # one-step targets for validation
    torch.manual_seed(0)
    net = FNO.from_spec(dm.spec, n_modes=8, hidden_channels=8, n_layers=2)
    module = OperatorModule(net, in_frames=2, unroll=3, lr=3e-3)
    trainer = L.Trainer(
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=dm)
    metrics = {}
    for per_loader in trainer.validate(module, datamodule=dm, verbose=False):
        metrics.update(per_loader)
    assert math.isfinite(metrics["val/rel_l2"]) and math.isfinite(metrics["val/rollout_rel_l2"])
    # the training loss is the loss of the whole 3-frame unroll: it equals the relative L2
    # of the rolled-out frames against all three targets, and moves with the last target
    xb, yb = (
        torch.stack([x, dm.dataset("train")[1][0]]),
        torch.stack([y, dm.dataset("train")[1][1]]),
    )
    module.eval()
    module.trainer = None  # call training_step directly (self.log is then a no-op)
    with torch.no_grad():
        pred = module.predict_frames(xb, 3)
        assert pred.shape == (2, 3, *x.shape[1:])
        loss = module.training_step((xb, yb), 0)
        expected = relative_l2(pred, yb).mean()
        assert float(loss) == pytest.approx(float(expected), rel=1e-6)
        moved = yb.clone()
        moved[:, 2] += 1.0
        assert float(module.training_step((xb, moved), 0)) > float(loss) + 1e-3


def test_fit_trains_unrolled_on_trajectories_only(trajectory_file, burgers_file, tmp_path):
    result = opkit.fit(
        FNO,
        trajectory_file,
        in_frames=2,
        unroll=2,
        max_epochs=1,
        n_modes=8,
        hidden_channels=8,
        n_layers=2,
        progress=False,
        log_dir=tmp_path,
    )
    assert result.module.hparams.unroll == 2 and math.isfinite(result.metrics["test/rel_l2"])
    with pytest.raises(ValueError, match="needs trajectory data"):
        opkit.fit(FNO, burgers_file, unroll=2, max_epochs=1, progress=False)
    with pytest.raises(ValueError, match="unroll"):
        opkit.fit(FNO, trajectory_file, unroll=0, max_epochs=1, progress=False)
