"""`opkit report`: several benchmark runs in one table and one accuracy-versus-speed plot.

Reads the JSON files that ``opkit benchmark`` (`run_suite`) and ``opkit demo`` write and
writes ``OUT.md``, ``OUT.html``, ``OUT.png`` and ``OUT.json`` (the collected rows).
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._io import atomic_write

__all__ = ["collect_runs", "write_report", "report_main"]

_KIND = "opkit-report"  # marks the collected JSON, so that a later glob skips it
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Row fields read as numbers (None or absent: not measured).
_NUMERIC = (
    "params",
    "epochs",
    "train_s",
    "rel_l2",
    "rollout_rel_l2",
    "valid_prediction_time",
    "samples_per_s",
    "rollout_s_per_sample",
    "solver_s_per_sample",
    "speedup",
)

# (key, header) of the summary table, in order; a column shows only when a row has it.
_COLUMNS = [
    ("suite", "suite"),
    ("model", "model"),
    ("params", "params"),
    ("budget_s", "budget s"),
    ("epochs", "epochs"),
    ("rel_l2", "rel. L2"),
    ("rollout_rel_l2", "rollout rel. L2"),
    ("valid_prediction_time", "VPT"),
    ("speed", "samples/s"),
    ("solver_speed", "solver samples/s"),
    ("speedup", "speed-up"),
    ("source", "run"),
]


def collect_runs(paths: Sequence[str | os.PathLike]) -> list[dict[str, Any]]:
    """One row per model and run from benchmark JSON files.

    Each row holds the suite, the model, its errors and two speeds measured on the same
    task as the error: ``speed`` (model samples/s: one call for operator pairs, the whole
    rollout for trajectory data) and ``solver_speed`` (the dataset's own solver, samples/s
    of the same task); ``error`` is the matching error (``rollout_rel_l2`` for
    trajectories, else ``rel_l2``). The trivial baseline has no speed.

    A file named twice (the same file after resolving links and ``..``) is read once. A
    non-finite error (a run that diverged) is kept: the table shows ``nan``, the plot
    leaves the point out and says so.

    Raises:
        ValueError: no paths; a missing file; a file that is not JSON (an HDF5 dataset, a
            binary file); JSON without ``rows``; a row whose numeric field (``rel_l2``,
            ``samples_per_s``, ...) holds something other than a number. All are checked
            before anything is written.
    """
    if not paths:
        raise ValueError("`paths` is empty; pass the JSON files of `opkit benchmark` runs.")
    unique = list({Path(p).resolve(): Path(p) for p in reversed(list(paths))}.values())[::-1]
    labels = _source_labels(unique)
    rows: list[dict[str, Any]] = []
    for p in unique:
        run = _read_run(p)
        if run.get("kind") == _KIND:
            continue  # an earlier summary matched by `reports/*.json`
        suite = run.get("suite", {})
        suite_name = suite.get("name", p.stem) if isinstance(suite, dict) else str(suite)
        for i, r in enumerate(run["rows"]):
            _check_row(r, p, i)
            rows.append(_row(r, suite=suite_name, budget=run.get("budget_s"), source=labels[p]))
    if not rows:
        raise ValueError(f"no benchmark rows in {[str(p) for p in paths]}.")
    return rows


def _read_run(p: Path) -> dict:
    if not p.is_file():
        raise ValueError(f"benchmark result {str(p)!r} does not exist.")
    data = p.read_bytes()
    hint = "pass the .json that `opkit benchmark` or `opkit demo` writes"
    if data.startswith(_HDF5_SIGNATURE):
        raise ValueError(f"{p} is an HDF5 file (a dataset?), not a benchmark result; {hint}.")
    try:
        run = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{p} is a binary file, not a benchmark result; {hint}.") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{p} is not JSON ({err}); {hint}.") from None
    if not isinstance(run, dict) or not isinstance(run.get("rows"), list):
        raise ValueError(f"{p} has no 'rows' list; {hint}.")
    return run


def _check_row(r: Any, p: Path, i: int) -> None:
    if not isinstance(r, dict):
        raise ValueError(f"{p}: row {i} is {r!r}, expected an object with a 'model' name.")
    for key in _NUMERIC:
        v = r.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ValueError(
                f"{p}: row {i} (model {r.get('model')!r}) has {key} = {v!r}; expected a "
                "number (or null when not measured). Was the file edited? Rerun the benchmark."
            )


def _source_labels(paths: list[Path]) -> dict[Path, str]:
    """The file stem names a run; the path where two runs share a stem."""
    stems = [p.stem for p in paths]
    return {p: p.stem if stems.count(p.stem) == 1 else str(p.with_suffix("")) for p in paths}


def _finite_positive(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def _row(r: dict, *, suite: str, budget: Any, source: str) -> dict[str, Any]:
    row = {k: v for k, v in r.items() if not isinstance(v, list)}
    row.update(suite=suite, source=source)
    if isinstance(row.get("epochs"), int) and row["epochs"] < 0:
        del row["epochs"]  # the suite's marker for "not recorded"
    if budget is not None and row.get("params"):
        row["budget_s"] = budget
    if r.get("rollout_s_per_sample"):
        row["speed"] = 1.0 / r["rollout_s_per_sample"]
    elif r.get("samples_per_s"):
        row["speed"] = float(r["samples_per_s"])
    if r.get("rollout_rel_l2") is not None:
        row["error"], row["error_name"] = r["rollout_rel_l2"], "rollout rel. L2"
    else:
        row["error"], row["error_name"] = r.get("rel_l2"), "rel. L2"
    if r.get("solver_s_per_sample"):
        row["solver_speed"] = 1.0 / r["solver_s_per_sample"]
    return row


def markdown_table(rows: Sequence[dict], cols: Sequence[tuple[str, str]]) -> list[str]:
    """The lines of a Markdown table: one column per ``(key, header)`` of ``cols``, one
    row per dict of ``rows`` (missing values as ``-``, numbers to 3 significant digits)."""
    lines = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    return lines + ["| " + " | ".join(_fmt(r.get(k)) for k, _ in cols) + " |" for r in rows]


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # nan / inf: a run that diverged says so
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _used(rows: list[dict]) -> list[tuple[str, str]]:
    used = [c for c in _COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    if len({r["source"] for r in rows}) == len({r["suite"] for r in rows}):
        used = [c for c in used if c[0] != "source"]  # one run per suite: the run says nothing
    return used


def _markdown(rows: list[dict], png: str) -> str:
    cols = _used(rows)
    lines = [
        "# opkit report",
        "",
        "Test split of each run. Errors are mean relative L2 errors; for trajectory data the "
        "speeds are whole rollouts per second (the task the solver does), otherwise single "
        "calls per second; the solver's speed is its own on the same task. "
        "VPT: valid prediction time (time units).",
        "",
    ]
    lines += markdown_table(rows, cols)
    lines += ["", f"![accuracy against speed]({png})", ""]
    left_out = _not_plotted(rows)
    if left_out:
        lines += [f"Not plotted (error not a finite positive number): {', '.join(left_out)}.", ""]
    return "\n".join(lines)


def _not_plotted(rows: list[dict]) -> list[str]:
    return [
        f"{r['suite']}/{r['model']}"
        for r in rows
        if r.get("speed") is not None and not _finite_positive(r.get("error"))
    ]


def _html(rows: list[dict], png: str) -> str:
    cols = _used(rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in cols)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(k)))}</td>" for k, _ in cols) + "</tr>"
        for r in rows
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>opkit report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #eee; }}
td:first-child, td:nth-child(2) {{ text-align: left; }}
</style></head><body>
<h1>opkit report</h1>
<p>Test split of each run. Errors are mean relative L2 errors; for trajectory data the speeds
are whole rollouts per second (the task the solver does), otherwise single calls per second.</p>
<table>
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
<p><img src="{html.escape(png)}" alt="accuracy against speed"></p>
</body></html>
"""


