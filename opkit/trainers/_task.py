"""`AbstractTask` and `AbstractTrained`: what every training task provides.

A *task* (operator learning, PROSE, PINN, ...) says, in its own small module:

- whether it trains a given model class on a given dataset argument (`claims`),
- how the dataset argument becomes a data module and the model a LightningModule
  (`build`), with which options of its own (`options`),
- what its trained result is (`result`), how it is scored with the shared metrics
  (`evaluate`) and rebuilt from a checkpoint (`restore`).

`opkit.fit`, `opkit.evaluate`, `opkit.load`, the CLI and the suites look tasks up in one
table (`opkit.trainers.TASKS`) and never branch on a model's type themselves.
"""

from __future__ import annotations

import abc
import inspect
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
from torch import nn

from ._checkpoint import module_from_checkpoint, network_for, save_checkpoint
from ._recipe import Recipe

__all__ = ["AbstractTask", "AbstractTrained"]


class AbstractTrained:
    """What `opkit.fit` returns and `opkit.load` restores: a trained task module, its final
    metrics and where its training data came from.

    Attributes:
        module: the task's LightningModule (network + what training needs).
        model: the bare network (``module.model``).
        metrics: ``dict`` of final metrics (``test/rel_l2``, ``val/rel_l2``, ``epoch``...).
        data: the training data's identity (`opkit.trainers.data_source`), or ``None``.
        task: the task's name in `opkit.trainers.TASKS`.
    """

    task: ClassVar[str]

    def __init__(self, module: L.LightningModule, *, metrics=None, data: dict | None = None):
        self.module = module
        self.metrics = dict(metrics or {})
        self.data = dict(data) if data else None

    @property
    def model(self) -> nn.Module:
        return self.module.model

    def __repr__(self) -> str:
        shown = {k: round(v, 5) for k, v in self.metrics.items() if isinstance(v, float)}
        return f"{type(self).__name__}({type(self.model).__name__}, metrics={shown})"

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint that `opkit.load` restores (``weights_only=True``).

        The write is atomic: on failure (a full disk, say) an existing file is left intact.
        """
        return save_checkpoint(
            self.module, path, task=self.task, metrics=self.metrics, data=self.data
        )


class AbstractTask(abc.ABC):
    """A training task; see the module docstring. Concrete tasks are stateless singletons
    listed in `opkit.trainers.TASKS`."""

    #: name in `TASKS` and in checkpoints
    name: ClassVar[str]
    #: the task's LightningModule class (its constructor takes the network first)
    module_type: ClassVar[type[L.LightningModule]]
    #: what `opkit.fit` returns
    result_type: ClassVar[type[AbstractTrained]]
    #: the validation metric that selects the best weights (``None``: the final weights)
    monitor: ClassVar[str | None] = "val/rel_l2"
    #: where the network's weights sit in the module's state dict
    weights_prefix: ClassVar[str] = "model."

    @abc.abstractmethod
    def claims(self, model_cls: type, dataset: Any) -> bool:
        """Whether this task trains ``model_cls`` on ``dataset``."""

    @abc.abstractmethod
    def options(self) -> frozenset[str]:
        """The keyword options of `opkit.fit` this task takes (besides `Recipe` fields)."""

    @abc.abstractmethod
    def build(
        self,
        model: type[nn.Module] | nn.Module,
        dataset: Any,
        recipe: Recipe,
        options: dict[str, Any],
        model_kwargs: dict[str, Any],
    ) -> tuple[L.LightningModule, L.LightningDataModule]:
        """The data module for ``dataset`` and the module around ``model`` (a class, built
        with ``model_kwargs`` and the data's sizes, or an instance), checked before any
        training. Called with torch's generator seeded by ``recipe.seed``."""

    def trainer_defaults(self, options: dict[str, Any]) -> dict[str, Any]:
        """``lightning.Trainer`` settings of this task (``recipe.trainer_kwargs`` wins)."""
        return {}

    def result(self, module, *, metrics: dict, data: dict | None) -> AbstractTrained:
        return self.result_type(module, metrics=metrics, data=data)

    @abc.abstractmethod
    def evaluate(self, trained: AbstractTrained, dataset: Any, split: str, **options) -> dict:
        """Score ``trained`` with the shared metrics (see `opkit.evaluate`)."""

    def restore(self, path: Path, raw: dict, *, model: nn.Module | None = None) -> AbstractTrained:
        """The trained result saved in the checkpoint ``raw`` (read from ``path``)."""
        network = network_for(path, raw, prefix=self.weights_prefix, model=model)
        module = module_from_checkpoint(path, raw, self.module_type, network)
        record = raw["opkit"]
        return self.result(module, metrics=record.get("metrics") or {}, data=record.get("data"))


def network_of(model, model_kwargs: dict, build) -> tuple[nn.Module, dict | None]:
    """``(network, record)``: a built ``model`` as given (no record: it was built by hand),
    or ``build(model_cls, **model_kwargs)`` for a class.

    Raises:
        TypeError: model settings given with a built model.
    """
    if isinstance(model, nn.Module):
        if model_kwargs:
            raise TypeError(f"model settings {sorted(model_kwargs)} given with a built model.")
        return model, None
    return build(model, **model_kwargs)


def parameter_names(*callables) -> frozenset[str]:
    """Keyword parameter names of callables (constructors), without ``self`` and the
    network argument."""
    names: set[str] = set()
    for fn in callables:
        for name, p in inspect.signature(fn).parameters.items():
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and name not in ("self",):
                names.add(name)
    return frozenset(names - {"model", "path"})
