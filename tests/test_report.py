"""`opkit report`: benchmark JSON files -> one table (Markdown, HTML) and one plot."""

import json
import os
import stat

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


def test_report_files_get_the_umask_mode(tmp_path):
    """Written through opkit._io.atomic_write: the mode a plain open() gives, not 0600."""
    old = os.umask(0o027)
    try:
        files = write_report([_burgers(tmp_path)], out=tmp_path / "out" / "summary")
    finally:
        os.umask(old)
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "summary.html", "summary.json", "summary.md", "summary.png"
    ]  # fmt: skip


def test_an_hdf5_file_is_refused_by_name(tmp_path, capsys):
    h5py = pytest.importorskip("h5py")
    data = tmp_path / "burgers.h5"
    with h5py.File(data, "w") as f:
        f["u"] = [1.0, 2.0]
    with pytest.raises(ValueError, match=r"burgers\.h5 is an HDF5 file .*pass the \.json"):
        collect_runs([data])
    assert main(["report", str(data), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("opkit: error: ") and "HDF5 file" in err[0]
    assert not list(tmp_path.glob("s*"))


def test_a_number_that_is_a_string_is_refused_before_writing(tmp_path):
    path = _burgers(tmp_path)
    run = json.loads(path.read_text())
    run["rows"][1]["rel_l2"] = "0.0065"
    path.write_text(json.dumps(run))
    with pytest.raises(ValueError, match=r"row 1 \(model 'fno'\) has rel_l2 = '0.0065'; expected"):
        write_report([path], out=tmp_path / "s")
    assert not list(tmp_path.glob("s.*")) and not list(tmp_path.glob(".s*"))


def test_a_diverged_run_is_shown_as_nan_and_left_out_of_the_plot(tmp_path):
    path = _burgers(tmp_path)
    run = json.loads(path.read_text())
    run["rows"][0]["rel_l2"] = float("nan")  # json writes NaN, as Python's json reads it
    path.write_text(json.dumps(run))
    files = write_report([path], out=tmp_path / "s")
    md = files["md"].read_text()
    assert "| burgers | deeponet |" in md and "| nan |" in md
    assert "Not plotted (error not a finite positive number): burgers/deeponet." in md
    assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_same_file_twice_is_one_run(tmp_path):
    path = _burgers(tmp_path)
    other = tmp_path / "sub" / ".." / path.name  # the same file, spelled differently
    (tmp_path / "sub").mkdir()
    rows = collect_runs([path, other, path])
    assert [r["model"] for r in rows] == ["deeponet", "fno", "trivial baseline"]
    md = write_report([path, path], out=tmp_path / "s")["md"].read_text()
    assert md.count("| burgers | fno |") == 1


def test_two_runs_with_the_same_name_are_told_apart(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rows = collect_runs([_burgers(tmp_path / "a"), _burgers(tmp_path / "b")])
    assert len({r["source"] for r in rows}) == 2
