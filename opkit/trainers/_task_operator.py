"""The operator-learning task: grid operators (DeepONet, FNO, DyMixOp, NeuralODE...) on
opkit dataset files, one step or autoregressive."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ._build import build_from_spec
from ._datamodule import OperatorDataModule, coarsen
from ._datasets import BUILTIN_DATASETS, check_disjoint, recorded_dataset, resolve_dataset
from ._evaluate import evaluate_operator
from ._operator import OperatorModule
from ._recipe import Recipe
from ._task import AbstractTask, network_of, parameter_names
from ._trained import TrainedOperator

__all__ = ["OperatorTask"]

# Options of `opkit.fit` for operators that are not module/data-module arguments.
_OWN = frozenset({"size", "data_seed"})


class OperatorTask(AbstractTask):
    """Data-driven operators: any ``nn.Module`` with ``from_spec`` (or an instance) on a
    path, an ``xarray.Dataset`` or a built-in name (the default task).

    Options (besides `Recipe`): the `OperatorModule`'s ``loss``, ``unroll``,
    ``step_size``, ``gamma``; the `OperatorDataModule`'s ``in_frames`` (default: the model
    class's ``default_in_frames`` or 1), ``out_frames``, ``normalization``,
    ``shift_augment``, ``train_stride``, ``mode``, ``in_memory``; ``size`` and ``data_seed``
    of a built-in dataset (``"cpu"``, 0).

    A model class may state its own defaults, used when `opkit.fit` builds the model from
    the class: ``default_in_frames``, ``fit_defaults`` (a dict of `Recipe` fields, e.g.
    ``{"batch_size": 16}``, used where the recipe leaves them ``None``) and
    ``default_train_stride(spec, **model_kwargs)`` (when no ``train_stride`` is given), as
    `opkit.models.FNO` and `opkit.models.DeepONet` do.
    """

    name = "operator"
    module_type = OperatorModule
    result_type = TrainedOperator

    def claims(self, model_cls: type, dataset: Any) -> bool:
        return True  # the default: every other task claims first

    def options(self) -> frozenset[str]:
        names = parameter_names(OperatorModule.__init__, OperatorDataModule.__init__)
        recipe_owned = {"lr", "weight_decay", "optimizer", "scheduler", "warmup", "batch_size"}
        internal = {"spec", "model_record", "n_fields", "num_workers", "max_train_samples", "seed"}
        return (names - recipe_owned - internal) | _OWN

    def build(self, model, dataset, recipe: Recipe, options: dict, model_kwargs: dict):
        o = dict(options)
        if recipe.max_eval_samples is not None:
            raise ValueError(
                "`max_eval_samples` applies to PROSE; operators are validated on the whole "
                "split (use a smaller file)."
            )
        path = resolve_dataset(dataset, size=o.pop("size", "cpu"), seed=o.pop("data_seed", 0))
        asked = (o.get("in_frames"), o.get("out_frames", 1))
        cls = model if isinstance(model, type) else type(model)
        if o.get("in_frames") is None:
            o["in_frames"] = int(getattr(cls, "default_in_frames", 1))
        module_opts = {k: o.pop(k) for k in ("loss", "step_size", "gamma") if k in o}
        # a model class's own recipe defaults (not an instance's: its user built it)
        own = cls if isinstance(model, type) else None
        unset = {
            k: v for k, v in getattr(own, "fit_defaults", {}).items() if getattr(recipe, k) is None
        }
        recipe = dataclasses.replace(recipe, **unset)
        dm = OperatorDataModule(str(path), **recipe.data_settings(), **o)
        if "train_stride" not in o and hasattr(own, "default_train_stride"):
            dm.train_stride = own.default_train_stride(dm.spec, **model_kwargs)
        dm.name = dataset if isinstance(dataset, str) and dataset in BUILTIN_DATASETS else None
        if dm.unroll > 1 and dm.mode != "windows":
            raise ValueError(
                f"`unroll` (={dm.unroll}) needs trajectory data; {path} holds operator pairs "
                "(two frames). Use unroll=1."
            )
        if dm.mode == "pairs" and (asked[0] not in (None, 1) or asked[1] != 1):
            raise ValueError(
                f"`in_frames` (={asked[0]}) and `out_frames` (={asked[1]}) need trajectory "
                f"data; {path} holds operator pairs (two frames: input and target). Use "
                "in_frames=1, out_frames=1 (the defaults)."
            )
        spec = dm.spec
        net, record = network_of(
            model, model_kwargs, lambda cls, **kw: build_from_spec(cls, spec, **kw)
        )
        module = OperatorModule(
            net,
            spec=spec,
            model_record=record,
            n_fields=spec.n_fields,
            in_frames=dm.in_frames,
            unroll=dm.unroll,
            **module_opts,
            **recipe.optimiser_settings(),
        )
        module.prepare(dm)
        _check_output_shape(module, dm)
        return module, dm

    def evaluate(self, trained, dataset, split: str = "test", **options) -> dict:
        if split not in ("train", "val", "test"):
            raise ValueError(f"`split` must be 'train', 'val' or 'test', got {split!r}.")
        path = resolve_dataset(recorded_dataset(trained.data, dataset))
        check_disjoint(trained.data, path, split)
        return evaluate_operator(trained, path, split, **options)


def _one_sample(module: OperatorModule, x: torch.Tensor) -> torch.Tensor:
    """``module(x[None])`` in eval mode without gradients; the mode is restored."""
    was_training = module.model.training
    module.model.eval()
    try:
        with torch.no_grad():
            return module(x[None].float())
    finally:
        module.model.train(was_training)


def _check_output_shape(module: OperatorModule, dm: OperatorDataModule) -> None:
    """Run one sample through the model before training: a clear error beats a late one."""
    net = module.model
    x, y = dm.example("train")
    y = y[: dm.spec.out_channels]
    try:
        out = _one_sample(module, x)
    except Exception as err:
        raise ValueError(
            f"{type(net).__name__} cannot take this dataset's input of shape "
            f"{tuple(x[None].shape)} (batch, in_channels, *spatial): {err}"
        ) from err
    if tuple(out.shape[1:]) != tuple(y.shape):
        raise ValueError(
            f"{type(net).__name__} returns {tuple(out.shape[1:])} per sample but the data's "
            f"targets are {tuple(y.shape)} (out_channels, *spatial); build the model for "
            f"this data (e.g. {type(net).__name__}.from_spec(spec)) or pass the class."
        )
    if dm.train_stride > 1:
        _check_coarse_grid(module, dm, x, y)


def _check_coarse_grid(module: OperatorModule, dm: OperatorDataModule, x, y) -> None:
    """The model must map the coarsened training grid to the coarsened targets."""
    net, n = module.model, dm.spec.ndim
    x, y = coarsen(x, dm.train_stride, n), coarsen(y, dm.train_stride, n)
    try:
        out = _one_sample(module, x)
        err = None if tuple(out.shape[1:]) == tuple(y.shape) else f"output {tuple(out.shape)}"
    except Exception as exc:  # a model that reads a fixed grid refuses it
        err = str(exc)
    if err is not None:
        raise ValueError(
            f"`train_stride` (={dm.train_stride}) trains on the grid "
            f"{tuple(x.shape[1:])}, which {type(net).__name__} cannot map to "
            f"{tuple(y.shape)} ({err}); it reads a fixed grid. Use train_stride=1, or a "
            "discretisation-invariant model (FNO, DyMixOp)."
        )
