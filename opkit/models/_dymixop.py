"""DyMixOp: a neural operator of stacked Local-Global-Mixing layers for evolution equations."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int
from ._spec_args import SizedByData, check_not_contradicting, check_spec
from .layers._lgm import (
    LGMLayer,
    Mixing,
    SpectralInit,
    _check_lgm_settings,
    _check_sizes,
    _matrix,
)
from .layers._rollout import rollout

if TYPE_CHECKING:
    from ..pde_data import DataSpec

__all__ = ["DyMixOp"]

Gate = Literal["released", "dataset", "sample"]
GATES: tuple[str, ...] = ("released", "dataset", "sample")

_CONV = {1: nn.Conv1d, 2: nn.Conv2d}

# The reference configurations of the paper's code (Lain-PY/DyMixOp, configs "1dks" and "2dns").
_PUBLISHED: dict[int, dict[str, int]] = {
    1: {"hidden_channels": 48, "n_layers": 8, "n_modes": 12},  # Kuramoto-Sivashinsky 1-D
    2: {"hidden_channels": 96, "n_layers": 4, "n_modes": 12},  # Navier-Stokes 2-D
}

# Added to the norms in the cosine similarity of the gate statistic, as in the reference code,
# so that an all-zero frame gives kappa = 1 instead of NaN.
_COSINE_EPS = 1e-8


class _Update(torch.autograd.Function):
    """``(c + g f, a + w f)``: one layer's output ``f`` added to the state ``c`` (weight
    ``g``, the gate) and to the aggregate ``a`` (weight ``w``), with ``w`` a 0-dim tensor and
    ``g`` 0-dim or one value per sample. The same as two ``torch.addcmul``; the backward
    forms ``f``'s gradient in two passes and a 0-dim weight's gradient as a dot product,
    where autograd's ``addcmul`` writes a full-size product per weight and sums it."""

    @staticmethod
    def forward(ctx, c, aggregate, f, w, g):
        ctx.save_for_backward(f, w, g)
        ctx.mark_dirty(aggregate)  # updated in place: one full-size allocation less
        return torch.addcmul(c, g, f), aggregate.addcmul_(w, f)

    @staticmethod
    def backward(ctx, grad_c, grad_a):
        f, w, g = ctx.saved_tensors
        grad_f = None
        if ctx.needs_input_grad[2]:  # one fresh tensor, the same bits as torch.addcmul
            grad_f = torch.mul(grad_a, w).addcmul_(grad_c, g)

        def dot(grad: torch.Tensor) -> torch.Tensor:  # (a `dot` needs one dtype)
            return torch.dot(grad.reshape(-1), f.reshape(-1).to(grad.dtype))

        grad_w = dot(grad_a) if ctx.needs_input_grad[3] else None
        grad_g = None
        if ctx.needs_input_grad[4]:
            grad_g = dot(grad_c) if g.ndim == 0 else (grad_c * f).sum_to_size(g.shape)
        return grad_c, grad_a, grad_f, grad_w, grad_g


