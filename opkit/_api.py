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
    from .trainers import fit as _fit

    return _fit(model, dataset, **options)


def evaluate(model: Any, dataset: Any = None, split: str = "test", **options: Any) -> dict:
    """Score a trained operator on a dataset split, or a trained PINN (``dataset=None``)
    on its problem's reference, with the shared metrics; see
    :func:`opkit.trainers.evaluate`."""
    from .trainers import evaluate as _evaluate

    return _evaluate(model, dataset, split, **options)


def load(path: Any, **options: Any):
    """Restore a saved ``TrainedOperator`` (``weights_only=True``); see
    :func:`opkit.trainers.load`."""
    from .trainers import load as _load

    return _load(path, **options)
