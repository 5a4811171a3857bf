"""What every model that data can size shares: ``from_spec`` and the checks of its ``spec``.

A model sized by a dataset offers the classmethod ``init_args_from_spec(spec, **kwargs)
-> dict`` (its constructor arguments for that data; ``opkit.trainers`` records them) and
``from_spec(spec, **kwargs) = cls(**cls.init_args_from_spec(spec, **kwargs))``, which
:class:`SizedByData` gives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..pde_data import DataSpec

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11

__all__ = ["SizedByData", "check_spec", "check_not_contradicting"]


class SizedByData:
    """Mixin of the models that a :class:`~opkit.pde_data.DataSpec` can size.

    The model defines the classmethod ``init_args_from_spec(spec, **kwargs) -> dict``
    (deliberately not declared here, so that ``opkit.trainers`` can tell a model that
    lacks it); this mixin adds ``from_spec``, which builds the model from those arguments.
    """

    @classmethod
    def from_spec(cls, spec: DataSpec, **kwargs: Any) -> Self:
        """``cls(**cls.init_args_from_spec(spec, **kwargs))``: the model sized for ``spec``.

        Raises:
            TypeError / ValueError: as ``init_args_from_spec`` and the constructor.
        """
        return cls(**cls.init_args_from_spec(spec, **kwargs))


def check_spec(spec: object) -> DataSpec:
    """``spec``, after checking that it is a :class:`~opkit.pde_data.DataSpec`.

    Raises:
        TypeError: ``spec`` is something else (a shape tuple, a dataset...).
    """
    if not isinstance(spec, DataSpec):
        raise TypeError(f"`spec` must be an opkit.pde_data.DataSpec, got {type(spec).__name__}.")
    return spec


def check_not_contradicting(
    model: str, fixed: Mapping[str, Any], kwargs: Mapping[str, Any]
) -> None:
    """Refuse keyword arguments that give a size the data fixes a different value.

    ``fixed`` maps constructor arguments to the values ``spec`` gives them; repeating a
    value in ``kwargs`` is accepted (a sequence equals the same entries as a list or a
    tuple), contradicting it is not.

    Raises:
        ValueError: naming the contradicting arguments and the values the data fixes.
    """

    def same(name: str) -> bool:
        given, value = kwargs[name], fixed[name]
        if given is not None and isinstance(value, (list, tuple)):
            try:
                given = tuple(given)
            except TypeError:
                return False
            value = tuple(value)
        return given == value

    clash = {name: kwargs[name] for name in sorted(set(fixed) & set(kwargs)) if not same(name)}
    if clash:
        raise ValueError(
            f"{model}.from_spec: {clash} contradict the DataSpec, which fixes "
            f"{ {name: fixed[name] for name in clash} }; drop them, or construct "
            f"{model}(...) directly."
        )
