"""One checkpoint format for every task: Lightning's own checkpoint with opkit's record.

A checkpoint is the dictionary Lightning writes (``last.ckpt``, ``best.ckpt``) or a subset
of it (what ``result.save(path)`` writes): ``hyper_parameters`` (the module's constructor
arguments, including the network's record ``model_record``, a ``{"class_path",
"init_args"}`` dict), ``state_dict`` (the weights), and ``opkit``: ``{"task",
"format_version", "data", "metrics"}`` (`CheckpointRecord`). ``task`` says which task
rebuilds it, so a file is read exactly once.

Everything is read with ``torch.load(weights_only=True)``: no pickle is executed, and the
network's class is imported only when its path starts with ``opkit.`` or ``torch.``
(`opkit._records`). The recorded network is first built on the ``meta`` device and
compared with the stored weights, so a record of absurd size, or one whose weights are
missing, is refused before anything is allocated.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from .._io import save_torch
from .._records import RecordError, class_path, import_class, rebuild

__all__ = [
    "CheckpointRecord",
    "FORMAT_VERSION",
    "read_checkpoint",
    "save_checkpoint",
    "network_for",
    "module_from_checkpoint",
]

#: Version of the checkpoint record (`CheckpointRecord`, `save_checkpoint`).
FORMAT_VERSION = 3


class CheckpointRecord(L.Callback):
    """Write opkit's record into every checkpoint Lightning saves: ``checkpoint["opkit"] =
    {"task", "format_version", "data", "metrics"}``.

    ``task`` names the training task (`opkit.trainers.TASKS`), so that `opkit.load` reads
    any checkpoint once and knows what rebuilds it; ``data`` is the data module's
    ``source()`` (where the training data came from, `opkit.trainers.data_source`).
    `opkit.fit` and ``opkit fit`` add this callback.
    """

    def __init__(self, task: str):
        super().__init__()
        self.task = task

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        dm = getattr(trainer, "datamodule", None)
        source = dm.source() if callable(getattr(dm, "source", None)) else None
        checkpoint["opkit"] = {
            "task": self.task,
            "format_version": FORMAT_VERSION,
            "data": source,
            "metrics": {},
        }


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) or (isinstance(v, torch.Tensor) and v.numel() == 1)


def save_checkpoint(
    module: nn.Module, path: str | Path, *, task: str, metrics: dict, data: dict | None
) -> Path:
    """Write ``module`` (a task's LightningModule) to ``path`` atomically: a failed write
    (a full disk, say) leaves an existing file intact and no stray temporary file."""
    bundle = {
        "hyper_parameters": dict(module.hparams),
        "state_dict": {
            k: v.detach().cpu()
            for k, v in module.state_dict().items()
            if isinstance(v, torch.Tensor)
        },
        "opkit": {
            "task": task,
            "format_version": FORMAT_VERSION,
            "metrics": {k: float(v) for k, v in (metrics or {}).items() if _is_number(v)},
            "data": data,
        },
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_torch(bundle, path)


def read_checkpoint(path: str | Path, *, map_location="cpu") -> dict:
    """The checkpoint at ``path``, read once with ``weights_only=True`` and checked to be
    opkit's (``hyper_parameters``, ``state_dict`` and the ``opkit`` record).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a checkpoint opkit wrote, or not readable safely.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}.")
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle errors differ between torch versions
        raise ValueError(f"{str(path)!r} is not a checkpoint opkit can read safely: {err}") from err
    record = raw.get("opkit") if isinstance(raw, dict) else None
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("task"), str)
        or not isinstance(raw.get("hyper_parameters"), dict)
        or not isinstance(raw.get("state_dict"), dict)
    ):
        raise ValueError(
            f"{str(path)!r} is not an opkit checkpoint (it lacks the `opkit` record, the "
            "hyper-parameters or the weights); save one with `opkit.fit(...).save(path)` or "
            "train with `opkit fit`."
        )
    return raw


def network_for(
    path: str | Path, raw: dict, *, prefix: str, model: nn.Module | None = None
) -> nn.Module:
    """The network of a checkpoint: ``model`` (checked to be of the recorded class) or the
    one its ``model_record`` describes, after a check on the ``meta`` device that every
    parameter and buffer of the record is stored under ``prefix`` with its shape.

    Raises:
        ValueError: a hand-built network without ``model``, a class outside the allow-list,
            missing or mis-shaped weights.
    """
    rec = raw["hyper_parameters"].get("model_record") or {}
    if model is not None:
        if rec.get("class_path") and class_path(model) != rec["class_path"]:
            try:
                same = import_class(rec["class_path"], base=nn.Module) is type(model)
            except RecordError:
                same = False
            if not same:
                raise ValueError(
                    f"{str(path)!r} holds a {rec['class_path']}, but `model` is a "
                    f"{class_path(model)}; pass a model of the checkpoint's class."
                )
        return model
    if not rec.get("class_path") or rec.get("init_args") is None:
        raise ValueError(
            f"{str(path)!r} holds a network built by hand ({rec.get('class_path')}); rebuild "
            "it and pass it: opkit.load(path, model=...)."
        )
    stored = {
        k.removeprefix(prefix): tuple(v.shape)
        for k, v in raw["state_dict"].items()
        if k.startswith(prefix) and isinstance(v, torch.Tensor)
    }
    try:
        with torch.device("meta"):
            meta = rebuild(rec, base=nn.Module, what="model class")
    except RecordError as err:
        raise ValueError(
            f"{str(path)!r}: checkpoint does not describe a valid model: {err}"
        ) from err
    except Exception:  # a model that cannot be built on `meta`: the real build decides
        return rebuild(rec, base=nn.Module, what="model class")
    shapes = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    missing = sorted(k for k in shapes if k not in stored)
    wrong = sorted(k for k in shapes if k in stored and stored[k] != shapes[k])
    if missing or wrong:
        raise ValueError(
            f"{str(path)!r}: checkpoint does not describe a valid model: its record "
            f"({rec.get('class_path')}, {_size(shapes)}) does not match the stored weights "
            f"({'missing ' + str(missing[:3]) if missing else ''}"
            f"{' mis-shaped ' + str(wrong[:3]) if wrong else ''})."
        )
    return rebuild(rec, base=nn.Module, what="model class")


def _size(shapes: dict) -> str:
    n = sum(math.prod(s) for s in shapes.values())
    return f"{n:,} values"


def module_from_checkpoint(path: str | Path, raw: dict, module_type: type, network: nn.Module):
    """``module_type(network, **hyper_parameters)`` with the stored weights, in eval mode.

    Hyper-parameters the module does not take (LightningCLI's ``_class_path``...) are left
    out. Non-finite stored weights are refused.

    Raises:
        ValueError: the weights do not fit, or hold NaN/Inf.
    """
    accepted = inspect.signature(module_type.__init__).parameters
    hparams = {k: v for k, v in raw["hyper_parameters"].items() if k in accepted}
    try:
        module = module_type(network, **hparams)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{str(path)!r}: its hyper-parameters are not valid: {err}") from err
    bad = [
        k
        for k, v in raw["state_dict"].items()
        if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(v.isfinite().all())
    ]
    if bad:
        raise ValueError(f"{str(path)!r} holds NaN/Inf weights ({bad[:3]}); it cannot be used.")
    try:
        module.load_state_dict(raw["state_dict"])
    except RuntimeError as err:
        raise ValueError(
            f"the weights in {str(path)!r} do not fit the model ({type(network).__name__}): {err}"
        ) from err
    module.eval()
    return module
