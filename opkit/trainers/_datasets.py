"""Where training data comes from, and where a trained model's data came from.

A dataset argument is a path, an ``xarray.Dataset`` or a built-in name. The built-in names
are the named recipes of `opkit.pde_data` (``NAMED_DATASETS``): adding a recipe there makes
it a built-in dataset of `opkit.fit`, the CLI's data modules and `opkit.evaluate` with no
edit here.

A *data source* (`data_source`) is the identity of a training file, recorded with every
trained model: its path, built-in name, size and seed, a digest of its recipe without
the sample count and splits (two files with the same identity hold the same sample ``i``:
sample ``i`` is a function of ``(seed, i)`` only), and the index ranges of its splits.
`check_disjoint` uses it so that evaluation never scores samples the model trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .._io import output_lock, replace_durably
from ..pde_data import NAMED_DATASETS, generate, open_dataset, read_header, recipe_matches

__all__ = [
    "BUILTIN_DATASETS",
    "cache_dir",
    "resolve_dataset",
    "data_source",
    "check_disjoint",
    "recorded_dataset",
]

BUILTIN_DATASETS = tuple(NAMED_DATASETS)
SPLITS = ("train", "val", "test")
# Recipe entries that change how many samples a file holds and how they are split, but not
# what sample i is.
_NOT_IDENTITY = ("n_samples", "splits", "device", "size")


def cache_dir() -> Path:
    """Folder for built-in datasets: ``$OPKIT_CACHE`` or ``~/.cache/opkit``."""
    return Path(os.environ.get("OPKIT_CACHE", Path.home() / ".cache" / "opkit"))


def builtin_path(name: str, *, size: str = "cpu", seed: int = 0) -> Path:
    """The cached file of the built-in dataset ``name``, generated on first use.

    A cached file is trusted only if it holds this exact recipe (a file of an older opkit,
    a smaller file under the same name, or one edited by hand is made again); concurrent
    first uses (two notebooks, two processes) wait for one generation.
    """
    out = cache_dir() / f"{name}-{size}-seed{seed}.h5"
    if not recipe_matches(out, name, seed=seed, size=size):
        out.parent.mkdir(parents=True, exist_ok=True)
        with output_lock(out, wait=True):  # another process may be making it
            if not recipe_matches(out, name, seed=seed, size=size):
                generate(name, out=out, seed=seed, size=size, overwrite=True)
    return out


def resolve_dataset(dataset: Any, *, size: str = "cpu", seed: int = 0) -> Path:
    """A path to an opkit file for ``dataset``: a path, an ``xarray.Dataset`` or a name.

    Built-in names (:data:`BUILTIN_DATASETS`, i.e. ``opkit.pde_data.NAMED_DATASETS``) are
    generated on first use into :func:`cache_dir` (see `builtin_path`). An
    ``xarray.Dataset`` is used through its file when it is exactly that file's content;
    otherwise it is written once into ``cache_dir()/xarray/<digest>.h5`` (the same data
    reuse the same file, so repeated calls leave nothing behind).

    Raises:
        ValueError: unknown name or a file that is not a complete opkit dataset.
        TypeError: anything else.
    """
    import xarray as xr

    if isinstance(dataset, xr.Dataset):
        source = dataset.encoding.get("source")
        if source and Path(source).is_file() and _is_its_file(dataset, Path(source)):
            return Path(source)
        return _xarray_file(dataset)
    if isinstance(dataset, (str, os.PathLike)):
        text = str(dataset)
        if text in BUILTIN_DATASETS:
            return builtin_path(text, size=size, seed=seed)
        path = Path(text)
        if not path.exists():
            raise ValueError(
                f"`dataset` {text!r} is neither a file nor a built-in dataset "
                f"({', '.join(BUILTIN_DATASETS)}); make a file with `opkit generate NAME --out "
                f"{text}` or pass a built-in name."
            )
        open_dataset(path).close()  # validates: complete opkit file
        return path
    raise TypeError(
        "`dataset` must be a path, an xarray.Dataset or a built-in name "
        f"({', '.join(BUILTIN_DATASETS)}), got {type(dataset).__name__}."
    )


def _xarray_file(dataset: Any) -> Path:
    digest = hashlib.sha256()
    for name in sorted(dataset.variables):
        var = dataset[name]
        digest.update(json.dumps([name, list(var.dims), str(var.dtype)]).encode())
        digest.update(var.values.tobytes())
    digest.update(json.dumps(dataset.attrs, sort_keys=True, default=str).encode())
    out = cache_dir() / "xarray" / f"{digest.hexdigest()[:32]}.h5"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        with output_lock(out, wait=True):
            if not out.is_file():
                tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
                try:
                    dataset.to_netcdf(tmp, engine="h5netcdf")
                    replace_durably(tmp, out)
                finally:
                    tmp.unlink(missing_ok=True)
    return out


def _is_its_file(dataset: Any, source: Path) -> bool:
    """Whether an ``xarray.Dataset`` is exactly the content of its source file.

    ``encoding["source"]`` survives ``isel``, ``copy`` and assignments, so it alone does not
    say that the data are the file's.
    """
    try:
        with open_dataset(source) as on_disk:
            return dict(on_disk.sizes) == dict(dataset.sizes) and on_disk.identical(dataset)
    except (ValueError, OSError):
        return False


# -- data sources ----------------------------------------------------------------------------
def data_source(
    path: str | Path,
    *,
    name: str | None = None,
    max_train_samples: int | None = None,
) -> dict[str, Any]:
    """The identity of a training file, as plain data (it goes into checkpoints).

    Returns:
        ``{"path", "name", "size", "seed", "identity", "n_samples", "splits", "pde_name",
        "pde_params"}``; ``splits`` maps ``train``/``val``/``test`` to ``[start, stop)``
        sample ranges, the training range cut to ``max_train_samples`` when training used
        only those. ``identity`` is ``None`` for files without a recipe (converted data).
    """
    header = read_header(path)
    recipe = header.get("recipe") if isinstance(header.get("recipe"), dict) else {}
    counts = recipe.get("splits") or {}
    splits, start = {}, 0
    for split in SPLITS:
        n = int(counts.get(split, 0))
        splits[split] = [start, start + n]
        start += n
    if max_train_samples is not None and counts:
        lo, hi = splits["train"]
        splits["train"] = [lo, min(hi, lo + int(max_train_samples))]
    identity = None
    if recipe:
        kept = {k: v for k, v in recipe.items() if k not in _NOT_IDENTITY}
        identity = hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:32]
    params = header.get("pde_params")
    return {
        "path": str(Path(path).resolve()),
        "name": name if name is not None else recipe.get("name"),
        "size": recipe.get("size"),
        "seed": recipe.get("seed"),
        "identity": identity,
        "n_samples": recipe.get("n_samples"),
        "splits": splits if counts else None,
        "pde_name": header.get("pde_name"),
        "pde_params": json.dumps(params) if params is not None else None,
    }


def recorded_dataset(source: dict, dataset: Any) -> Any:
    """What to evaluate on: ``dataset``, or the trained model's own data for ``None``.

    A built-in name resolves at the size and seed the model was trained on (its own test
    split, never another size's samples). ``None`` means the model's training file, or its
    built-in name when that file is gone.

    Raises:
        ValueError: ``dataset`` is ``None`` and the model records no data.
    """
    source = source or {}
    name = source.get("name")
    builtin = name in BUILTIN_DATASETS and source.get("size") is not None
    if dataset is None:
        path = source.get("path")
        if path and Path(path).is_file() and data_source(path)["identity"] == source["identity"]:
            return Path(path)
        if builtin:
            return builtin_path(name, size=source["size"], seed=int(source.get("seed") or 0))
        raise ValueError(
            "this model does not record data that can be found again (its training file "
            f"{path!r} is gone); pass `dataset` (a path, an xarray.Dataset or a built-in name)."
        )
    if isinstance(dataset, str) and dataset in BUILTIN_DATASETS and dataset == name and builtin:
        return builtin_path(dataset, size=source["size"], seed=int(source.get("seed") or 0))
    return dataset


def check_disjoint(source: dict | None, path: str | Path, split: str) -> None:
    """Refuse to score ``split`` of ``path`` when it shares samples with the training split
    the model recorded in ``source`` (same recipe identity and seed: sample ``i`` is the
    same sample in both files). The ``train`` split itself may be scored (a training error
    is asked for by name).

    Raises:
        ValueError: naming both files and the overlapping sample range.
    """
    if split == "train" or not source or not source.get("identity") or not source.get("splits"):
        return
    other = data_source(path)
    if other["identity"] != source["identity"] or other["seed"] != source["seed"]:
        return
    if not other["splits"]:
        return
    lo, hi = other["splits"][split]
    t_lo, t_hi = source["splits"]["train"]
    start, stop = max(lo, t_lo), min(hi, t_hi)
    if start < stop:
        raise ValueError(
            f"the {split} split of {str(path)!r} (samples {lo}-{hi - 1}) shares samples "
            f"{start}-{stop - 1} with the training split of the model's data "
            f"{source.get('path')!r} (samples {t_lo}-{t_hi - 1}; sample i is the same in both "
            "files): these scores would be training scores. Evaluate on the model's own data "
            "(`opkit.evaluate(result)`, or the built-in name) or on a file with another seed."
        )
