"""Vector fields of latent neural ODEs: dense layers and a convolution on a grid."""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .._checks import check_int

__all__ = [
    "AbstractVectorField",
    "LayerVectorField",
    "ConvVectorField",
    "conv_apply",
    "elementwise",
    "PADDINGS",
]

_ELEMENTWISE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "gelu": nn.functional.gelu,
    "silu": nn.functional.silu,
    "softplus": nn.functional.softplus,
    "identity": lambda z: z,
}

#: padding of `ConvVectorField`: periodic (PDE grids on a torus) or zeros (images)
PADDINGS = ("circular", "zeros")


def elementwise(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The element-wise function ``f`` of a vector field, by name.

    Args:
        name: ``"tanh"``, ``"relu"``, ``"sigmoid"``, ``"gelu"``, ``"silu"``, ``"softplus"``
            or ``"identity"`` (a linear vector field).

    Raises:
        ValueError: an unknown name.
    """
    if not isinstance(name, str) or name not in _ELEMENTWISE:
        raise ValueError(f"`activation` must be one of {sorted(_ELEMENTWISE)}, got {name!r}.")
    return _ELEMENTWISE[name]


def conv_apply(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, padding: str
) -> torch.Tensor:
    """The 'same'-size convolution ``K * x (+ b)`` of fields ``x`` ``(batch, c_in, *grid)``.

    ``weight`` ``(c_out, c_in, *kernel)`` with odd kernel sizes, ``bias`` ``(c_out,)`` or
    None; ``padding`` ``"circular"`` (periodic) or ``"zeros"``. The parameters are cast to
    ``x``'s dtype, so a float32 layer can be applied to float64 fields (as the reductions
    do). Returns ``(batch, c_out, *grid)``.
    """
    n_dim = weight.ndim - 2
    conv = nn.functional.conv1d if n_dim == 1 else nn.functional.conv2d
    weight = weight.to(x.dtype)
    bias = None if bias is None else bias.to(x.dtype)
    half = [s // 2 for s in weight.shape[2:]]
    if padding == "circular":
        pads = [p for h in reversed(half) for p in (h, h)]
        return conv(nn.functional.pad(x, pads, mode="circular"), weight, bias)
    return conv(x, weight, bias, padding=tuple(half))


class AbstractVectorField(nn.Module):
    r"""Interface of the latent vector fields :math:`x' = g(x) + Z u`, which count their calls.

    A concrete subclass implements :meth:`drift` (:math:`g`), holds ``Z`` (``(n,
    n_inputs)``, or None: no input term) and sets the counter ``nfe`` to 0 in its
    ``__init__`` (the models reset it at every call). ``forward(t, x, u=None,
    context=None)``: ``x`` ``(batch, n)`` -> ``(batch, n)``, ``u`` ``(batch, n_inputs)``.

    The one-layer fields :math:`g(x) = f(\mathcal{A} x + b)` with a linear map
    :math:`\mathcal{A}` (a matrix or a convolution) also offer what the reductions need
    without forming :math:`\mathcal{A}`: :meth:`linear_part` (:math:`\mathcal{A} x`),
    :meth:`bias_vector` (``b`` as an ``n``-vector), :meth:`rows` (:math:`P^\top
    \mathcal{A}`), :meth:`nonlinearity` and :meth:`cost`.
    """

    nfe: int

    @abc.abstractmethod
    def drift(self, x: torch.Tensor, context: dict[str, torch.Tensor] | None) -> torch.Tensor:
        """:math:`g(x)`; ``context`` holds per-call tensors of reduced models (or None)."""

    def forward(
        self, t: torch.Tensor, x: torch.Tensor, u: torch.Tensor | None = None, context=None
    ) -> torch.Tensor:
        self.nfe += 1
        h = self.drift(x, context)
        if self.Z is not None:
            h = h + nn.functional.linear(u, self.Z)
        return h

    def linear_part(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\mathcal{A} x` for ``x`` ``(batch, n)``, in ``x``'s dtype (one-layer fields)."""
        raise NotImplementedError(f"{type(self).__name__} has no single linear map.")

    def bias_vector(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``b`` as an ``(n,)`` vector (one-layer fields)."""
        raise NotImplementedError(f"{type(self).__name__} has no single bias.")

    def rows(self, indices: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        r""":math:`P^\top \mathcal{A}`, ``(m, n)``: the rows ``indices`` of the linear map.

        By default from :meth:`linear_part` by one batched vector-Jacobian product (the map
        is linear, so its Jacobian is itself); :math:`\mathcal{A}` is never formed.
        """
        n = self.state_size
        x = torch.zeros(1, n, dtype=dtype, device=indices.device, requires_grad=True)
        picks = torch.zeros(len(indices), 1, n, dtype=dtype, device=indices.device)
        picks[torch.arange(len(indices)), 0, indices] = 1.0
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(self.linear_part(x), x, picks, is_grads_batched=True)
        return grad[:, 0]


class LayerVectorField(AbstractVectorField):
    r"""The neural ODE vector field :math:`x' = f(A_L \cdots f(A_1 x + b_1) \cdots + b_L) + Z u`.

    With one layer (the default) this is the form of Lehtimäki et al. (2024),
    :math:`x' = f(A x + b) + Z u` with :math:`A \in \mathbb{R}^{n \times n}`, whose
    nonlinearity :func:`opkit.models.mor.compress` interpolates by DEIM.

    Args:
        state_size: ``n``.
        n_layers: layers ``L`` (each ``n -> n``, each followed by ``f``), default 1.
        activation: ``f`` by name (see :func:`elementwise`), default ``"tanh"``.
        n_inputs: size of the input ``u`` (0: no input term).

    Shapes:
        ``forward(t, x, u=None, context=None)``: ``x`` ``(batch, n)`` -> ``(batch, n)``; the
        input ``u`` ``(batch, n_inputs)`` is constant in time (the models bind it for the
        solver); ``context`` (per-call tensors of reduced models) is unused here.

    Attributes:
        nfe: function evaluations since the counter was last reset (the models reset it
            at every call).
    """

    def __init__(
        self, state_size: int, *, n_layers: int = 1, activation: str = "tanh", n_inputs: int = 0
    ):
        super().__init__()
        self.state_size = check_int("state_size", state_size, minimum=1)
        self.n_layers = check_int("n_layers", n_layers, minimum=1)
        self.n_inputs = check_int("n_inputs", n_inputs, minimum=0)
        self.activation = activation
        self.f = elementwise(activation)
        self.layers = nn.ModuleList(nn.Linear(state_size, state_size) for _ in range(n_layers))
        self.input_map = nn.Linear(n_inputs, state_size, bias=False) if n_inputs else None
        self.nfe = 0

    def nonlinearity(self, x: torch.Tensor) -> torch.Tensor:
        """``f(A_L ... f(A_1 x + b_1) ... + b_L)``, the part without ``Z u``."""
        h = x
        for layer in self.layers:
            h = self.f(layer(h))
        return h

    def drift(self, x: torch.Tensor, context=None) -> torch.Tensor:
        """The nonlinearity; ``context`` is unused."""
        return self.nonlinearity(x)

    def _one_layer(self) -> nn.Linear:
        if self.n_layers != 1:
            raise ValueError(f"this field stacks n_layers={self.n_layers}; one linear map needs 1.")
        return self.layers[0]

    def linear_part(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self._one_layer().weight.to(x.dtype).T

    def bias_vector(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        b = self._one_layer().bias
        return b if dtype is None else b.to(dtype)

    def rows(self, indices: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        return self._one_layer().weight[indices].to(dtype)

    def cost(self) -> dict[str, int]:
        """Per evaluation and sample: multiply-adds and values of ``f``."""
        n = self.state_size
        return {"macs": self.n_layers * n * n + n * self.n_inputs, "f_evals": self.n_layers * n}

    @property
    def Z(self) -> torch.Tensor | None:  # noqa: N802 - the matrix of the formula
        """``Z`` ``(n, n_inputs)``, the weight of ``input_map``; None without inputs."""
        return None if self.input_map is None else self.input_map.weight


class ConvVectorField(AbstractVectorField):
    r"""The convolutional vector field :math:`x' = f(K * x + b) + Z u` on a grid.

    The state is a multi-channel field, ``channels x grid`` flattened (channel-major) to
    ``n = channels * prod(grid_shape)``; ``K`` is a ``channels -> channels`` convolution
    with an odd ``kernel_size`` stencil and 'same' output size, ``b`` one bias per channel
    (the same at every grid point), ``f`` element-wise. This is the convolutional neural
    ODE block for which Lehtimäki et al. (2024) report their best speed/accuracy balance;
    as a matrix ``K`` is ``n x n`` but sparse and never formed here: one evaluation costs
    ``n * channels * kernel_size^d`` multiply-adds and ``n`` values of ``f``.

    Args:
        channels: channels ``C`` of the state field.
        grid_shape: ``(n_x,)`` or ``(n_x, n_y)``.
        kernel_size: odd stencil width of ``K`` in every dimension (default 3).
        activation: ``f`` by name (see :func:`elementwise`), default ``"tanh"``.
        n_inputs: size of the input ``u`` (0: no input term); ``Z`` is ``(n, n_inputs)``.
        padding: ``"circular"`` (periodic, for PDE grids; default) or ``"zeros"``
            (images).

    Shapes:
        ``forward(t, x, u=None, context=None)``: ``(batch, n)`` -> ``(batch, n)``.

    References:
        M. Lehtimäki, L. Paunonen, M.-L. Linne, "Accelerating neural ODEs using model order
        reduction", IEEE TNNLS 35 (2024); arXiv:2105.14070.

    Examples:
        >>> field = ConvVectorField(2, (16,), kernel_size=3)
        >>> field(None, torch.randn(4, 32)).shape, field.cost()
        (torch.Size([4, 32]), {'macs': 192, 'f_evals': 32})
    """

    def __init__(
        self,
        channels: int,
        grid_shape: Sequence[int],
        *,
        kernel_size: int = 3,
        activation: str = "tanh",
        n_inputs: int = 0,
        padding: str = "circular",
    ):
        super().__init__()
        self.channels = check_int("channels", channels, minimum=1)
        self.grid_shape = tuple(int(s) for s in grid_shape)
        if len(self.grid_shape) not in (1, 2) or min(self.grid_shape) < 1:
            raise ValueError(f"`grid_shape` must be (n_x,) or (n_x, n_y), got {grid_shape!r}.")
        k = check_int("kernel_size", kernel_size, minimum=1)
        if k % 2 == 0:
            raise ValueError(f"`kernel_size` must be odd (a centred stencil), got {k}.")
        if padding not in PADDINGS:
            raise ValueError(f"`padding` must be one of {PADDINGS}, got {padding!r}.")
        self.kernel_size, self.padding, self.activation = k, padding, activation
        self.n_inputs = check_int("n_inputs", n_inputs, minimum=0)
        self.f = elementwise(activation)
        self.state_size = self.channels * math.prod(self.grid_shape)
        conv = nn.Conv1d if len(self.grid_shape) == 1 else nn.Conv2d
        self.conv = conv(channels, channels, k)  # holds K and b (PyTorch's initialisation)
        self.input_map = nn.Linear(n_inputs, self.state_size, bias=False) if n_inputs else None
        self.nfe = 0

    def fields(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, n)`` -> ``(batch, channels, *grid)``."""
        return x.reshape(x.shape[0], self.channels, *self.grid_shape)

    def nonlinearity(self, x: torch.Tensor) -> torch.Tensor:
        """``f(K * x + b)``, ``(batch, n) -> (batch, n)``."""
        z = conv_apply(self.fields(x), self.conv.weight, self.conv.bias, self.padding)
        return self.f(z).flatten(1)

    def drift(self, x: torch.Tensor, context=None) -> torch.Tensor:
        return self.nonlinearity(x)

    def linear_part(self, x: torch.Tensor) -> torch.Tensor:
        """``K * x`` (no bias), ``(batch, n) -> (batch, n)``, in ``x``'s dtype."""
        return conv_apply(self.fields(x), self.conv.weight, None, self.padding).flatten(1)

    def bias_vector(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        b = self.conv.bias if dtype is None else self.conv.bias.to(dtype)
        return b.repeat_interleave(math.prod(self.grid_shape))

    def cost(self) -> dict[str, int]:
        """Per evaluation and sample: multiply-adds and values of ``f``."""
        n, d = self.state_size, len(self.grid_shape)
        macs = n * self.channels * self.kernel_size**d + n * self.n_inputs
        return {"macs": macs, "f_evals": n}

    @property
    def Z(self) -> torch.Tensor | None:  # noqa: N802 - the matrix of the formula
        """``Z`` ``(n, n_inputs)``; None without inputs."""
        return None if self.input_map is None else self.input_map.weight

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, grid_shape={self.grid_shape}, "
            f"kernel_size={self.kernel_size}, padding={self.padding!r}"
        )
