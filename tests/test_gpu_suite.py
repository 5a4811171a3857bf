"""benchmarks/gpu_suite.py --dry-run: every part of the GPU run at tiny size on the CPU, so
that the prepared script cannot rot between the days a GPU is lent."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_suite.py"

# The dry run trains every part (about 30 s): `make slow` runs it, keeping CI under 10 min.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("gpu_suite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("gpu_suite")
    return module.main(["--dry-run", "--out", str(out)]), out


def test_every_part_runs_and_the_report_is_written(dry_run):
    report, out = dry_run
    assert report["dry_run"] is True
    failed = {k: v.get("error") for k, v in report["parts"].items() if v["status"] != "ok"}
    assert not failed, failed
    assert list(report["parts"]) == ["solvers", "ddp", "ks", "pinn"]
    assert json.loads((out / "gpu_suite.json").read_text()) == report
    markdown = (out / "gpu_suite.md").read_text()
    for part in report["parts"]:
        assert f"## {part}: ok" in markdown


def test_solver_part_covers_every_exported_solver_and_compares_in_float64(dry_run):
    result = dry_run[0]["parts"]["solvers"]["result"]
    assert result["uncovered"] == []  # a new solver must be added to the GPU check
    assert len(result["rows"]) >= 5
    for row in result["rows"]:
        # on the CPU both runs are the same computation: bit-identical
        assert row["ok"] and row["rel_max_diff"] <= 1e-10, row


def test_ks_part_trains_dymixop_both_recipes_and_a_matched_fno(dry_run):
    result = dry_run[0]["parts"]["ks"]["result"]
    rows = {r["model"]: r for r in result["rows"]}
    assert set(rows) == {"dymixop", "dymixop-paper", "fno"}
    assert abs(rows["fno"]["params"] - rows["dymixop"]["params"]) < 0.05 * rows["dymixop"]["params"]
    for row in rows.values():
        assert row["epochs"] == 1
        assert math.isfinite(row["rel_l2"]) and math.isfinite(row["rollout_rel_l2"]), row


def test_pinn_and_ddp_parts_read_back_their_errors(dry_run):
    parts = dry_run[0]["parts"]
    rows = {r["loss"]: r for r in parts["pinn"]["result"]["rows"]}
    assert set(rows) == {"causal", "plain"}
    for row in rows.values():
        assert row["rel_l2"] is not None and math.isfinite(row["rel_l2"]), row
        assert row["steps"] == 3, row  # the dry run's budget, read from the checkpoint
        # the run's last.ckpt, restored by opkit.load and scored by opkit.evaluate, gives
        # the error logged at the end of training (float32 there)
        assert math.isclose(row["rel_l2_loaded"], row["rel_l2"], rel_tol=1e-5), row
    assert rows["causal"]["rel_l2"] != rows["plain"]["rel_l2"]  # the loss was swapped
    ddp = parts["ddp"]["result"]
    assert ddp["ok"] and ddp["checkpoints"], ddp  # the DDP fit finished and saved
