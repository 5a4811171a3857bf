"""Saving and restoring trained operators: one format, Lightning's own checkpoint.

An `OperatorModule` receives everything it needs to be rebuilt as constructor arguments
(the data description ``spec`` and the network's record ``model_record``, a
``{"class_path", "init_args"}`` dict) and saves them with ``save_hyperparameters``, so a
checkpoint written by Lightning (``last.ckpt``, ``best.ckpt``) is complete. The file
written by ``TrainedOperator.save`` is the same dictionary, restricted to what a
prediction needs (``hyper_parameters``, ``state_dict``) plus the final metrics and a
description of the training data.

Everything is read with ``torch.load(weights_only=True)``: no pickle is executed, and the
network's class is imported only when its path starts with ``opkit.`` or ``torch.``
(`opkit._records`).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import save_torch
from .._records import RecordError, class_path, import_class, rebuild
from ._operator import OperatorModule

__all__ = ["FORMAT", "save_checkpoint", "load_checkpoint"]

FORMAT = "opkit.trained-operator"
FORMAT_VERSION = 2


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) or (isinstance(v, torch.Tensor) and v.numel() == 1)


def save_checkpoint(
    module: OperatorModule,
    path: str | Path,
    *,
    metrics: dict | None = None,
    data: dict | None = None,
) -> Path:
    """Write ``module`` to ``path`` (atomically: a failed write leaves the old file intact)."""
    bundle = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "hyper_parameters": dict(module.hparams),
        "state_dict": {
            k: v.detach().cpu()
            for k, v in module.state_dict().items()
            if isinstance(v, torch.Tensor)
        },
        "metrics": {k: float(v) for k, v in (metrics or {}).items() if _is_number(v)},
        "data": {k: v for k, v in (data or {}).items() if isinstance(v, (str, int, float))},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_torch(bundle, path)


def _from_version_1(bundle: dict) -> dict:
    # Files saved before the record format: {"model_class", "model_kwargs", "spec", ...}.
    hparams = dict(bundle.get("module_hparams") or {})
    hparams["spec"] = bundle.get("spec")
    if bundle.get("model_kwargs") is not None:
        hparams["model_record"] = {
            "class_path": bundle["model_class"],
            "init_args": bundle["model_kwargs"],
        }
    else:
        hparams["model_record"] = {"class_path": bundle.get("model_class"), "init_args": None}
    return {**bundle, "hyper_parameters": hparams}


def _read(path: Path, map_location) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}.")
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle errors differ between torch versions
        raise ValueError(f"{path} is not a checkpoint opkit can read safely: {err}") from err
    if not isinstance(raw, dict):
        raise ValueError(f"{path} is not an opkit checkpoint (it holds a {type(raw).__name__}).")
    if raw.get("format") == FORMAT and raw.get("format_version", 1) == 1:
        return _from_version_1(raw)
    if isinstance(raw.get("opkit"), dict) and "hyper_parameters" not in raw:
        # A Lightning checkpoint of opkit <= 0.1 carried the version-1 record under "opkit".
        return _from_version_1({**raw["opkit"], "state_dict": raw.get("state_dict")})
    hparams = raw.get("hyper_parameters")
    if not isinstance(hparams, dict) or not isinstance(raw.get("state_dict"), dict):
        raise ValueError(
            f"{path} is not an opkit trained-operator checkpoint (no hyper-parameters and "
            "weights); save one with `opkit.fit(...).save(path)` or train with `opkit fit`."
        )
    if hparams.get("spec") is None:
        raise ValueError(
            f"{path} does not record the data it was trained on (`spec`); it was not written "
            "by an opkit OperatorModule."
        )
    return raw


def _check_record_fits(path: Path, rec: dict, state_dict: dict) -> None:
    """Build the recorded network on the ``meta`` device (no memory) and compare its
    parameter shapes with the stored weights, so that a record with an absurd size (say
    ``hidden_channels = 10**6``) is refused before anything is allocated."""
    try:
        with torch.device("meta"):
            shapes = {
                k: tuple(v.shape) for k, v in rebuild(rec, base=nn.Module).state_dict().items()
            }
    except RecordError as err:
        raise ValueError(f"{path}: checkpoint does not describe a valid model: {err}") from err
    except Exception:  # a model that cannot be built on `meta`: the real build decides
        return
    stored = {
        k.removeprefix("model."): tuple(v.shape)
        for k, v in state_dict.items()
        if k.startswith("model.") and isinstance(v, torch.Tensor)
    }
    # (keys of older layouts are renamed by the models' own load hooks: compare shared ones)
    wrong = [k for k, shape in shapes.items() if k in stored and stored[k] != shape]
    if wrong:
        raise ValueError(
            f"{path}: checkpoint does not describe a valid model: its record "
            f"({rec.get('class_path')}) does not match the stored weights {wrong[:3]}."
        )


def load_checkpoint(
    path: str | Path, *, model: nn.Module | None = None, map_location="cpu"
) -> tuple[OperatorModule, dict, dict]:
    """The `OperatorModule` saved at ``path``, its metrics and its data description.

    Args:
        path: a file of ``TrainedOperator.save`` or a Lightning checkpoint of `opkit fit`.
        model: a freshly built network of the checkpoint's class, needed only when the
            checkpoint holds a network built by hand (no record of its arguments).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an opkit checkpoint, a network class outside ``opkit.``/``torch.``,
            or weights that do not fit.
    """
    path = Path(path)
    raw = _read(path, map_location)
    hparams = dict(raw["hyper_parameters"])
    rec = hparams.get("model_record") or {}
    if model is None:
        if not rec.get("class_path") or rec.get("init_args") is None:
            raise ValueError(
                f"{path} holds a network built by hand ({rec.get('class_path')}); rebuild it "
                "and pass it: opkit.load(path, model=...)."
            )
        _check_record_fits(path, rec, raw["state_dict"])
        try:
            model = rebuild(rec, base=nn.Module, what="model class")
        except RecordError as err:
            raise ValueError(f"{path}: checkpoint does not describe a valid model: {err}") from err
    elif rec.get("class_path") and class_path(model) != rec["class_path"]:
        # Records written with a private module path still name the same class.
        if import_class(rec["class_path"], base=nn.Module) is not type(model):
            raise ValueError(
                f"{path} holds a {rec['class_path']}, but `model` is a {class_path(model)}; "
                "pass a model of the checkpoint's class."
            )
    # LightningCLI adds entries such as `_class_path`: keep the module's own settings.
    accepted = inspect.signature(OperatorModule.__init__).parameters
    module = OperatorModule(model, **{k: v for k, v in hparams.items() if k in accepted})
    try:
        module.load_state_dict(raw["state_dict"])
    except RuntimeError as err:
        raise ValueError(
            f"the weights in {path} do not fit the given model ({type(model).__name__}): {err}"
        ) from err
    module.eval()
    return module, dict(raw.get("metrics") or {}), dict(raw.get("data") or {})
