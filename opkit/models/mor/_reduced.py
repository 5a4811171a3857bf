"""`ReducedNeuralODE`: a neural ODE compressed by POD and DEIM (Lehtimäki et al. 2024)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .._neural_ode import (
    AbstractLatentODE,
    AbstractVectorField,
    _check_config,
    build_encoder_decoder,
    elementwise,
)

__all__ = ["ReducedNeuralODE", "DEIMVectorField"]


OFFSETS = ("none", "initial")


def check_reduced_sizes(k: object, m: object, n: int) -> tuple[int, int]:
    """``1 <= k <= n`` and ``1 <= m <= n`` (``m < k`` is allowed: see `compress`)."""
    for name, value in (("k", k), ("m", m)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"`{name}` must be an int, got {value!r} ({type(value).__name__}).")
        if not 1 <= value <= n:
            what = "POD modes of the state" if name == "k" else "DEIM points of the nonlinearity"
            raise ValueError(
                f"`{name}` ({what}) must satisfy 1 <= {name} <= n = {n} (the full state "
                f"size), got {value}."
            )
    return int(k), int(m)  # type: ignore[arg-type]


class DEIMVectorField(AbstractVectorField):
    r"""The reduced vector field :math:`\tilde x' = N f(\tilde A_m \tilde x + b_m) + \tilde Z u`.

    Shapes: ``N`` ``(k, m)``, :math:`\tilde A_m` ``(m, k)``, ``b_m`` ``(m,)``,
    :math:`\tilde Z` ``(k, n_inputs)``; ``forward(t, x, u=None, context=None)``:
    ``(batch, k) -> (batch, k)``; a per-call ``context["shift"]`` ``(batch, m)``, when
    given, is added inside ``f`` (the affine offset of ``offset="initial"``). Only ``m``
    values of ``f`` are computed per evaluation.
    """

    def __init__(self, k: int, m: int, *, activation: str = "tanh", n_inputs: int = 0):
        super().__init__()
        self.k, self.m, self.n_inputs = k, m, n_inputs
        self.f = elementwise(activation)
        self.N = nn.Parameter(torch.zeros(k, m))
        self.A_m = nn.Parameter(torch.zeros(m, k))
        self.b_m = nn.Parameter(torch.zeros(m))
        self.Z = nn.Parameter(torch.zeros(k, n_inputs)) if n_inputs else None
        self.nfe = 0

    def drift(self, x: torch.Tensor, context: dict[str, torch.Tensor] | None) -> torch.Tensor:
        z = nn.functional.linear(x, self.A_m, self.b_m)
        if context and "shift" in context:
            z = z + context["shift"]
        return nn.functional.linear(self.f(z), self.N)

    def cost(self) -> dict[str, int]:
        """Per evaluation and sample: ``2km + k n_inputs`` multiply-adds, ``m`` values of f."""
        return {"macs": 2 * self.k * self.m + self.k * self.n_inputs, "f_evals": self.m}


class ReducedNeuralODE(AbstractLatentODE):
    r"""A `NeuralODE` reduced by POD-DEIM: ``k`` state modes, ``m`` nonlinear functions.

    With :math:`V_k` ``(n, k)`` the POD basis of state snapshots, :math:`U_m` ``(n, m)``
    that of the nonlinearity snapshots :math:`f(Ax + b)`, ``P`` the ``m`` DEIM indices of
    :math:`U_m` (:func:`~opkit.models.mor.deim`), the state :math:`x \approx V_k \tilde x`
    follows

    .. math::

        \tilde x' = N f_m(\tilde A_m \tilde x + b_m) + \tilde Z u, \qquad
        N = V_k^\top U_m (P^\top U_m)^{-1},\ \tilde A_m = P^\top A V_k,\
        b_m = P^\top b,\ \tilde Z = V_k^\top Z,

    the Galerkin projection of :math:`x' = f(Ax + b) + Zu` with the nonlinearity replaced
    by its DEIM interpolant: one evaluation costs :math:`2km` multiply-adds and ``m``
    values of ``f`` instead of :math:`n^2` and ``n``. Projection and lifting are folded
    into the encoder and decoder (:math:`\tilde x(0) = V_k^\top E(\text{window})`,
    frames decoded from :math:`V_k \tilde x(t)`), so inputs and outputs are those of the
    full model. With ``k = m = n`` the reduced model equals the full one (up to
    round-off).

    ``offset="initial"`` (an option beyond the paper) reduces around each call's encoded
    initial state instead of the origin: :math:`x(t) \approx x(0) + V_k \tilde x(t)`,
    :math:`\tilde x(0) = 0`, with :math:`V_k` the POD basis of the displacements
    :math:`x(t) - x(0)`; the reduced field gains the per-call constant
    :math:`P^\top A\, x(0)` inside ``f`` (``m n`` multiply-adds once per call, not per
    evaluation) and the initial state is kept exactly rather than projected. The same
    ``N``, :math:`\tilde A_m`, ``b_m`` and :math:`\tilde Z` formulas apply.

    Build one with :func:`~opkit.models.mor.compress`. The constructor only allocates:
    its arguments are plain data (the full model's constructor arguments, ``k``, ``m``),
    and the bases and reduced matrices are buffers and parameters, so that a saved model
    is rebuilt by ``ReducedNeuralODE(**init_args)`` plus its state dict (``opkit.load``).
    The solver settings are the full model's and can be changed as attributes.

    Args:
        full_config: the `NeuralODE`'s constructor arguments (its ``config``); its vector
            field must have one layer.
        k: POD modes of the state, ``1 <= k <= n``.
        m: DEIM points, ``1 <= m <= n``.
        offset: ``"none"`` (the paper's :math:`x \approx V_k \tilde x`, default) or
            ``"initial"`` (:math:`x \approx x(0) + V_k \tilde x`).

    Attributes (buffers):
        basis: :math:`V_k` ``(n, k)``; deim_indices: ``P`` ``(m,)``; state_energy,
        nonlinear_energy: the POD energies captured by :math:`V_k` and :math:`U_m`.

    Shapes:
        as `NeuralODE`: ``(batch, in_channels, *grid) -> (batch, out_channels, *grid)``.

    Raises:
        ValueError: ``full_config`` describes a stacked vector field, ``k``/``m`` are out
            of range, or ``offset`` is unknown.

    References:
        M. Lehtimäki, L. Paunonen, M.-L. Linne, "Accelerating neural ODEs using model order
        reduction", IEEE TNNLS 35 (2024); arXiv:2105.14070.
    """

    def __init__(self, *, full_config: dict[str, Any], k: int, m: int, offset: str = "none"):
        super().__init__()
        config = _check_config(**full_config)
        if config["n_layers"] != 1:
            raise ValueError(
                "ReducedNeuralODE reduces the one-layer vector field x' = f(Ax + b) + Zu; "
                f"`full_config` has n_layers={config['n_layers']}."
            )
        if offset not in OFFSETS:
            raise ValueError(f"`offset` must be one of {OFFSETS}, got {offset!r}.")
        self.full_config, self.offset = config, offset
        self.in_channels, self.out_channels = config["in_channels"], config["out_channels"]
        self.n_fields, self.grid_shape = config["n_fields"], tuple(config["grid_shape"])
        self.n_inputs = config["n_inputs"]
        self.full_state_size = config["latent_channels"] * math.prod(self.grid_shape)
        self.k, self.m = check_reduced_sizes(k, m, self.full_state_size)
        self.state_size = self.k
        self.method, self.step_size = config["method"], config["step_size"]
        self.rtol, self.atol = config["rtol"], config["atol"]
        self.adjoint, self.frame_time = config["adjoint"], float(config["frame_time"])
        self.encoder, self.decoder = build_encoder_decoder(config)
        self.vector_field = DEIMVectorField(
            self.k, self.m, activation=config["activation"], n_inputs=self.n_inputs
        )
        self.register_buffer("basis", torch.zeros(self.full_state_size, self.k))
        self.register_buffer("deim_indices", torch.zeros(self.m, dtype=torch.long))
        # P^T A, for the per-call offset P^T A x(0) (empty unless offset="initial")
        rows = self.full_state_size if offset == "initial" else 0
        self.register_buffer("A_rows", torch.zeros(self.m, rows))
        self.register_buffer("state_energy", torch.zeros((), dtype=torch.float64))
        self.register_buffer("nonlinear_energy", torch.zeros((), dtype=torch.float64))

    def project(self, latent: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.offset == "none":
            return latent @ self.basis, {}
        state0 = latent.new_zeros(latent.shape[0], self.k)
        return state0, {"shift": latent @ self.A_rows.T, "origin": latent}

    def lift(self, states: torch.Tensor, context: dict[str, torch.Tensor]) -> torch.Tensor:
        lifted = states @ self.basis.T
        return lifted + context["origin"] if self.offset == "initial" else lifted

    def cost(self) -> dict[str, int]:
        """Per vector-field evaluation and sample: multiply-adds and values of ``f``."""
        return self.vector_field.cost()

    def extra_repr(self) -> str:
        return (
            f"n={self.full_state_size}, k={self.k}, m={self.m}, offset={self.offset!r}, "
            f"method={self.method!r}"
        )
