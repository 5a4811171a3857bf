"""Latent neural ODE surrogates for trajectory data (Chen et al. 2018; Lehtimäki et al. 2024)."""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from .._checks import check_int, check_positive
from ._spec_args import SizedByData, check_not_contradicting, check_spec
from ._vector_fields import (
    AbstractVectorField,
    ConvVectorField,
    LayerVectorField,
    elementwise,
)

if TYPE_CHECKING:
    from ..pde_data import DataSpec

__all__ = [
    "AbstractLatentODE",
    "NeuralODE",
    "AbstractVectorField",
    "LayerVectorField",
    "ConvVectorField",
    "elementwise",
    "FIELDS",
    "FIXED_STEP_METHODS",
    "ADAPTIVE_METHODS",
]

#: torchdiffeq's fixed-grid methods (they take ``step_size``) and its adaptive ones (they
#: take ``rtol``/``atol``).
FIXED_STEP_METHODS = ("euler", "midpoint", "heun2", "heun3", "rk4", "explicit_adams")
ADAPTIVE_METHODS = ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun")

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}

#: the vector fields `NeuralODE` offers (``field=``)
FIELDS = ("dense", "conv")


def check_solver(method: object, step_size: object, rtol: object, atol: object) -> None:
    """Raise a clear error for solver settings torchdiffeq would reject (or misuse)."""
    if method not in FIXED_STEP_METHODS + ADAPTIVE_METHODS:
        raise ValueError(
            f"`method` must be a torchdiffeq method, one of fixed-step {FIXED_STEP_METHODS} or "
            f"adaptive {ADAPTIVE_METHODS}, got {method!r}."
        )
    check_positive("step_size", step_size)
    check_positive("rtol", rtol)
    check_positive("atol", atol)


def integrate(
    func: nn.Module,
    state0: torch.Tensor,
    t: torch.Tensor,
    *,
    method: str,
    step_size: float,
    rtol: float,
    atol: float,
    adjoint: bool,
) -> torch.Tensor:
    """``torchdiffeq.odeint`` (or ``odeint_adjoint``) of ``func(t, x)`` from ``state0``.

    ``state0`` is ``(batch, s)``, ``t`` the 1-D output times; returns ``(len(t), batch, s)``.
    Fixed-step methods use ``step_size`` (the tolerances are then unused); adaptive ones
    ``rtol``/``atol``.
    """
    import torchdiffeq

    options = {"step_size": step_size} if method in FIXED_STEP_METHODS else None
    solve = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
    kwargs: dict[str, Any] = {}
    if adjoint:
        kwargs["adjoint_params"] = tuple(func.parameters())
    return solve(func, state0, t, method=method, rtol=rtol, atol=atol, options=options, **kwargs)


class _Bound(nn.Module):
    """``(t, x) -> field(t, x, u, context)`` for torchdiffeq; holds ``u`` and the per-call
    context for as long as the graph does (the adjoint's backward pass evaluates the field
    again)."""

    def __init__(self, field: nn.Module, u: torch.Tensor | None, context: dict):
        super().__init__()
        self.field = field
        self.u = u
        self.context = context

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.field(t, x, self.u, self.context)


