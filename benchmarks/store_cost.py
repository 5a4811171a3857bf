"""What the safety of opkit's dataset files costs: Fletcher-32 checksums and fsync.

Measures, in one run and on this machine:

1. generation of a built-in dataset (``opkit.generate``) with checksums and fsync on (the
   default), checksums only, fsync only, and neither;
2. the write path alone (``SampleWriter``: the same bytes without solving, so the cost
   is not hidden behind the solver);
3. loading every sample through the torch dataset (``OperatorPairs``: one chunk per read,
   the checksum verified on every read) from a file with and without checksums.

Each timing is the minimum over ``--repeats`` runs (the machine may be shared: minima are
the least disturbed). Prints seconds and ratios against the unprotected variant.

    python benchmarks/store_cost.py [--n-samples 128] [--n-x 1024] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import opkit
from opkit.pde_data import OperatorPairs, _store


def _compare(variants: dict, fn, repeats: int) -> dict[str, float]:
    """Min seconds of ``fn(name)`` per variant, interleaved (slow drifts of a shared
    machine hit every variant alike)."""
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(repeats):
        for name, setting in variants.items():
            _set(*setting)
            t0 = time.perf_counter()
            fn(name)
            best[name] = min(best[name], time.perf_counter() - t0)
    _set(True, True)
    return best


def _set(checksums: bool, fsync: bool) -> None:
    _store.CHECKSUMS, _store.FSYNC = checksums, fsync


VARIANTS = {
    "checksums + fsync (default)": (True, True),
    "checksums only": (True, False),
    "fsync only": (False, True),
    "neither": (False, False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=128)
    parser.add_argument("--n-x", type=int, default=1024, help="burgers solve grid")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", default=None, help="folder to write in (default: a temp dir)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = Path(args.dir or tempfile.mkdtemp(prefix="opkit-store-cost-"))
    root.mkdir(parents=True, exist_ok=True)
    n, n_x, reps = args.n_samples, args.n_x, args.repeats
    print(f"folder {root}; burgers, {n} samples, n_x={n_x}, batch {args.batch_size}, ")
    print(f"min of {reps} runs; torch threads 1; os.cpu_count()={os.cpu_count()}")

    def generate(out: Path) -> None:
        out.unlink(missing_ok=True)
        opkit.generate("burgers", n, out=out, n_x=n_x, batch_size=args.batch_size, progress=False)

    print("\n1. opkit.generate (solve + write)")
    gen = _compare(VARIANTS, lambda name: generate(root / "gen.h5"), reps)
    _report(gen, "neither")

    print("\n2. write path alone (SampleWriter, no solving)")
    _set(True, True)
    generate(root / "ref.h5")
    with opkit.open_dataset(root / "ref.h5") as ds:
        values = ds["u"].values
        status = ds["status"].values
    header = _store.read_header(root / "ref.h5")
    import h5py

    with h5py.File(root / "ref.h5") as f:
        meta = {
            "sample": f["sample"][:],
            "t": f["t"][:],
            "coords": {"x": f["x"][:]},
            "seed": f["seed"][:],
            "split": f["split"][:],
        }
        attrs = {k: v for k, v in f.attrs.items() if k not in ("complete", "_NCProperties")}

    def write(path: Path) -> None:
        path.unlink(missing_ok=True)
        _store.create_file(path, field=header["field"], attrs=attrs, **meta)
        with _store.SampleWriter(path, header["field"]) as w:
            for s in range(0, n, args.batch_size):
                rows = np.arange(s, min(s + args.batch_size, n))
                w.write(rows, values[rows], status[rows])

    wr = _compare(VARIANTS, lambda name: write(root / "w.h5"), reps)
    _report(wr, "neither")

    print("\n3. loading every sample (OperatorPairs, one chunk per read)")
    files = {}
    for name, c in (("with checksums", True), ("without checksums", False)):
        _set(c, True)
        files[name] = root / f"load-{c}.h5"
        files[name].unlink(missing_ok=True)
        write(files[name])
        _store.finalize(files[name], files[name].with_suffix(".done.h5"))
        files[name] = files[name].with_suffix(".done.h5")
    _set(True, True)

    def load(path: Path) -> None:
        ds = OperatorPairs(path)
        for i in range(len(ds)):
            ds[i]
        ds.close()

    ld = _compare({name: (True, True) for name in files}, lambda name: load(files[name]), reps)
    _report(ld, "without checksums")
    if args.dir is None:
        shutil.rmtree(root)


def _report(times: dict[str, float], base: str) -> None:
    for name, s in times.items():
        print(f"  {name:<30} {s:8.3f} s   x{s / times[base]:.3f}")


if __name__ == "__main__":
    main()
