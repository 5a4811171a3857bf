"""`DataSpec`: what a model needs to know about a dataset to size itself.

Every model that ``opkit.fit`` can build from data offers ``Model.from_spec(spec, **kwargs)``.
All such models share one calling convention, so that the trainers never branch on the
model's type::

    model(x)   x: (batch, in_channels, *spatial)  ->  (batch, out_channels, *spatial)

Channels are frame-major and oldest first: ``in_channels = in_frames * n_fields`` holds
frame 0's fields, then frame 1's, ... Grids are periodic on ``[0, length)`` per dimension.
"""

from __future__ import annotations

import dataclasses

import torch

__all__ = ["DataSpec"]


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Shape description of an operator-learning dataset.

    Args:
        spatial_shape: grid shape, ``(n_x,)`` or ``(n_x, n_y)``.
        lengths: domain length per spatial dimension (periodic ``[0, length)``).
        n_fields: physical fields per frame (1 for ``u`` or ``vorticity``).
        in_frames: frames given to the model (1 for a map ``u0 -> u(T)``).
        out_frames: frames the model predicts per call.
        dt: time between consecutive frames (``None`` for a single-output map).
    """

    spatial_shape: tuple[int, ...]
    lengths: tuple[float, ...]
    n_fields: int = 1
    in_frames: int = 1
    out_frames: int = 1
    dt: float | None = None

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.spatial_shape)
        lengths = tuple(float(v) for v in self.lengths)
        if len(shape) not in (1, 2) or min(shape) < 2:
            raise ValueError(
                f"`spatial_shape` must be (n_x,) or (n_x, n_y) with sizes >= 2, got {shape}."
            )
        if len(lengths) != len(shape) or min(lengths) <= 0:
            raise ValueError(
                f"`lengths` must give one positive length per spatial dimension {shape}, "
                f"got {lengths}."
            )
        for name in ("n_fields", "in_frames", "out_frames"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"`{name}` must be >= 1, got {getattr(self, name)}.")
        object.__setattr__(self, "spatial_shape", shape)
        object.__setattr__(self, "lengths", lengths)

    @property
    def ndim(self) -> int:
        return len(self.spatial_shape)

    @property
    def in_channels(self) -> int:
        return self.in_frames * self.n_fields

    @property
    def out_channels(self) -> int:
        return self.out_frames * self.n_fields

    def coords(self) -> list[torch.Tensor]:
        """1-D float64 coordinates ``i * length / n`` per dimension."""
        return [
            torch.arange(n, dtype=torch.float64) * (length / n)
            for n, length in zip(self.spatial_shape, self.lengths)
        ]

    def grid(self) -> torch.Tensor:
        """Query points of the grid, ``(prod(spatial_shape), ndim)`` float64, C order."""
        mesh = torch.meshgrid(*self.coords(), indexing="ij")
        return torch.stack([m.reshape(-1) for m in mesh], dim=-1)
