"""Build a model from a `DataSpec` and keep its record, so that it can be rebuilt on load."""

from __future__ import annotations

import inspect
import pydoc
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import torch
from torch import nn

from .._records import record
from ..pde_data import DataSpec

__all__ = ["DATA_SIZES", "NetworkFactory", "build_from_record", "build_from_spec", "spec_init_args"]

# Constructor arguments of opkit's networks that only the data can give (the names of
# `NetworkFactory.__call__`): a config never sets them.
DATA_SIZES = frozenset(
    {"in_channels", "out_channels", "n_dim", "n_fields", "grid_shape", "spatial_shape", "n_outputs"}
)


class NetworkFactory(Protocol):
    """A network class with its settings, waiting for the sizes that the data fixes.

    This is how a LightningCLI config names the network of `OperatorModule`: ``class_path``
    and ``init_args`` as for any class, without the constructor arguments listed here.
    jsonargparse reads a parameter of this type as an *instance factory*: it checks the
    ``init_args`` against the class's constructor, leaving out the keyword arguments of
    ``__call__`` (`DATA_SIZES`), so that a config parses before any data is read. The
    module then builds the network from its record and the data's `DataSpec` (see
    `build_from_record`).
    """

    def __call__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        n_dim: int,
        n_fields: int,
        grid_shape: Sequence[int],
        spatial_shape: Sequence[int],
        n_outputs: int,
    ) -> nn.Module: ...


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
    return _built(model_cls, init_args)


def build_from_record(rec: Mapping[str, Any], spec: DataSpec) -> tuple[nn.Module, dict]:
    """The network a config names (``{"class_path", "init_args"}``), sized for ``spec``,
    and its complete record.

    ``init_args`` is what LightningCLI parsed: every setting of the constructor, those the
    config omits at the constructor's defaults (so ``--print_config`` shows what is
    built). The network gets these settings; the sizes the data fixes (`DATA_SIZES`,
    which ``init_args`` must not hold) and the settings left unset (``None``, e.g.
    DeepONet's ``branch_layers``) come from ``init_args_from_spec(spec, **settings)``, as
    `build_from_spec` gives them. A class without ``init_args_from_spec`` is built from
    ``init_args`` alone.

    Raises:
        ValueError: ``init_args`` sets a size that the data fixes.
        TypeError: ``class_path`` names no ``nn.Module`` class, or arguments it does not
            take.
    """
    # The class was imported when LightningCLI parsed the config: any package may hold it
    # (the allow-list of `opkit.load` guards files, not configs).
    model_cls = pydoc.locate(rec["class_path"])
    if not (isinstance(model_cls, type) and issubclass(model_cls, nn.Module)):
        raise TypeError(f"{rec['class_path']!r} does not name an nn.Module class.")
    settings = dict(rec.get("init_args") or {})
    fixed = sorted(DATA_SIZES & settings.keys())
    if fixed:
        raise ValueError(
            f"{rec['class_path']}: {fixed} are fixed by the data (its DataSpec); drop them "
            "from the model's init_args."
        )
    if not callable(getattr(model_cls, "init_args_from_spec", None)):
        return _built(model_cls, settings)
    given = {k: v for k, v in settings.items() if v is not None}
    params = inspect.signature(model_cls.init_args_from_spec).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        given_to_spec = {k: v for k, v in given.items() if k in params}
    else:
        given_to_spec = given
    init_args = {**settings, **spec_init_args(model_cls, spec, **given_to_spec), **given}
    return _built(model_cls, init_args)


def _built(model_cls: type, init_args: Mapping[str, Any]) -> tuple[nn.Module, dict]:
    model = model_cls(**init_args)
    kept = {k: v for k, v in init_args.items() if not isinstance(v, torch.Generator)}
    return model, record(model_cls, kept)