class DyMixOp(SizedByData, nn.Module):
    r"""DyMixOp (Lai, Chen & Xu 2025): Local-Global-Mixing layers in a gated hybrid stack.

    The model maps the last ``in_frames`` frames of an evolution to the next
    ``out_frames`` frames, on a periodic grid of any resolution::

        x: (batch, in_frames * n_fields, *spatial)  ->  (batch, out_channels, *spatial)

    Channels are frame-major, oldest first (the :class:`~opkit.pde_data.DataSpec`
    convention). The forward pass is:

    1. append the normalised coordinates ``x / L_x = i / n_x`` (and ``j / n_y``), computed
       from the input's own grid, so ``in_channels + n_dim`` channels enter;
    2. lift by a 1x1 convolution to ``2h`` channels and reduce linearly (1x1, no activation
       between) to the latent dimension ``h``: ``c_0 = R(P(x))`` (the inertial-manifold
       projection onto a finite latent space);
    3. ``L`` dynamics-informed layers (:class:`~opkit.models.layers.LGMLayer`)

       .. math::

          F_l = \mathrm{GELU}\big(W_l c_l + D_l(c_l) + A_l(G_l(c_l) \odot L_l(c_l))\big),
          \qquad c_{l+1} = c_l + g\,F_l,

       with the timescale-adaptive gate ``g`` (see ``gate`` below), :math:`\lambda`
       learned and initialised to ``h``;
    4. aggregate all layers in parallel, :math:`c = c_0 + \sum_l w_l F_l + b` (learned
       ``w_l``, ``b``), and project ``h -> 2h -> out_channels`` by 1x1 convolutions.

    There are no normalisation layers. ``D_l`` acts in units of the spacing of
    ``grid_shape``: on an ``r``-times finer grid its output is multiplied by ``r`` (the
    geometric mean of the per-axis ratios in 2-D) so that a learned first-derivative
    stencil keeps meaning the same derivative; the spectral ``G_l`` and pointwise parts are
    resolution-independent by construction.

    The gate, three ways (``gate=``), with the structure-change statistic of a window
    :math:`\kappa = \mathrm{mean}_t\,(1 - \cos(u_{t+1}, u_t))` (see :meth:`structure_change`):

    - ``"released"``: :math:`g = \sigma(\lambda)`, what the published code computes. It
      calls its layer stack as ``dyia(c, temp_coeff, grid_width)`` while the stack's
      signature is ``(c, grid_width, temp_coeff)``, so the gate multiplies :math:`\lambda`
      by the grid width 1 and never sees :math:`\kappa` (its NS configuration has no
      :math:`\kappa` at all). With :math:`\lambda = h` the gate starts at 1.
    - ``"dataset"``: :math:`g = \sigma(\lambda \kappa_D)`, the paper's intent: one scalar
      :math:`\kappa_D` for the whole dataset, the mean of :math:`\kappa` over the training
      windows, set by :meth:`fit_data_statistics` before training (``opkit.fit`` calls it)
      and kept in the buffer ``structure_change_coefficient``, so it travels with the state
      dict. It is computed on frames with their spatial mean removed, which makes it
      independent of a per-field shift of the data (min-max or standard normalisation) and
      equal to the raw-data value for fields of zero spatial mean (KS, NS vorticity).
    - ``"sample"``: :math:`g = \sigma(\lambda \kappa(x))` per sample, on the window as the
      model sees it (normalised in training). Min-max normalisation adds an offset that
      makes consecutive frames nearly parallel, so :math:`\kappa \approx 10^{-3}` and the
      gate sits near 0.5 (measured: KS 4.7e-3, NS 6e-4).

    With ``in_frames == 1`` there are no consecutive frames and :math:`\kappa = 1`.

    Defaults reproduce the reference configuration for 1-D Kuramoto-Sivashinsky (10 input
    frames, 1 field, one output frame, ``h = 48``, ``L = 8``, ``m = 12``, pointwise local
    transform): 399,611 parameter tensor elements (the 8 x 27,648 spectral weights are
    complex, so 620,795 real degrees of freedom), the paper's "about 0.4 M".
    :meth:`navier_stokes_2d` gives the 2-D Navier-Stokes configuration (``h = 96``,
    ``L = 4``, ``m = 12``) and :meth:`from_spec` picks the configuration of the dataset's
    dimension.

    Args:
        in_channels: input channels, ``in_frames * n_fields`` (default 10).
        out_channels: output channels, usually ``out_frames * n_fields`` (default 1).
        n_dim: spatial dimensions, 1 (default) or 2.
        n_fields: physical fields per frame (default 1); ``in_channels`` must be a multiple.
        hidden_channels: latent dimension ``h`` (default 48); lifting is to ``2h``.
        n_layers: number of LGM layers ``L`` (default 8).
        n_modes: Fourier modes ``m`` kept per dimension by each global transform (12).
        local_kernel_size: odd kernel size of the local transform ``Lc`` (1, pointwise).
        mixing: ``"product"`` (LGM, default) or the ablations ``"sum"`` (``G + Lc``),
            ``"local"`` (``Lc`` only), ``"global"`` (``G`` only).
        grid_shape: the grid ``(n_x[, n_y])`` the model is trained on, which fixes the
            units of ``D``; ``None`` (default) uses each input's own grid spacing, as the
            published code does. Given, ``n_modes`` must be ``<= n // 2`` on each axis.
        gate: ``"released"`` (default), ``"dataset"`` or ``"sample"`` (see above).
        init: initialisation of the spectral weights and of ``D``: ``"authors"``
            (default; the reference code's: real and imaginary parts uniform on ``[0, 1)``
            times :math:`1/h^2`; ``D``'s stencil torch's default weights with the sum of the
            taps subtracted from the centre tap) or ``"neuralop"`` (neuraloperator's complex
            normal of standard deviation :math:`\sqrt{1/h}`, RMS 400-1150x larger; ``D`` the
            zero-mean projection of torch's default convolution weights).

            The defaults are what measured best on the shared KS suite (CPU size, 2 epochs,
            one seed, issue 13): test relative L2 one step / rollout 0.036 / 0.64
            (released, authors), 0.039 / 0.68 (released, neuralop), 0.043 / 0.74
            (dataset), 0.045 / 0.76 (sample).

    Shapes:
        ``forward``: ``(batch, in_channels, *spatial)`` -> ``(batch, out_channels,
        *spatial)``, ``spatial`` of length ``n_dim``, any sizes >= 2.

    Raises:
        TypeError: an argument of the wrong type (a non-int size, a non-tensor input).
        ValueError: an out-of-range size, an unknown ``mixing``, ``in_channels`` not a
            multiple of ``n_fields``, ``n_modes`` too large for ``grid_shape``; in
            ``forward``, an input whose rank or channel count does not match.

    Note:
        The spectral weights are complex64 parameters; a float64 input is transformed in
        complex128, so ``.double()`` gives a float64 model throughout. Never use
        ``.to(torch.float64)``: it casts complex parameters to real and drops their
        imaginary parts.

    References:
        P. Lai, Y. Chen, H. Xu, "DyMixOp: Guiding Neural Operator Design for PDEs from a
        Complex Dynamics Perspective with Local-Global-Mixing", arXiv:2508.13490 (2025).
        Reference code: https://github.com/Lain-PY/DyMixOp.

    Examples:
        >>> model = DyMixOp(in_channels=10, out_channels=1, hidden_channels=8, n_layers=2,
        ...                 n_modes=4)
        >>> x = torch.randn(3, 10, 64)           # 10 frames of one field on 64 points
        >>> model(x).shape
        torch.Size([3, 1, 64])
        >>> model(torch.randn(3, 10, 128)).shape  # the same model on a finer grid
        torch.Size([3, 1, 128])
        >>> model.rollout(x, 5).shape             # 5 autoregressive steps
        torch.Size([3, 5, 64])
        >>> ns = DyMixOp.navier_stokes_2d(hidden_channels=8, n_layers=1)  # h=96, L=4 by default
        >>> ns(torch.randn(2, 10, 32, 32)).shape
        torch.Size([2, 1, 32, 32])
    """

    #: window length ``opkit.fit`` uses for trajectory data unless told otherwise (the paper's)
    default_in_frames: ClassVar[int] = 10

    def __init__(
        self,
        *,
        in_channels: int = 10,
        out_channels: int = 1,
        n_dim: int = 1,
        n_fields: int = 1,
        hidden_channels: int = 48,
        n_layers: int = 8,
        n_modes: int = 12,
        local_kernel_size: int = 1,
        mixing: Mixing = "product",
        grid_shape: tuple[int, ...] | None = None,
        gate: Gate = "released",
        init: SpectralInit = "authors",
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.n_dim = _check_sizes(
            in_channels, out_channels, n_dim
        )
        self.n_fields = check_int("n_fields", n_fields, minimum=1)
        self.hidden_channels = check_int("hidden_channels", hidden_channels, minimum=1)
        self.n_layers = check_int("n_layers", n_layers, minimum=1)
        self.n_modes, self.local_kernel_size, self.mixing, self.init = _check_lgm_settings(
            n_modes, local_kernel_size, mixing, init
        )
        if in_channels % n_fields:
            raise ValueError(
                f"`in_channels` (={in_channels}) must be a multiple of `n_fields` "
                f"(={n_fields}): the input holds in_frames whole frames of n_fields fields."
            )
        self.grid_shape = self._check_grid_shape(grid_shape)
        if gate not in GATES:
            raise ValueError(f"`gate` must be one of {GATES}, got {gate!r}.")
        self.gate = str(gate)

        h, conv = hidden_channels, _CONV[self.n_dim]
        self.lifting = conv(in_channels + self.n_dim, 2 * h, 1)
        self.reduction = conv(2 * h, h, 1)
        self.layers = nn.ModuleList(
            LGMLayer(
                h,
                n_dim=self.n_dim,
                n_modes=n_modes,
                local_kernel_size=local_kernel_size,
                mixing=mixing,
                init=init,
            )
            for _ in range(n_layers)
        )
        if init == "authors":
            # the reference code's FiniteDifferenceConv applies torch's default weights with
            # the sum of the taps subtracted from the centre tap; that stencil is zero-sum,
            # so ZeroSumConv's mean projection leaves it as it is.
            centre = (slice(None), slice(None), *[1] * self.n_dim)
            with torch.no_grad():
                for layer in self.layers:
                    w = layer.derivative.weight
                    w[centre] -= w.sum(dim=tuple(range(2, 2 + self.n_dim)))
        # kappa_D of gate="dataset", set from the training data by fit_data_statistics
        self.register_buffer("structure_change_coefficient", torch.tensor(math.nan))
        # lambda starts at h as in the reference code, so that the gate is open
        # (sigma(h * kappa) ~ 1) unless the input window changes very little.
        self.gate_rate = nn.Parameter(torch.tensor(float(h)))
        # Parallel aggregation sum_l w_l F_l + b, initialised like the 1x1 convolution
        # (L -> 1 channel) of the reference code.
        bound = 1.0 / math.sqrt(n_layers)
        self.layer_weights = nn.Parameter(torch.empty(n_layers).uniform_(-bound, bound))
        self.layer_bias = nn.Parameter(torch.empty(()).uniform_(-bound, bound))
        self.expansion = conv(h, 2 * h, 1)
        self.projection = conv(2 * h, out_channels, 1)

    def _check_grid_shape(self, grid_shape: object) -> tuple[int, ...] | None:
        if grid_shape is None:
            return None
        try:
            shape = tuple(grid_shape)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"`grid_shape` must be None or a tuple of {self.n_dim} ints, got {grid_shape!r}."
            ) from None
        if len(shape) != self.n_dim or any(
            isinstance(n, bool) or not isinstance(n, int) or n < 2 for n in shape
        ):
            raise ValueError(
                f"`grid_shape` must hold {self.n_dim} int(s) >= 2 (one per spatial "
                f"dimension), got {grid_shape!r}."
            )
        if any(self.n_modes > n // 2 for n in shape):
            raise ValueError(
                f"`n_modes` (={self.n_modes}) must be <= n // 2 on every axis of "
                f"`grid_shape` {shape} (<= {min(shape) // 2}); lower `n_modes`."
            )
        return shape

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints from before kappa_D was stored: not set (gate="dataset" will say so)
        state_dict.setdefault(prefix + "structure_change_coefficient", torch.tensor(math.nan))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def in_frames(self) -> int:
        """Frames in the input window, ``in_channels // n_fields``."""
        return self.in_channels // self.n_fields

    # ------------------------------------------------------------------ constructors

    @classmethod
    def navier_stokes_2d(cls, **kwargs: Any) -> DyMixOp:
        """The reference 2-D Navier-Stokes configuration: ``h = 96``, ``L = 4``, ``m = 12``.

        10 input frames of one field (vorticity) -> one frame, on a 2-D periodic grid.
        Keyword arguments override any setting of the constructor.
        """
        config: dict[str, Any] = {"in_channels": 10, "out_channels": 1, "n_dim": 2}
        config.update(_PUBLISHED[2])
        config.update(kwargs)
        return cls(**config)

    @classmethod
    def init_args_from_spec(cls, spec: DataSpec, **kwargs: Any) -> dict[str, Any]:
        """Constructor arguments of a DyMixOp sized for a dataset (plain data).

        Channels, dimension, fields and ``grid_shape`` come from ``spec``; ``h``, ``L`` and
        ``m`` default to the published configuration of the spec's dimension (1-D KS:
        48/8/12; 2-D Navier-Stokes: 96/4/12), and ``n_modes`` is lowered to ``n // 2`` on
        coarse grids. Other keyword arguments (``hidden_channels``, ``n_layers``,
        ``n_modes``, ``local_kernel_size``, ``mixing``, ``gate``, ``init``) override.

        Raises:
            TypeError: ``spec`` is not a :class:`~opkit.pde_data.DataSpec`.
            ValueError: ``kwargs`` gives a size that the spec fixes (``in_channels``,
                ``out_channels``, ``n_dim``, ``n_fields``, ``grid_shape``) a different
                value (the same value is accepted).
        """
        check_spec(spec)
        fixed = {
            "in_channels": spec.in_channels,
            "out_channels": spec.out_channels,
            "n_dim": spec.ndim,
            "n_fields": spec.n_fields,
            "grid_shape": spec.spatial_shape,
        }
        check_not_contradicting("DyMixOp", fixed, kwargs)
        config: dict[str, Any] = dict(_PUBLISHED[spec.ndim])
        config["n_modes"] = min(config["n_modes"], min(spec.spatial_shape) // 2)
        config.update(fixed)
        config.update(kwargs)
        return config

    # ------------------------------------------------------------------ forward

    def _check_input(self, x: object) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"`x` must be a torch.Tensor, got {type(x).__name__}.")
        if not x.is_floating_point():
            raise TypeError(f"`x` must be a floating-point tensor, got dtype {x.dtype}.")
        axes = ", ".join(["n_x", "n_y"][: self.n_dim])
        if x.ndim != 2 + self.n_dim or x.shape[1] != self.in_channels:
            raise ValueError(
                f"`x` must have shape (batch, in_channels={self.in_channels}, {axes}) for this "
                f"{self.n_dim}-D DyMixOp ({self.in_frames} frame(s) x {self.n_fields} "
                f"field(s), frame-major), got {tuple(x.shape)}."
            )
        if min(x.shape[2:]) < 2 or x.shape[0] < 1:
            raise ValueError(f"`x` needs batch >= 1 and grid sizes >= 2, got {tuple(x.shape)}.")
        return x

    def structure_change(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample gate statistic ``kappa = mean_t (1 - cos(u_{t+1}, u_t))``, ``(batch,)``.

        ``u_t`` is frame ``t`` of the window (all its fields and grid points flattened);
        ``cos(a, b) = <a, b> / (|a| |b| + 1e-8)``. ``kappa`` is 0 for a frozen window and
        grows with how fast the pattern changes; it is 1 when ``in_frames == 1``. It is
        differentiable in ``x``, so gradients of a trained rollout also flow through it.
        """
        x = self._check_input(x)
        if self.in_frames == 1:
            return x.new_ones(x.shape[0])
        frames = x.reshape(x.shape[0], self.in_frames, -1)
        new, old = frames[:, 1:], frames[:, :-1]
        dot = (new * old).sum(-1)
        norms = new.norm(dim=-1) * old.norm(dim=-1)
        return (1.0 - dot / (norms + _COSINE_EPS)).mean(-1)

    @torch.no_grad()
    def fit_data_statistics(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        r"""Set :math:`\kappa_D` (buffer ``structure_change_coefficient``) from training windows.

        ``x``: ``(items, in_channels, *spatial)``, the training inputs (``opkit.fit`` passes
        them normalised; the statistic does not depend on a per-field shift, see the class
        docstring). :math:`\kappa_D` is the mean over items of :meth:`structure_change` of
        the window with each frame's per-field spatial mean removed. ``y`` is not used.
        Used by ``gate="dataset"`` only; the other gates ignore the buffer.
        """
        x = self._check_input(x)
        frames = x.reshape(x.shape[0], self.in_frames, self.n_fields, -1)
        centred = (frames - frames.mean(-1, keepdim=True)).reshape(x.shape)
        kappa = self.structure_change(centred).mean()
        self.structure_change_coefficient.copy_(kappa.to(self.structure_change_coefficient))

    def gate_value(self, x: torch.Tensor) -> torch.Tensor:
        """The gate ``g`` for the input ``x``: a scalar tensor, or ``(batch,)`` for
        ``gate="sample"``."""
        if self.gate == "released":
            return torch.sigmoid(self.gate_rate)
        if self.gate == "sample":
            return torch.sigmoid(self.gate_rate * self.structure_change(x))
        kappa = self.structure_change_coefficient
        if torch.isnan(kappa):
            raise RuntimeError(
                "DyMixOp(gate='dataset') needs the dataset's structure-change coefficient: "
                "call model.fit_data_statistics(x_train) first (opkit.fit does), or load a "
                "state dict that holds it."
            )
        return torch.sigmoid(self.gate_rate * kappa.to(self.gate_rate.dtype))

    def _coordinates(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, n_dim, *spatial)``: ``i / n`` on each axis of ``x``'s own grid."""
        axes = [torch.arange(n, dtype=x.dtype, device=x.device) / n for n in x.shape[2:]]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"))
        return grid.unsqueeze(0).expand(x.shape[0], *grid.shape)

    def _spacing(self, spatial: tuple[int, ...]) -> float:
        # grid spacing of the input in units of the training grid's spacing
        if self.grid_shape is None:
            return 1.0
        ratios = [n0 / n for n0, n in zip(self.grid_shape, spatial)]  # a list: traceable
        return math.prod(ratios) ** (1 / self.n_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, in_channels, *spatial)`` -> ``(batch, out_channels, *spatial)``."""
        x = self._check_input(x)
        gate = self.gate_value(x)
        if gate.ndim:  # per sample; channels last
            gate = gate.view(-1, *[1] * (1 + self.n_dim))
        spacing = self._spacing(tuple(x.shape[2:]))
        # The 1x1 lifting and reduction (and expansion and projection) have no activation
        # between them: each pair is applied as one matrix, channels last.
        lift, red = _matrix(self.lifting), _matrix(self.reduction)
        inputs = torch.cat([x, self._coordinates(x)], dim=1).movedim(1, -1)
        c0 = F.linear(inputs, red @ lift, red @ self.lifting.bias + self.reduction.bias)
        c, aggregate = c0, c0 + self.layer_bias
        last = len(self.layers) - 1
        for l, layer in enumerate(self.layers):
            f = layer.forward_channels_last(c, spacing=spacing)
            w = self.layer_weights[l]
            if l == last:  # the last update of c would not be used
                aggregate = aggregate.addcmul_(w, f)
            elif torch.compiler.is_compiling():  # Inductor fuses the plain expression itself
                c, aggregate = torch.addcmul(c, gate, f), torch.addcmul(aggregate, w, f)
            else:
                c, aggregate = _Update.apply(c, aggregate, f, w, gate)
        exp, proj = _matrix(self.expansion), _matrix(self.projection)
        out = F.linear(aggregate, proj @ exp, proj @ self.expansion.bias + self.projection.bias)
        return out.movedim(-1, 1)

    def rollout(self, x: torch.Tensor, n_steps: int) -> torch.Tensor:
        """Autoregressive prediction of ``n_steps`` calls, ``(batch, n_steps * out_channels, ...)``.

        After each call the window drops its oldest frames and appends the prediction
        (``window = cat(window, y)[:, -in_channels:]``). Gradients flow through the whole
        rollout; wrap it in ``torch.no_grad()`` for inference.

        Raises:
            TypeError / ValueError: ``n_steps`` not an int >= 1; ``out_channels`` not a
                multiple of ``n_fields`` (the prediction would not be whole frames).
        """
        n_steps = check_int("n_steps", n_steps, minimum=1)
        if self.out_channels % self.n_fields:
            raise ValueError(
                f"rollout needs whole frames: `out_channels` (={self.out_channels}) must be a "
                f"multiple of `n_fields` (={self.n_fields})."
            )
        frames = n_steps * self.out_channels // self.n_fields
        return rollout(self, self._check_input(x), frames, n_fields=self.n_fields)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"n_dim={self.n_dim}, n_fields={self.n_fields}, mixing={self.mixing!r}, "
            f"grid_shape={self.grid_shape}, gate={self.gate!r}, init={self.init!r}"
        )
