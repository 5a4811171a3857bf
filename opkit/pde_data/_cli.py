"""``opkit generate`` and ``opkit data`` (called by :mod:`opkit.cli`).

::

    opkit generate NAME [--n-samples N] --out FILE [--seed S] [--batch-size B]
                   [--shard k/N] [--device cuda] [--size cpu|paper] [--param key=value ...]
    opkit data merge OUT SHARD...
    opkit data info FILE
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["generate_main", "data_main"]


def _value(text: str) -> Any:
    """``--param`` values: JSON (numbers, true/false/null, lists) else the plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param expects key=value (e.g. --param nu=0.1), got {item!r}.")
        params[key.strip()] = _value(text.strip())
    return params


def _generate_parser() -> argparse.ArgumentParser:
    from ._catalogue import NAMED_DATASETS

    parser = argparse.ArgumentParser(
        prog="opkit generate",
        description=(
            "Generate a built-in dataset into one HDF5 file (netCDF-4, opens with xarray). "
            "The file is written as OUT.partial and renamed when complete; rerunning the same "
            "command after an interruption resumes it. Sample i depends only on (seed, i)."
        ),
        epilog=(
            "examples:\n"
            "  opkit generate burgers --n-samples 1000 --out data/burgers.h5\n"
            "  opkit generate burgers --out data/b.h5 --param nu=0.1\n"
            "  opkit generate ns --size paper --device cuda --shard 0/8 --out data/ns.h5\n"
            "  opkit generate odes --n-samples 3000 --out data/odes.h5   # PROSE's 15 ODEs\n"
            "  opkit data merge data/ns.h5 data/ns.shard-*-of-8.h5"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help=f"dataset name: {', '.join(NAMED_DATASETS)}")
    parser.add_argument(
        "--n-samples", type=int, default=None, help="number of samples (default: the recipe's)"
    )
    parser.add_argument("--out", required=True, help="output file, e.g. data/burgers.h5")
    parser.add_argument("--seed", type=int, default=None, help="dataset seed (default 0)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="samples solved and flushed together"
    )
    parser.add_argument(
        "--shard", default=None, metavar="k/N", help="generate only shard k of N (0-based)"
    )
    parser.add_argument("--device", default=None, help="torch device to solve on (cpu, cuda)")
    parser.add_argument(
        "--size", default="cpu", choices=("cpu", "paper"), help="recipe size (default cpu)"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a PDE parameter, e.g. --param nu=0.1 (repeatable)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument(
        "--no-disk-check",
        action="store_true",
        help="generate even if the estimated file size exceeds the free disk space",
    )
    parser.add_argument("--throw", action="store_true", help="stop at the first blown-up sample")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def generate_main(argv: list[str]) -> int:
    """``opkit generate ...``; returns the exit status (2 bad input, 1 blow-up with --throw)."""
    args = _generate_parser().parse_args(argv)
    # Failures propagate to opkit.cli.main: one line `opkit: error: ...` (exit 2 for bad
    # input, 1 for a blow-up with --throw: the partial file stays resumable).
    from ._generate import generate

    params = _params(args.param)
    path = generate(
        args.name,
        args.n_samples,
        out=args.out,
        seed=args.seed,
        batch_size=args.batch_size,
        shard=args.shard,
        device=args.device,
        size=args.size,
        throw=args.throw,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        check_disk=not args.no_disk_check,
        **params,
    )
    print(path)
    return 0


def _data_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opkit data", description="Utilities for opkit dataset files."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    merge = sub.add_parser(
        "merge",
        help="join the shards of one dataset into OUT",
        description="Join shard files (made with `opkit generate --shard k/N`) into OUT. The "
        "shards must come from the same command and cover every sample exactly once.",
    )
    merge.add_argument("out", help="merged output file")
    merge.add_argument("shards", nargs="+", help="all N shard files")
    merge.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    merge.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    info = sub.add_parser(
        "info",
        help="summarise a dataset file",
        description="Print a dataset file's PDE, grid, splits, statuses and recipe.",
    )
    info.add_argument("file", help="an opkit dataset file (complete, partial or a shard)")
    return parser


def data_main(argv: list[str]) -> int:
    """``opkit data merge|info ...``; returns the exit status (2 on bad input)."""
    args = _data_parser().parse_args(argv)
    if args.command == "merge":
        from ._shards import merge

        print(merge(args.shards, args.out, overwrite=args.overwrite, progress=not args.no_progress))
    else:
        from ._store import dataset_info

        print(dataset_info(args.file))
    return 0
