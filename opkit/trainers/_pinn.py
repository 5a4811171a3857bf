"""Physics-informed training: `PINNModule`.

The module receives a built network, a problem (a PDE of :mod:`opkit.pde_data`, its domain
and initial condition; :class:`~opkit.models.pinns.PINNProblem`), a loss object and
optimizer settings; it never picks an architecture or a formulation. The losses
(:mod:`opkit.models.pinns`) are

- ``PlainLoss``: the plain PINN (mean squared residual + weighted initial-condition loss),
- ``CausalLoss``: the causal PINN (Wang, Sankaran & Perdikaris 2022: per-time residual
  losses weighted by ``exp(-ε Σ_{k<i} L(t_k))``, ``ε`` advanced on ``min w > δ``),
- ``LagrangianLoss``: the Lagrangian PINN (Mojgani et al. 2022) for a ``LagrangianPINN``;

any of them with time marching (windows trained one after the other; the next window's
initial condition is the previous network's prediction at the end of its window), Adam
(exponential learning-rate decay, restarted per window) and an optional L-BFGS refinement
at the end of each window. Everything that decides where training stands (the window, the
loss's stage, the step within the window) is a buffer, so it is saved with the checkpoint
and a resumed run continues where it stopped.

``opkit fit --config configs/pinn_<problem>.yaml`` runs it through LightningCLI (subclass
mode): ``model: {class_path: opkit.trainers.PINNModule, init_args: {model: {class_path:
...}, problem: {class_path: opkit.models.pinns.PINNProblem, ...}, loss: {class_path: ...},
...}}`` and ``data: {class_path: opkit.trainers.CollocationDataModule, init_args: {...}}``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import lightning as L
import torch
from torch import nn

from .._checks import check_int, check_positive
from .._records import is_record, jsonable, rebuild, record
from ..models.pinns import (
    AbstractPINNLoss,
    CollocationPoints,
    LossTerms,
    PINNProblem,
    PlainLoss,
    evaluate_field,
    solution_on_grid,
)
from ._collocation import CollocationDataModule
from ._metrics import relative_l2

__all__ = ["PINNModule", "CollocationDataModule"]


def _built(name: str, value: object, base: type, examples: str):
    """``value`` itself, or the object its record ``{"class_path", "init_args"}`` describes
    (a checkpoint's hparams), checked to be a ``base``."""
    if is_record(value):
        value = rebuild(value, base=base, what=name)
    if not isinstance(value, base):
        raise TypeError(
            f"`{name}` must be an opkit.models.pinns.{base.__name__} ({examples}), got "
            f"{type(value).__name__}."
        )
    return value


class PINNModule(L.LightningModule):
    r"""Trains a physics-informed network on a :class:`~opkit.models.pinns.PINNProblem`.

    Batches come from :class:`CollocationDataModule` in the unit square and are mapped to the
    current window ``[0, T_w]`` (``T_w = t_final / n_windows``) and the domain
    ``[x_min, x_min + L)``: ``{"t": (n_t,), "x": (n_t, n_x), "x_ic": (n_ic,)}``. Each step
    calls the ``loss`` object on the window's network with these points and the window's
    initial condition (:class:`~opkit.models.pinns.CollocationPoints`).

    A window ends when the loss has run through its last stage (the causal loss: its last
    ``ε`` with ``min w > δ``) or after ``steps_per_window`` Adam steps; then ``lbfgs_steps``
    L-BFGS iterations refine the unweighted loss on the window's last batch, and the next
    window starts from a copy of the trained weights with the trained network's prediction
    at ``T_w`` as its initial condition. After the last window training stops.

    Validation logs ``val/rel_l2``: the relative L2 error of the solution against the
    problem's reference on ``eval_n_t`` uniform times x ``eval_n_x`` grid points — the score
    ``opkit.evaluate`` uses for operators. Training logs ``train/loss``, ``train/window``
    and the loss's terms (``train/ic_loss``, ``train/residual``; causal: ``train/eps``,
    ``train/min_weight``).

    Args:
        model: the network (``(N, 2)`` coordinates ``(t, x)`` -> ``(N, 1)``), or a
            ``LagrangianPINN`` for ``LagrangianLoss``. With ``n_windows > 1`` it is the
            network of the first window; the others start as copies of it.
        problem: the PINN problem (or its record ``{"class_path", "init_args"}``).
        loss: ``PlainLoss()`` (default: ``PlainLoss(ic_weight=100.0)``), ``CausalLoss(...)``
            or ``LagrangianLoss(...)`` (or its record).
        n_windows: number of time-marching windows (default 1).
        steps_per_window: Adam steps after which a window ends if the loss has not ended it
            before (required when ``n_windows > 1``; default None: a single window ends
            with the loss's last stage or with the run).
        lr: Adam learning rate (default 1e-3).
        lr_decay: multiplicative decay of the learning rate every ``lr_decay_steps`` steps,
            applied continuously (default 0.9 per 5000 steps, the papers' schedule).
        lr_decay_steps: see ``lr_decay`` (default 5000).
        lbfgs_steps: L-BFGS iterations at the end of each window (default 0: none).
        eval_n_t, eval_n_x: reference grid for ``val/rel_l2`` (defaults 101, 512).
        n_labels: Lagrangian labels per time when an LPINN is mapped back to the grid
            (default 1024).
        model_record: ``{"class_path", "init_args"}`` of ``model`` (``opkit fit`` links it
            from the config, `opkit.fit` builds the network from it), stored so that
            `opkit.load` rebuilds the network; ``None`` for a network built by hand.

    Raises:
        TypeError/ValueError: for a network/problem/loss of the wrong kind or invalid
            settings, before any training.

    Checkpoints hold plain tensors and values only (they load with ``weights_only=True``):
    the network is in the state dict, ``hparams["problem"]`` and ``hparams["loss"]`` are
    records and the network's ``model_record`` too when it is known, so `opkit.load` rebuilds
    it (otherwise ``opkit.load(path, model=...)``).

    Examples:
        `opkit.fit` builds the module (and sizes the network for the problem) and trains it:

        >>> import opkit
        >>> from opkit.models.pinns import MLP, CausalLoss, CausalSchedule, Convection
        >>> loss = CausalLoss(CausalSchedule(epsilons=(1.0, 10.0)), ic_weight=100.0)
        >>> result = opkit.fit(MLP, Convection(beta=10.0), loss=loss, width=16, depth=2,
        ...                    n_t=8, n_x=16, n_ic=32, eval_n_x=64, max_steps=20,
        ...                    progress=False)
        >>> module = result.module
        >>> type(module).__name__, int(module.global_step), module.hparams["n_windows"]
        ('PINNModule', 20, 1)
        >>> module.hparams["loss"]["class_path"]
        'opkit.models.pinns.CausalLoss'
        >>> t, x, u_ref = module.reference()  # the exact solution sin(x - 10 t)
        >>> module.predict_grid(t, x).shape == u_ref.shape == (101, 64)
        True
        >>> abs(module.relative_l2() - opkit.evaluate(result)["rel_l2"]) < 1e-12
        True
    """

    def __init__(
        self,
        model: nn.Module,
        problem: PINNProblem,
        *,
        loss: AbstractPINNLoss | None = None,
        n_windows: int = 1,
        steps_per_window: int | None = None,
        lr: float = 1e-3,
        lr_decay: float = 0.9,
        lr_decay_steps: int = 5000,
        lbfgs_steps: int = 0,
        eval_n_t: int = 101,
        eval_n_x: int = 512,
        n_labels: int = 1024,
        model_record: dict | None = None,
    ) -> None:
        super().__init__()
        network = model
        if not isinstance(network, nn.Module):
            raise TypeError(f"`model` must be a built nn.Module, got {type(network).__name__}.")
        problem = _built("problem", problem, PINNProblem, "e.g. AllenCahn(), Convection(beta=30.0)")
        if loss is None:
            loss = PlainLoss(ic_weight=100.0)
        loss = _built("loss", loss, AbstractPINNLoss, "PlainLoss, CausalLoss, LagrangianLoss")
        check_int("n_windows", n_windows, minimum=1)
        loss.check(network, problem, n_windows=n_windows)
        if steps_per_window is not None:
            check_int("steps_per_window", steps_per_window, minimum=1)
        if n_windows > 1 and steps_per_window is None:
            raise ValueError(
                f"n_windows={n_windows} needs `steps_per_window` (the most Adam steps per "
                "window), otherwise a window that never meets the causal tolerance would "
                "keep later windows from ever training."
            )
        check_positive("lr", lr)
        if not (0 < lr_decay <= 1):
            raise ValueError(f"`lr_decay` must lie in (0, 1], got {lr_decay!r}.")
        check_int("lr_decay_steps", lr_decay_steps, minimum=1)
        check_int("lbfgs_steps", lbfgs_steps, minimum=0)
        check_int("eval_n_t", eval_n_t, minimum=2)
        check_int("eval_n_x", eval_n_x, minimum=2)
        check_int("n_labels", n_labels, minimum=4)

        # Plain values only, so checkpoints load with weights_only=True: the network is in
        # the state dict, the problem and the loss are records.
        self.save_hyperparameters(ignore=["model", "problem", "loss"])
        self.hparams["model_record"] = jsonable(model_record)
        self.hparams["problem"] = record(problem)
        self.hparams["loss"] = record(loss)
        self.problem = problem
        self.loss_fn = loss
        self.networks = nn.ModuleList(
            [network] + [copy.deepcopy(network) for _ in range(n_windows - 1)]
        )
        self.automatic_optimization = False
        self.register_buffer("window", torch.zeros((), dtype=torch.long))
        # The loss's stage (the causal loss's index into its ε schedule).
        self.register_buffer("eps_index", torch.zeros((), dtype=torch.long))
        self.register_buffer("window_step", torch.zeros((), dtype=torch.long))
        self.register_buffer("finished", torch.zeros((), dtype=torch.bool))
        # The initial condition of the current window at the IC points (None: the problem's).
        self._ic_cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self._last_batch: dict | None = None
        self._reference: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    # -- the solution --------------------------------------------------------------------
    @property
    def window_length(self) -> float:
        return self.problem.t_final / self.hparams.n_windows

    @property
    def model(self) -> nn.Module:
        """The network of the first window (the ``model`` argument, trained)."""
        return self.networks[0]

    def solution_networks(self) -> list[nn.Module]:
        """The trained network of each window, in time order."""
        return list(self.networks)

    def predict_grid(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The PINN's solution ``u(t_i, x_j)`` -> ``(len(t), len(x))`` float64 on the CPU."""
        return solution_on_grid(
            self.solution_networks(), self.problem, t, x, n_labels=self.hparams.n_labels
        )

    def reference(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(t, x, u_ref)`` of the evaluation grid (computed once, float64, CPU)."""
        if self._reference is None:
            t = torch.linspace(
                0.0, self.problem.t_final, self.hparams.eval_n_t, dtype=torch.float64
            )
            x, u = self.problem.reference(t, n_x=self.hparams.eval_n_x)
            self._reference = (t, x, u.to(torch.float64).cpu())
        return self._reference

    def relative_l2(self) -> float:
        """Relative L2 error of the current solution on the reference grid (the
        ``rel_l2`` of ``opkit.evaluate``)."""
        t, x, u_ref = self.reference()
        return float(relative_l2(self.predict_grid(t, x)[None], u_ref[None])[0])

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """The current window's network on ``(N, 2)`` coordinates (local time)."""
        return self.networks[int(self.window)](coords)

    # -- losses --------------------------------------------------------------------------
    def _points(self, batch: Mapping) -> CollocationPoints:
        for key in ("t", "x", "x_ic"):
            if key not in batch:
                raise ValueError(
                    f"a PINN batch must hold 't', 'x' and 'x_ic' (CollocationDataModule), "
                    f"got keys {sorted(batch)}."
                )
        t_unit, x_unit, ic_unit = batch["t"], batch["x"], batch["x_ic"]
        n_t = t_unit.shape[0]
        if x_unit.ndim != 2 or x_unit.shape[0] != n_t:
            raise ValueError(
                f"batch 'x' must have shape (n_t, n_x) with n_t = {n_t}, got {tuple(x_unit.shape)}."
            )
        dtype = next(self.networks[0].parameters()).dtype
        p = self.problem
        t = (t_unit.to(dtype) * self.window_length)[:, None].expand_as(x_unit).reshape(-1)
        x = (p.x_min + p.length * x_unit.to(dtype)).reshape(-1)
        x_ic = p.x_min + p.length * ic_unit.to(dtype)
        return CollocationPoints(t, x, n_t, x_ic, self._ic_target(x_ic))

    def _ic_target(self, x_ic: torch.Tensor) -> torch.Tensor:
        k = int(self.window)
        if k == 0:
            return self.problem.initial_condition(x_ic)
        cached = self._ic_cache
        if cached is not None and cached[0].shape == x_ic.shape and torch.equal(cached[0], x_ic):
            return cached[1]
        with torch.no_grad():
            prev = self.networks[k - 1]
            target = evaluate_field(prev, torch.full_like(x_ic, self.window_length), x_ic)
        self._ic_cache = (x_ic.detach().clone(), target.detach())
        return self._ic_cache[1]

    def loss(self, batch: Mapping, *, weighted: bool = True) -> LossTerms:
        """``(loss, logs, weights)`` of a batch for the current window and stage
        (``weights`` None unless the loss has them, e.g. the causal loss)."""
        net = self.networks[int(self.window)]
        stage = min(int(self.eps_index), self.loss_fn.n_stages - 1)
        return self.loss_fn(net, self.problem, self._points(batch), stage=stage, weighted=weighted)

    # -- training ------------------------------------------------------------------------
    def configure_optimizers(self):
        return torch.optim.Adam(self.networks.parameters(), lr=self.hparams.lr)

    def _set_lr(self, optimizer) -> None:
        h = self.hparams
        lr = h.lr * h.lr_decay ** (int(self.window_step) / h.lr_decay_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr

    def training_step(self, batch: dict, batch_idx: int):
        if bool(self.finished):
            self.trainer.should_stop = True
            return None
        opt = self.optimizers()
        self._set_lr(opt.optimizer if hasattr(opt, "optimizer") else opt)
        self._last_batch = batch
        terms = self.loss(batch)
        opt.zero_grad()
        self.manual_backward(terms.loss)
        opt.step()
        self.window_step += 1
        window_done = False
        if self.loss_fn.stage_converged(terms):
            if int(self.eps_index) + 1 < self.loss_fn.n_stages:
                self.eps_index += 1
            else:
                window_done = True
        # Lightning's `log` costs about as much as a small PINN step: log the first step
        # and every n-th after it (global_step already counts this step).
        every = max(int(getattr(self.trainer, "log_every_n_steps", 50) or 1), 1)
        if (self.trainer.global_step - 1) % every == 0:
            metrics = {"train/loss": terms.loss.detach(), "train/window": float(self.window)}
            metrics.update({f"train/{key}": value for key, value in terms.logs.items()})
            n = batch["t"].shape[0] * batch["x"].shape[1]
            self.log_dict(metrics, batch_size=n)
        spw = self.hparams.steps_per_window
        if spw is not None and int(self.window_step) >= spw:
            window_done = True
        if window_done:
            self._finish_window(batch)
        return terms.loss.detach()

    def end_window(self) -> None:
        """End the current window now and move to the next (or finish after the last).

        For budgets that are not counted in steps, e.g. a callback that gives every window
        an equal share of a CPU-time budget. The window's L-BFGS refinement (if any) runs
        on its last training batch, as when ``steps_per_window`` ends it.

        Raises:
            RuntimeError: if the current window has not taken a training step yet.
        """
        if bool(self.finished):
            return
        if self._last_batch is None or int(self.window_step) == 0:
            raise RuntimeError("end_window() needs at least one training step in the window.")
        self._finish_window(self._last_batch)

    def _lbfgs(self, batch: dict) -> None:
        net = self.networks[int(self.window)]
        lbfgs = torch.optim.LBFGS(
            net.parameters(),
            lr=1.0,
            max_iter=self.hparams.lbfgs_steps,
            history_size=50,
            tolerance_grad=1e-9,
            tolerance_change=1e-12,
            line_search_fn="strong_wolfe",
        )

        def closure():
            lbfgs.zero_grad()
            loss = self.loss(batch, weighted=False).loss
            self.manual_backward(loss)
            return loss

        lbfgs.step(closure)

    def _finish_window(self, batch: dict) -> None:
        if self.hparams.lbfgs_steps > 0:
            self._lbfgs(batch)
        k = int(self.window)
        if k + 1 >= self.hparams.n_windows:
            self.finished.fill_(True)
            self.trainer.should_stop = True
            return
        # Warm start: the next window begins from the trained weights of this one.
        self.networks[k + 1].load_state_dict(self.networks[k].state_dict())
        self.window += 1
        self.eps_index.zero_()
        self.window_step.zero_()
        self._ic_cache = None
        # Fresh Adam moments for the new window, like a new run of the papers' code.
        opt = self.optimizers()
        (opt.optimizer if hasattr(opt, "optimizer") else opt).state.clear()

    # -- evaluation ----------------------------------------------------------------------
    def validation_step(self, batch, batch_idx: int):
        rel = self.relative_l2()
        self.log("val/rel_l2", rel, prog_bar=True, batch_size=1)
        return torch.tensor(rel)

    def test_step(self, batch, batch_idx: int):
        rel = self.relative_l2()
        self.log("test/rel_l2", rel, batch_size=1)
        return torch.tensor(rel)

    def predict_step(self, batch, batch_idx: int):
        t, x, _ = self.reference()
        return self.predict_grid(t, x)
