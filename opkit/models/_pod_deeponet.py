"""POD-DeepONet (Lu et al. 2022): a DeepONet whose trunk is the training outputs' POD basis.

References:
    Lu, Meng, Cai, Mao, Goswami, Zhang, Karniadakis, "A comprehensive and fair comparison
    of two neural operators (with practical extensions) based on FAIR data", CMAME 393
    (2022).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._checks import check_int
from ..pde_data import DataSpec
from ._deeponet import (
    _channel_statistics,
    _ChannelAffine,
    _check_float,
    _check_grid_input,
    _check_hidden,
    _check_shape,
    _exactly_one,
)
from ._spec_args import SizedByData, check_spec
from .layers._mlp import MLP, _check_widths

__all__ = ["PODDeepONet"]


class PODDeepONet(SizedByData, nn.Module):
    r"""POD-DeepONet: a learned branch against the leading POD modes of the outputs.

    .. math::
        G(u)_k = \mu_k + \sum_{j=1}^{p} s_{kj}\, b_{kp+j}(\hat u)\, \phi_{kj},
        \qquad \hat u = (u - m) / s,

    where ``mu_k`` is the mean training output of channel ``k``, ``phi_kj`` its ``j``-th
    POD mode (the leading right singular vectors of the centred training outputs), and
    ``s_kj`` the standard deviation of the training samples' ``j``-th POD coefficient, a
    fixed rescaling so that the branch learns O(1) targets (the reference code divides by
    ``p`` for the same purpose). Modes are orthonormal in the grid mean inner product
    ``<f, g> = mean_i f_i g_i`` (the quadrature of the L2 product on the unit box), so a
    mode's values are O(1) at any resolution. Each output channel has its own modes
    (multiple outputs, Lu et al. 2022 section 3.1.6).

    The modes need data: :meth:`fit_pod` (or the trainer's hook
    :meth:`fit_data_statistics`, which also sets the input normalisation) computes them
    from the training outputs; they are buffers saved in the state dict. Calling the model
    before that raises ``RuntimeError``.

    The model lives on its grid: ``model(x)`` maps ``(batch, in_channels, *spatial_shape)``
    to ``(batch, n_outputs, *spatial_shape)``.

    Args:
        spatial_shape: the grid, e.g. ``(1024,)`` or ``(64, 64)``.
        n_modes: POD modes ``p`` per output channel (default 32).
        branch_layers: widths ``[prod(spatial_shape) * in_channels, ..., n_outputs *
            n_modes]`` of the branch MLP. Give this or ``branch``.
        branch: any module ``(batch, prod(spatial_shape) * in_channels) -> (batch,
            n_outputs * n_modes)`` (sensor-major flattening, as :class:`DeepONet`).
        activation: the branch MLP's non-linearity (default ``"tanh"``).
        in_channels: input channels (default 1).
        n_outputs: output channels (default 1).
        generator: random generator for the branch's initial weights.

    Raises:
        TypeError / ValueError: as :class:`DeepONet`, for sizes that do not fit together.

    References:
        L. Lu, X. Meng, S. Cai, Z. Mao, S. Goswami, Z. Zhang, G. E. Karniadakis. A
        comprehensive and fair comparison of two neural operators (with practical
        extensions) based on FAIR data. *Comput. Methods Appl. Mech. Engrg.* 393, 114778
        (2022). arXiv:2111.05512.

    Examples:
        >>> spec = DataSpec(spatial_shape=(64,), lengths=(1.0,))
        >>> net = PODDeepONet.from_spec(spec, n_modes=8)
        >>> y_train = torch.randn(100, 1, 64)
        >>> net.fit_data_statistics(torch.randn(100, 1, 64), y_train)
        >>> net(torch.randn(3, 1, 64)).shape
        torch.Size([3, 1, 64])
    """

    def __init__(
        self,
        *,
        spatial_shape: Sequence[int],
        n_modes: int = 32,
        branch_layers: Sequence[int] | None = None,
        branch: nn.Module | None = None,
        activation: str = "tanh",
        in_channels: int = 1,
        n_outputs: int = 1,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        shape = _check_shape(spatial_shape)
        n_modes = check_int("n_modes", n_modes, minimum=1)
        in_channels = check_int("in_channels", in_channels, minimum=1)
        n_outputs = check_int("n_outputs", n_outputs, minimum=1)
        n_points = math.prod(shape)
        if n_modes > n_points:
            raise ValueError(
                f"`n_modes` (={n_modes}) must be <= the number of grid points (={n_points})."
            )
        _exactly_one("branch", branch, branch_layers)
        if branch_layers is not None:
            widths = _check_widths("branch_layers", branch_layers)
            if widths[0] != n_points * in_channels:
                raise ValueError(
                    f"`branch_layers[0]` (={widths[0]}) must equal prod(spatial_shape) * "
                    f"in_channels (={n_points} * {in_channels} = {n_points * in_channels})."
                )
            if widths[-1] != n_outputs * n_modes:
                raise ValueError(
                    f"`branch_layers[-1]` (={widths[-1]}) must be n_outputs * n_modes "
                    f"(={n_outputs} * {n_modes} = {n_outputs * n_modes})."
                )
            branch = MLP(widths, activation=activation, generator=generator)
        elif not isinstance(branch, nn.Module):
            raise TypeError(f"`branch` must be a torch.nn.Module, got {type(branch).__name__}.")
        self.branch = branch
        self.x_norm = _ChannelAffine(in_channels)
        self.register_buffer("modes", torch.zeros(n_outputs, n_points, n_modes))
        self.register_buffer("mean", torch.zeros(n_outputs, n_points))
        self.register_buffer("coef_scale", torch.ones(n_outputs, n_modes))
        self.register_buffer("pod_fitted", torch.zeros((), dtype=torch.bool))
        self.spatial_shape = shape
        self.n_modes = n_modes
        self.in_channels = in_channels
        self.n_outputs = n_outputs
        self.n_sensors = n_points

    @classmethod
    def init_args_from_spec(
        cls,
        spec: DataSpec,
        *,
        n_modes: int = 32,
        branch_hidden: Sequence[int] = (128, 128),
        activation: str = "tanh",
        generator: torch.Generator | None = None,
    ) -> dict[str, Any]:
        """Constructor arguments of a POD-DeepONet on ``spec``'s grid.

        The defaults reproduce the Burgers POD-DeepONet of Lu et al. 2022
        (``lu-group/deeponet-fno``, ``src/burgers/deeponet_POD.py``): 32 modes, branch
        ``[m, 128, 128, 32]``, tanh. ``n_modes`` is capped at the number of grid points.

        Raises:
            TypeError: ``spec`` is not a :class:`~opkit.pde_data.DataSpec`.
        """
        check_spec(spec)
        n_points = math.prod(spec.spatial_shape)
        n_modes = min(check_int("n_modes", n_modes, minimum=1), n_points)
        hidden = _check_hidden("branch_hidden", branch_hidden)
        return dict(
            spatial_shape=list(spec.spatial_shape),
            n_modes=n_modes,
            branch_layers=[n_points * spec.in_channels, *hidden, spec.out_channels * n_modes],
            activation=activation,
            in_channels=spec.in_channels,
            n_outputs=spec.out_channels,
            generator=generator,
        )

    # -- data-dependent set-up --------------------------------------------------------------
    def fit_pod(self, y_train: torch.Tensor) -> None:
        """Compute the mean, the leading ``n_modes`` POD modes and the coefficient scales.

        Uses a thin SVD of the centred outputs of each channel in float64.

        Args:
            y_train: training outputs ``(n_samples, n_outputs, *spatial_shape)``,
                ``n_samples >= n_modes``.

        Raises:
            TypeError / ValueError: not a floating tensor, the wrong shape, too few samples,
                or non-finite values.
        """
        _check_float("y_train", y_train)
        _check_grid_input(y_train, self.n_outputs, self.spatial_shape, None, name="y_train")
        n_samples, n_points = y_train.shape[0], self.n_sensors
        if n_samples < self.n_modes:
            raise ValueError(
                f"`y_train` has {n_samples} samples, POD needs at least n_modes = "
                f"{self.n_modes}: pass more training outputs or lower `n_modes`."
            )
        if not bool(torch.isfinite(y_train).all()):
            raise ValueError("`y_train` contains NaN or Inf; pass finite training outputs.")
        y = y_train.detach().to(torch.float64).reshape(n_samples, self.n_outputs, n_points)
        mean = y.mean(0)
        # (k, samples, points) = U S V^T; V's columns are the POD modes of channel k.
        _, s, vh = torch.linalg.svd((y - mean).transpose(0, 1), full_matrices=False)
        modes = vh[:, : self.n_modes].transpose(1, 2)  # (k, points, p), unit l2 norm
        # Deterministic signs: the largest-magnitude entry of every mode is positive.
        peak = modes.gather(1, modes.abs().argmax(1, keepdim=True))
        modes = modes * torch.where(peak < 0, -1.0, 1.0)
        s = s[:, : self.n_modes]
        # Mean-inner-product normalisation: <phi, phi> = |phi|^2 / n = 1.
        self.modes.copy_(modes * math.sqrt(n_points))
        self.mean.copy_(mean)
        # Coefficient c_ij = <y_i - mean, phi_j> = U_ij s_j / sqrt(n); its RMS over samples:
        self.coef_scale.copy_(s / math.sqrt(n_points * n_samples))
        self.pod_fitted.fill_(True)

    def fit_data_statistics(self, x_train: torch.Tensor, y_train: torch.Tensor) -> None:
        """Trainer hook: input normalisation from ``x_train`` and POD from ``y_train``.

        Args:
            x_train: ``(n_samples, in_channels, *spatial_shape)``.
            y_train: ``(n_samples, n_outputs, *spatial_shape)``.
        """
        x_mean, x_std = _channel_statistics("x_train", x_train, self.in_channels)
        self.fit_pod(y_train)
        self.x_norm.set(x_mean, x_std, names=("x_mean", "x_std"))

    def project(self, y: torch.Tensor) -> torch.Tensor:
        """Orthogonal projection of ``y`` onto ``mean + span(modes)``, per channel.

        The best output this model can produce for ``y`` (its POD truncation floor).

        Args:
            y: ``(batch, n_outputs, *spatial_shape)``.

        Returns:
            ``(batch, n_outputs, *spatial_shape)``.
        """
        self._check_fitted()
        _check_grid_input(y, self.n_outputs, self.spatial_shape, self.modes.dtype, name="y")
        yc = y.reshape(y.shape[0], self.n_outputs, -1) - self.mean
        coef = torch.einsum("bkn,knp->bkp", yc, self.modes) / self.n_sensors
        out = torch.einsum("bkp,knp->bkn", coef, self.modes) + self.mean
        return out.reshape(y.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, in_channels, *spatial_shape) -> (batch, n_outputs, *spatial_shape)``.

        Raises:
            RuntimeError: the POD modes were not fitted yet.
            TypeError / ValueError: ``x`` is not a floating tensor of that shape.
        """
        self._check_fitted()
        _check_grid_input(x, self.in_channels, self.spatial_shape, self.modes.dtype)
        batch = x.shape[0]
        u = self.x_norm.normalize(x.flatten(2).transpose(1, 2), dim=-1)
        coef = self.branch(u.reshape(batch, -1))
        if coef.ndim != 2 or coef.shape[-1] != self.n_outputs * self.n_modes:
            raise ValueError(
                f"the branch returned shape {tuple(coef.shape)}, expected (batch, n_outputs * "
                f"n_modes) = ({batch}, {self.n_outputs * self.n_modes})."
            )
        coef = coef.view(batch, self.n_outputs, self.n_modes) * self.coef_scale
        out = torch.einsum("bkp,knp->bkn", coef, self.modes) + self.mean
        return out.reshape(batch, self.n_outputs, *self.spatial_shape)

    def _check_fitted(self) -> None:
        if not bool(self.pod_fitted):
            raise RuntimeError(
                "PODDeepONet has no POD modes yet: call `fit_pod(y_train)` (or "
                "`fit_data_statistics(x_train, y_train)`) with the training outputs first."
            )


# -- shared pieces (composition) ------------------------------------------------------------
