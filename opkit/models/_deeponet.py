"""DeepONet (Lu et al. 2021); POD-DeepONet (Lu et al. 2022) lives in `_pod_deeponet`.

A DeepONet approximates an operator ``G`` by ``G(u)(y) ~ sum_j b_j(u) t_j(y) + b_0``: the
*branch* network reads the input function ``u`` at fixed sensors, the *trunk* network
reads a query point ``y``. POD-DeepONet replaces the trunk by the leading POD modes of the
training outputs. Both classes are final; what they share lives in the private helpers
of this module (composition, not inheritance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import torch
from torch import nn

from .._checks import check_int
from ..pde_data import DataSpec
from ._spec_args import SizedByData, check_spec
from .layers import PeriodicEmbedding
from .layers._mlp import MLP, _check_widths

__all__ = ["DeepONet"]


class DeepONet(SizedByData, nn.Module):
    r"""Unstacked deep operator network with an output bias.

    .. math::
        G(u)(y)_k = \sigma_k \Big(\sum_{j=1}^{p} b_{kp+j}(\hat u)\, t_j(y) + \beta_k\Big) + \mu_k,
        \qquad \hat u = (u - m) / s,

    for outputs ``k = 0..n_outputs-1``: the branch ``b`` maps the (normalised) sensor values
    to ``n_outputs * p`` coefficients, the trunk ``t`` maps a query point to ``p`` basis
    values, ``beta`` is a learned output bias, and ``(m, s)``/``(mu, sigma)`` are the input
    and output normalisation (per channel, identity until set by :meth:`set_normalization`
    or :meth:`fit_data_statistics`; saved in the state dict).

    **Multiple outputs** use DeepXDE's ``"split_branch"`` strategy (Lu et al. 2022,
    section 3.1.6): one trunk basis shared by all outputs, the branch's last layer split
    into ``n_outputs`` groups of ``p`` coefficients (output ``k`` uses features
    ``k*p .. (k+1)*p - 1``). A shared basis suits stacked frames of one field.

    **Calls.**

    - :meth:`forward_operator` ``(u, points)``: ``u`` is ``(batch, n_sensors)`` or
      ``(batch, n_sensors, in_channels)``; ``points`` is ``(n_points, dim)`` shared by the
      batch (the Cartesian-product case: one trunk evaluation, one matrix product) or
      ``(batch, n_points, dim)`` per sample. Returns ``(batch, n_points)``, or
      ``(batch, n_points, n_outputs)`` when ``n_outputs > 1``.
    - ``model(x)`` (grid models, built with ``spatial_shape`` or :meth:`from_spec`):
      ``x`` is ``(batch, in_channels, *spatial_shape)`` on the grid whose values are the
      sensors, and the output is ``(batch, n_outputs, *spatial_shape)`` on the same grid,
      whose points ``(i_1/n_1, ..., i_d/n_d)`` (the grid with every coordinate scaled to
      ``[0, 1)``) are stored in the buffer ``grid``. ``model(x, points)`` evaluates at
      other points instead (same coordinates), returning :meth:`forward_operator`'s layout.

    Args:
        branch_layers: widths of the branch MLP ``[n_sensors * in_channels, ...,
            n_outputs * p]``. Give this or ``branch``.
        trunk_layers: widths of the trunk MLP ``[dim, ..., p]``; its last layer is also
            activated (Lu et al. 2021; DeepXDE does the same). Give this or ``trunk``.
        branch: any module ``(batch, n_sensors * in_channels) -> (batch, n_outputs * p)``
            instead of ``branch_layers``. Sensor values are flattened sensor-major:
            ``u.reshape(batch, -1)`` of ``(batch, n_sensors, in_channels)``.
        trunk: any module ``(..., dim') -> (..., p)`` instead of ``trunk_layers``
            (``dim' = dim``, or ``2 * periodic_features * dim`` with periodic features).
        activation: non-linearity of the MLPs built from widths (default ``"tanh"``).
        n_outputs: number of output functions (default 1).
        in_channels: channels per sensor (default 1).
        spatial_shape: grid of the sensors and of the default query points, e.g.
            ``(1024,)`` or ``(64, 64)``; required for ``model(x)``. ``None`` (default)
            builds an operator-only model (use :meth:`forward_operator`).
        periodic_features: ``K > 0`` replaces each coordinate ``y_d`` by the features
            ``cos(2 pi k y_d), sin(2 pi k y_d)``, ``k = 1..K``, before the trunk, which
            makes the output exactly 1-periodic in every coordinate (Lu et al. 2022 use
            ``K = 2`` for Burgers). Default 0: raw coordinates.
        generator: random generator for the initial weights of MLPs built from widths.

    Raises:
        TypeError: ``branch``/``trunk`` is not an ``nn.Module``, or a size is not an int.
        ValueError: both or neither of ``branch``/``branch_layers`` (or of
            ``trunk``/``trunk_layers``) given, or sizes that do not fit together (the
            message says which and how to fix it).

    References:
        L. Lu, P. Jin, G. Pang, Z. Zhang, G. E. Karniadakis. Learning nonlinear operators
        via DeepONet based on the universal approximation theorem of operators. *Nature
        Machine Intelligence* 3, 218-229 (2021). arXiv:1910.03193.

        L. Lu, X. Meng, S. Cai, Z. Mao, S. Goswami, Z. Zhang, G. E. Karniadakis. A
        comprehensive and fair comparison of two neural operators (with practical
        extensions) based on FAIR data. *Comput. Methods Appl. Mech. Engrg.* 393, 114778
        (2022). arXiv:2111.05512.

    Examples:
        >>> net = DeepONet(branch_layers=[64, 40, 40], trunk_layers=[1, 40, 40])
        >>> net.forward_operator(torch.randn(8, 64), torch.rand(100, 1)).shape
        torch.Size([8, 100])
        >>> spec = DataSpec(spatial_shape=(128,), lengths=(1.0,))
        >>> DeepONet.from_spec(spec)(torch.randn(4, 1, 128)).shape
        torch.Size([4, 1, 128])
    """

    def __init__(
        self,
        *,
        branch_layers: Sequence[int] | None = None,
        trunk_layers: Sequence[int] | None = None,
        branch: nn.Module | None = None,
        trunk: nn.Module | None = None,
        activation: str = "tanh",
        n_outputs: int = 1,
        in_channels: int = 1,
        spatial_shape: Sequence[int] | None = None,
        periodic_features: int = 0,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        n_outputs = check_int("n_outputs", n_outputs, minimum=1)
        in_channels = check_int("in_channels", in_channels, minimum=1)
        periodic_features = check_int("periodic_features", periodic_features, minimum=0)
        shape = _check_shape(spatial_shape) if spatial_shape is not None else None
        _exactly_one("branch", branch, branch_layers)
        _exactly_one("trunk", trunk, trunk_layers)

        n_sensors = math.prod(shape) if shape is not None else None
        if branch_layers is not None:
            widths = _check_widths("branch_layers", branch_layers)
            if widths[0] % in_channels:
                raise ValueError(
                    f"`branch_layers[0]` (={widths[0]}) must be n_sensors * in_channels, a "
                    f"multiple of `in_channels` (={in_channels})."
                )
            if n_sensors is not None and widths[0] != n_sensors * in_channels:
                raise ValueError(
                    f"`branch_layers[0]` (={widths[0]}) must equal prod(spatial_shape) * "
                    f"in_channels (={n_sensors} * {in_channels} = {n_sensors * in_channels})."
                )
            n_sensors = widths[0] // in_channels
        dim = len(shape) if shape is not None else None
        latent = None
        if trunk_layers is not None:
            t_widths = _check_widths("trunk_layers", trunk_layers)
            if dim is not None and t_widths[0] != dim:
                raise ValueError(
                    f"`trunk_layers[0]` (={t_widths[0]}) must be the dimension of the query "
                    f"points, len(spatial_shape) = {dim}."
                )
            dim, latent = t_widths[0], t_widths[-1]
            if branch_layers is not None and widths[-1] != n_outputs * latent:
                raise ValueError(
                    f"`branch_layers[-1]` (={widths[-1]}) must be n_outputs * trunk_layers[-1] "
                    f"(={n_outputs} * {latent} = {n_outputs * latent}): each output uses its "
                    "own group of branch features against the shared trunk basis."
                )

        if branch_layers is not None:
            branch = MLP(widths, activation=activation, generator=generator)
        elif not isinstance(branch, nn.Module):
            raise TypeError(f"`branch` must be a torch.nn.Module, got {type(branch).__name__}.")
        if trunk_layers is not None:
            t_widths[0] = dim * 2 * periodic_features if periodic_features else dim
            trunk = MLP(t_widths, activation=activation, activate_last=True, generator=generator)
        elif not isinstance(trunk, nn.Module):
            raise TypeError(f"`trunk` must be a torch.nn.Module, got {type(trunk).__name__}.")

        self.branch = branch
        self.trunk = trunk
        self.features = (
            PeriodicEmbedding(periods=(1.0,) * dim, n_harmonics=periodic_features, constant=False)
            if periodic_features
            else None
        )
        self.bias = nn.Parameter(torch.zeros(n_outputs))
        self.x_norm = _ChannelAffine(in_channels)
        self.y_norm = _ChannelAffine(n_outputs)
        self.n_outputs = n_outputs
        self.in_channels = in_channels
        self.n_sensors = n_sensors
        self.dim = dim
        self.latent = latent
        self.spatial_shape = shape
        self.periodic_features = periodic_features
        if shape is not None:
            # Derived from spatial_shape, so kept out of the state dict.
            self.register_buffer("grid", _unit_grid(shape), persistent=False)
        else:
            self.grid = None

    #: `opkit.fit`'s recipe for a DeepONet built from the class, where the recipe leaves a
    #: field unset: each step evaluates the trunk on every query point once for the whole
    #: batch, so large batches are cheap per item; batches of 128 at lr 1.4e-3 (the
    #: default 1e-3 scaled by the square root of the 4x larger batch).
    #: ``benchmarks/burgers_recipes.py`` measures it.
    fit_defaults = {"batch_size": 128, "lr": 1.4e-3}

    @classmethod
    def init_args_from_spec(
        cls,
        spec: DataSpec,
        *,
        branch_hidden: Sequence[int] = (128, 128, 128),
        trunk_hidden: Sequence[int] = (128, 128),
        latent: int = 128,
        activation: str = "tanh",
        periodic_features: int = 8,
        generator: torch.Generator | None = None,
    ) -> dict[str, Any]:
        """Constructor arguments of a grid DeepONet for a dataset (sensors and query points
        are ``spec``'s grid).

        Builds ``branch_layers = [prod(spatial_shape) * in_channels, *branch_hidden,
        out_channels * latent]`` and ``trunk_layers = [ndim, *trunk_hidden, latent]``, so
        that ``model(x)`` maps ``(batch, spec.in_channels, *spatial)`` to ``(batch,
        spec.out_channels, *spatial)``. The defaults follow the Burgers DeepONet of
        Lu et al. 2022 (``lu-group/deeponet-fno``, ``src/burgers/deeponet.py``): branch
        ``[m, 128, 128, 128, 128]``, trunk ``[1, 128, 128, 128]`` on periodic features,
        tanh, Glorot-normal initialisation, with one change: the trunk sees 8 harmonics
        ``cos/sin(2 pi k x), k = 1..8`` instead of the paper's 2, since the fronts of the
        built-in ``burgers`` (nu = 1e-2) need the higher harmonics (commit 08b1f96 measured
        it: 2 harmonics give about twice the test error). ``periodic_features=2`` reproduces
        the paper. (There the outputs are standardised per grid point; opkit's trainer
        standardises per field.)

        Raises:
            TypeError: ``spec`` is not a :class:`~opkit.pde_data.DataSpec`.
            ValueError: a width is not a positive integer.
        """
        check_spec(spec)
        latent = check_int("latent", latent, minimum=1)
        hidden_b = _check_hidden("branch_hidden", branch_hidden)
        hidden_t = _check_hidden("trunk_hidden", trunk_hidden)
        n_in = math.prod(spec.spatial_shape) * spec.in_channels
        return dict(
            branch_layers=[n_in, *hidden_b, spec.out_channels * latent],
            trunk_layers=[spec.ndim, *hidden_t, latent],
            activation=activation,
            n_outputs=spec.out_channels,
            in_channels=spec.in_channels,
            spatial_shape=list(spec.spatial_shape),
            periodic_features=periodic_features,
            generator=generator,
        )

    # -- normalisation ------------------------------------------------------------------
    def set_normalization(
        self,
        *,
        x_mean: float | torch.Tensor = 0.0,
        x_std: float | torch.Tensor = 1.0,
        y_mean: float | torch.Tensor = 0.0,
        y_std: float | torch.Tensor = 1.0,
    ) -> None:
        """Set the input/output normalisation (buffers, saved in the state dict).

        The branch sees ``(u - x_mean) / x_std``; the network's output ``z`` is returned as
        ``z * y_std + y_mean``. Each statistic is a number or a tensor with one entry per
        input channel (``x_*``: ``(in_channels,)``) or per output (``y_*``:
        ``(n_outputs,)``). Statistics are per channel, not per point, so that they hold at
        any query point.

        Raises:
            ValueError: wrong number of entries, non-finite values, or a std <= 0.
        """
        self.x_norm.set(x_mean, x_std, names=("x_mean", "x_std"))
        self.y_norm.set(y_mean, y_std, names=("y_mean", "y_std"))

    def fit_data_statistics(self, x_train: torch.Tensor, y_train: torch.Tensor) -> None:
        """Set the normalisation to the per-channel mean and std of the training data.

        This is the hook ``opkit``'s trainer calls once, before training, with the training
        split in the grid layout. A channel whose std is 0 keeps std 1.

        Args:
            x_train: ``(n_samples, in_channels, *spatial)``.
            y_train: ``(n_samples, n_outputs, *spatial)``.

        Raises:
            TypeError / ValueError: not floating tensors, or the channel counts differ
                from the model's.
        """
        x_mean, x_std = _channel_statistics("x_train", x_train, self.in_channels)
        y_mean, y_std = _channel_statistics("y_train", y_train, self.n_outputs)
        self.set_normalization(x_mean=x_mean, x_std=x_std, y_mean=y_mean, y_std=y_std)

    # -- calls ----------------------------------------------------------------------------
    def forward_operator(self, u: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Evaluate ``G(u)`` at query points.

        Args:
            u: sensor values, ``(batch, n_sensors)`` (one channel) or
                ``(batch, n_sensors, in_channels)``.
            points: ``(n_points, dim)`` shared by all samples, or ``(batch, n_points, dim)``.

        Returns:
            ``(batch, n_points)`` if ``n_outputs == 1``, else ``(batch, n_points, n_outputs)``.

        Raises:
            TypeError: a non-tensor, non-floating input, or a dtype other than the model's.
            ValueError: wrong number of sensors or channels, wrong point dimension, or a
                batch size of ``points`` that differs from ``u``'s.
        """
        u = self._check_sensors(u)
        points = self._check_points(points, u.shape[0])
        out = self._evaluate(u, points).transpose(1, 2)
        return out.squeeze(-1) if self.n_outputs == 1 else out

    def forward(self, x: torch.Tensor, points: torch.Tensor | None = None) -> torch.Tensor:
        """Grid call ``(batch, in_channels, *spatial) -> (batch, n_outputs, *spatial)``.

        Args:
            x: the input function on the model's grid, ``(batch, in_channels,
                *spatial_shape)``.
            points: ``None`` (default) evaluates on the stored grid and returns the grid
                layout; otherwise query points in the grid's ``[0, 1)`` coordinates, as in
                :meth:`forward_operator` (and its output layout).

        Raises:
            ValueError: the model has no grid (``spatial_shape=None``), or ``x``'s shape
                is not ``(batch, in_channels, *spatial_shape)``.
        """
        if self.spatial_shape is None:
            raise ValueError(
                "this DeepONet has no grid (`spatial_shape=None`): call "
                "`forward_operator(u, points)`, or build it with `spatial_shape=` or "
                "`DeepONet.from_spec(spec)`."
            )
        _check_grid_input(x, self.in_channels, self.spatial_shape, self.bias.dtype)
        u = x.flatten(2).transpose(1, 2)
        if points is not None:
            return self.forward_operator(u, points)
        out = self._evaluate(u, self.grid)
        return out.reshape(x.shape[0], self.n_outputs, *self.spatial_shape)

    def _evaluate(self, u: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """``(batch, n_sensors, C)``, points -> ``(batch, n_outputs, n_points)``."""
        batch = u.shape[0]
        coef = self.branch(self.x_norm.normalize(u, dim=-1).reshape(batch, -1))
        basis = self.trunk(self.features(points) if self.features is not None else points)
        p = basis.shape[-1]
        if coef.ndim != 2 or coef.shape[-1] != self.n_outputs * p:
            raise ValueError(
                f"the branch returned shape {tuple(coef.shape)}, expected (batch, n_outputs * p)"
                f" = ({batch}, {self.n_outputs} * {p}) for a trunk with p = {p} features."
            )
        coef = coef.view(batch, self.n_outputs, p)
        # Shared points: one trunk evaluation and one (batch*k, p) @ (p, n) product (the
        # Cartesian-product DeepONet); per-sample points: a batched product.
        out = torch.matmul(coef, basis.transpose(-1, -2))
        out = out + self.bias[:, None]
        return self.y_norm.denormalize(out, dim=1)

    # -- input checks ---------------------------------------------------------------------
    def _check_sensors(self, u: torch.Tensor) -> torch.Tensor:
        _check_float("u", u, self.bias.dtype)
        if u.ndim == 2:
            if self.in_channels != 1:
                raise ValueError(
                    f"`u` has shape {tuple(u.shape)} (one channel) but the model has "
                    f"in_channels={self.in_channels}: pass (batch, n_sensors, {self.in_channels})."
                )
            u = u[..., None]
        elif u.ndim != 3:
            raise ValueError(
                f"`u` must be (batch, n_sensors) or (batch, n_sensors, channels), got shape "
                f"{tuple(u.shape)}."
            )
        if u.shape[2] != self.in_channels:
            raise ValueError(
                f"`u` has {u.shape[2]} channels (shape {tuple(u.shape)}), the model expects "
                f"in_channels={self.in_channels}."
            )
        if self.n_sensors is not None and u.shape[1] != self.n_sensors:
            raise ValueError(
                f"`u` has {u.shape[1]} sensors (shape {tuple(u.shape)}), the model expects "
                f"n_sensors={self.n_sensors}: sample the input at the model's sensors."
            )
        return u

    def _check_points(self, points: torch.Tensor, batch: int) -> torch.Tensor:
        _check_float("points", points, self.bias.dtype)
        if points.ndim not in (2, 3):
            raise ValueError(
                f"`points` must be (n_points, dim) or (batch, n_points, dim), got shape "
                f"{tuple(points.shape)}."
            )
        if self.dim is not None and points.shape[-1] != self.dim:
            raise ValueError(
                f"`points` have dimension {points.shape[-1]} (shape {tuple(points.shape)}), "
                f"the trunk expects dim={self.dim}."
            )
        if points.ndim == 3 and points.shape[0] != batch:
            raise ValueError(
                f"per-sample `points` have batch size {points.shape[0]}, `u` has {batch}; "
                "pass (n_points, dim) to share the points across the batch."
            )
        return points


class _ChannelAffine(nn.Module):
    """Per-channel affine map ``(x - mean) / std`` and its inverse; buffers ``(n,)``."""

    def __init__(self, n_channels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_channels))
        self.register_buffer("std", torch.ones(n_channels))

    def set(self, mean, std, *, names: tuple[str, str]) -> None:
        n = self.mean.numel()
        values = []
        for name, v in zip(names, (mean, std)):
            t = torch.as_tensor(v, dtype=torch.float64).detach().cpu().reshape(-1)
            if t.numel() == 1:
                t = t.expand(n)
            if t.numel() != n:
                raise ValueError(
                    f"`{name}` must be a number or have {n} entries (one per channel), got "
                    f"shape {tuple(torch.as_tensor(v).shape)}."
                )
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"`{name}` must be finite, got {t.tolist()}.")
            values.append(t)
        if not bool((values[1] > 0).all()):
            raise ValueError(f"`{names[1]}` must be > 0, got {values[1].tolist()}.")
        self.mean.copy_(values[0])
        self.std.copy_(values[1])

    def _view(self, v: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
        shape = [1] * x.ndim
        shape[dim] = -1
        return v.view(shape)

    def normalize(self, x: torch.Tensor, *, dim: int) -> torch.Tensor:
        return (x - self._view(self.mean, x, dim)) / self._view(self.std, x, dim)

    def denormalize(self, x: torch.Tensor, *, dim: int) -> torch.Tensor:
        return x * self._view(self.std, x, dim) + self._view(self.mean, x, dim)


def _unit_grid(shape: tuple[int, ...]) -> torch.Tensor:
    """Grid points ``(i_1/n_1, ..., i_d/n_d)``, ``(prod(shape), d)``, C order (as ``flatten``)."""
    axes = [torch.arange(n, dtype=torch.float64) / n for n in shape]
    mesh = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([m.reshape(-1) for m in mesh], dim=-1).to(torch.float32)


def _channel_statistics(
    name: str, t: torch.Tensor, n_channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (population) std per channel of ``(n, C, ...)``; a zero std becomes 1."""
    _check_float(name, t)
    if t.ndim < 3 or t.shape[1] != n_channels:
        raise ValueError(
            f"`{name}` must be (n_samples, {n_channels}, *spatial) in the grid layout, got shape "
            f"{tuple(t.shape)}."
        )
    flat = t.detach().to(torch.float64).transpose(0, 1).reshape(n_channels, -1)
    mean, std = flat.mean(1), flat.std(1, correction=0)
    return mean, torch.where(std > 0, std, torch.ones_like(std))


def _check_grid_input(
    x: torch.Tensor,
    channels: int,
    shape: tuple[int, ...],
    dtype: torch.dtype | None,
    *,
    name: str = "x",
) -> None:
    _check_float(name, x, dtype)
    expected = (channels, *shape)
    if x.ndim != len(shape) + 2 or tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"`{name}` must have shape (batch, {', '.join(map(str, expected))}) (batch, "
            f"channels, *spatial_shape), got {tuple(x.shape)}."
        )


def _check_float(name: str, x, dtype: torch.dtype | None = None) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"`{name}` must be a floating-point tensor, got dtype {x.dtype}.")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"`{name}` has dtype {x.dtype} but the model is {dtype}: convert one of them "
            f"(e.g. `{name}.to({dtype})` or `model.to({x.dtype})`)."
        )


def _check_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, Integral):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(
            f"`spatial_shape` must be a tuple of grid sizes such as (1024,), got {shape!r}."
        ) from None
    if not dims or not all(isinstance(n, Integral) and not isinstance(n, bool) for n in dims):
        raise TypeError(
            f"`spatial_shape` must be a non-empty tuple of ints such as (1024,), got {shape!r}."
        )
    if min(dims) < 1:
        raise ValueError(f"`spatial_shape` sizes must be >= 1, got {dims}.")
    return tuple(int(n) for n in dims)


def _check_hidden(name: str, hidden: Sequence[int]) -> list[int]:
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(f"`{name}` must be a list of widths, got {type(hidden).__name__}.")
    if not all(isinstance(w, Integral) and not isinstance(w, bool) and w >= 1 for w in hidden):
        raise ValueError(f"`{name}` must hold positive integer widths, got {list(hidden)}.")
    return [int(w) for w in hidden]


def _exactly_one(name: str, module, layers) -> None:
    if (module is None) == (layers is None):
        got = "both" if module is not None else "neither"
        raise ValueError(
            f"pass exactly one of `{name}` (a module) and `{name}_layers` (a list of widths); "
            f"got {got}."
        )
