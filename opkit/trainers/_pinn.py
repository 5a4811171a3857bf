"""Physics-informed training: `PINNModule` and the `CollocationDataModule` that feeds it.

The module receives a built network, a problem (PDE, domain, initial condition, reference)
and loss/optimizer settings; it never picks an architecture. One class covers

- the plain PINN (mean squared residual + weighted initial-condition loss),
- the causal PINN (Wang, Sankaran & Perdikaris 2022: per-time residual losses weighted by
  ``exp(-ε Σ_{k<i} L(t_k))``, ``ε`` advanced on ``min w > δ``),
- time marching (windows trained one after the other; the next window's initial condition
  is the previous network's prediction at the end of its window),
- the Lagrangian PINN (Mojgani et al. 2022; ``formulation="lagrangian"``),

with Adam (exponential learning-rate decay, restarted per window) and an optional L-BFGS
refinement at the end of each window. Everything that decides where training stands (the
window, the ``ε`` index, the step within the window) is a buffer, so it is saved with the
checkpoint and a resumed run continues where it stopped.

``opkit fit --config configs/pinn_<problem>.yaml`` runs it through LightningCLI (subclass
mode): ``model: {class_path: opkit.trainers.PINNModule, init_args: {network: {class_path:
...}, problem: {class_path: ...}, ...}}`` and ``data: {class_path:
opkit.trainers.CollocationDataModule, init_args: {...}}``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Literal

import lightning as L
import torch
from torch import nn

from ..models.pinns import (
    SAMPLERS,
    AbstractPINNProblem,
    CausalSchedule,
    LagrangianPINN,
    causal_loss,
    collocation_points,
    evaluate_field,
    lagrangian_loss,
    per_time_losses,
    relative_l2,
    solution_on_grid,
)

__all__ = ["PINNModule", "CollocationDataModule"]

Formulation = Literal["eulerian", "lagrangian"]


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return value


def _positive_float(name: str, value: object, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(
            f"`{name}` must be a {'non-negative' if allow_zero else 'positive'} "
            f"finite number, got {value!r}."
        )
    return float(value)


def _public_path(cls: type) -> str:
    """``package.Name`` of a class re-exported by its package (``a.b._c.Name`` -> ``a.b.Name``)."""
    import importlib

    module = cls.__module__
    while "._" in module:
        parent = module.rsplit(".", 1)[0]
        if getattr(importlib.import_module(parent), cls.__qualname__, None) is not cls:
            break
        module = parent
    return f"{module}.{cls.__qualname__}"


class PINNModule(L.LightningModule):
    r"""Trains a physics-informed network on a :class:`~opkit.models.pinns.AbstractPINNProblem`.

    Batches come from :class:`CollocationDataModule` in the unit square and are mapped to the
    current window ``[0, T_w]`` (``T_w = t_final / n_windows``) and the domain
    ``[x_min, x_min + L)``: ``{"t": (n_t,), "x": (n_t, n_x), "x_ic": (n_ic,)}``.

    Eulerian loss: ``ic_weight * L_ic + mean_i L(t_i)`` (plain) or the causal loss
    ``ic_weight * L_ic + mean_i w_i L(t_i)`` with ``L_ic`` acting as the residual at ``t_0``
    (``causal`` given). A window ends when the causal schedule has run through its last
    ``ε`` (``min w > δ``) or after ``steps_per_window`` Adam steps; then ``lbfgs_steps``
    L-BFGS iterations refine the unweighted loss on the window's last batch (the weights
    are ~1 once the schedule is through), and the next window starts from a copy of the
    trained weights with the trained network's prediction at ``T_w`` as its initial
    condition. After the last window training stops.

    Lagrangian loss (``formulation="lagrangian"``, network a
    :class:`~opkit.models.pinns.LagrangianPINN`): the paper's
    ``γ_X ‖r_X‖ + γ_u ‖r_u‖ + γ_ic (‖e_X‖ + ‖e_u‖)`` (root-mean-square norms), with
    ``lagrangian_weights = (γ_X, γ_u, γ_ic)``.

    Validation logs ``val/rel_l2``: the relative L2 error of the solution against the
    problem's reference on ``eval_n_t`` uniform times x ``eval_n_x`` grid points — the score
    ``opkit.evaluate`` uses for operators. Training logs ``train/loss``, ``train/ic_loss``,
    ``train/residual``, ``train/eps``, ``train/min_weight``, ``train/window``.

    Args:
        network: the network (``(N, 2)`` coordinates ``(t, x)`` -> ``(N, 1)``), or a
            ``LagrangianPINN`` for the Lagrangian formulation. With ``n_windows > 1`` it is
            the network of the first window; the others start as copies of it.
        problem: the PINN problem.
        formulation: ``"eulerian"`` (default) or ``"lagrangian"``.
        causal: a :class:`~opkit.models.pinns.CausalSchedule` for causal training, or None
            (plain PINN, default). Eulerian only.
        ic_weight: ``λ_ic`` of the initial-condition loss (default 100.0, the causal-PINN
            Allen–Cahn code; its KS code uses 1e3).
        lagrangian_weights: ``(γ_X, γ_u, γ_ic)`` (default ``(10, 1, 100)``).
        n_windows: number of time-marching windows (default 1).
        steps_per_window: Adam steps after which a window ends if the causal schedule has
            not ended it before (required when ``n_windows > 1``; default None: a single
            window ends with the causal schedule or with the run).
        lr: Adam learning rate (default 1e-3).
        lr_decay: multiplicative decay of the learning rate every ``lr_decay_steps`` steps,
            applied continuously (default 0.9 per 5000 steps, the papers' schedule).
        lr_decay_steps: see ``lr_decay`` (default 5000).
        lbfgs_steps: L-BFGS iterations at the end of each window (default 0: none).
        eval_n_t, eval_n_x: reference grid for ``val/rel_l2`` (defaults 101, 512).
        n_labels: Lagrangian labels per time when an LPINN is mapped back to the grid
            (default 1024).

    Raises:
        TypeError/ValueError: for a network/problem of the wrong kind or invalid settings,
            before any training.

    Checkpoints hold plain tensors and values only (they load with ``weights_only=True``):
    the network and problem are not pickled, ``hparams["problem"]`` records the problem's
    class path and fields, so a checkpoint is restored with
    ``PINNModule.load_from_checkpoint(path, network=..., problem=..., causal=...)``.

    Examples:
        >>> import math
        >>> from opkit.models.pinns import MLP, Convection, PeriodicEmbedding
        >>> emb = PeriodicEmbedding(periods=(None, 2 * math.pi))
        >>> module = PINNModule(MLP(width=16, depth=2, embedding=emb), Convection(beta=10.0))
        >>> trainer = L.Trainer(max_steps=10, logger=False, enable_progress_bar=False)
        >>> trainer.fit(module, CollocationDataModule(n_t=8, n_x=16))  # doctest: +SKIP
        >>> module.relative_l2()  # doctest: +SKIP
    """

    def __init__(
        self,
        network: nn.Module,
        problem: AbstractPINNProblem,
        *,
        formulation: Formulation = "eulerian",
        causal: CausalSchedule | None = None,
        ic_weight: float = 100.0,
        lagrangian_weights: tuple[float, float, float] = (10.0, 1.0, 100.0),
        n_windows: int = 1,
        steps_per_window: int | None = None,
        lr: float = 1e-3,
        lr_decay: float = 0.9,
        lr_decay_steps: int = 5000,
        lbfgs_steps: int = 0,
        eval_n_t: int = 101,
        eval_n_x: int = 512,
        n_labels: int = 1024,
    ) -> None:
        super().__init__()
        if not isinstance(network, nn.Module):
            raise TypeError(f"`network` must be a built nn.Module, got {type(network).__name__}.")
        if not isinstance(problem, AbstractPINNProblem):
            raise TypeError(
                f"`problem` must be an opkit.models.pinns problem (AllenCahn, "
                f"KuramotoSivashinsky, Convection, Burgers), got {type(problem).__name__}."
            )
        if formulation not in ("eulerian", "lagrangian"):
            raise ValueError(
                f"`formulation` must be 'eulerian' or 'lagrangian', got {formulation!r}."
            )
        if causal is not None and not isinstance(causal, CausalSchedule):
            raise TypeError(f"`causal` must be a CausalSchedule or None, got {causal!r}.")
        if formulation == "lagrangian":
            if not isinstance(network, LagrangianPINN):
                raise TypeError(
                    "formulation='lagrangian' needs a LagrangianPINN network (two branches), "
                    f"got {type(network).__name__}."
                )
            if not problem.supports_lagrangian:
                raise ValueError(
                    f"{type(problem).__name__} has no Lagrangian form; use Convection or "
                    "Burgers, or formulation='eulerian'."
                )
            if causal is not None:
                raise ValueError("`causal` applies to the Eulerian formulation only; pass None.")
            if n_windows != 1:
                raise ValueError(
                    f"the Lagrangian formulation trains one window (labels are the initial "
                    f"positions), got n_windows={n_windows}."
                )
        elif isinstance(network, LagrangianPINN):
            raise ValueError("a LagrangianPINN needs formulation='lagrangian'; got 'eulerian'.")
        _positive_float("ic_weight", ic_weight, allow_zero=True)
        lw = tuple(float(w) for w in lagrangian_weights)
        if len(lw) != 3 or any(not (math.isfinite(w) and w >= 0) for w in lw):
            raise ValueError(
                f"`lagrangian_weights` must be three non-negative numbers, got "
                f"{lagrangian_weights!r}."
            )
        _positive_int("n_windows", n_windows)
        if steps_per_window is not None:
            _positive_int("steps_per_window", steps_per_window)
        if n_windows > 1 and steps_per_window is None:
            raise ValueError(
                f"n_windows={n_windows} needs `steps_per_window` (the most Adam steps per "
                "window), otherwise a window that never meets the causal tolerance would "
                "keep later windows from ever training."
            )
        _positive_float("lr", lr)
        if not (0 < lr_decay <= 1):
            raise ValueError(f"`lr_decay` must lie in (0, 1], got {lr_decay!r}.")
        _positive_int("lr_decay_steps", lr_decay_steps)
        _positive_int("lbfgs_steps", lbfgs_steps, 0)
        _positive_int("eval_n_t", eval_n_t, 2)
        _positive_int("eval_n_x", eval_n_x, 2)
        _positive_int("n_labels", n_labels, 4)

        # Plain values only, so checkpoints load with weights_only=True; the network is in
        # the state dict and the problem is recorded as its class path and fields.
        self.save_hyperparameters(ignore=["network", "problem", "causal"])
        self.hparams["problem"] = {
            "class_path": _public_path(type(problem)),
            "init_args": dataclasses.asdict(problem) if dataclasses.is_dataclass(problem) else {},
        }
        self.hparams["causal"] = None if causal is None else dataclasses.asdict(causal)
        self.problem = problem
        self.causal = causal
        self.networks = nn.ModuleList(
            [network] + [copy.deepcopy(network) for _ in range(n_windows - 1)]
        )
        self.automatic_optimization = False
        self.register_buffer("window", torch.zeros((), dtype=torch.long))
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
        """Relative L2 error of the current solution on the reference grid."""
        t, x, u_ref = self.reference()
        return relative_l2(self.predict_grid(t, x), u_ref)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """The current window's network on ``(N, 2)`` coordinates (local time)."""
        return self.networks[int(self.window)](coords)

    # -- losses --------------------------------------------------------------------------
    def _points(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
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
        return t, x, x_ic, n_t

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

    def _eulerian_loss(self, batch: dict, *, weighted: bool):
        t, x, x_ic, n_t = self._points(batch)
        net = self.networks[int(self.window)]
        residual = self.problem.residual(net, t, x)
        losses = per_time_losses(residual, n_t)
        u_ic = evaluate_field(net, torch.zeros_like(x_ic), x_ic)
        ic = self.hparams.ic_weight * (u_ic - self._ic_target(x_ic)).pow(2).mean()
        if weighted and self.causal is not None:
            eps = self.causal.epsilons[int(self.eps_index)]
            loss, w = causal_loss(losses, eps, initial_loss=ic)
        else:
            loss, w = ic + losses.mean(), None
        return loss, {"ic_loss": ic.detach(), "residual": losses.mean().detach()}, w

    def _lagrangian_loss(self, batch: dict):
        t, x, x_ic, _ = self._points(batch)
        loss, parts = lagrangian_loss(
            self.networks[0],
            self.problem,
            t,
            x,
            x_ic,
            weights=tuple(self.hparams.lagrangian_weights),
        )
        logs = {
            "ic_loss": parts["ic_x"] + parts["ic_u"],
            "residual": parts["res_x"] + parts["res_u"],
        }
        return loss, logs, None

    def loss(self, batch: dict, *, weighted: bool = True):
        """``(loss, logs, weights)`` of a batch for the current window (``weights`` None
        unless causal)."""
        if self.hparams.formulation == "lagrangian":
            return self._lagrangian_loss(batch)
        return self._eulerian_loss(batch, weighted=weighted)

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
        loss, logs, w = self.loss(batch)
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        self.window_step += 1
        window_done = False
        eps_used = None if w is None else self.causal.epsilons[int(self.eps_index)]
        if w is not None and self.causal.converged(w):
            if int(self.eps_index) + 1 < len(self.causal):
                self.eps_index += 1
            else:
                window_done = True
        # Lightning's `log` costs about as much as a small PINN step: log every n steps.
        every = max(int(getattr(self.trainer, "log_every_n_steps", 50) or 1), 1)
        if self.trainer.global_step % every == 0:
            metrics = {"train/loss": loss.detach(), "train/window": float(self.window)}
            metrics.update({f"train/{key}": value for key, value in logs.items()})
            if w is not None:
                metrics["train/eps"] = eps_used
                metrics["train/min_weight"] = w.min()
            n = batch["t"].shape[0] * batch["x"].shape[1]
            self.log_dict(metrics, batch_size=n)
        spw = self.hparams.steps_per_window
        if spw is not None and int(self.window_step) >= spw:
            window_done = True
        if window_done:
            self._finish_window(batch)
        return loss.detach()

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
            loss, _, _ = self.loss(batch, weighted=False)
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


class _CollocationStream(torch.utils.data.IterableDataset):
    """An endless stream of collocation batches (``steps_per_epoch`` per epoch)."""

    def __init__(self, n_t, n_x, n_ic, sampler, steps, seed):
        super().__init__()
        self.n_t, self.n_x, self.n_ic, self.sampler = n_t, n_x, n_ic, sampler
        self.steps, self.seed = steps, seed
        self._generator: torch.Generator | None = None

    def __iter__(self):
        if self._generator is None:
            rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
            # Each process draws its own points; the stream continues across epochs.
            self._generator = torch.Generator().manual_seed(self.seed + 1_000_003 * rank)
        x_ic = torch.arange(self.n_ic, dtype=torch.float32) / self.n_ic
        for _ in range(self.steps):
            t, x = collocation_points(
                self.n_t, self.n_x, sampler=self.sampler, generator=self._generator
            )
            yield {"t": t, "x": x, "x_ic": x_ic}

    def __len__(self) -> int:
        return self.steps


class CollocationDataModule(L.LightningDataModule):
    """Collocation batches for :class:`PINNModule`, in the unit square.

    Each training batch is ``{"t": (n_t,), "x": (n_t, n_x), "x_ic": (n_ic,)}``: sorted times
    in ``[0, 1]``, positions in ``[0, 1)`` and the uniform initial-condition points
    ``i / n_ic``; the module maps them to its window and domain. An "epoch" is
    ``steps_per_epoch`` batches (the validation cadence); validation yields a single
    placeholder batch (the module scores the whole solution on the reference grid).

    Args:
        n_t: collocation times per batch (default 32).
        n_x: positions per time (default 64).
        n_ic: initial-condition points (default 256).
        sampler: ``"random"`` (default, fresh uniform points every step), ``"grid"``,
            ``"sobol"``, ``"halton"`` or ``"lhs"`` (see
            :func:`~opkit.models.pinns.collocation_points`).
        steps_per_epoch: batches per epoch (default 1000).
        seed: seed of the stream (default 0); each process of a multi-device run adds an
            offset from its rank.

    Raises:
        ValueError: for sizes below the minimum or an unknown sampler.
    """

    def __init__(
        self,
        n_t: int = 32,
        n_x: int = 64,
        *,
        n_ic: int = 256,
        sampler: str = "random",
        steps_per_epoch: int = 1000,
        seed: int = 0,
    ) -> None:
        super().__init__()
        _positive_int("n_t", n_t, 2)
        _positive_int("n_x", n_x)
        _positive_int("n_ic", n_ic, 2)
        _positive_int("steps_per_epoch", steps_per_epoch)
        if sampler not in SAMPLERS:
            raise ValueError(f"`sampler` must be one of {SAMPLERS}, got {sampler!r}.")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"`seed` must be an integer, got {seed!r}.")
        self.save_hyperparameters()
        self._train = _CollocationStream(n_t, n_x, n_ic, sampler, steps_per_epoch, seed)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(self._train, batch_size=None)

    def _single(self):
        return torch.utils.data.DataLoader([torch.zeros(1)], batch_size=None)

    def val_dataloader(self):
        return self._single()

    def test_dataloader(self):
        return self._single()

    def predict_dataloader(self):
        return self._single()
