"""``opkit.fit`` / ``opkit.evaluate`` / ``opkit.load``: thin, built on `opkit.trainers`.

They import the training layer on first call, so that ``import opkit`` (and
``opkit generate``) does not pay for importing Lightning.
"""

from __future__ import annotations

from typing import Any


def fit(model: Any, dataset: Any, **options: Any):
    """Train ``model`` (a class, sizes inferred, or an instance) on ``dataset``.

    ``dataset`` is a path, an ``xarray.Dataset`` or a built-in name (``"burgers"``,
    ``"ks"``, ``"ns"``). Returns a ``TrainedOperator`` (``.model``, ``.metrics``,
    ``.predict``, ``.save``). All options: :func:`opkit.trainers.fit`.

    Examples:
        >>> import opkit
        >>> result = opkit.fit(opkit.models.FNO, "burgers", max_time=120)  # doctest: +SKIP
        >>> result.metrics["test/rel_l2"]  # doctest: +SKIP
    """
    from ._quiet import quiet_lightning

    hook = _entry_point(model if isinstance(model, type) else type(model), "opkit_trainer")
    with quiet_lightning():  # Lightning's tips and its own deprecations: nothing to act on
        if hook is not None:  # e.g. PROSE trains on ODE trajectories with its own module
            return hook(model, dataset, **options)
        from .trainers import fit as _fit

        return _fit(model, dataset, **options)


def _entry_point(obj: Any, attribute: str):
    """The function named ``"opkit.pkg.module:function"`` by ``obj.<attribute>``, imported
    lazily (a model names its training layer as a string: models never import trainers).
    Only ``opkit.`` modules are imported; ``None`` when ``obj`` names none."""
    name = getattr(obj, attribute, None)
    if not isinstance(name, str):
        return None
    module, _, function = name.partition(":")
    if not module.startswith("opkit."):
        raise ValueError(f"{attribute} {name!r} must name a function in an opkit module.")
    import importlib

    return getattr(importlib.import_module(module), function)


def evaluate(model: Any, dataset: Any = None, split: str = "test", **options: Any) -> dict:
    """Score a trained model with the shared metrics: an operator on a dataset split, a
    PINN (``dataset=None``) on its problem's reference, a PROSE on ODE trajectories and
    equations; see :func:`opkit.trainers.evaluate`."""
    from .trainers import evaluate as _evaluate

    return _evaluate(model, dataset, split, **options)


def load(path: Any, **options: Any):
    """Restore a saved model (``weights_only=True``); see :func:`opkit.trainers.load`."""
    from .trainers import load as _load

    return _load(path, **options)
