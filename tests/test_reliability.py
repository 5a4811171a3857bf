"""Nothing lost, nothing silent (issue 10): concurrent writers, atomic saves, checksums,
stored overflow, poisoned splits.

Each test reproduces a failure of opkit before the fix (data lost, falsified or silently
wrong) and checks the behaviour that replaced it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import warnings
from pathlib import Path

import h5py
import lightning as L
import numpy as np
import pytest
import torch

import opkit
from opkit.pde_data import DatasetFileError, OperatorPairs

TINY = {"n_x": 64, "progress": False}  # burgers on 64 points, stored on 32: milliseconds


def _tiny(out: Path, n: int = 4, **kw) -> Path:
    return opkit.generate("burgers", n, out=out, **{**TINY, **kw})


# ------------------------------------------------------------- 1. two writers, one output
def _writer(folder: str, trials: int, barrier, results, wait: bool) -> None:
    torch.set_num_threads(1)
    outcome = []
    for i in range(trials):
        barrier.wait()  # both processes start each trial at the same moment
        try:
            _tiny(Path(folder) / f"b{i}.h5", wait=wait)
            outcome.append("ok")
        except Exception as err:  # classified by the parent
            outcome.append(f"{type(err).__name__}: {err}")
    results.put(outcome)


def _race(folder: Path, trials: int, *, wait: bool) -> list[list[str]]:
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(str(folder), trials, barrier, results, wait))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return outcomes


def test_two_writers_never_corrupt_an_output(tmp_path):
    trials = 12
    reference = _tiny(tmp_path / "reference.h5")
    race = tmp_path / "race"
    race.mkdir()
    a, b = _race(race, trials, wait=False)
    with h5py.File(reference) as f:
        ref_u, ref_sample = f["u"][:], f["sample"][:]
    for i in range(trials):
        got = sorted([a[i].split(":")[0], b[i].split(":")[0]])
        # One writer wins; the other is refused at once (the lock is held) or, when the
        # winner already finished, finds the finished file.
        assert "ok" in got, (a[i], b[i])
        loser = got[0] if got[1] == "ok" else got[1]
        assert loser in ("ok", "OutputLockedError", "DatasetExistsError"), (a[i], b[i])
        if loser == "OutputLockedError":
            message = a[i] if a[i] != "ok" else b[i]
            assert "another opkit process (pid " in message and f"b{i}.h5" in message
        out = race / f"b{i}.h5"
        with h5py.File(out) as f:
            assert int(f.attrs["complete"]) == 1
            np.testing.assert_array_equal(f["sample"][:], ref_sample)
            np.testing.assert_array_equal(f["u"][:], ref_u)
    assert sorted(p.name for p in race.iterdir()) == sorted(f"b{i}.h5" for i in range(trials))


def test_a_waiting_writer_finds_the_finished_file(tmp_path):
    a, b = _race(tmp_path, 3, wait=True)
    for x, y in zip(a, b):
        assert sorted([x.split(":")[0], y.split(":")[0]]) == ["DatasetExistsError", "ok"]


def test_the_lock_names_its_holder_and_goes_with_it(tmp_path):
    from opkit._io import OutputLockedError, lock_path, output_lock

    out = tmp_path / "b.h5"
    with output_lock(out):
        assert lock_path(out).read_text() == str(os.getpid())
        with output_lock(out):  # the holder may take it again (no deadlock)
            pass
        ctx = mp.get_context("fork")
        q = ctx.Queue()

        def other():
            try:
                _tiny(out)
                q.put("ok")
            except OutputLockedError as err:
                q.put(str(err))

        p = ctx.Process(target=other)
        p.start()
        p.join(60)
        assert f"another opkit process (pid {os.getpid()}) is writing" in q.get(timeout=5)
        assert not out.exists() and not Path(f"{out}.partial").exists()
    assert not lock_path(out).exists()
    # A killed holder leaves a lock file whose lock the kernel has released.
    ctx = mp.get_context("fork")
    p = ctx.Process(target=_hold_and_die, args=(str(out),))
    p.start()
    p.join(60)
    assert lock_path(out).exists()
    _tiny(out)  # not blocked by the dead holder
    assert out.is_file() and not lock_path(out).exists()


def _hold_and_die(out: str) -> None:
    from opkit._io import output_lock

    with output_lock(out):
        os._exit(0)  # like kill -9: no cleanup


def test_failed_creation_leaves_nothing_behind(tmp_path, monkeypatch):
    from opkit.pde_data import _generate

    def broken(path, **kw):
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_generate, "create_file", broken)
    with pytest.raises(OSError, match="No space left"):
        _tiny(tmp_path / "b.h5")
    assert list(tmp_path.iterdir()) == []


def test_out_that_is_a_directory_is_refused_before_work(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        _tiny(tmp_path, overwrite=True)


# ---------------------------------------------------------- 2. in-memory datasets
def test_fit_trains_on_the_dataset_it_is_given(tmp_path):
    from opkit.trainers import resolve_dataset

    path = _tiny(tmp_path / "b.h5", n=12)
    with opkit.open_dataset(path) as ds:
        assert resolve_dataset(ds) == path  # exactly its file: used as is
        sub = ds.isel(sample=slice(0, 6))
        got = resolve_dataset(sub)
        assert got != path
        with opkit.open_dataset(got) as back:
            assert back.sizes["sample"] == 6
        changed = ds.copy()
        changed["u"] = ds["u"] * 2
        got = resolve_dataset(changed)
        assert got != path
        with opkit.open_dataset(got) as back:
            np.testing.assert_array_equal(back["u"].values, 2 * ds["u"].values)


# ------------------------------------------------------------- 3. overflow stored as valid
def test_overflow_in_float32_is_never_status_ok(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        path = opkit.generate("burgers", 4, out=tmp_path / "b.h5", n_x=256, dt=0.5, progress=False)
    with h5py.File(path) as f:
        status, u = f["status"][:], f["u"][:]
    finite = np.isfinite(u.reshape(len(u), -1)).all(1)
    assert not finite.all()  # the case blows up beyond float32 in float64
    np.testing.assert_array_equal(status == 0, finite)


def test_torch_datasets_refuse_nonfinite_items(tmp_path):
    path = _tiny(tmp_path / "b.h5")
    with h5py.File(path, "r+") as f:
        f["u"][2, -1, 5] = np.inf
    ds = OperatorPairs(path)
    ds[1]
    with pytest.raises(DatasetFileError, match=r"sample 2 of .*b\.h5.* NaN/Inf"):
        ds[2]


# --------------------------------------------------------- 4. a failed save keeps the old
def test_failed_save_keeps_the_previous_model(tmp_path, monkeypatch):
    from opkit._io import atomic_write, save_torch

    target = tmp_path / "model.pt"
    save_torch({"w": torch.ones(3)}, target)
    before = target.read_bytes()

    class DiskFull(OSError):
        pass

    def full(obj, f, *a, **k):
        f.write(b"partial bytes")
        raise DiskFull(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(DiskFull):
        save_torch({"w": torch.zeros(3)}, target)
    assert target.read_bytes() == before
    # Lightning's checkpoints (last.ckpt) go through the same writer.
    from opkit.trainers._callbacks import atomic_checkpoints

    trainer = atomic_checkpoints(L.Trainer(accelerator="cpu", logger=False))
    with pytest.raises(DiskFull):
        trainer.strategy.checkpoint_io.save_checkpoint({"epoch": 2}, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "report.md", "w") as f:
            f.write("half a report")
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


# ----------------------------------------------------------------------- 6. bit rot
def _damage(path: Path, sample: int) -> None:
    with h5py.File(path) as f:
        offset = f["u"].id.get_chunk_info(sample).byte_offset
    with open(path, "r+b") as fh:
        fh.seek(offset + 16)
        fh.write(b"\xff" * 16)


def test_damaged_sample_raises_naming_file_and_sample(tmp_path):
    path = _tiny(tmp_path / "b.h5")
    with h5py.File(path) as f:
        assert f["u"].fletcher32
    _damage(path, 3)
    ds = OperatorPairs(path)
    ds[2]
    with pytest.raises(DatasetFileError, match=r"cannot read sample 3 of .*b\.h5.*damaged"):
        ds[3]
    with pytest.raises(DatasetFileError, match=r"sample 3 of"):
        ds.nonfinite_samples()


def test_files_without_checksums_still_open(tmp_path, monkeypatch):
    from opkit.pde_data import _store

    monkeypatch.setattr(_store, "CHECKSUMS", False)
    old = _tiny(tmp_path / "old.h5")
    monkeypatch.undo()
    new = _tiny(tmp_path / "new.h5")
    with h5py.File(old) as f:
        assert not f["u"].fletcher32
    with opkit.open_dataset(old) as a, opkit.open_dataset(new) as b:
        np.testing.assert_array_equal(a["u"].values, b["u"].values)
    torch.testing.assert_close(OperatorPairs(old)[1], OperatorPairs(new)[1])


# ------------------------------------------------------------------ 7. poisoned splits
@pytest.mark.parametrize("split_code", [0, 1, 2])
def test_datamodule_names_nonfinite_samples_of_a_split(tmp_path, split_code):
    from opkit.trainers import OperatorDataModule

    path = _tiny(tmp_path / "b.h5", n=20)
    with h5py.File(path, "r+") as f:
        rows = np.flatnonzero(f["split"][:] == split_code)[:2]
        for r in rows:
            f["u"][r, 0, 3] = np.nan
        bad = f["sample"][:][rows].tolist()
    name = ["train", "val", "test"][split_code]
    dm = OperatorDataModule(str(path), batch_size=4)
    with pytest.raises(ValueError, match=rf"{name} split .* sample\(s\) {re.escape(str(bad))}"):
        dm.statistics()
        dm.setup("fit")
        dm.val_dataloader()
        dm.test_dataloader()


# ------------------------------------------------------------ 5. exact training resume
class _Crash(L.Callback):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("killed")


def _train(path: Path, log: Path, *, crash_at=None, resume=None):
    from opkit.models import FNO
    from opkit.trainers import OperatorDataModule, OperatorModule
    from opkit.trainers._callbacks import last_checkpoint

    torch.manual_seed(0)
    dm = OperatorDataModule(str(path), batch_size=4, seed=3, shift_augment=True)
    module = OperatorModule(FNO.from_spec(dm.spec, n_modes=4, hidden_channels=4, n_layers=1))
    module.prepare(dm)
    callbacks = [last_checkpoint(log)] + ([_Crash(crash_at)] if crash_at is not None else [])
    trainer = L.Trainer(
        max_epochs=3,
        accelerator="cpu",
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    torch.manual_seed(1234)  # the global RNG state differs between the runs below
    trainer.fit(module, datamodule=dm, ckpt_path=resume)
    return module


def test_resume_from_an_epoch_boundary_is_bitwise(tmp_path):
    path = _tiny(tmp_path / "b.h5", n=24)
    whole = _train(path, tmp_path / "whole")
    with pytest.raises(RuntimeError, match="killed"):
        _train(path, tmp_path / "killed", crash_at=2)
    last = tmp_path / "killed" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1  # written after epoch 1
    torch.manual_seed(99)
    resumed = _train(path, tmp_path / "resumed", resume=last)
    a, b = whole.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ---------------------------------------------------------- 10. class paths from files
def test_cli_never_imports_a_class_named_by_a_checkpoint(tmp_path, capsys):
    import sys

    from opkit.cli import main

    bad = tmp_path / "evil.ckpt"
    hparams = {
        "_class_path": "opkit.trainers.OperatorModule",
        "model": {"class_path": "opkit_test_never_imported.Payload", "init_args": {}},
    }
    torch.save({"state_dict": {}, "hyper_parameters": hparams}, bad)
    config = Path(__file__).parents[1] / "configs" / "burgers_fno.yaml"
    code = main(["fit", "--config", str(config), "--ckpt_path", str(bad)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("opkit: error:") and "opkit_test_never_imported" in err[-1]
    assert "opkit_test_never_imported" not in sys.modules


# ------------------------------------------------------------- 9. checks before work
def test_generate_refuses_a_file_larger_than_the_free_space(tmp_path, monkeypatch):
    import collections

    from opkit.pde_data import _generate

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(_generate.shutil, "disk_usage", lambda p: usage(10**6, 0, 10**5))
    with pytest.raises(ValueError, match=r"needs about .* MiB .* --no-disk-check"):
        _tiny(tmp_path / "b.h5")
    assert list(tmp_path.iterdir()) == []
    assert _tiny(tmp_path / "b.h5", check_disk=False).is_file()


def test_cached_files_are_checked_against_their_recipe(tmp_path):
    from opkit.pde_data import recipe_matches

    path = _tiny(tmp_path / "b.h5", seed=3)
    assert recipe_matches(path, "burgers", 4, seed=3, n_x=64)
    assert not recipe_matches(path, "burgers", 4, seed=4, n_x=64)
    assert not recipe_matches(path, "burgers", 4, seed=3, n_x=128)
    assert not recipe_matches(path, "burgers", 5, seed=3, n_x=64)
    assert not recipe_matches(tmp_path / "missing.h5", "burgers", 4, seed=3, n_x=64)


def test_frames_on_pairs_and_evaluation_on_another_pde(tmp_path):
    from opkit.models import FNO

    path = _tiny(tmp_path / "b.h5", n=12)
    with pytest.raises(ValueError, match=r"`in_frames` \(=5\).* operator pairs"):
        opkit.fit(FNO, path, in_frames=5, max_epochs=1, progress=False)
    trained = opkit.fit(
        FNO,
        path,
        max_epochs=1,
        progress=False,
        log_dir=tmp_path / "fit",
        n_modes=4,
        hidden_channels=4,
        n_layers=1,
    )
    other = _tiny(tmp_path / "other.h5", n=12, nu=0.05)
    with pytest.raises(ValueError, match=r"trained on burgers .* holds burgers .* transfer"):
        opkit.evaluate(trained, other, solver_samples=0)  # not its test error: refused
    with pytest.warns(UserWarning, match=r"trained on burgers .* holds burgers"):
        opkit.evaluate(trained, other, solver_samples=0, transfer=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        opkit.evaluate(trained, path, solver_samples=0)


def test_a_checkpoint_with_an_absurd_size_is_refused_before_allocation(tmp_path):
    """Item 10: a record whose sizes do not match the stored weights (here a width of 10**6
    written into the file) is refused with a clear error, without building the network."""
    from opkit.models import FNO
    from opkit.pde_data import DataSpec
    from opkit.trainers import OperatorModule, TrainedOperator
    from opkit.trainers._build import build_from_spec

    spec = DataSpec(spatial_shape=(32,), lengths=(1.0,))
    net, rec = build_from_spec(FNO, spec, hidden_channels=8, n_modes=4, n_layers=1)
    module = OperatorModule(net, spec=spec, model_record=rec)
    path = TrainedOperator(module).save(tmp_path / "fno.pt")
    bundle = torch.load(path, weights_only=True)
    bundle["hyper_parameters"]["model_record"]["init_args"]["hidden_channels"] = 10**6
    torch.save(bundle, tmp_path / "absurd.pt")
    with pytest.raises(ValueError, match="does not describe a valid model"):
        opkit.load(tmp_path / "absurd.pt")
    again = opkit.load(path)  # the honest file still loads
    assert sum(p.numel() for p in again.model.parameters()) == sum(
        p.numel() for p in net.parameters()
    )
