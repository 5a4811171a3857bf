"""Which token may come next: the prefix grammar as a batched state, for constrained decoding.

A partial token sequence of a system (after ``<BOS>``) is summarised by four integers: the
component being written, the operand slots still open in it (1 at its start; an operator
of arity ``a`` turns one slot into ``a``, a leaf fills one), the position inside a float
(after its sign: a mantissa must follow; after the mantissa: an exponent), and whether
``<EOS>`` was written. From this state, :meth:`PrefixGrammar.allowed` lists the tokens
that keep the sequence completable into a valid system of ``n_components`` components
within ``max_len`` tokens (``<EOS>`` included). Masking every other token's logit before
the argmax is the arity-constrained greedy decoding of sequence models of expressions
(e.g. Kamienny, d'Ascoli, Lample & Charton, "End-to-end symbolic regression with
transformers", NeurIPS 2022, which constrain decoding to valid prefix trees); the
unconstrained decoder stays the default and the two are reported apart.

Allowed: operators, variables ``u_0 .. u_{n-1}``, integers and floats in an open slot;
``|`` after a complete component that is not the last; ``<EOS>`` after the last one;
``<PAD>`` only after ``<EOS>``. Never: ``<BOS>``, ``<PLACEHOLDER>`` (a decoded system
carries its constants), a mantissa or exponent outside a float.
"""

from __future__ import annotations

import torch

from ._floats import EXPONENT_TOKENS, MANTISSA_TOKENS, SIGN_TOKENS
from ._tokens import EOS_ID, PAD_ID, SEPARATOR_ID, TOKEN_ID, VOCAB
from ._tree import INT_MAX, INT_MIN, MAX_DIM, OPERATOR_ARITY

__all__ = ["PrefixGrammar"]


def _ids(tokens) -> torch.Tensor:
    return torch.tensor([TOKEN_ID[t] for t in tokens], dtype=torch.long)


def _mask(ids: torch.Tensor) -> torch.Tensor:
    out = torch.zeros(len(VOCAB), dtype=torch.bool)
    out[ids] = True
    return out


# Per-token tables over the vocabulary (CPU; moved to the state's device once).
_ARITY = torch.zeros(len(VOCAB), dtype=torch.long)
for _name, _a in OPERATOR_ARITY.items():
    _ARITY[TOKEN_ID[_name]] = _a
_OPERATOR = _mask(_ids(OPERATOR_ARITY))
_INTEGER = _mask(_ids(str(n) for n in range(INT_MIN, INT_MAX + 1)))
_SIGN = _mask(_ids(SIGN_TOKENS))
_MANTISSA = _mask(_ids(MANTISSA_TOKENS))
_EXPONENT = _mask(_ids(EXPONENT_TOKENS))
#: ``_VARIABLE[k]`` marks ``u_0 .. u_{k-1}``.
_VARIABLE = torch.zeros(MAX_DIM + 1, len(VOCAB), dtype=torch.bool)
for _k in range(MAX_DIM + 1):
    _VARIABLE[_k, _ids(f"u_{i}" for i in range(_k))] = True


