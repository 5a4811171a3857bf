"""The Fourier neural operator baseline: an adapter over ``neuralop.models.FNO``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import torch
from torch import nn

from .._checks import check_int
from ..pde_data import DataSpec
from ._spec_args import SizedByData, check_not_contradicting, check_spec
from .layers._mlp import activation_function

__all__ = ["FNO"]


def _neuralop_fno() -> type[nn.Module]:
    """``neuralop.models.FNO``, imported lazily and without side effects.

    neuralop's modules call ``warnings.filterwarnings("once", ...)`` when imported; the
    ``catch_warnings`` block restores the caller's filters. The import is lazy so that
    ``import opkit.models`` does not pay for neuralop.
    """
    with warnings.catch_warnings():
        from neuralop.models import FNO as NeuralopFNO
    return NeuralopFNO


class FNO(SizedByData, nn.Module):
    """Fourier neural operator (Li et al. 2021), a thin adapter over neuraloperator's FNO.

    ``model(x)`` maps ``(batch, in_channels, *spatial) -> (batch, out_channels, *spatial)``
    for 1-, 2- or 3-D periodic grids of any resolution (the same weights run on any grid
    fine enough for ``n_modes``; on a coarser one the modes above its Nyquist frequency are
    skipped). The network is ``lift -> n_layers x (spectral conv + 1x1 conv, activation)
    -> project``; the grid coordinates in ``[0, 1)`` are appended to the input channels.

    The defaults reproduce the 1-D Burgers FNO of Li et al. (2021), ``fourier_1d.py``: 4
    Fourier layers keeping the Fourier modes ``|k| < 16``, width 64, a linear lifting of
    ``(u, x)``, a projection ``64 -> 128 -> out``, GELU, no normalisation, no padding, and
    no channel MLP inside the Fourier layers (neuraloperator's default adds one; set
    ``channel_mlp=True`` for it).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        n_modes: Fourier modes kept per dimension, in the paper's sense: the layer keeps
            the frequencies ``|k_d| < n_modes[d]``. One int per dimension (``(12, 12)``),
            or one int for all ``n_dim`` dimensions. Default ``16``. (neuralop counts
            positive and negative frequencies; it receives ``2 * n_modes - 1``.)
        hidden_channels: width of the Fourier layers (default 64).
        n_layers: number of Fourier layers (default 4).
        lifting_channels: hidden width of a two-layer lifting MLP; 0 (default) lifts with
            one linear layer, as the paper.
        projection_channels: hidden width of the two-layer projection (default 128).
        activation: non-linearity, ``"gelu"`` (default), ``"relu"``, ``"tanh"``...
        channel_mlp: add neuraloperator's channel MLP to every Fourier layer (default
            ``False``).
        positional_embedding: append the grid coordinates to the input (default ``True``).
            Without it the model is equivariant under periodic shifts of the grid.
        domain_padding: fraction of zero padding per dimension for non-periodic data
            (default 0: none, for periodic data).
        n_dim: number of spatial dimensions (1, 2 or 3). ``None`` (default) takes
            ``len(n_modes)``, so an int ``n_modes`` alone means 1-D.

    Raises:
        TypeError / ValueError: a size that is not a positive int, an unknown activation,
            or a negative padding.

    References:
        Z. Li, N. Kovachki, K. Azizzadenesheli, B. Liu, K. Bhattacharya, A. Stuart,
        A. Anandkumar. Fourier neural operator for parametric partial differential
        equations. *ICLR* (2021). arXiv:2010.08895.

        J. Kossaifi, N. Kovachki, Z. Li, et al. A library for learning neural operators
        (neuraloperator). arXiv:2412.10354 (2024).

    Examples:
        >>> model = FNO(in_channels=1, out_channels=1)
        >>> model(torch.randn(2, 1, 128)).shape
        torch.Size([2, 1, 128])
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        n_modes: int | Sequence[int] = 16,
        hidden_channels: int = 64,
        n_layers: int = 4,
        lifting_channels: int = 0,
        projection_channels: int = 128,
        activation: str = "gelu",
        channel_mlp: bool = False,
        positional_embedding: bool = True,
        domain_padding: float = 0.0,
        n_dim: int | None = None,
    ):
        super().__init__()
        in_channels = check_int("in_channels", in_channels, minimum=1)
        out_channels = check_int("out_channels", out_channels, minimum=1)
        hidden_channels = check_int("hidden_channels", hidden_channels, minimum=1)
        n_layers = check_int("n_layers", n_layers, minimum=1)
        lifting_channels = check_int("lifting_channels", lifting_channels, minimum=0)
        projection_channels = check_int("projection_channels", projection_channels, minimum=1)
        modes = _check_modes(n_modes, n_dim)
        non_linearity = activation_function(activation)
        if not (isinstance(domain_padding, (int, float)) and 0 <= domain_padding < 1):
            raise ValueError(
                f"`domain_padding` must be a fraction in [0, 1), got {domain_padding!r}."
            )

        # neuralop sizes the lifting/projection by ratios to the width and truncates
        # int(ratio * width); half a channel of slack makes the truncation exact.
        self.net = _neuralop_fno()(
            n_modes=tuple(2 * m - 1 for m in modes),
            in_channels=in_channels,
            out_channels=out_channels,
            hidden_channels=hidden_channels,
            n_layers=n_layers,
            lifting_channel_ratio=(lifting_channels + 0.5) / hidden_channels
            if lifting_channels
            else 0,
            projection_channel_ratio=(projection_channels + 0.5) / hidden_channels,
            positional_embedding="grid" if positional_embedding else None,
            non_linearity=non_linearity,
            use_channel_mlp=bool(channel_mlp),
            fno_skip="linear",
            domain_padding=float(domain_padding) if domain_padding else None,
        )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.n_modes = modes
        self.n_dim = len(modes)

    #: `opkit.fit`'s recipe for an FNO built from the class, where the recipe leaves a field
    #: unset: batches of 16 (more, smaller steps per epoch; ``benchmarks/burgers_recipes.py``
    #: measures it).
    fit_defaults = {"batch_size": 16}

    @classmethod
    def default_train_stride(cls, spec: DataSpec, *, n_modes: int = 16, **_: Any) -> int:
        """`opkit.fit`'s ``train_stride`` for an FNO built from the class: the coarsest
        training grid that keeps at least 16 points per Fourier mode kept along every axis.

        The largest power of two ``s`` dividing every spatial size ``n`` with
        ``n / s >= 16 * min(n_modes, n // 2)``: the FNO's weights do not depend on the grid
        (Li et al. 2021, Sec. 5.4: trained at one resolution, evaluated at another), so an
        FNO trains ``s ** ndim`` times cheaper per item on a fine grid and is scored on the
        data's own grid. On the built-in ``burgers`` (1024 points, 16 modes) that is 4
        (256 points); on ``ks`` (256) and ``ns`` (64 x 64) it is 1.
        ``benchmarks/burgers_recipes.py`` measures the effect.
        """
        check_spec(spec)
        stride = 1
        while all(
            n % (2 * stride) == 0 and n // (2 * stride) >= 16 * min(n_modes, n // 2)
            for n in spec.spatial_shape
        ):
            stride *= 2
        return stride

    @classmethod
    def init_args_from_spec(
        cls, spec: DataSpec, *, n_modes: int = 16, **kwargs: Any
    ) -> dict[str, Any]:
        """Constructor arguments of an FNO for ``spec``: channels and dimensions from the data.

        Keeps ``min(n_modes, n // 2)`` modes along a dimension of ``n`` points (at most the
        Nyquist frequency). Other keyword arguments (``hidden_channels``, ``n_layers``,
        ``lifting_channels``, ``projection_channels``, ``activation``, ``channel_mlp``,
        ``positional_embedding``, ``domain_padding``) go to the constructor, whose defaults
        are the 1-D Burgers setup of Li et al. (2021) in every dimension (their 2-D
        Navier-Stokes runs use 12 modes and width 20).

        Raises:
            TypeError: ``spec`` is not a :class:`~opkit.pde_data.DataSpec`.
            ValueError: ``kwargs`` gives ``in_channels``, ``out_channels`` or ``n_dim`` a
                value other than the data's.
        """
        check_spec(spec)
        n_modes = check_int("n_modes", n_modes, minimum=1)
        fixed = {
            "in_channels": spec.in_channels,
            "out_channels": spec.out_channels,
            "n_dim": spec.ndim,
        }
        check_not_contradicting("FNO", fixed, kwargs)
        modes = [min(n_modes, n // 2) for n in spec.spatial_shape]
        return {**kwargs, **fixed, "n_modes": modes}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, in_channels, *spatial) -> (batch, out_channels, *spatial)``.

        Raises:
            TypeError: ``x`` is not a float32 tensor (neuralop's spectral layers are
                single precision).
            ValueError: ``x`` has the wrong number of channels or spatial dimensions.
        """
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"`x` must be a torch.Tensor, got {type(x).__name__}.")
        if x.dtype != torch.float32:
            raise TypeError(
                f"`x` must be float32 (neuralop's spectral convolutions are single precision), "
                f"got {x.dtype}; convert with x.float()."
            )
        if x.ndim != self.n_dim + 2 or x.shape[1] != self.in_channels:
            spatial = ", ".join(f"n_{i}" for i in range(1, self.n_dim + 1))
            raise ValueError(
                f"`x` must have shape (batch, {self.in_channels}, {spatial}) for this "
                f"{self.n_dim}-D FNO with in_channels={self.in_channels}, got {tuple(x.shape)}."
            )
        emb = self.net.positional_embedding
        cached = getattr(emb, "_grid", None)
        if cached and cached[0].device != x.device:
            # neuralop caches the coordinate grid per resolution but not per device; a model
            # moved after a first call would otherwise mix devices.
            emb._grid = None
        return self.net(x)

    def state_dict(self, *args, **kwargs):
        """The weights only: tensors, loadable with ``torch.load(weights_only=True)``.

        neuraloperator's models add a ``_metadata`` entry (their constructor arguments,
        functions and classes included) to every state dict they take part in; it is
        dropped here, since this adapter is rebuilt from its own arguments.
        """
        out = super().state_dict(*args, **kwargs)
        out.pop("_metadata", None)
        return out

    def extra_repr(self) -> str:
        return f"n_modes={self.n_modes} (|k| < n_modes, Li et al. 2021)"


def _check_modes(n_modes, n_dim) -> tuple[int, ...]:
    if n_dim is not None:
        n_dim = check_int("n_dim", n_dim, minimum=1)
        if n_dim > 3:
            raise ValueError(f"`n_dim` must be 1, 2 or 3, got {n_dim}.")
    if isinstance(n_modes, Integral):
        modes = (n_modes,) * (n_dim or 1)
    else:
        modes = n_modes
    is_list = isinstance(modes, Sequence) and not isinstance(modes, (str, bytes))
    if not is_list or not 1 <= len(modes) <= 3:
        raise TypeError(
            f"`n_modes` must be an int or one int per dimension such as (12, 12), got {n_modes!r}."
        )
    if n_dim is not None and len(modes) != n_dim:
        raise ValueError(
            f"`n_modes` {tuple(modes)} gives {len(modes)} dimensions but `n_dim` is {n_dim}: "
            "give one entry per dimension or a single int."
        )
    return tuple(check_int(f"n_modes[{i}]", m, minimum=1) for i, m in enumerate(modes))
