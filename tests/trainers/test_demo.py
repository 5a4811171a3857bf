"""`opkit demo`: a fixed number of epochs per model, so that two runs give the same errors;
the report names what it compares, states the budget once, and shows predictions against
the truth."""

import json

import pytest

from opkit.trainers._demo import DEMO_EPOCHS, run_demo


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 10}, r"`n_samples` must be an integer >= 40, got 10"),
        ({"n_samples": 40.5}, r"`n_samples` must be an integer"),
        ({"epochs": {"unet": 3}}, r"`epochs` must give epochs for models among"),
        ({"epochs": {"fno": 0}}, r"`epochs\['fno'\]` must be an integer >= 1, got 0"),
        ({"epochs": {}}, r"`epochs` must give epochs"),
    ],
)
def test_bad_settings_are_refused_before_any_work(tmp_path, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        run_demo(out=tmp_path / "d", **kwargs)
    assert not (tmp_path / "d").exists()


def test_an_unwritable_folder_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="cannot be created as a report folder"):
        run_demo(out=blocker / "d")


def test_the_budget_is_epochs_of_both_models():
    assert set(DEMO_EPOCHS) == {"deeponet", "fno"}
    assert all(isinstance(n, int) and n > 0 for n in DEMO_EPOCHS.values())


@pytest.mark.slow  # two tiny demos from scratch: about a minute on 2 cores
def test_two_runs_print_the_same_errors(tmp_path):
    epochs = {"deeponet": 3, "fno": 2}
    first = run_demo(n_samples=40, epochs=epochs, out=tmp_path / "a")
    second = run_demo(n_samples=40, epochs=epochs, out=tmp_path / "b")
    errors = [[(r["model"], r["rel_l2"], r.get("rel_l2_median")) for r in rep.rows]
              for rep in (first, second)]  # fmt: skip
    assert errors[0] == errors[1]
    md = first.markdown
    assert md.startswith("# opkit demo: DeepONet vs FNO on Burgers")
    assert md.count("Budget:") == 1 and "DeepONet 3 epochs, FNO 2 epochs" in md
    assert "![predictions against the truth](burgers_demo.png)" in md
    record = json.loads(first.paths["json"].read_text())
    assert record["epochs"] == epochs and "budget_s" not in record
    assert record["compares"] == ["DeepONet", "FNO"]
    assert first.paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for key in ("deeponet", "fno"):
        assert first.paths[key].is_file()
    # the trivial predictor is the yardstick the table prints with the models
    trivial = first.rows[-1]
    assert trivial["params"] == 0 and 0.3 < trivial["rel_l2"] < 2
