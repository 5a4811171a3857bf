"""`compress`: POD-DEIM reduction of a trained `NeuralODE` (Lehtimäki et al. 2024)."""

from __future__ import annotations

import torch

from .._neural_ode import NeuralODE
from .._vector_fields import AbstractVectorField
from ._deim import deim
from ._pod import pod_spectrum
from ._reduced import ReducedNeuralODE, check_reduced_sizes
from ._snapshots import snapshots

__all__ = [
    "compress",
    "compress_many",
    "check_compressible",
    "check_dense",
    "copy_settings",
    "deim_galerkin",
]


def check_compressible(model: object) -> NeuralODE:
    """Raise unless ``model`` is a `NeuralODE` with a one-layer vector field (dense, or the
    convolution of ``field="conv"``)."""
    if not isinstance(model, NeuralODE):
        raise TypeError(
            f"`model` must be an opkit.models.NeuralODE, got {type(model).__name__} (for a "
            "TrainedOperator pass `.model`, or use opkit.trainers.compress_trained)."
        )
    if model.field == "dense" and model.vector_field.n_layers != 1:
        raise ValueError(
            "compress reduces the one-layer vector field x' = f(Ax + b) + Zu of Lehtimäki et "
            f"al.; this NeuralODE stacks n_layers={model.vector_field.n_layers} layers. "
            "Train with n_layers=1 to compress it."
        )
    return model


def check_dense(model: object) -> NeuralODE:
    """`check_compressible`, and the field must be the dense ``A`` (the neuron and SVD
    baselines act on a matrix)."""
    model = check_compressible(model)
    if model.field != "dense":
        raise ValueError(
            f"neuron pruning and SVD truncation act on the dense matrix A; this NeuralODE has "
            f"field={model.field!r}: use prune_channels / truncate_channels."
        )
    return model


def copy_settings(target: object, model: NeuralODE, *, sizes: bool) -> None:
    """Give a compressed model the solver settings of ``model`` (``method``, ``step_size``,
    ``rtol``, ``atol``, ``adjoint``, ``frame_time``) and, with ``sizes``, its sizes
    (``in_channels``, ``out_channels``, ``n_fields``, ``grid_shape``, ``n_inputs``)."""
    names = ("method", "step_size", "rtol", "atol", "adjoint", "frame_time")
    if sizes:
        names = ("in_channels", "out_channels", "n_fields", "grid_shape", "n_inputs", *names)
    for name in names:
        setattr(target, name, getattr(model, name))


@torch.no_grad()
def deim_galerkin(
    field: AbstractVectorField, V: torch.Tensor, U: torch.Tensor, P: torch.Tensor
) -> dict[str, torch.Tensor | None]:
    r"""The reduced matrices of the DEIM-Galerkin projection of a one-layer field (float64).

    For :math:`x' = f(\mathcal{A} x + b) + Zu` with :math:`x \approx V \tilde x` and
    :math:`f` interpolated on the DEIM points ``P`` of the basis ``U``:
    ``N`` :math:`= V^\top U (P^\top U)^{-1}` ``(k, m)``, ``A_m`` :math:`= P^\top
    \mathcal{A} V` ``(m, k)``, ``b_m`` :math:`= P^\top b` ``(m,)`` and ``Z``
    :math:`= V^\top Z` ``(k, n_inputs)`` (None without inputs), Lehtimäki et al. (2024),
    Eq. (6). :math:`\mathcal{A} V` is computed by applying the field's linear map to the
    columns of ``V`` (``field.linear_part``), never by forming :math:`\mathcal{A}`.

    Args:
        field: a one-layer field (`LayerVectorField` with one layer, `ConvVectorField`).
        V: ``(n, k)`` orthonormal state basis; U: ``(n, m)`` nonlinearity basis;
        P: ``(m,)`` DEIM indices of ``U``.
    """
    V, U = V.double(), U.double()
    # N = V^T U (P^T U)^{-1}: solve (P^T U)^T N^T = (V^T U)^T rather than inverting.
    N = torch.linalg.solve(U[P].T, (V.T @ U).T).T
    AV_T = field.linear_part(V.T.contiguous())  # (k, n): row j is A applied to mode j
    Z = field.Z
    return {
        "N": N,
        "A_m": AV_T[:, P].T,
        "b_m": field.bias_vector(torch.float64)[P],
        "Z": None if Z is None else V.T @ Z.double(),
    }


