"""The front door: `fit`, `evaluate` and `load` for every task.

Each looks the task up in `TASKS` (by the model class and the dataset argument, by the
checkpoint's recorded task, or by the trained result's task) and hands it the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from torch import nn

from ._checkpoint import read_checkpoint
from ._loop import seeded, train
from ._recipe import Recipe
from ._task import AbstractTrained
from ._tasks import task_for, task_named, task_of_module

__all__ = ["fit", "evaluate", "load"]


def fit(
    model: type[nn.Module] | nn.Module,
    dataset: Any,
    *,
    recipe: Recipe | None = None,
    **options: Any,
) -> AbstractTrained:
    """Train ``model`` on ``dataset`` and return the trained result.

    Args:
        model: a model class (sized by the data: ``from_spec`` for operators,
            ``init_args_from_problem`` for PINNs, the constructor for PROSE; extra keyword
            arguments go to it) or a built ``nn.Module``.
        dataset: a path to an opkit file, an ``xarray.Dataset`` from
            ``opkit.open_dataset``, a built-in name (``opkit.trainers.BUILTIN_DATASETS``,
            generated on first use into the cache folder, see :func:`cache_dir`), or a
            `PINNProblem` for a PINN.
        recipe: a `Recipe` (budget, optimiser, data handling, devices); its fields may
            also be given as keywords (``max_epochs=5``), which override it.
        **options: the task's own options (see `OperatorTask`, `ProseTask`, `PINNTask`),
            then the model's constructor arguments.

    Returns:
        the task's result (`TrainedOperator`, `TrainedProse`, `TrainedPINN`) with
        ``.model``, ``.metrics`` (``test/rel_l2``, ``val/rel_l2``, ``epoch``, ``step``...),
        ``.data`` (where the training data came from), ``.predict`` and ``.save``. With a
        validation split the weights are those of the best validation epoch (selection
        never looks at the test split).

    Raises:
        ValueError / TypeError: bad arguments, unknown dataset, a model that does not fit
            the data; all before training starts.

    Examples:
        >>> import opkit
        >>> result = opkit.fit(opkit.models.FNO, "burgers", max_time=120)  # doctest: +SKIP
        >>> result.metrics["test/rel_l2"]  # doctest: +SKIP
    """
    task = task_for(model, dataset)
    recipe, rest = Recipe.split(recipe, options)
    mine = task.options()
    task_options = {k: v for k, v in rest.items() if k in mine}
    model_kwargs = {k: v for k, v in rest.items() if k not in mine}
    if model_kwargs and isinstance(model, nn.Module):
        raise TypeError(
            f"unknown option(s) {sorted(model_kwargs)} for a built {type(model).__name__}; "
            f"the {task.name} task takes {sorted(mine)} besides the Recipe's fields."
        )
    with seeded(recipe.seed):
        module, datamodule = task.build(model, dataset, recipe, task_options, model_kwargs)
        metrics = train(
            module,
            datamodule,
            recipe,
            task=task.name,
            monitor=task.monitor,
            trainer_defaults=task.trainer_defaults(task_options),
        )
    source = datamodule.source() if callable(getattr(datamodule, "source", None)) else None
    return task.result(module, metrics=metrics, data=source)


def evaluate(model: Any, dataset: Any = None, split: str = "test", **options: Any) -> dict:
    """Score a trained model with the shared metrics, on the data of its task.

    Args:
        model: what `fit` returned, a checkpoint path, or a trained task module (e.g. a
            `PINNModule`).
        dataset: where to score it. ``None``: the model's own data (its training file or
            built-in name at the size and seed it was trained on); a PINN is always scored
            against its problem's reference. A built-in name resolves at the model's own
            size and seed.
        split: ``"train"``, ``"val"`` or ``"test"``.
        **options: the task's scoring options (see `evaluate_operator`, `evaluate_prose`,
            `evaluate_solution`).

    Returns:
        a ``dict`` of metrics (``rel_l2``, ``rel_l2_median``, ...).

    Raises:
        ValueError: an unknown split, data that do not fit the model, or a split that
            shares samples with the model's training split (naming both files and the
            overlapping samples).
    """
    trained = _trained(model)
    return task_named(trained.task).evaluate(trained, dataset, split, **options)


def _trained(model: Any) -> AbstractTrained:
    if isinstance(model, AbstractTrained):
        return model
    if isinstance(model, (str, Path)):
        return load(model)
    if isinstance(model, L.LightningModule):
        return task_of_module(model).result(model, metrics={}, data=None)
    raise TypeError(
        "`model` must be what `opkit.fit` returned, a checkpoint path, or a trained task "
        f"module (e.g. a PINNModule), got {type(model).__name__}."
    )


def load(path: str | Path, *, model: nn.Module | None = None, map_location="cpu"):
    """Restore a result saved by ``.save`` or a Lightning checkpoint of ``opkit fit``.

    The file is read once, with ``torch.load(weights_only=True)``: nothing in it is
    executed. Its recorded task rebuilds it; the network from its record when that names
    an ``opkit.`` (or ``torch.``) class, after a check on the ``meta`` device that the
    stored weights fit it; otherwise pass a freshly built ``model`` of the same
    architecture.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an opkit checkpoint, an unknown task, a class outside the
            allow-list, weights that are missing, do not fit or are not finite.
    """
    raw = read_checkpoint(path, map_location=map_location)
    return task_named(raw["opkit"]["task"]).restore(Path(path), raw, model=model)
