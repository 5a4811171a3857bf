"""`opkit report`: benchmark JSON files -> one table (Markdown, HTML) and one plot."""

import json

import pytest

from opkit.cli import main
from opkit.trainers._report import collect_runs, write_report


def _burgers(tmp_path):
    rows = [
        {"model": "deeponet", "params": 230_000, "train_s": 180.0, "rel_l2": 0.043,
         "samples_per_s": 41_000.0, "solver_s_per_sample": 0.02, "speedup": 820.0,
         "rel_l2_per_sample": [0.04, 0.05]},
        {"model": "fno", "params": 290_000, "train_s": 180.0, "rel_l2": 0.0065,
         "samples_per_s": 2_600.0, "solver_s_per_sample": 0.02, "speedup": 52.0},
        {"model": "trivial baseline", "params": 0, "rel_l2": 0.71},
    ]  # fmt: skip
    path = tmp_path / "burgers.json"
    path.write_text(json.dumps({"suite": {"name": "burgers"}, "budget_s": 180.0, "rows": rows}))
    return path


def _ks(tmp_path):
    rows = [
        {"model": "fno", "params": 300_000, "rel_l2": 0.004, "rollout_rel_l2": 0.31,
         "samples_per_s": 3000.0, "rollout_s_per_sample": 0.004, "solver_s_per_sample": 0.1,
         "valid_prediction_time": 6.5, "speedup": 25.0},
        {"model": "dymixop", "params": 250_000, "rel_l2": 0.002, "rollout_rel_l2": 0.2,
         "samples_per_s": 1500.0, "rollout_s_per_sample": 0.008, "solver_s_per_sample": 0.1,
         "valid_prediction_time": 8.0, "speedup": 12.5},
        {"model": "trivial baseline", "params": 0, "rel_l2": 0.1, "rollout_rel_l2": 1.2},
    ]  # fmt: skip
    path = tmp_path / "ks.json"
    path.write_text(json.dumps({"suite": {"name": "ks"}, "budget_s": 180.0, "rows": rows}))
    return path


def test_rows_compare_like_with_like(tmp_path):
    rows = collect_runs([_burgers(tmp_path), _ks(tmp_path)])
    by = {(r["suite"], r["model"]): r for r in rows}
    # Operator pairs: one call per sample; the solver solves the same map.
    assert by["burgers", "fno"]["speed"] == 2600.0
    assert by["burgers", "fno"]["solver_speed"] == pytest.approx(50.0)
    assert by["burgers", "fno"]["error"] == 0.0065
    # Trajectories: a whole rollout per sample against the solver's whole trajectory.
    assert by["ks", "dymixop"]["speed"] == pytest.approx(125.0)
    assert by["ks", "dymixop"]["error"] == 0.2
    assert "speed" not in by["ks", "trivial baseline"]
    assert all(not isinstance(v, list) for r in rows for v in r.values())


def test_cli_writes_table_and_plot(tmp_path, capsys):
    runs = [str(_burgers(tmp_path)), str(_ks(tmp_path))]
    out = tmp_path / "summary"
    assert main(["report", *runs, "--out", str(out)]) == 0
    md = (tmp_path / "summary.md").read_text()
    assert "| burgers | fno |" in md and "| ks | dymixop |" in md
    assert "![accuracy against speed](summary.png)" in md
    page = (tmp_path / "summary.html").read_text()
    assert page.count("<tr>") == 1 + 6 and '<img src="summary.png"' in page
    assert (tmp_path / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "summary.md" in capsys.readouterr().out
    # `reports/*.json` then matches the summary too: it is skipped, not counted twice.
    again = collect_runs([*runs, tmp_path / "summary.json"])
    assert len(again) == 6
    assert not list(tmp_path.glob(".summary*"))  # temporary files renamed into place


def test_bad_input_says_what_to_pass(tmp_path):
    with pytest.raises(ValueError, match="is empty"):
        write_report([], out=tmp_path / "s")
    bad = tmp_path / "x.json"
    bad.write_text('{"model": "fno"}')
    with pytest.raises(ValueError, match="no 'rows' list"):
        collect_runs([bad])
    with pytest.raises(ValueError, match="does not exist"):
        collect_runs([tmp_path / "missing.json"])


def test_suite_report_states_the_budget_it_used(tmp_path):
    """An equal-epoch run (`opkit benchmark --epochs N`) must not be reported as seconds."""
    from opkit.trainers._suite import SUITES, _markdown

    rows = [{"model": "fno", "params": 1, "rel_l2": 0.01}]
    by_time = _markdown(SUITES["burgers"], rows, 180.0, tmp_path / "b.h5")
    by_epochs = _markdown(SUITES["burgers"], rows, 180.0, tmp_path / "b.h5", epochs=31)
    assert "Budget: 180 s of training per model (wall clock" in by_time
    assert "Budget: 31 epochs of training per model (equal epochs" in by_epochs
    assert "180 s" not in by_epochs
