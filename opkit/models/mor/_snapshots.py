"""Snapshots of a trained neural ODE: its latent states and its nonlinearity along trajectories."""

from __future__ import annotations

import torch

from .._neural_ode import FIXED_STEP_METHODS, NeuralODE

__all__ = ["snapshots", "snapshot_times", "nonlinear_snapshots"]


def snapshot_times(model: NeuralODE, *, dtype=torch.float64) -> torch.Tensor:
    """Times at which states are recorded: the solver grid of fixed-step methods, else
    five points per output frame; ``0 .. out_frames * frame_time``."""
    horizon = model.out_frames * model.frame_time
    if model.method in FIXED_STEP_METHODS:
        n = max(1, round(horizon / model.step_size))
    else:
        n = 5 * model.out_frames
    return torch.linspace(0.0, horizon, n + 1, dtype=dtype)


@torch.no_grad()
def snapshots(
    model: NeuralODE,
    data: torch.Tensor,
    u: torch.Tensor | None = None,
    *,
    relative: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """State snapshots ``x(t)`` and nonlinearity snapshots ``f(A x(t) + b)``, as columns.

    Every window of ``data`` is encoded and integrated by the model's own solver; the
    states at :func:`snapshot_times` are collected.

    Args:
        model: a `NeuralODE` with a one-layer vector field.
        data: ``(batch, in_channels, *grid)``, input windows in the units the model sees
            (normalised, when it is trained inside an `OperatorModule`).
        u: ``(batch, n_inputs)`` inputs when the model has them.
        relative: return the displacements ``x(t) - x(0)`` as state snapshots (the
            nonlinearity snapshots are unchanged).

    Returns:
        ``(X, F)``, both ``(n, batch * n_times)``.
    """
    t = snapshot_times(model, dtype=data.dtype).to(data.device)
    states = model.latent_trajectory(data, t, u)  # (n_times, batch, n)
    x = states.reshape(-1, states.shape[-1])
    f = model.vector_field.nonlinearity(x)
    if relative:
        x = (states - states[:1]).reshape(-1, states.shape[-1])
    return x.T.contiguous(), f.T.contiguous()


def nonlinear_snapshots(model: NeuralODE, data: torch.Tensor, u=None) -> torch.Tensor:
    """The nonlinearity snapshots of `snapshots`, taken in eval mode (the model's mode is
    restored afterwards): what the pruning baselines rank by importance."""
    was_training = model.training
    model.eval()
    try:
        return snapshots(model, data, u)[1]
    finally:
        model.train(was_training)
