"""The table of training tasks: how `opkit.fit`, `opkit.evaluate`, `opkit.load`, the CLI
and the suites find what to do with a model, a dataset or a checkpoint.

Adding a task (a new kind of learning problem) means one module with an `AbstractTask`
and one entry here; nothing in ``fit``, ``evaluate`` or ``load`` branches on a type.
"""

from __future__ import annotations

from typing import Any

from ._task import AbstractTask
from ._task_operator import OperatorTask
from ._task_pinn import PINNTask
from ._task_prose import ProseTask

__all__ = ["TASKS", "task_for", "task_named", "task_of_module"]

#: name -> task, in the order they are asked whether they claim a (model, dataset); the
#: operator task claims everything and comes last.
TASKS: dict[str, AbstractTask] = {
    task.name: task for task in (PINNTask(), ProseTask(), OperatorTask())
}


def task_for(model: Any, dataset: Any) -> AbstractTask:
    """The task that trains ``model`` (a class or an instance) on ``dataset``."""
    cls = model if isinstance(model, type) else type(model)
    return next(task for task in TASKS.values() if task.claims(cls, dataset))


def task_named(name: Any) -> AbstractTask:
    """The task recorded in a checkpoint.

    Raises:
        ValueError: an unknown name.
    """
    if name not in TASKS:
        raise ValueError(
            f"the checkpoint names the task {name!r}; this opkit knows {sorted(TASKS)}."
        )
    return TASKS[name]


def task_of_module(module: Any) -> AbstractTask:
    """The task whose LightningModule ``module`` is.

    Raises:
        TypeError: a module of no task.
    """
    for task in TASKS.values():
        if isinstance(module, task.module_type):
            return task
    raise TypeError(
        f"{type(module).__name__} is not the module of an opkit task "
        f"({', '.join(t.module_type.__name__ for t in TASKS.values())})."
    )
