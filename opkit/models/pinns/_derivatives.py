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
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["derivatives", "taylor_derivatives", "MAX_ORDER"]

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
