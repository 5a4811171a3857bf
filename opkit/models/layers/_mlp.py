"""A plain fully connected network (the branch and trunk of DeepONet, and other heads)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral

import torch
from torch import nn

__all__ = ["MLP", "activation_function"]

_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "gelu": nn.functional.gelu,
    "silu": nn.functional.silu,
    "elu": nn.functional.elu,
    "sigmoid": torch.sigmoid,
    "sin": torch.sin,
    "softplus": nn.functional.softplus,
}


def activation_function(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The element-wise function called ``name``.

    Args:
        name: one of ``"relu"``, ``"tanh"``, ``"gelu"``, ``"silu"``, ``"elu"``,
            ``"sigmoid"``, ``"sin"``, ``"softplus"``.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: ``name`` is not one of the names above.
    """
    if not isinstance(name, str):
        raise TypeError(f"`activation` must be a string, got {type(name).__name__}.")
    try:
        return _ACTIVATIONS[name.lower()]
    except KeyError:
        raise ValueError(
            f"`activation` must be one of {sorted(_ACTIVATIONS)}, got {name!r}."
        ) from None


class MLP(nn.Module):
    """Fully connected network ``x -> W_L s(... s(W_1 x + b_1) ...) + b_L``.

    Acts on the last axis: ``(..., layers[0]) -> (..., layers[-1])``.

    Args:
        layers: widths ``[in, hidden..., out]``, at least two positive integers.
        activation: name of the element-wise non-linearity ``s`` (see
            :func:`activation_function`), default ``"tanh"``.
        activate_last: also apply ``s`` after the last linear layer (DeepONet's trunk
            does, Lu et al. 2021). Default ``False``.
        init: ``"glorot_normal"`` (Glorot/Xavier-normal weights, zero biases: DeepXDE's
            ``"Glorot normal"``, the initialisation of the published DeepONets; default)
            or ``"torch"`` (PyTorch's default ``nn.Linear`` initialisation).
        generator: random generator for the initial weights; ``None`` uses PyTorch's
            global generator (as ``nn.Linear`` does).

    Raises:
        ValueError: fewer than two widths, a width < 1, or an unknown ``activation`` or
            ``init``.

    Examples:
        >>> net = MLP([3, 16, 16, 2], activation="relu")
        >>> net(torch.zeros(5, 7, 3)).shape
        torch.Size([5, 7, 2])
    """

    def __init__(
        self,
        layers: Sequence[int],
        *,
        activation: str = "tanh",
        activate_last: bool = False,
        init: str = "glorot_normal",
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        widths = _check_widths("layers", layers)
        self._act = activation_function(activation)
        if init not in ("glorot_normal", "torch"):
            raise ValueError(f"`init` must be 'glorot_normal' or 'torch', got {init!r}.")
        self.layers = tuple(widths)
        self.activation = activation
        self.activate_last = bool(activate_last)
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        if init == "glorot_normal":
            for lin in self.linears:
                nn.init.xavier_normal_(lin.weight, generator=generator)
                nn.init.zeros_(lin.bias)
        elif generator is not None:
            for lin in self.linears:
                # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both tensors.
                bound = lin.in_features**-0.5
                nn.init.uniform_(lin.weight, -bound, bound, generator=generator)
                nn.init.uniform_(lin.bias, -bound, bound, generator=generator)

    @property
    def in_features(self) -> int:
        return self.layers[0]

    @property
    def out_features(self) -> int:
        return self.layers[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., layers[0]) -> (..., layers[-1])``.

        Raises:
            ValueError: the last axis of ``x`` is not ``layers[0]`` long.
        """
        if x.shape[-1] != self.layers[0]:
            raise ValueError(
                f"MLP input `x` must have {self.layers[0]} features on its last axis, got shape "
                f"{tuple(x.shape)}."
            )
        last = len(self.linears) - 1
        for i, lin in enumerate(self.linears):
            x = lin(x)
            if i < last or self.activate_last:
                x = self._act(x)
        return x

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}, activate_last={self.activate_last}"


def _check_widths(name: str, layers: Sequence[int]) -> list[int]:
    """Validate a list of layer widths (shared by the models that build MLPs)."""
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError(
            f"`{name}` must be a list of layer widths such as [64, 128, 128], got "
            f"{type(layers).__name__}."
        )
    widths = list(layers)
    ok = len(widths) >= 2 and all(
        isinstance(w, Integral) and not isinstance(w, bool) and w >= 1 for w in widths
    )
    if not ok:
        raise ValueError(
            f"`{name}` must hold at least two positive integer widths [in, ..., out], got {widths}."
        )
    return [int(w) for w in widths]