def _plot(rows: list[dict], out) -> None:
    """The accuracy-against-speed figure, as PNG into the binary file ``out``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    suites = list(dict.fromkeys(r["suite"] for r in rows))
    fig, axes = plt.subplots(
        1, len(suites), figsize=(5.2 * len(suites), 4.2), squeeze=False, constrained_layout=True
    )
    models = list(dict.fromkeys(r["model"] for r in rows if r.get("speed")))
    colors = {m: f"C{i % 10}" for i, m in enumerate(models)}
    markers = "osD^vP*Xh<>"
    for ax, suite in zip(axes[0], suites):
        mine = [r for r in rows if r["suite"] == suite]
        points = [
            r for r in mine if _finite_positive(r.get("speed")) and _finite_positive(r.get("error"))
        ]
        twice = {r["model"] for r in points if sum(q["model"] == r["model"] for q in points) > 1}
        xs, ys = [], []
        for r in points:
            label = r["model"] + (f" ({r['source']})" if r["model"] in twice else "")
            ax.loglog(
                r["speed"],
                r["error"],
                markers[models.index(r["model"]) % len(markers)],
                color=colors[r["model"]],
                markersize=9,
                label=label,
                linestyle="none",
            )
            ax.annotate(
                label,
                (r["speed"], r["error"]),
                xytext=(7, 5),
                textcoords="offset points",
                fontsize=9,
                color=colors[r["model"]],
            )
            xs.append(r["speed"])
            ys.append(r["error"])
        solver = [r["solver_speed"] for r in mine if _finite_positive(r.get("solver_speed"))]
        if solver:
            s = sorted(solver)[len(solver) // 2]
            ax.axvline(s, color="k", linestyle="--", linewidth=1.2, label=f"solver ({s:.3g}/s)")
            xs.append(s)
        for r in mine:
            if not r.get("params") and _finite_positive(r.get("error")):  # trivial baseline
                ax.axhline(r["error"], color="0.5", linestyle=":", label=r["model"])
                ys.append(r["error"])
        if xs:  # whole decades: the log axis keeps readable major labels
            lo, hi = math.log10(min(xs) / 3), math.log10(max(xs) * 3)
            ax.set_xlim(10 ** math.floor(lo), 10 ** max(math.ceil(hi), math.floor(lo) + 2))
        if ys:
            ax.set_ylim(min(ys) / 2, max(ys) * 2)
        kinds = {r.get("error_name") for r in points}
        unit = "rollouts/s" if "rollout rel. L2" in kinds else "samples/s"
        ax.set_xlabel(f"inference speed ({unit}, log scale)")
        ax.set_ylabel(f"test {' / '.join(sorted(k for k in kinds if k)) or 'error'} (log scale)")
        ax.set_title(f"{suite}: error against speed")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle("better: down and to the right of the solver line", fontsize=9, color="0.3")
    fig.savefig(out, dpi=120, format="png")
    plt.close(fig)


def write_report(paths: Sequence[str | os.PathLike], *, out: str | os.PathLike) -> dict[str, Path]:
    """Collect benchmark JSON files into ``OUT.md``, ``OUT.html``, ``OUT.png``, ``OUT.json``.

    Args:
        paths: JSON files written by ``opkit benchmark`` / ``opkit demo``.
        out: output stem (``reports/summary`` writes ``reports/summary.md`` etc.); its
            folder is created.

    Returns:
        ``{"md", "html", "png", "json"}`` -> written paths.

    Raises:
        ValueError: see :func:`collect_runs`.
    """
    rows = collect_runs(paths)
    stem = Path(out)
    if stem.suffix in (".md", ".html", ".png", ".json"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    files = {k: stem.with_name(f"{stem.name}.{k}") for k in ("md", "html", "png", "json")}
    png = files["png"].name
    summary = {"kind": _KIND, "runs": list(dict.fromkeys(map(str, paths))), "rows": rows}
    texts = {
        "md": _markdown(rows, png),
        "html": _html(rows, png),
        "json": json.dumps(summary, indent=2),
    }
    # opkit._io: temporary file in the same folder, fsync, rename; the umask's mode
    with atomic_write(files["png"], "wb") as f:
        _plot(rows, f)
    for key, text in texts.items():
        with atomic_write(files[key], "w", encoding="utf-8") as f:
            f.write(text)
    return files


def report_main(argv: list[str]) -> int:
    """``opkit report reports/*.json --out reports/summary``."""
    parser = argparse.ArgumentParser(
        prog="opkit report",
        description="Collect the JSON of several `opkit benchmark` runs into one table "
        "(Markdown and HTML) and an accuracy-versus-speed plot.",
    )
    parser.add_argument("runs", nargs="+", help="JSON files written by `opkit benchmark`")
    parser.add_argument(
        "--out", default="reports/summary", help="output stem (writes .md .html .png .json)"
    )
    args = parser.parse_args(argv)
    files = write_report(args.runs, out=args.out)
    print(files["md"].read_text())
    print(f"report: {files['md']}, {files['html']}, {files['png']}")
    return 0
