"""Derivatives of pointwise networks, up to 4th order (Kuramoto–Sivashinsky needs ``u_xxxx``).

Two routes that give the same numbers:

- :func:`derivatives` — reverse mode (``torch.autograd.grad``), repeated; the graph is kept
  (``create_graph=True``) so that a loss built from the derivatives can be back-propagated
  to the parameters. This is what the residuals use.
- :func:`taylor_derivatives` — forward mode (``torch.func.jvp``), nested; it needs a function
  rather than a recorded graph and composes with ``torch.func.vmap``/``grad``.

Both rely on the network being *pointwise* (row ``i`` of the output depends only on row ``i``
of the input, true of every network in this package): the Jacobian of ``u`` with respect
to the column of points is then diagonal, so a single vector-Jacobian (or Jacobian-vector)
product with a vector of ones returns all the pointwise derivatives at once.

:class:`FieldDerivatives` hands a network's field and its derivatives at collocation points
to a PDE's ``residual(d)`` (:mod:`opkit.pde_data`), computing each on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import torch
from torch import nn

from opkit.pde_data import DERIVATIVE_KEYS

__all__ = ["derivatives", "taylor_derivatives", "evaluate_field", "FieldDerivatives", "MAX_ORDER"]

MAX_ORDER = 4


def _check_order(order: object) -> int:
    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise ValueError(f"`order` must be an integer in [1, {MAX_ORDER}], got {order!r}.")
    return order


def derivatives(u: torch.Tensor, x: torch.Tensor, order: int) -> list[torch.Tensor]:
    r"""``[∂u/∂x, ∂²u/∂x², ..., ∂ⁿu/∂xⁿ]`` by repeated reverse-mode autograd.

    Args:
        u: values ``(N,)`` computed *pointwise* from ``x`` (see module docstring).
        x: the points ``(N,)``, a leaf or intermediate tensor with ``requires_grad=True`` that
            ``u`` was computed from.
        order: highest order ``n`` in ``[1, 4]``.

    Returns:
        A list of ``n`` tensors of shape ``(N,)``; the graph is kept so that each entry can be
        differentiated again (w.r.t. ``x`` or the network parameters). A derivative that is
        identically zero (``u`` polynomial of lower degree in ``x``) is returned as zeros.

    Raises:
        ValueError: for shapes that differ or ``order`` outside ``[1, 4]``.
        RuntimeError: if ``x`` does not require grad (``u`` was not computed from it).

    Examples:
        >>> x = torch.linspace(0, 1, 5, dtype=torch.float64, requires_grad=True)
        >>> d1, d2 = derivatives(x**3, x, 2)
        >>> torch.allclose(d2, 6 * x)
        True
    """
    order = _check_order(order)
    if u.shape != x.shape:
        raise ValueError(
            f"`u` and `x` must have the same shape (pointwise values), got {tuple(u.shape)} "
            f"and {tuple(x.shape)}."
        )
    if not x.requires_grad:
        raise RuntimeError(
            "`x` must require grad and `u` must be computed from it; call "
            "x.requires_grad_(True) before evaluating the network."
        )
    out = []
    current = u
    for _ in range(order):
        if not current.requires_grad:
            # A lower-degree polynomial in x: everything from here on is exactly zero.
            out.append(torch.zeros_like(x))
            current = out[-1]
            continue
        (d,) = torch.autograd.grad(
            current,
            x,
            grad_outputs=torch.ones_like(current),
            create_graph=True,
            allow_unused=True,
        )
        d = torch.zeros_like(x) if d is None else d
        out.append(d)
        current = d
    return out


def taylor_derivatives(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, order: int
) -> list[torch.Tensor]:
    r"""``[f(x), f'(x), ..., f⁽ⁿ⁾(x)]`` of a pointwise function by nested forward mode.

    ``f^{(k)}`` is the ``k``-fold nested Jacobian-vector product with the tangent ``1``;
    works under ``torch.func`` transforms and does not need ``x.requires_grad``.

    Args:
        fn: a pointwise map ``(N,) -> (N,)`` (e.g. ``lambda x: net(stack([t, x], -1))[:, 0]``).
        x: the points ``(N,)``.
        order: highest order ``n`` in ``[1, 4]``.

    Returns:
        A list of ``n + 1`` tensors ``(N,)``: the value and the derivatives of order 1..n.

    Raises:
        ValueError: for ``order`` outside ``[1, 4]`` or an ``fn`` whose output shape is not
            ``x``'s.
    """
    order = _check_order(order)

    def nested(k: int) -> Callable[[torch.Tensor], torch.Tensor]:
        if k == 0:
            return fn
        inner = nested(k - 1)
        return lambda z: torch.func.jvp(inner, (z,), (torch.ones_like(z),))[1]

    values = [nested(k)(x) for k in range(order + 1)]
    if values[0].shape != x.shape:
        raise ValueError(
            f"`fn` must be pointwise, mapping shape {tuple(x.shape)} to itself; got "
            f"{tuple(values[0].shape)}."
        )
    return values


def _points(t: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(t, torch.Tensor) and isinstance(x, torch.Tensor)):
        raise TypeError(
            f"`t` and `x` must be torch.Tensors, got {type(t).__name__} and {type(x).__name__}."
        )
    if t.ndim != 1 or t.shape != x.shape:
        raise ValueError(
            f"`t` and `x` must be 1-D with the same length (flattened collocation points), got "
            f"{tuple(t.shape)} and {tuple(x.shape)}; flatten a grid with .reshape(-1)."
        )
    # Collocation points are data: cut any history and make them differentiable leaves.
    return t.detach().requires_grad_(True), x.detach().requires_grad_(True)


def evaluate_field(net: nn.Module, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The network's scalar field ``u(t, x)`` at points ``(N,)`` -> ``(N,)``.

    Raises:
        ValueError: if the network does not return ``(N, 1)`` (or ``(N,)``).
    """
    out = net(torch.stack([t, x], dim=-1))
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.shape != t.shape:
        raise ValueError(
            f"the network must map (N, 2) coordinates (t, x) to (N, 1), got output shape "
            f"{tuple(out.shape)} for N = {t.shape[0]}."
        )
    return out


class FieldDerivatives(Mapping):
    r"""A network's field ``u(t, x)`` and its derivatives at points, computed on first use.

    The mapping a PDE's ``residual(d)`` reads (keys ``opkit.pde_data.DERIVATIVE_KEYS``:
    ``"u"``, ``"u_t"``, ``"u_x"``, ``"u_xx"``, ``"u_xxx"``, ``"u_xxxx"``, each ``(N,)``).
    ``u_t`` and ``u_x`` come from one backward pass; higher ``x`` derivatives are taken
    from ``u_x`` with :func:`derivatives`, each once. The graph is kept, so a loss built
    from the entries back-propagates to the network's parameters. Build and read it under
    ``torch.enable_grad()`` (the residuals of :class:`PINNProblem` do).

    Args:
        net: a pointwise network ``(N, 2)`` coordinates ``(t, x)`` -> ``(N, 1)``.
        t, x: the points, 1-D of equal length ``N`` (detached and made leaves).

    Raises:
        TypeError/ValueError: for points that are not 1-D tensors of equal length, or a
            network with the wrong output shape.
        KeyError: reading a name outside ``DERIVATIVE_KEYS``.

    Examples:
        >>> net = lambda z: (z[:, :1] * torch.sin(z[:, 1:]))  # u = t sin x
        >>> d = FieldDerivatives(net, torch.ones(3), torch.zeros(3))
        >>> d["u_t"].tolist(), d["u_x"].tolist(), d["u_xxx"].tolist()
        ([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [-1.0, -1.0, -1.0])
    """

    def __init__(self, net: nn.Module, t: torch.Tensor, x: torch.Tensor) -> None:
        self.t, self.x = _points(t, x)
        self._values = {"u": evaluate_field(net, self.t, self.x)}

    def __getitem__(self, key: str) -> torch.Tensor:
        if key in self._values:
            return self._values[key]
        if key not in DERIVATIVE_KEYS:
            raise KeyError(f"{key!r} is not a derivative name; expected one of {DERIVATIVE_KEYS}.")
        u = self._values["u"]
        if "u_x" not in self._values:
            u_t, u_x = torch.autograd.grad(
                u, (self.t, self.x), torch.ones_like(u), create_graph=True, allow_unused=True
            )
            # A field that does not depend on t (or x) has a derivative of exactly zero there.
            self._values["u_t"] = torch.zeros_like(self.t) if u_t is None else u_t
            self._values["u_x"] = torch.zeros_like(self.x) if u_x is None else u_x
        order = len(key) - 2  # "u_xx" -> 2
        have = max(len(k) - 2 for k in self._values if k.startswith("u_x"))
        if order > have:
            start = self._values["u_x" + "x" * (have - 1)]
            for k, d in enumerate(derivatives(start, self.x, order - have), start=have + 1):
                self._values["u_" + "x" * k] = d
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(DERIVATIVE_KEYS)

    def __len__(self) -> int:
        return len(DERIVATIVE_KEYS)
