"""Where training data comes from: a path, an ``xarray.Dataset`` or a built-in name.

The built-in names are the named recipes of `opkit.pde_data` (``NAMED_DATASETS``): adding
a recipe there makes it a built-in dataset of `opkit.fit`, the CLI's data modules and
`opkit.evaluate` with no edit here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from .._io import output_lock
from ..pde_data import NAMED_DATASETS, generate, open_dataset, recipe_matches

__all__ = ["BUILTIN_DATASETS", "cache_dir", "resolve_dataset"]

BUILTIN_DATASETS = tuple(NAMED_DATASETS)


BUILTIN_DATASETS = ("burgers", "ks", "ns")


def cache_dir() -> Path:
    """Folder for built-in datasets: ``$OPKIT_CACHE`` or ``~/.cache/opkit``."""
    return Path(os.environ.get("OPKIT_CACHE", Path.home() / ".cache" / "opkit"))


def resolve_dataset(dataset: Any, *, size: str = "cpu", seed: int = 0) -> Path:
    """A path to an opkit file for ``dataset``: a path, an ``xarray.Dataset`` or a name.

    Built-in names (:data:`BUILTIN_DATASETS`: ``"burgers"``, ``"ks"``, ``"ns"``, ``"odes"``...)
    are generated on first use into
    :func:`cache_dir` (with a progress bar) and reused afterwards; concurrent first uses
    (two notebooks) wait for one generation instead of both writing the file. An
    ``xarray.Dataset`` is used through its file only when it is exactly that file's content
    (not a selection, copy with changes, or assignment); otherwise it is written to a
    temporary file and trained on as given.

    Raises:
        ValueError: unknown name or a file that is not a complete opkit dataset.
        TypeError: anything else.
    """
    import xarray as xr

    if isinstance(dataset, xr.Dataset):
        source = dataset.encoding.get("source")
        if source and Path(source).is_file() and _is_its_file(dataset, Path(source)):
            return Path(source)
        tmp = Path(tempfile.mkdtemp(prefix="opkit-")) / "dataset.h5"
        dataset.to_netcdf(tmp, engine="h5netcdf")
        return tmp
    if isinstance(dataset, (str, os.PathLike)):
        text = str(dataset)
        if text in BUILTIN_DATASETS:
            out = cache_dir() / f"{text}-{size}-seed{seed}.h5"
            if not recipe_matches(out, text, seed=seed, size=size):
                out.parent.mkdir(parents=True, exist_ok=True)
                with output_lock(out, wait=True):  # another process may be making it
                    # A cached file is trusted only if it holds this recipe (a file of an
                    # older opkit, or one edited by hand, is made again).
                    if not recipe_matches(out, text, seed=seed, size=size):
                        generate(text, out=out, seed=seed, size=size, overwrite=True)
            return out
        path = Path(text)
        if not path.exists():
            raise ValueError(
                f"`dataset` {text!r} is neither a file nor a built-in dataset "
                f"{BUILTIN_DATASETS}; generate one with `opkit generate`."
            )
        open_dataset(path).close()  # validates: complete opkit file
        return path
    raise TypeError(
        "`dataset` must be a path, an xarray.Dataset or a built-in name "
        f"{BUILTIN_DATASETS}, got {type(dataset).__name__}."
    )


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