class _GridEncoder(nn.Module):
    """Frames on a periodic grid -> latent channels on the same grid (local convolutions)."""

    def __init__(self, in_channels: int, latent: int, width: int, kernel: int, n_dim: int):
        super().__init__()
        conv = _CONV[n_dim]
        self.net = nn.Sequential(
            conv(in_channels, width, kernel, padding=kernel // 2, padding_mode="circular"),
            nn.GELU(),
            conv(width, latent, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class _GridDecoder(nn.Module):
    """Latent channels -> the fields of one frame (local convolutions)."""

    def __init__(self, latent: int, n_fields: int, width: int, kernel: int, n_dim: int):
        super().__init__()
        conv = _CONV[n_dim]
        self.latent = latent
        self.net = nn.Sequential(
            conv(latent, width, kernel, padding=kernel // 2, padding_mode="circular"),
            nn.GELU(),
            conv(width, n_fields, 1),
        )

    def forward(self, state: torch.Tensor, spatial: tuple[int, ...]) -> torch.Tensor:
        return self.net(state.reshape(state.shape[0], self.latent, *spatial))


def build_encoder_decoder(config: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """The encoder and decoder of a `NeuralODE` with constructor arguments ``config``."""
    n_dim = len(config["grid_shape"])
    encoder = _GridEncoder(
        config["in_channels"],
        config["latent_channels"],
        config["width"],
        config["kernel_size"],
        n_dim,
    )
    decoder = _GridDecoder(
        config["latent_channels"],
        config["n_fields"],
        config["width"],
        config["kernel_size"],
        n_dim,
    )
    return encoder, decoder


class AbstractLatentODE(nn.Module):
    """Interface of latent-ODE surrogates: encode, integrate a vector field, decode.

    A concrete subclass provides ``encoder``/``decoder`` (as in `NeuralODE`), a
    ``vector_field`` module ``(t, state, u, context) -> state'`` with an ``nfe`` counter,
    the solver settings (``method``, ``step_size``, ``rtol``, ``atol``, ``adjoint``,
    ``frame_time``) and the sizes (``in_channels``, ``out_channels``,
    ``n_fields``, ``grid_shape``, ``n_inputs``), and implements :meth:`project` (encoder
    state -> its own state, plus a per-call context passed to the vector field and to
    :meth:`lift`) and :meth:`lift` (the inverse direction). The forward pass is shared::

        z(0), ctx = project(E(window));   z(t_j) = odeint(vector_field(., ctx), z(0), t_j)
        frame_j = last input frame + D(lift(z(t_j), ctx)) - D(lift(z(0), ctx)),
        t_j = j * frame_time
    """

    #: window length ``opkit.fit`` uses for trajectory data unless told otherwise
    default_in_frames: ClassVar[int] = 10

    encoder: nn.Module
    decoder: nn.Module
    vector_field: nn.Module

    @abc.abstractmethod
    def project(self, latent: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(batch, n)`` encoder output -> ``(batch, s)`` initial ODE state and a context
        (keyword tensors for the vector field and :meth:`lift`; ``{}`` for most models)."""

    @abc.abstractmethod
    def lift(self, states: torch.Tensor, context: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(n_t, batch, s)`` ODE states -> ``(n_t, batch, n)`` latent vectors."""

    @property
    def out_frames(self) -> int:
        return self.out_channels // self.n_fields

    @property
    def nfe(self) -> int:
        """Vector-field evaluations in the last call (both passes, when adjoint)."""
        return self.vector_field.nfe

    def _check_input(self, x: object) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"`x` must be a torch.Tensor, got {type(x).__name__}.")
        if not x.is_floating_point():
            raise TypeError(f"`x` must be a floating-point tensor, got dtype {x.dtype}.")
        shape = (self.in_channels, *self.grid_shape)
        if x.ndim != 2 + len(self.grid_shape) or tuple(x.shape[1:]) != shape:
            raise ValueError(
                f"`x` must have shape (batch, {', '.join(map(str, shape))}) = (batch, "
                f"in_channels, *grid_shape) for this {type(self).__name__} (its latent state "
                f"is tied to the grid), got {tuple(x.shape)}."
            )
        return x

    def _check_inputs_u(self, u: object, batch: int) -> torch.Tensor | None:
        if self.n_inputs == 0:
            if u is not None:
                raise ValueError(
                    f"this {type(self).__name__} was built with n_inputs=0 and takes no `u`."
                )
            return None
        if not isinstance(u, torch.Tensor) or tuple(u.shape) != (batch, self.n_inputs):
            got = tuple(u.shape) if isinstance(u, torch.Tensor) else type(u).__name__
            raise ValueError(
                f"`u` must be a tensor of shape (batch, n_inputs) = ({batch}, {self.n_inputs}), "
                f"got {got}."
            )
        return u

    def output_times(self, like: torch.Tensor) -> torch.Tensor:
        """``(out_frames + 1,)``: ``0, frame_time, ..., out_frames * frame_time``."""
        return torch.arange(self.out_frames + 1, dtype=like.dtype, device=like.device) * (
            self.frame_time
        )

    def latent_trajectory(
        self, x: torch.Tensor, t: torch.Tensor, u: torch.Tensor | None = None
    ) -> torch.Tensor:
        """ODE states ``(len(t), batch, s)`` at times ``t`` from the window ``x``."""
        return self._solve(x, t, u)[0]

    def latent_trajectory_from(
        self, latent: torch.Tensor, t: torch.Tensor, u: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Project the encoder output ``latent`` ``(batch, n)``, solve, lift: the latent
        vectors ``(len(t), batch, n)`` the decoder reads (for timing the solve alone)."""
        u = self._check_inputs_u(u, latent.shape[0])
        states, context = self._solve_from(latent, t, u)
        return self.lift(states, context)

    def _solve(
        self, x: torch.Tensor, t: torch.Tensor, u: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = self._check_input(x)
        u = self._check_inputs_u(u, x.shape[0])
        return self._solve_from(self.encoder(x), t, u)

    def _solve_from(
        self, latent: torch.Tensor, t: torch.Tensor, u: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        state0, context = self.project(latent)
        self.vector_field.nfe = 0
        states = integrate(
            _Bound(self.vector_field, u, context),
            state0,
            t,
            method=self.method,
            step_size=self.step_size,
            rtol=self.rtol,
            atol=self.atol,
            adjoint=self.adjoint,
        )
        return states, context

    def forward(self, x: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, in_channels, *grid)`` [, ``u`` ``(batch, n_inputs)``] ->
        ``(batch, out_channels, *grid)``."""
        return self._decode_from(self._check_input(x), self.output_times(x), u)

    def latent_rollout(
        self, x: torch.Tensor, n_frames: int, u: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``n_frames`` frames from one encoding: project once, integrate the whole horizon
        in the ODE state, lift and decode each frame.

        Unlike an autoregressive rollout (which re-encodes its last ``in_frames``
        predictions before every call), the window ``x`` is encoded once and the solver
        runs on to ``n_frames * frame_time``; a reduced model stays in its ``k``-dimensional
        state throughout. ``(batch, in_channels, *grid)`` -> ``(batch, n_frames * n_fields,
        *grid)``.
        """
        x = self._check_input(x)
        n_frames = check_int("n_frames", n_frames, minimum=1)
        t = torch.arange(n_frames + 1, dtype=x.dtype, device=x.device) * self.frame_time
        return self._decode_from(x, t, u)

    def _decode_from(
        self, x: torch.Tensor, t: torch.Tensor, u: torch.Tensor | None
    ) -> torch.Tensor:
        states, context = self._solve(x, t, u)
        latent = self.lift(states, context)  # (len(t), batch, n)
        frames = latent.shape[0]
        decoded = self.decoder(latent.flatten(0, 1), tuple(self.grid_shape))
        decoded = decoded.reshape(frames, x.shape[0], *decoded.shape[1:])
        last = x[:, -self.n_fields :]
        out = last + decoded[1:] - decoded[:1]  # (out_frames, batch, n_fields, *grid)
        return out.transpose(0, 1).flatten(1, 2)


class NeuralODE(SizedByData, AbstractLatentODE):
    r"""Latent neural ODE surrogate: encoder, the vector field :math:`x' = f(Ax + b) + Zu`, decoder.

    ``model(x)`` maps the last ``in_frames`` frames to the next ``out_frames`` (the
    :class:`~opkit.pde_data.DataSpec` convention, frame-major channels)::

        x: (batch, in_frames * n_fields, *grid)  ->  (batch, out_frames * n_fields, *grid)

    1. Encode: a periodic convolution (kernel ``kernel_size``, ``width`` channels, GELU)
       and a 1x1 convolution give ``latent_channels`` channels on the grid; flattened,
       they are the ODE state :math:`x(0) \in \mathbb{R}^n`,
       ``n = latent_channels * prod(grid_shape)``.
    2. Integrate :math:`x' = f(A_L \cdots f(A_1 x + b_1) \cdots + b_L) + Z u`
       (:class:`LayerVectorField`, dense ``n x n`` matrices, ``f`` element-wise; one layer
       by default, the form of Lehtimäki et al.) or, with ``field="conv"``,
       :math:`x' = f(K * x + b) + Zu` (:class:`ConvVectorField`: ``K`` a periodic
       ``latent_channels -> latent_channels`` convolution of stencil ``field_kernel``,
       ``b`` one bias per channel), with torchdiffeq over ``frame_time`` per
       output frame: :math:`x(t_j)`, :math:`t_j = j\,\tau`, ``j = 0..out_frames``.
       ``u`` ``(batch, n_inputs)`` is an optional input constant in time (PDE parameters,
       forcing amplitudes); ``n_inputs=0`` (default) drops the term.
    3. Decode each state to the fields of a frame with the mirror convolutions ``D`` and
       add the change to the last input frame: :math:`u_j = u_{\text{last}} + D(x(t_j)) -
       D(x(0))`, so that a vector field of zero predicts persistence.

    The encoder and decoder are local and shift-equivariant; the dense ``A`` is not (train
    with ``shift_augment`` on translation-invariant data, as ``opkit.fit`` does), the
    convolution ``K`` is. Solver
    defaults: ``rk4`` with 4 steps per frame (``step_size = 0.25``, ``frame_time = 1``);
    adaptive methods (``"dopri5"``...) use ``rtol = 1e-3``, ``atol = 1e-4`` by default;
    ``adjoint=True`` back-propagates with ``torchdiffeq.odeint_adjoint`` (memory
    independent of the number of steps). The settings are plain attributes and can be
    changed after training (``model.method = "dopri5"``). :attr:`nfe` counts the
    vector-field evaluations of the last call.

    There is no published configuration for PDE surrogates (the paper compresses neural
    ODE classifiers); the defaults (``latent_channels=2``, ``width=16``, ``kernel_size=5``)
    are sized for the 1-D KS suite on 256 points (``n = 512``).

    Args:
        in_channels: ``in_frames * n_fields`` (default 10).
        out_channels: ``out_frames * n_fields`` (default 1); must be whole frames.
        n_fields: fields per frame (default 1).
        grid_shape: the grid ``(n_x[, n_y])``; the state size depends on it, so a model runs
            on this grid only. Default ``(256,)``.
        latent_channels: latent channels per grid point (default 2).
        width: hidden channels of the encoder and decoder (default 16).
        kernel_size: odd kernel of the periodic convolutions (default 5).
        n_layers: layers of the vector field (default 1; :func:`~opkit.models.mor.compress`
            needs 1).
        activation: ``f``, default ``"tanh"`` (see :func:`elementwise`).
        n_inputs: size of ``u`` (default 0: no input).
        method: torchdiffeq method (default ``"rk4"``).
        step_size: step of fixed-step methods in units of the latent clock (default 0.25).
        rtol, atol: tolerances of adaptive methods (defaults 1e-3, 1e-4).
        adjoint: gradients by the adjoint method (default ``False``: back-propagation
            through the solver).
        frame_time: latent time per output frame (default 1.0).
        field: ``"dense"`` (default, :class:`LayerVectorField`) or ``"conv"``
            (:class:`ConvVectorField`, one layer).
        field_kernel: odd stencil of ``K`` when ``field="conv"`` (default 5; unused for
            ``"dense"``).

    Shapes:
        ``forward(x, u=None)``: ``(batch, in_channels, *grid_shape)`` [and ``(batch,
        n_inputs)``] -> ``(batch, out_channels, *grid_shape)``.

    Raises:
        TypeError / ValueError: non-int or out-of-range sizes, an even kernel, an unknown
            activation or method, channels that are not whole frames; in ``forward``, an
            input of another shape or a missing/extra ``u``.

    References:
        R. T. Q. Chen, Y. Rubanova, J. Bettencourt, D. Duvenaud, "Neural ordinary
        differential equations", NeurIPS (2018).
        M. Lehtimäki, L. Paunonen, M.-L. Linne, "Accelerating neural ODEs using model order
        reduction", IEEE TNNLS 35 (2024); arXiv:2105.14070.

    Examples:
        >>> model = NeuralODE(in_channels=2, out_channels=1, grid_shape=(16,), width=4)
        >>> model(torch.randn(3, 2, 16)).shape
        torch.Size([3, 1, 16])
        >>> model.state_size, model.nfe   # 2 latent channels x 16 points; 4 rk4 steps x 4
        (32, 16)
    """

    def __init__(
        self,
        *,
        in_channels: int = 10,
        out_channels: int = 1,
        n_fields: int = 1,
        grid_shape: Sequence[int] = (256,),
        latent_channels: int = 2,
        width: int = 16,
        kernel_size: int = 5,
        n_layers: int = 1,
        activation: str = "tanh",
        n_inputs: int = 0,
        method: str = "rk4",
        step_size: float = 0.25,
        rtol: float = 1e-3,
        atol: float = 1e-4,
        adjoint: bool = False,
        frame_time: float = 1.0,
        field: str = "dense",
        field_kernel: int = 5,
    ):
        super().__init__()
        self.config = _check_config(
            in_channels=in_channels,
            out_channels=out_channels,
            n_fields=n_fields,
            grid_shape=grid_shape,
            latent_channels=latent_channels,
            width=width,
            kernel_size=kernel_size,
            n_layers=n_layers,
            activation=activation,
            n_inputs=n_inputs,
            method=method,
            step_size=step_size,
            rtol=rtol,
            atol=atol,
            adjoint=adjoint,
            frame_time=frame_time,
            field=field,
            field_kernel=field_kernel,
        )
        c = self.config
        self.in_channels, self.out_channels = c["in_channels"], c["out_channels"]
        self.n_fields, self.grid_shape = c["n_fields"], tuple(c["grid_shape"])
        self.latent_channels, self.n_inputs = c["latent_channels"], c["n_inputs"]
        self.state_size = c["latent_channels"] * math.prod(self.grid_shape)
        self.method, self.step_size, self.rtol, self.atol = method, step_size, rtol, atol
        self.adjoint, self.frame_time = bool(adjoint), float(frame_time)
        self.encoder, self.decoder = build_encoder_decoder(c)
        self.field = c["field"]
        self.vector_field = build_vector_field(c)

    @property
    def in_frames(self) -> int:
        return self.in_channels // self.n_fields

    @classmethod
    def init_args_from_spec(cls, spec: DataSpec, **kwargs: Any) -> dict[str, Any]:
        """Constructor arguments for ``spec``: channels, fields and grid from the data.

        Other keyword arguments (``latent_channels``, ``width``, ``method``...) are passed
        through.

        Raises:
            TypeError: ``spec`` is not a :class:`~opkit.pde_data.DataSpec`.
            ValueError: ``kwargs`` contradicts a size fixed by the data.
        """
        check_spec(spec)
        fixed = {
            "in_channels": spec.in_channels,
            "out_channels": spec.out_channels,
            "n_fields": spec.n_fields,
            "grid_shape": list(spec.spatial_shape),
        }
        check_not_contradicting("NeuralODE", fixed, kwargs)
        return {**kwargs, **fixed}

    def project(self, latent: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return latent, {}

    def lift(self, states: torch.Tensor, context: dict[str, torch.Tensor]) -> torch.Tensor:
        return states

    def cost(self) -> dict[str, int]:
        """Per vector-field evaluation and sample: multiply-adds and values of ``f``
        (dense: ``L n^2``; conv: ``n * latent_channels * field_kernel^d``; plus ``n *
        n_inputs``)."""
        return self.vector_field.cost()

    def extra_repr(self) -> str:
        return (
            f"state_size={self.state_size}, grid_shape={self.grid_shape}, field={self.field!r}, "
            f"method={self.method!r}"
            f", step_size={self.step_size}, rtol={self.rtol}, atol={self.atol}, "
            f"adjoint={self.adjoint}"
        )


def build_vector_field(config: dict[str, Any]) -> AbstractVectorField:
    """The vector field of a `NeuralODE` with (checked) constructor arguments ``config``."""
    n = config["latent_channels"] * math.prod(config["grid_shape"])
    if config["field"] == "conv":
        return ConvVectorField(
            config["latent_channels"],
            config["grid_shape"],
            kernel_size=config["field_kernel"],
            activation=config["activation"],
            n_inputs=config["n_inputs"],
            padding="circular",
        )
    return LayerVectorField(
        n,
        n_layers=config["n_layers"],
        activation=config["activation"],
        n_inputs=config["n_inputs"],
    )


def _check_config(**c: Any) -> dict[str, Any]:
    """Validate `NeuralODE`'s constructor arguments; return them as plain data.

    ``field`` and ``field_kernel`` may be missing (records saved before they existed):
    they default to ``"dense"`` and 5.
    """
    c.setdefault("field", "dense")
    c.setdefault("field_kernel", 5)
    if c["field"] not in FIELDS:
        raise ValueError(
            f"`field` must be one of {FIELDS} (dense: x' = f(Ax + b), conv: x' = f(K * x + b)), "
            f"got {c['field']!r}."
        )
    fk = check_int("field_kernel", c["field_kernel"], minimum=1)
    if fk % 2 == 0:
        raise ValueError(f"`field_kernel` must be odd (centred periodic stencil), got {fk}.")
    if c["field"] == "conv" and c["n_layers"] != 1:
        raise ValueError(
            f"`n_layers` must be 1 with field='conv' (one convolution K), got {c['n_layers']}."
        )
    for name in ("in_channels", "out_channels", "n_fields", "latent_channels", "width"):
        check_int(name, c[name], minimum=1)
    check_int("n_layers", c["n_layers"], minimum=1)
    check_int("n_inputs", c["n_inputs"], minimum=0)
    k = check_int("kernel_size", c["kernel_size"], minimum=1)
    if k % 2 == 0:
        raise ValueError(f"`kernel_size` must be odd (centred periodic stencil), got {k}.")
    for name in ("in_channels", "out_channels"):
        if c[name] % c["n_fields"]:
            raise ValueError(
                f"`{name}` (={c[name]}) must be a multiple of `n_fields` (={c['n_fields']}): "
                "whole frames only."
            )
    try:
        grid = [int(n) for n in c["grid_shape"]]
    except TypeError:
        raise TypeError(
            f"`grid_shape` must be a sequence of 1 or 2 ints, got {c['grid_shape']!r}."
        ) from None
    if len(grid) not in (1, 2) or min(grid) < 2:
        raise ValueError(f"`grid_shape` must be (n_x,) or (n_x, n_y), sizes >= 2, got {grid}.")
    elementwise(c["activation"])
    check_solver(c["method"], c["step_size"], c["rtol"], c["atol"])
    check_positive("frame_time", c["frame_time"])
    return {**c, "grid_shape": grid, "adjoint": bool(c["adjoint"])}
