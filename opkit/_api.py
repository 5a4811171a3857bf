"""``opkit.fit`` / ``opkit.evaluate`` / ``opkit.load``: thin, built on `opkit.trainers`.

They import the training layer on first call, so that ``import opkit`` (and
``opkit generate``) does not pay for importing Lightning.
"""

from __future__ import annotations

from typing import Any


def fit(model: Any, dataset: Any, **options: Any):
    """Train ``model`` (a class, sized by the data, or an instance) on ``dataset``.

    ``dataset`` is a path, an ``xarray.Dataset``, a built-in name (``"burgers"``, ``"ks"``,
    ``"ns"``, ``"allen_cahn"``, ``"advection"``, ``"odes"``) or a PINN problem. Returns the
    task's trained result (``.model``, ``.metrics``, ``.predict``, ``.save``). All options:
    :func:`opkit.trainers.fit` and :class:`opkit.trainers.Recipe`.

    Examples:
        >>> import opkit
        >>> result = opkit.fit(opkit.models.FNO, "burgers", max_time=120)  # doctest: +SKIP
        >>> result.metrics["test/rel_l2"]  # doctest: +SKIP
    """
    from ._quiet import quiet_lightning
    from .trainers import fit as _fit

    with quiet_lightning():  # Lightning's tips and its own deprecations: nothing to act on
        return _fit(model, dataset, **options)


def evaluate(model: Any, dataset: Any = None, split: str = "test", **options: Any) -> dict:
    """Score a trained model with the shared metrics: an operator or PROSE on a split of
    its data (``dataset=None``: its own), a PINN on its problem's reference; see
    :func:`opkit.trainers.evaluate`."""
    from .trainers import evaluate as _evaluate

    return _evaluate(model, dataset, split, **options)


def load(path: Any, **options: Any):
    """Restore a saved model (``weights_only=True``); see :func:`opkit.trainers.load`."""
    from .trainers import load as _load

    return _load(path, **options)
