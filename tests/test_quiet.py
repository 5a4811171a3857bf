"""What a user sees: quiet runs, a summary at the end of `opkit fit`, configs that run
from a fresh clone (built-in data names generated into an empty cache on first use).

The runs are subprocesses of the console script's `main` (so that warnings and log lines
appear as a user sees them, not as pytest's capture filters them). The built-in data is
generated at a tiny size: `_BOOT` replaces the generator that `resolve_dataset` calls
by one that passes a small sample count and grid to the real `opkit.generate` (and lets
the cache trust that file although it is smaller than the recipe).
"""

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from opkit._quiet import quiet_lightning

ROOT = Path(__file__).resolve().parents[1]

_BOOT = """
import sys
from pathlib import Path
from opkit.pde_data import generate
from opkit.trainers import _datamodule

# the module that holds `resolve_dataset` (and the names it calls)
fit = sys.modules[_datamodule.resolve_dataset.__module__]

GRID = {"burgers": {"n_x": 256}, "ks": {"n_x": 128}, "ns": {"n": 16}}

def tiny(name, *, out, seed, size, **options):
    return generate(name, 24, out=out, seed=seed, progress=False, **options, **GRID[name])

fit.generate = tiny
if hasattr(fit, "recipe_matches"):  # the tiny file is not the recipe's size: trust it
    fit.recipe_matches = lambda path, *args, **kwargs: Path(path).is_file()
from opkit.cli import main
sys.exit(main(sys.argv[1:]))
"""

# Lines a user cannot act on: Lightning's advertisements and deprecations of calls that
# are not the user's.
NOISE = ("💡", "litlogger", "litmodels", "Tip:", "deprecated", "Deprecation", "FutureWarning")
NOISE += ("multiple `ModelCheckpoint`",)  # opkit's own test call must name its checkpoint
NOISE += ("site-packages", "smaller than the logging interval")  # a library's warning


def _run(args: list[str], tmp_path: Path, *, timeout: float = 600) -> str:
    env = {
        **os.environ,
        "OPKIT_CACHE": str(tmp_path / "cache"),  # empty: a fresh clone's first run
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(ROOT),
        "MPLBACKEND": "Agg",
    }
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [sys.executable, "-c", _BOOT, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _noise(out: str) -> list[str]:
    return [line for line in out.splitlines() if any(n in line for n in NOISE)]


def test_fit_from_a_config_is_quiet_and_ends_in_a_summary(tmp_path):
    out = _run(
        [
            "fit",
            "--config",
            str(ROOT / "configs" / "burgers_fno.yaml"),
            "--trainer.max_epochs",
            "2",
            "--trainer.max_time",
            "00:00:01:00",
            "--logger",
            "tensorboard",
        ],
        tmp_path,
    )
    assert _noise(out) == [], "\n".join(_noise(out))
    # built-in name -> generated into the empty cache on first use (the tiny stand-in)
    (cached,) = (tmp_path / "cache").glob("burgers-cpu-*.h5")
    assert cached.stat().st_size < 1_000_000
    # the progress bar names the run and shows the time left of the max_time budget
    assert "burgers-cpu-seed0 · FNO · epoch 1" in out and "left=" in out
    summary = out[out.index("opkit fit: done") :]
    for key in ("checkpoint", "best.ckpt", "metrics.csv", "tensorboard --logdir", "test/rel_l2"):
        assert key in summary, summary
    version = tmp_path / "lightning_logs" / "version_0"
    assert (version / "metrics.csv").is_file()
    assert list((version / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow  # another subprocess run (~30 s of CPU); the Burgers one runs by default
def test_ks_config_runs_from_a_fresh_clone(tmp_path):
    out = _run(
        ["fit", "--config", str(ROOT / "configs/ks_fno.yaml"), "--trainer.fast_dev_run", "true"],
        tmp_path,
    )
    assert _noise(out) == [], "\n".join(_noise(out))
    assert list((tmp_path / "cache").glob("ks-cpu-*.h5"))
    assert "opkit fit: done" in out


@pytest.mark.slow  # the built-in NS recipe integrates to t = 20 with dt = 1e-3: ~2 min
def test_ns_config_runs_from_a_fresh_clone(tmp_path):
    out = _run(
        ["fit", "--config", str(ROOT / "configs/ns_fno.yaml"), "--trainer.fast_dev_run", "true"]
        + ["--model.init_args.model.init_args.n_modes", "6"],
        tmp_path,
    )
    assert _noise(out) == [], "\n".join(_noise(out))
    assert list((tmp_path / "cache").glob("ns-cpu-*.h5"))


def test_a_missing_data_file_says_how_to_make_it(tmp_path):
    from opkit.trainers import OperatorDataModule

    with pytest.raises(ValueError, match=r"opkit generate ks --out .*ks_small\.h5"):
        OperatorDataModule(str(tmp_path / "ks_small.h5"))
    with pytest.raises(ValueError, match="`size` must be one of"):
        OperatorDataModule("burgers", size="huge")


def test_quiet_block_filters_exact_messages_and_restores_everything():
    tip_logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Keep()
    tip_logger.addHandler(handler)
    filters_before = list(warnings.filters)
    try:
        with quiet_lightning():
            tip_logger.warning("💡 Tip: For seamless cloud logging ... litlogger")
            tip_logger.warning("a message that matters")
            with warnings.catch_warnings(record=True) as seen:
                leaf = "`isinstance(treespec, LeafSpec)` is deprecated, use ..."
                warnings.warn(leaf, FutureWarning, stacklevel=1)
                warnings.warn("another FutureWarning", FutureWarning, stacklevel=1)
        tip_logger.warning("💡 Tip: outside the block, Lightning's own behaviour")
    finally:
        tip_logger.removeHandler(handler)
    assert records == [
        "a message that matters",
        "💡 Tip: outside the block, Lightning's own behaviour",
    ]
    assert [str(w.message) for w in seen] == ["another FutureWarning"]
    assert warnings.filters == filters_before
    assert tip_logger.filters == []


def test_importing_opkit_changes_no_warning_filter():
    code = (
        "import warnings, lightning.pytorch; before = list(warnings.filters); "
        "import opkit, opkit.trainers, opkit.models; "
        "assert warnings.filters == before, 'opkit changed warning filters on import'"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow  # generates 40 Burgers samples and trains two models for 2 epochs each
def test_demo_is_quiet(tmp_path):
    args = ["demo", "--n-samples", "40", "--deeponet-epochs", "2", "--fno-epochs", "2"]
    args += ["--out", str(tmp_path / "d")]
    out = _run(args, tmp_path)
    assert _noise(out) == [], "\n".join(_noise(out))
    assert (tmp_path / "d" / "burgers_demo.md").is_file()
