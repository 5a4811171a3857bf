"""The PINN task: a physics-informed network trained on a `PINNProblem` (no data file)."""

from __future__ import annotations

from typing import Any

from torch import nn

from .._records import rebuild, record
from ..models.pinns import CausalLoss, LagrangianLoss, PINNProblem, PlainLoss
from ._collocation import CollocationDataModule
from ._evaluate import evaluate_solution
from ._pinn import PINNModule
from ._recipe import Recipe
from ._task import AbstractTask, AbstractTrained, network_of, parameter_names

__all__ = ["PINNTask", "TrainedPINN"]

#: ``loss=`` by name: the plain, causal and Lagrangian PINN with their default settings.
LOSSES = {"plain": PlainLoss, "causal": CausalLoss, "lagrangian": LagrangianLoss}


class TrainedPINN(AbstractTrained):
    """A trained `PINNModule` with its final metrics (``test/rel_l2``: against the problem's
    reference solution); what `opkit.fit(network, problem)` returns.

    Attributes:
        module: the `PINNModule` (one network per time window, the problem, the loss).
        model: the network of the first window.
        problem: the `PINNProblem`.
    """

    task = "pinn"

    @property
    def problem(self) -> PINNProblem:
        return self.module.problem

    def predict_grid(self, t, x):
        """The PINN's solution ``u(t_i, x_j)`` -> ``(len(t), len(x))`` float64 on the CPU."""
        return self.module.predict_grid(t, x)

    def reference(self):
        """``(t, x, u_ref)`` of the evaluation grid (the problem's reference solution)."""
        return self.module.reference()


def _from_problem(model_cls: type, problem: PINNProblem, kwargs: dict) -> tuple[nn.Module, dict]:
    if not callable(getattr(model_cls, "init_args_from_problem", None)):
        raise TypeError(
            f"{model_cls.__name__} cannot be sized for a PINN problem (it has no "
            "`init_args_from_problem`); pass a built network, or use "
            "opkit.models.pinns.MLP, ModifiedMLP or LagrangianPINN."
        )
    rec = record(model_cls, model_cls.init_args_from_problem(problem, **kwargs))
    return rebuild(rec, base=nn.Module, what="network"), rec


class PINNTask(AbstractTask):
    """Physics-informed networks: ``opkit.fit(MLP, AllenCahn(), loss="causal")``,
    ``opkit.fit(LagrangianPINN, Convection(beta=30), max_steps=4000)``.

    The dataset is a `PINNProblem`; the model a network class with
    ``init_args_from_problem(problem, **kwargs)`` (`MLP`, `ModifiedMLP`,
    `LagrangianPINN`: sized for the domain, exactly periodic in ``x``) or an instance.

    Options (besides `Recipe`): ``loss`` (an `AbstractPINNLoss` or ``"plain"``,
    ``"causal"``, ``"lagrangian"``; default: Lagrangian for a `LagrangianPINN`, else
    plain), the `PINNModule`'s ``n_windows``, ``steps_per_window``, ``lr_decay``,
    ``lr_decay_steps``, ``lbfgs_steps``, ``eval_n_t``, ``eval_n_x``, ``n_labels``, and the
    `CollocationDataModule`'s ``n_t``, ``n_x``, ``n_ic``, ``sampler``,
    ``steps_per_epoch``. There is no validation split: the final weights are kept and
    scored against the reference solution (``test/rel_l2``).
    """

    name = "pinn"
    module_type = PINNModule
    result_type = TrainedPINN
    monitor = None
    weights_prefix = "networks.0."

    def claims(self, model_cls: type, dataset: Any) -> bool:
        return isinstance(dataset, PINNProblem)

    def options(self) -> frozenset[str]:
        names = parameter_names(PINNModule.__init__, CollocationDataModule.__init__)
        return names - {"problem", "model_record", "lr", "seed"}

    def build(self, model, dataset, recipe: Recipe, options: dict, model_kwargs: dict):
        for name in ("batch_size", "max_train_samples", "max_eval_samples", "plot"):
            if getattr(recipe, name) not in (None, False):
                raise ValueError(
                    f"`{name}` does not apply to a PINN (it draws collocation batches: set "
                    "n_t, n_x, n_ic and steps_per_epoch instead)."
                )
        o = dict(options)
        data_opts = {
            k: o.pop(k) for k in ("n_t", "n_x", "n_ic", "sampler", "steps_per_epoch") if k in o
        }
        dm = CollocationDataModule(seed=recipe.seed, **data_opts)
        net, rec = network_of(
            model, model_kwargs, lambda cls, **kw: _from_problem(cls, dataset, kw)
        )
        loss = o.pop("loss", None)
        if loss is None:
            loss = "lagrangian" if hasattr(net, "positions") else "plain"
        if isinstance(loss, str):
            if loss not in LOSSES:
                raise ValueError(
                    f"`loss` must be one of {sorted(LOSSES)} or a loss object, got {loss!r}."
                )
            loss = LOSSES[loss]()
        settings = recipe.optimiser_settings()
        unknown = sorted(set(settings) - {"lr"})
        if unknown:
            raise ValueError(
                f"{unknown} do not apply to a PINN (Adam with lr, lr_decay and lr_decay_steps)."
            )
        module = PINNModule(net, dataset, loss=loss, model_record=rec, **o, **settings)
        return module, dm

    def trainer_defaults(self, options: dict) -> dict:
        # one validation (against the reference) per "epoch" of collocation batches
        return {"num_sanity_val_steps": 0, "log_every_n_steps": 50}

    def evaluate(self, trained, dataset=None, split: str = "test", **options) -> dict:
        if dataset is not None:
            raise ValueError(
                "a PINN is scored against its problem's reference solution; call "
                "opkit.evaluate(result) without a dataset."
            )
        return evaluate_solution(trained, **options)