@torch.no_grad()
def compress(
    model: NeuralODE,
    data: torch.Tensor,
    k: int,
    m: int,
    *,
    u: torch.Tensor | None = None,
    offset: str = "none",
) -> ReducedNeuralODE:
    r"""Reduce a trained `NeuralODE` to ``k`` POD modes and ``m`` DEIM points.

    The model is run on the windows ``data``; the latent states ``x(t)`` along the
    solver's grid (:func:`~opkit.models.mor.snapshots`) and the nonlinearity
    :math:`f(Ax + b)` there are the snapshots. Then :math:`V_k` = ``pod(states, k)``,
    :math:`U_m` = ``pod(nonlinearity, m)``, ``P = deim(U_m)`` and the reduced matrices of
    :class:`ReducedNeuralODE` are formed in float64 (then cast to the model's dtype).
    ``m < k`` is allowed: DEIM needs only ``P^T U_m`` invertible, and the reduced velocity
    then lies in an ``m``-dimensional subspace of the ``k`` modes (usually a poor trade).

    Supported: the one-layer vector fields :math:`x' = f(\mathcal{A} x + b) + Zu` (any
    element-wise ``f``), the form whose formulas the paper gives, with :math:`\mathcal{A}`
    the dense ``A`` or the convolution ``K`` of ``field="conv"``; a stacked vector field
    raises. The linear map is only ever applied, never formed as an ``n x n`` matrix:
    :math:`\tilde A_m = P^\top \mathcal{A} V_k` is the field's
    :meth:`~opkit.models.AbstractVectorField.linear_part` applied to the ``k`` modes (for
    a convolution: the modes reshaped as ``latent_channels x grid`` fields and convolved,
    ``O(k n C s^d)`` work once), keeping the ``m`` DEIM rows; ``b_m`` is the per-channel
    bias at the DEIM points. The reduced field then costs ``2km`` multiply-adds per
    evaluation whatever the grid.

    Args:
        model: the trained `NeuralODE` (``n_layers == 1``).
        data: ``(batch, in_channels, *grid)`` windows in the units the model sees (for a
            model inside an `OperatorModule`, normalised by its ``in_norm``), typically from
            the training split. ``batch * n_times`` must be at least ``max(k, m)``.
        k: POD modes of the state, ``1 <= k <= n``.
        m: DEIM points of the nonlinearity, ``1 <= m <= n``.
        u: ``(batch, n_inputs)`` inputs, when the model has them.
        offset: ``"none"`` (the paper's :math:`x \approx V_k \tilde x`, default) or
            ``"initial"`` (:math:`x \approx x(0) + V_k \tilde x`, ``V_k`` from the
            displacement snapshots; see :class:`ReducedNeuralODE`).

    Returns:
        A `ReducedNeuralODE` on the model's device and dtype, in eval mode, whose
        ``state_energy`` / ``nonlinear_energy`` buffers hold the captured POD energies.

    Raises:
        TypeError / ValueError: not a one-layer `NeuralODE`; ``k`` or ``m`` not in
            ``1..n``; fewer snapshots than ``max(k, m)``.

    References:
        M. Lehtimäki, L. Paunonen, M.-L. Linne, "Accelerating neural ODEs using model order
        reduction", IEEE TNNLS 35 (2024); arXiv:2105.14070, section III.

    Examples:
        >>> from opkit.models import NeuralODE
        >>> full = NeuralODE(in_channels=2, out_channels=1, grid_shape=(8,), width=4)
        >>> reduced = compress(full, torch.randn(20, 2, 8), k=6, m=9)
        >>> reduced(torch.randn(3, 2, 8)).shape, reduced.cost()
        (torch.Size([3, 1, 8]), {'macs': 108, 'f_evals': 9})
    """
    return compress_many(model, data, [(k, m)], u=u, offset=offset)[0]


@torch.no_grad()
def compress_many(
    model: NeuralODE,
    data: torch.Tensor,
    sizes: list[tuple[int, int]],
    *,
    u: torch.Tensor | None = None,
    offset: str = "none",
) -> list[ReducedNeuralODE]:
    """:func:`compress` at several ``(k, m)`` from one set of snapshots and one SVD of
    each snapshot matrix (the SVDs dominate the cost on large states); element ``i`` equals
    ``compress(model, data, *sizes[i])``.

    Raises:
        ValueError: ``sizes`` empty, or as :func:`compress`.
    """
    model = check_compressible(model)
    n = model.state_size
    sizes = [check_reduced_sizes(k, m, n) for k, m in sizes]
    if not sizes:
        raise ValueError("`sizes` must list at least one (k, m) pair, got none.")
    if offset not in ("none", "initial"):
        raise ValueError(f"`offset` must be 'none' or 'initial', got {offset!r}.")
    k_max, m_max = max(k for k, _ in sizes), max(m for _, m in sizes)
    was_training = model.training
    model.eval()
    try:
        states, nonlinear = snapshots(model, data, u, relative=offset == "initial")
    finally:
        model.train(was_training)
    n_snap = states.shape[1]
    if n_snap < max(k_max, m_max):
        raise ValueError(
            f"`data` gives {n_snap} snapshots (windows x solver times), fewer than "
            f"max(k, m) = {max(k_max, m_max)}; pass more windows."
        )
    V_all, state_energies = pod_spectrum(states, k_max)
    U_all, nonlinear_energies = pod_spectrum(nonlinear, m_max)
    weight = next(model.vector_field.parameters())
    out = []
    for k, m in sizes:
        V, U = V_all[:, :k], U_all[:, :m]
        P = deim(U)
        reduced_matrices = deim_galerkin(model.vector_field, V, U, P)
        reduced = ReducedNeuralODE(full_config=model.config, k=k, m=m, offset=offset).to(
            device=weight.device, dtype=weight.dtype
        )
        reduced.encoder.load_state_dict(model.encoder.state_dict())
        reduced.decoder.load_state_dict(model.decoder.state_dict())
        field = reduced.vector_field
        for name, value in reduced_matrices.items():
            if value is not None:
                getattr(field, name).copy_(value)
        reduced.basis.copy_(V)
        reduced.deim_indices.copy_(P)
        if offset == "initial":
            reduced.A_rows.copy_(model.vector_field.rows(P))
        reduced.state_energy.fill_(float(state_energies[k - 1]))
        reduced.nonlinear_energy.fill_(float(nonlinear_energies[m - 1]))
        copy_settings(reduced, model, sizes=False)
        out.append(reduced.eval())
    return out
