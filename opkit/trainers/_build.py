"""Build a model from a DataSpec and remember how, so that it can be rebuilt on load."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from torch import nn

from ..pde_data import DataSpec

__all__ = ["build_from_spec", "spec_kwargs", "class_path", "import_model_class"]


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def spec_kwargs(model_cls: type, spec: DataSpec, **kwargs: Any) -> dict[str, Any]:
    """The constructor arguments ``model_cls.from_spec(spec, **kwargs)`` would use.

    Every opkit model's ``from_spec`` ends in ``cls(**constructor_kwargs)``; the arguments
    are recorded by letting ``from_spec`` run on a recording subclass (nothing is built),
    so that a saved model is rebuilt from plain data without pickles and a YAML config can
    be completed with the sizes fixed by the data.

    Raises:
        TypeError: ``model_cls`` is not an ``nn.Module`` class with ``from_spec``.
    """
    if not (isinstance(model_cls, type) and issubclass(model_cls, nn.Module)):
        raise TypeError(
            f"`model` must be an nn.Module class or instance, got {model_cls!r}. "
            "Pass e.g. opkit.models.DeepONet or opkit.models.FNO(...)."
        )
    if not hasattr(model_cls, "from_spec"):
        raise TypeError(
            f"{model_cls.__name__} has no `from_spec(spec, **kwargs)` classmethod, so its sizes "
            "cannot be inferred from the data; pass a built instance instead."
        )
    recorded: dict[str, Any] = {}
    signature = inspect.signature(model_cls.__init__)

    def record(self, *args, **kw):
        recorded.update(signature.bind(self, *args, **kw).arguments)
        recorded.pop(next(iter(signature.parameters)), None)  # `self`

    recorder = type(model_cls.__name__, (model_cls,), {"__init__": record})
    recorder.from_spec(spec, **kwargs)
    init_kwargs: dict[str, Any] = {}
    for name, value in recorded.items():
        if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
            init_kwargs.update(value)
        else:
            init_kwargs[name] = value
    return init_kwargs


def build_from_spec(model_cls: type, spec: DataSpec, **kwargs: Any) -> tuple[nn.Module, dict]:
    """``model_cls.from_spec(spec, **kwargs)`` and the constructor arguments it used."""
    init_kwargs = spec_kwargs(model_cls, spec, **kwargs)
    return model_cls(**init_kwargs), init_kwargs


def import_model_class(path: str) -> type:
    """Import a model class named in a checkpoint; only ``opkit.models`` classes qualify.

    Raises:
        ValueError: the class lies outside ``opkit.models`` (loading never imports
            arbitrary code named in a file: pass ``model=`` to ``opkit.load`` instead).
    """
    if not path.startswith("opkit.models."):
        raise ValueError(
            f"the checkpoint's model class {path!r} is not an opkit model; rebuild it yourself "
            "and pass it: opkit.load(path, model=MyModel(...))."
        )
    module, _, name = path.rpartition(".")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ValueError(f"{path!r} is not an nn.Module class.")
    return obj
