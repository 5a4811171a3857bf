"""Build a model from a `DataSpec` and keep its record, so that it can be rebuilt on load."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._records import record
from ..pde_data import DataSpec

__all__ = ["build_from_spec", "spec_init_args"]


def spec_init_args(model_cls: type, spec: DataSpec, **kwargs: Any) -> dict[str, Any]:
    """``model_cls.init_args_from_spec(spec, **kwargs)``, with a clear error if missing.

    Every opkit model that can be sized by data offers the classmethod
    ``init_args_from_spec(spec, **kwargs) -> dict`` (its constructor arguments for that
    data), and ``from_spec`` is ``cls(**cls.init_args_from_spec(spec, **kwargs))``.

    Raises:
        TypeError: ``model_cls`` is not an ``nn.Module`` class, or cannot be sized by data.
    """
    if not (isinstance(model_cls, type) and issubclass(model_cls, nn.Module)):
        raise TypeError(
            f"`model` must be an nn.Module class or instance, got {model_cls!r}. "
            "Pass e.g. opkit.models.DeepONet or opkit.models.FNO(...)."
        )
    if not callable(getattr(model_cls, "init_args_from_spec", None)):
        raise TypeError(
            f"{model_cls.__name__} has no `init_args_from_spec(spec, **kwargs)` classmethod, so "
            "its sizes cannot be inferred from the data; pass a built instance instead."
        )
    return dict(model_cls.init_args_from_spec(spec, **kwargs))


def build_from_spec(model_cls: type, spec: DataSpec, **kwargs: Any) -> tuple[nn.Module, dict]:
    """The model ``model_cls.from_spec(spec, **kwargs)`` builds, and its record.

    The record (``{"class_path", "init_args"}``) leaves out random generators: they seed
    the initial weights, which the checkpoint holds anyway.
    """
    init_args = spec_init_args(model_cls, spec, **kwargs)
    model = model_cls(**init_args)
    kept = {k: v for k, v in init_args.items() if not isinstance(v, torch.Generator)}
    return model, record(model_cls, kept)
