"""The PROSE task: `opkit.models.PROSE` on ODE trajectories and their equations."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..models import PROSE
from ._datasets import check_disjoint, recorded_dataset, resolve_dataset
from ._prose_data import ProseDataModule
from ._prose_eval import evaluate_prose
from ._prose_module import ProseModule
from ._prose_trained import TrainedProse
from ._recipe import Recipe
from ._task import AbstractTask, parameter_names

__all__ = ["ProseTask"]


class ProseTask(AbstractTask):
    """PROSE (Liu, Zhang & Schaeffer 2023): a `PROSE` class (built with the model keyword
    arguments, e.g. ``operator_only=True`` or ``width=...``) or instance, on an ODE file or
    the built-in ``"odes"``.

    Options (besides `Recipe`): the `ProseModule`'s ``data_weight``, ``warmup_steps``,
    ``warmup_init_lr``, ``train_query_points``; the `ProseDataModule`'s ``noise`` and
    ``corrupt`` (the authors' 0.02 and 0.15 by default), ``hide_integers``, ``size`` and
    ``data_seed`` (the built-in dataset's size and seed). Gradients are clipped at norm 1
    unless the recipe says otherwise.
    """

    name = "prose"
    module_type = ProseModule
    result_type = TrainedProse

    def claims(self, model_cls: type, dataset: Any) -> bool:
        return issubclass(model_cls, PROSE)

    def options(self) -> frozenset[str]:
        names = parameter_names(ProseModule.__init__, ProseDataModule.__init__)
        recipe_owned = {"lr", "weight_decay", "optimizer", "scheduler", "warmup", "batch_size"}
        internal = {"model_record", "num_workers", "max_train_samples", "max_eval_samples"}
        return names - recipe_owned - internal - {"seed"}

    def build(self, model, dataset, recipe: Recipe, options: dict, model_kwargs: dict):
        o = dict(options)
        if not isinstance(dataset, str) and not hasattr(dataset, "__fspath__"):
            raise TypeError(
                "PROSE trains on an ODE file or the built-in name 'odes', got a "
                f"{type(dataset).__name__}; write it with `opkit generate odes --out FILE`."
            )
        module_opts = {
            k: o.pop(k)
            for k in ("data_weight", "warmup_steps", "warmup_init_lr", "train_query_points")
            if k in o
        }
        dm = ProseDataModule(
            str(dataset),
            batch_size=recipe.batch_size or 32,
            num_workers=recipe.num_workers,
            max_train_samples=recipe.max_train_samples,
            max_eval_samples=recipe.max_eval_samples,
            seed=recipe.seed,
            **o,
        )
        if isinstance(model, nn.Module):
            if model_kwargs:
                raise TypeError(f"model settings {sorted(model_kwargs)} given with a built model.")
            net = model
        else:
            net = model(**model_kwargs)
        module = ProseModule(net, **module_opts, **recipe.optimiser_settings())
        return module, dm

    def trainer_defaults(self, options: dict) -> dict:
        return {"gradient_clip_val": 1.0}

    def evaluate(self, trained, dataset, split: str = "test", **options) -> dict:
        if split not in ("train", "val", "test"):
            raise ValueError(f"`split` must be 'train', 'val' or 'test', got {split!r}.")
        source = trained.data or {}
        path = resolve_dataset(recorded_dataset(source, dataset))
        check_disjoint(source, path, split)
        return evaluate_prose(trained, str(path), split, **options)
