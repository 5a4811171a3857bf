"""One record format for everything opkit saves and rebuilds.

A *record* is the form LightningCLI's YAML already uses::

    {"class_path": "opkit.models.FNO", "init_args": {"n_modes": [16], ...}}

Dataset recipes (the PDE and the initial-condition sampler), model checkpoints and PINN
problems are all stored this way. Rebuilding imports the named class, so only classes
under an allowed prefix (``opkit.`` and ``torch.``) are rebuilt: a record read from a file
never imports anything else, and the check happens before any import.

This module depends on nothing else in opkit, so every layer may use it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = [
    "ALLOWED_PREFIXES",
    "RecordError",
    "class_path",
    "import_class",
    "is_record",
    "jsonable",
    "record",
    "rebuild",
]

ALLOWED_PREFIXES = ("opkit.", "torch.")

# Arrays longer than this are recorded by digest (HDF5 attributes hold at most 64 KiB).
_MAX_LIST = 256


class RecordError(ValueError):
    """A record that is malformed, names a class outside the allow-list, or does not fit."""


def class_path(obj_or_cls: Any) -> str:
    """The public dotted path of a class (or of an object's class).

    ``opkit.models._fno.FNO`` is re-exported as ``opkit.models.FNO``; the shortest
    package that re-exports the very same class is used, so that records do not depend on
    private module names.
    """
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    module = cls.__module__
    parts = module.split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        if not parent.startswith("opkit"):
            continue
        try:
            found = getattr(importlib.import_module(parent), cls.__qualname__, None)
        except ImportError:  # pragma: no cover - a parent package always imports
            found = None
        if found is cls:
            return f"{parent}.{cls.__qualname__}"
    return f"{module}.{cls.__qualname__}"


def jsonable(value: Any) -> Any:
    """``value`` as JSON-serialisable data (tensors and arrays as lists or a digest).

    Arrays with more than 256 entries are recorded as ``{"array_sha256", "shape",
    "dtype"}``: enough to tell two recipes apart, not to rebuild them. Dataclasses become
    records.
    """
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.size > _MAX_LIST:
            digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
            return {"array_sha256": digest, "shape": list(value.shape), "dtype": str(value.dtype)}
        return value.tolist()
    if isinstance(value, (list, tuple)):
        if _n_leaves(value) > _MAX_LIST:
            try:
                return jsonable(np.asarray(value, dtype=np.float64))
            except (TypeError, ValueError):  # ragged or non-numeric: keep it verbatim
                pass
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return record(value)
    return repr(value)


def _n_leaves(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return sum(_n_leaves(v) for v in value)
    return 1


def _init_args_of(obj: Any) -> dict[str, Any]:
    params = getattr(obj, "params", None)
    if callable(params):
        return dict(params())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init}
    raise TypeError(
        f"cannot record a {type(obj).__name__}: pass its `init_args`, or make it a dataclass "
        "or give it a params() method returning its constructor arguments."
    )


def record(obj_or_cls: Any, init_args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"class_path": ..., "init_args": {...}}`` of an object, JSON-serialisable.

    Args:
        obj_or_cls: the object (a dataclass, or anything with ``params()`` returning its
            constructor arguments) or, with ``init_args``, its class.
        init_args: the constructor arguments; read from the object when omitted.

    Raises:
        TypeError: the arguments cannot be read from the object.
    """
    if init_args is None:
        if isinstance(obj_or_cls, type):
            raise TypeError(f"record({obj_or_cls.__name__}) of a class needs `init_args`.")
        init_args = _init_args_of(obj_or_cls)
    return {"class_path": class_path(obj_or_cls), "init_args": jsonable(dict(init_args))}


def import_class(path: Any, *, base: type | None = None, what: str = "class") -> type:
    """The class named by a dotted ``path``, imported only under an allowed prefix.

    Args:
        path: ``"opkit.models.FNO"``.
        base: when given, the class must be a subclass of it.
        what: how the error messages name the thing (``"model class"``...).

    Raises:
        RecordError: not a string, outside ``opkit.``/``torch.`` (nothing is imported
            then), not importable, not a class, or not a subclass of ``base``.
    """
    if not isinstance(path, str) or not path:
        raise RecordError(f"the {what} must be a dotted class path string, got {path!r}.")
    if not path.startswith(ALLOWED_PREFIXES):
        raise RecordError(
            f"the {what} {path!r} is outside {ALLOWED_PREFIXES}; opkit never imports classes "
            "named in a file from other packages. Build the object yourself and pass it in."
        )
    module_name, _, name = path.rpartition(".")
    obj: Any = None
    # A path may name a nested attribute (``pkg.Class.Inner``): import the longest module.
    while module_name:
        try:
            obj = importlib.import_module(module_name)
            break
        except ImportError:
            module_name, _, head = module_name.rpartition(".")
            name = f"{head}.{name}"
    if obj is None:
        raise RecordError(f"the {what} {path!r} cannot be imported.")
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise RecordError(f"the {what} {path!r} does not exist.")
    if not isinstance(obj, type):
        raise RecordError(f"the {what} {path!r} is not a class.")
    if base is not None and not issubclass(obj, base):
        raise RecordError(f"the {what} {path!r} is not a {base.__name__}.")
    return obj


def _legacy(rec: Mapping[str, Any]) -> Mapping[str, Any]:
    # Files written before the one record format used {"class", "params"}.
    if "class_path" not in rec and "class" in rec:
        return {"class_path": rec["class"], "init_args": rec.get("params", {})}
    return rec


def is_record(value: Any) -> bool:
    """Whether ``value`` looks like a record (a mapping with a ``class_path``)."""
    return isinstance(value, Mapping) and ("class_path" in value or "class" in value)


def rebuild(rec: Any, *, base: type | None = None, what: str = "class") -> Any:
    """Build the object a record describes: ``cls(**init_args)``.

    Nested records inside ``init_args`` are rebuilt first (a PINN problem's PDE, say).

    Raises:
        RecordError: malformed record, a class outside the allow-list, parameters that
            were recorded by digest (they cannot be restored), or arguments the class
            does not accept.
    """
    if not is_record(rec):
        raise RecordError(
            f"a record must be a mapping with 'class_path' and 'init_args', got {rec!r:.200}."
        )
    rec = _legacy(rec)
    cls = import_class(rec["class_path"], base=base, what=what)
    init_args = rec.get("init_args") or {}
    if not isinstance(init_args, Mapping):
        raise RecordError(
            f"'init_args' of {rec['class_path']} must be a mapping, got {init_args!r}."
        )
    digested = [k for k, v in init_args.items() if isinstance(v, Mapping) and "array_sha256" in v]
    if digested:
        raise RecordError(
            f"{rec['class_path']}: argument(s) {digested} were recorded by digest and cannot "
            "be rebuilt; build the object yourself."
        )
    kwargs = {k: rebuild(v) if is_record(v) else v for k, v in init_args.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise RecordError(
            f"the record does not describe a valid {rec['class_path']}: {err}"
        ) from err
