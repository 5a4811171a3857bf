"""Autoregressive rollout of a one-call operator (the one implementation in opkit)."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["rollout"]


def rollout(
    step: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, n_frames: int, *, n_fields: int
) -> torch.Tensor:
    """Autoregressive rollout of a one-call model.

    Args:
        step: callable ``(batch, k * n_fields, *spatial) -> (batch, m * n_fields, *spatial)``.
        x: the first ``k`` frames, ``(batch, k * n_fields, *spatial)``.
        n_frames: number of future frames to produce.
        n_fields: physical fields per frame.

    Returns:
        ``(batch, n_frames * n_fields, *spatial)``: the window slides, dropping its oldest
        frames and appending the predicted ones, until ``n_frames`` frames are produced.
        Gradients flow through the whole rollout.
    """
    k = x.shape[1]
    out = []
    produced = 0
    window = x
    while produced < n_frames:
        y = step(window)
        out.append(y)
        produced += y.shape[1] // n_fields
        window = torch.cat([window, y], dim=1)[:, -k:]
    return torch.cat(out, dim=1)[:, : n_frames * n_fields]
