"""Attention blocks that ``torch.nn`` lacks: a cross-attention-only layer and sinusoidal
positions (used by PROSE)."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["CrossAttentionLayer", "sinusoidal_positions"]


def sinusoidal_positions(
    n: int, width: int, *, device=None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    r"""The sinusoidal position table of Vaswani et al. (2017), ``(n, width)``.

    .. math:: P_{p, 2i} = \sin(p / 10000^{2i/w}), \qquad P_{p, 2i+1} = \cos(p / 10000^{2i/w}).

    Computed on the fly, so sequences of any length are accepted.

    Raises:
        ValueError: ``width`` is odd or ``n`` negative.
    """
    if width % 2 or n < 0:
        raise ValueError(f"`width` (={width}) must be even and `n` (={n}) >= 0.")
    pos = torch.arange(n, device=device, dtype=torch.float64)[:, None]
    freq = torch.exp(
        -math.log(10000.0) * torch.arange(0, width, 2, device=device, dtype=torch.float64) / width
    )
    table = torch.empty(n, width, device=device, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table.to(dtype)


class CrossAttentionLayer(nn.Module):
    r"""A transformer decoder layer without self-attention (pre-norm).

    .. math::
        h &\leftarrow h + \mathrm{MHA}(\mathrm{LN}(h), m, m), \\
        h &\leftarrow h + W_2\, \mathrm{GELU}(W_1\, \mathrm{LN}(h)).

    Every query attends only to the memory ``m``, never to the other queries, so each
    query is decoded independently of which other queries are in the batch: PROSE's data
    decoder evaluates the trajectory at all output times in parallel this way.
    ``nn.TransformerDecoderLayer`` always adds self-attention, hence this block.

    Shapes: ``query (B, Q, width)``, ``memory (B, M, width)``, ``memory_key_padding_mask``
    ``(B, M)`` (True = ignore) -> ``(B, Q, width)``.

    Args:
        width: model width. n_heads: attention heads. ff_width: hidden width of the
        feed-forward block. dropout: dropout probability (default 0).
    """

    def __init__(self, width: int, n_heads: int, ff_width: int, *, dropout: float = 0.0):
        super().__init__()
        self.norm_q = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, n_heads, dropout=dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(width)
        self.ff = nn.Sequential(
            nn.Linear(width, ff_width),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(ff_width, width),
        )
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        query: torch.Tensor,
        memory: torch.Tensor,
        memory_key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        q = self.norm_q(query)
        att, _ = self.attn(
            q, memory, memory, key_padding_mask=memory_key_padding_mask, need_weights=False
        )
        h = query + self.dropout(att)
        return h + self.dropout(self.ff(self.norm_ff(h)))