class PrefixGrammar:
    """The state of ``B`` partial prefix sequences, advanced one token per row at a time.

    Args:
        n_components: ``(B,)`` integer tensor, the number of components (and of variables
            ``u_0 .. u_{n-1}``) each system must have, ``1 <= n <= MAX_DIM``.
        max_len: tokens each row may still write, ``<EOS>`` included (the decoder's
            ``max_len``); the state never allows a token after which the system could not
            be finished in time.

    Raises:
        ValueError: ``n_components`` outside ``1 .. MAX_DIM`` or not 1-D, or ``max_len``
            too short for ``n`` components (``2 n`` tokens: ``n`` leaves, ``n - 1``
            separators and ``<EOS>``).

    Examples:
        >>> import torch
        >>> from opkit import symbolic
        >>> g = PrefixGrammar(torch.tensor([1]), max_len=4)
        >>> [symbolic.VOCAB[i] for i in g.allowed()[0].nonzero()[:, 0].tolist()][:4]
        ['add', 'sub', 'mul', 'div']
        >>> g.update(torch.tensor([symbolic.TOKEN_ID["add"]]))
        >>> g.update(torch.tensor([symbolic.TOKEN_ID["u_0"]]))
        >>> bool(g.allowed()[0, symbolic.TOKEN_ID["add"]])  # add u_0 add ? ? <EOS>: 6 > 4
        False
    """

    def __init__(self, n_components: torch.Tensor, *, max_len: int):
        n = torch.as_tensor(n_components)
        if n.ndim != 1 or n.is_floating_point() or n.numel() == 0:
            raise ValueError(
                f"`n_components` must be a 1-D integer tensor (one per row), got dtype "
                f"{n.dtype} and shape {tuple(n.shape)}."
            )
        if int(n.min()) < 1 or int(n.max()) > MAX_DIM:
            raise ValueError(
                f"`n_components` must lie in 1..{MAX_DIM}, got values in "
                f"[{int(n.min())}, {int(n.max())}]."
            )
        if max_len < 2 * int(n.max()):
            raise ValueError(
                f"`max_len` (={max_len}) cannot hold a system of {int(n.max())} components "
                f"(at least {2 * int(n.max())} tokens with <EOS>)."
            )
        dev = n.device
        self.n = n.long()
        self.left = torch.full_like(self.n, int(max_len))  # tokens still allowed, <EOS> too
        self.component = torch.zeros_like(self.n)
        self.need = torch.ones_like(self.n)  # open operand slots of the current component
        self.in_float = torch.zeros_like(self.n)  # 0, 1 (after the sign), 2 (after mantissa)
        self.done = torch.zeros_like(self.n, dtype=torch.bool)
        self._arity = _ARITY.to(dev)
        self._leaf = (_INTEGER.to(dev) | _VARIABLE.to(dev)[self.n]) & ~self.done[:, None]
        self._tables = {
            k: v.to(dev)
            for k, v in (
                ("op", _OPERATOR),
                ("sign", _SIGN),
                ("mantissa", _MANTISSA),
                ("exponent", _EXPONENT),
            )
        }

    def allowed(self) -> torch.Tensor:
        """``(B, V)`` bool: the tokens each row may write next."""
        t = self._tables
        free = self.done.logical_not() & self.in_float.eq(0)
        # fewest tokens that finish the row after this one, if it leaves `need` slots open:
        # need (one leaf each), a float's last two tokens, "|" + a leaf per later component,
        # and <EOS>
        later = 2 * (self.n - self.component - 1) + 1
        room = (self.left - 1 - later)[:, None]
        op_ok = t["op"] & (self.need[:, None] + self._arity - 1 <= room)
        sign_ok = t["sign"] & (self.need[:, None] + 1 <= room)
        out = (free & self.need.gt(0))[:, None] & (op_ok | sign_ok | self._leaf)
        out |= self.in_float.eq(1)[:, None] & t["mantissa"]
        out |= self.in_float.eq(2)[:, None] & t["exponent"]
        complete = free & self.need.eq(0)
        last = self.component.eq(self.n - 1)
        out[:, SEPARATOR_ID] |= complete & ~last
        out[:, EOS_ID] |= complete & last
        out[:, PAD_ID] |= self.done
        return out

    def update(self, tokens: torch.Tensor) -> None:
        """Advance every row by its token ``(B,)`` (which must be allowed)."""
        tokens = tokens.to(self.n.device)
        t = self._tables
        active = ~self.done
        is_op = t["op"][tokens] & active
        is_sign = t["sign"][tokens] & active
        is_exp = t["exponent"][tokens] & active
        is_leaf = (self._leaf.gather(1, tokens[:, None])[:, 0] & active) | is_exp
        is_sep = tokens.eq(SEPARATOR_ID) & active
        self.need = self.need + torch.where(is_op, self._arity[tokens] - 1, 0)
        self.need = self.need - is_leaf.long()
        # sign -> 1, mantissa -> 2, exponent -> 0
        self.in_float = torch.where(is_sign, 1, torch.where(self.in_float.eq(1) & active, 2, 0))
        self.component = self.component + is_sep.long()
        self.need = torch.where(is_sep, 1, self.need)
        self.done = self.done | (tokens.eq(EOS_ID) & active)
        self.left = self.left - active.long()
        self._leaf = self._leaf & ~self.done[:, None]
