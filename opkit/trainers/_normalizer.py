"""Per-field affine normalisation of frame-major channel stacks."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FieldNormalizer"]


class FieldNormalizer(nn.Module):
    """``encode(x) = (x - shift) / scale`` per physical field, shared by all frames.

    Tensors are ``(batch, frames * n_fields, *spatial)`` (frame-major, DataSpec's layout).
    ``shift``/``scale`` are buffers, so they travel with the state dict and checkpoints.

    Args:
        n_fields: fields per frame.
    """

    def __init__(self, n_fields: int = 1):
        super().__init__()
        if n_fields < 1:
            raise ValueError(f"`n_fields` must be >= 1, got {n_fields}.")
        self.n_fields = n_fields
        self.register_buffer("shift", torch.zeros(n_fields))
        self.register_buffer("scale", torch.ones(n_fields))

    def set(self, shift: torch.Tensor, scale: torch.Tensor) -> None:
        shift = torch.as_tensor(shift, dtype=self.shift.dtype).reshape(-1)
        scale = torch.as_tensor(scale, dtype=self.scale.dtype).reshape(-1)
        if shift.numel() != self.n_fields or scale.numel() != self.n_fields:
            raise ValueError(
                f"normalisation statistics must have {self.n_fields} entries (one per field), "
                f"got shift {tuple(shift.shape)} and scale {tuple(scale.shape)}."
            )
        if not bool((scale > 0).all()):
            raise ValueError(f"normalisation `scale` must be positive, got {scale.tolist()}.")
        self.shift.copy_(shift)
        self.scale.copy_(scale)

    def _view(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        frames = x.shape[1] // self.n_fields
        v = v.to(x.dtype).repeat(frames)
        return v.reshape(1, -1, *([1] * (x.ndim - 2)))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self._view(x, self.shift)) / self._view(x, self.scale)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return x * self._view(x, self.scale) + self._view(x, self.shift)
