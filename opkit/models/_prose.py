"""PROSE (Liu, Zhang & Schaeffer 2023): one multimodal transformer that reads a short
trajectory and a symbolic guess of its equations, and predicts the future trajectory and
the equations with their constants."""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch
from torch import nn

from .layers._attention import CrossAttentionLayer, sinusoidal_positions

__all__ = ["PROSE"]

#: Sizes of the small default configuration (learns on 2 CPU cores) and of the paper's.
_SIZES = {  # name: (small, paper)
    "width": (128, 512),
    "n_heads": (4, 8),
    "ff_width": (512, 2048),
    "n_data_encoder_layers": (1, 2),
    "n_symbol_encoder_layers": (1, 4),
    "n_fusion_layers": (2, 8),
    "n_data_decoder_layers": (2, 8),
    "n_symbol_decoder_layers": (2, 8),
}
_SMALL = {name: sizes[0] for name, sizes in _SIZES.items()}
_PAPER = {name: sizes[1] for name, sizes in _SIZES.items()}


def _int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}.")
    return int(value)


#: The two designs: the authors' network (``prose_ode``) and opkit's earlier one.
VARIANTS = ("authors", "opkit")
_EPS = 1e-12  # the authors' LayerNorm epsilon (every LayerNorm of prose_ode)


def _embedding(n: int, width: int, padding_idx: int | None = None) -> nn.Embedding:
    """The authors' embedding initialisation: N(0, width^-1/2), the padding row zero."""
    m = nn.Embedding(n, width, padding_idx=padding_idx)
    nn.init.normal_(m.weight, std=width**-0.5)
    if padding_idx is not None:
        with torch.no_grad():
            m.weight[padding_idx].zero_()
    return m


def _post_norm_encoder(width: int, n_heads: int, ff_width: int, dropout: float, n: int):
    """``n`` post-LN self-attention layers: ``x = LN(x + MHA(x)); x = LN(x + FFN(x))`` with a
    GELU FFN, no final norm (the authors' ``TransformerModel`` layers)."""
    layer = nn.TransformerEncoderLayer(
        width, n_heads, ff_width, dropout, activation="gelu", batch_first=True,
        norm_first=False, layer_norm_eps=_EPS,
    )  # fmt: skip
    return nn.TransformerEncoder(layer, n, enable_nested_tensor=False)


class _PostNormQueryLayer(nn.Module):
    """The authors' data-decoder layer (``DataOperatorModel``): queries cross-attend to the
    encoded data, ``x = LN(x + MHA(x, mem)); x = LN(x + FFN(x))``, no self-attention.
    ``(B, Q, w), (B, N, w) -> (B, Q, w)``."""

    def __init__(self, width: int, n_heads: int, ff_width: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, n_heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(width, eps=_EPS)
        self.ff = nn.Sequential(
            nn.Linear(width, ff_width), nn.GELU(), nn.Linear(ff_width, width), nn.Dropout(dropout)
        )
        self.norm2 = nn.LayerNorm(width, eps=_EPS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.dropout(self.attn(x, memory, memory, need_weights=False)[0]))
        return self.norm2(x + self.ff(x))


def _positions(n: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """The authors' sinusoidal table: computed in float64, stored in float32 (their
    ``create_sinusoidal_embeddings`` writes a ``FloatTensor``), then cast to ``like``."""
    table = sinusoidal_positions(n, width, device=like.device, dtype=torch.float32)
    return table.to(like.dtype)


class PROSE(nn.Module):
    r"""Predicting Operators and Symbolic Expressions: a multimodal transformer.

    Five parts; ``variant`` chooses between two designs of each.

    ``variant="authors"`` -- the authors' network (``prose_ode``'s ``build_modules``,
    ``model/transformer.py``, with the defaults of their ``parsers.py``; a test checks that
    it reproduces their forward given the same weights). Every stack is **post-LN**
    (``x = LN(x + MHA(x)); x = LN(x + FFN(x))``, GELU feed-forward, LayerNorm epsilon
    ``1e-12``) and starts with a LayerNorm of its input embeddings:

    1. **Data encoder.** One token per observed time: the raw ``(t_i, u_i)`` (components
       zero-padded to ``max_dim``) through Linear--GELU--Linear, a LayerNorm and
       ``n_data_encoder_layers`` self-attention layers; no positional encoding.
    2. **Symbol encoder.** Token embedding (``N(0, width^-1/2)``, ``<PAD>`` row zero, not
       scaled) plus sinusoidal positions, LayerNorm, ``n_symbol_encoder_layers`` layers
       with a key padding mask. The input is the guess *without* ``<BOS>``/``<EOS>``
       (their ``batch_equations_placeholder``; :attr:`symbol_markers` is False).
    3. **Fusion.** A modality embedding added to each part, ``[data; symbols]``
       concatenated, LayerNorm, ``n_fusion_layers`` self-attention layers.
    4. **Data decoder.** Queries ``Linear(1, width)(t)`` and a LayerNorm; each of the
       ``n_data_decoder_layers`` layers cross-attends to the fused *data* part (no
       self-attention among the queries) and applies a feed-forward block; a linear head
       gives the raw ``u`` (``max_dim`` values).
    5. **Symbol decoder.** Its own token embedding plus positions, LayerNorm, causal
       self-attention, cross-attention to the fused *symbol* part, feed-forward
       (``n_symbol_decoder_layers`` layers); the output projection is the transposed token
       embedding (tied) plus a bias.

    The layers are torch's ``nn.Transformer{Encoder,Decoder}Layer`` (``norm_first=False``),
    so with ``dropout > 0`` the dropout sites are torch's (also after the feed-forward
    activation; none after the embedding LayerNorm); the paper trains without dropout.

    ``variant="opkit"`` -- opkit's earlier design, kept for comparison: pre-LN stacks
    (``norm_first=True``) with a final LayerNorm each; the data encoder reads ``(t_i, z_i,
    asinh u_i)`` with ``z_i = (u_i - \mu) / \sigma`` standardised per sample and component
    over the input window; the queries are an MLP of ``t``; the decoder predicts
    ``\hat u(t) = u_{N-1} + \sigma\, \hat z(t)`` (anchored at the last observed state, so
    an untrained decoder starts at the trivial forecast); token embeddings scaled by
    ``sqrt(width)``, one embedding shared by the symbol encoder, decoder and output. The
    symbol input may carry ``<BOS>``/``<EOS>`` (then ``[<BOS>, <EOS>]`` is "no symbols").

    The default ``variant`` is ``"authors"``, at every size: ``benchmarks/prose.py``
    compares the two designs at equal optimiser steps with the authors' loss, noise and
    corruption, and at the longest budget it runs the authors' network is the more accurate
    of the two and the one whose guess helps (its numbers are on the docs' PROSE page).
    It reads a guess for every trajectory (never an empty one); ``variant="opkit"`` also
    reads the empty guess ``<BOS> <EOS>`` (no symbols). ``PROSE.paper()`` is the authors'
    variant at the paper's size.

    ``operator_only=True`` builds the authors' ablation (their ``no_text``): data encoder
    and data decoder only -- no symbol encoder, no fusion stack, no symbol decoder -- in
    either variant; ``forward`` returns ``None`` for the logits and ignores ``symbols``.

    **Shapes** (``B`` batch, ``N`` observed times, ``Q`` output times, ``S`` symbol-input
    length, ``L`` target length, ``D = max_dim``, ``V = vocab_size``):

    - ``t_in (B, N)``, ``u_in (B, N, D)`` (zero-padded components), ``symbols (B, S)``
      token ids (``<PAD>`` = ``pad_id`` where the sequence is over), ``t_out (B, Q)`` or
      ``(Q,)``, ``target_in (B, L)`` the target ids shifted right (starting with
      ``<BOS>``), optional ``dim (B,)`` (components beyond it are returned as zeros);
    - ``forward`` returns ``u_pred (B, Q, D)`` and ``logits (B, L, V)``.

    Args:
        vocab_size: number of tokens (default: ``len(opkit.symbolic.VOCAB)``).
        pad_id, bos_id, eos_id: ids of ``<PAD>``, ``<BOS>``, ``<EOS>`` (default: from
            ``opkit.symbolic``).
        max_dim: components per state (the largest system's dimension, default 5).
        width, n_heads, ff_width: model width, attention heads, feed-forward width
            (default 128, 4, 512; the paper: 512, 8, 2048).
        n_data_encoder_layers: depth of the data encoder (default 1; the paper: 2).
        n_symbol_encoder_layers: depth of the symbol encoder (default 1; the paper: 4).
        n_fusion_layers: depth of the fusion encoder (default 2; the paper: 8).
        n_data_decoder_layers: depth of the data decoder (default 2; the paper: 8).
        n_symbol_decoder_layers: depth of the symbol decoder (default 2; the paper: 8).
        dropout: dropout probability (default 0, as the paper).
        operator_only: the authors' ablation without symbols (default False).
        variant: ``"authors"`` (default) or ``"opkit"``, see above.

    Raises:
        ValueError: a size that is not a positive integer, ``width`` not divisible by
            ``n_heads``, an unknown ``variant``, token ids outside ``[0, vocab_size)``, or
            (authors' variant) a symbol input that is all ``<PAD>``.

    References:
        Y. Liu, Z. Zhang, H. Schaeffer. PROSE: Predicting Multiple Operators and Symbolic
        Expressions using Multimodal Transformers. *Neural Networks* 180, 106707 (2024).
        arXiv:2309.16816. Code: github.com/felix-lyx/prose, folder ``prose_ode``.

    Examples:
        >>> net = PROSE(vocab_size=40, pad_id=0, bos_id=1, eos_id=2)
        >>> t_in, u_in = torch.linspace(0, 2, 64).expand(3, 64), torch.randn(3, 64, 5)
        >>> symbols = torch.randint(3, 40, (3, 20))
        >>> target_in = torch.randint(3, 40, (3, 30))
        >>> u, logits = net(t_in, u_in, symbols, torch.linspace(2, 6, 128), target_in)
        >>> tuple(u.shape), tuple(logits.shape)
        ((3, 128, 5), (3, 30, 40))
        >>> net.generate(t_in, u_in, symbols, max_len=8).shape[0]
        3
        >>> authors = PROSE(vocab_size=40, pad_id=0, bos_id=1, eos_id=2, variant="authors")
        >>> tuple(authors(t_in, u_in, symbols, torch.linspace(2, 6, 128))[0].shape)
        (3, 128, 5)
    """

    def __init__(
        self,
        *,
        vocab_size: int | None = None,
        pad_id: int | None = None,
        bos_id: int | None = None,
        eos_id: int | None = None,
        max_dim: int = 5,
        width: int = _SMALL["width"],
        n_heads: int = _SMALL["n_heads"],
        ff_width: int = _SMALL["ff_width"],
        n_data_encoder_layers: int = _SMALL["n_data_encoder_layers"],
        n_symbol_encoder_layers: int = _SMALL["n_symbol_encoder_layers"],
        n_fusion_layers: int = _SMALL["n_fusion_layers"],
        n_data_decoder_layers: int = _SMALL["n_data_decoder_layers"],
        n_symbol_decoder_layers: int = _SMALL["n_symbol_decoder_layers"],
        dropout: float = 0.0,
        operator_only: bool = False,
        variant: str = "authors",
    ):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"`variant` must be one of {VARIANTS}, got {variant!r}.")
        if None in (vocab_size, pad_id, bos_id, eos_id):
            from .. import symbolic

            vocab_size = len(symbolic.VOCAB) if vocab_size is None else vocab_size
            pad_id = symbolic.PAD_ID if pad_id is None else pad_id
            bos_id = symbolic.BOS_ID if bos_id is None else bos_id
            eos_id = symbolic.EOS_ID if eos_id is None else eos_id
        vocab_size = _int("vocab_size", vocab_size, 2)
        for name, value in (("pad_id", pad_id), ("bos_id", bos_id), ("eos_id", eos_id)):
            _int(name, value, 0)
            if value >= vocab_size:
                raise ValueError(f"`{name}` (={value}) must be < vocab_size (={vocab_size}).")
        width = _int("width", width, 2)
        n_heads = _int("n_heads", n_heads, 1)
        if width % n_heads or width % 2:
            raise ValueError(
                f"`width` (={width}) must be even and divisible by `n_heads` (={n_heads})."
            )
        depths = {
            "n_data_encoder_layers": _int("n_data_encoder_layers", n_data_encoder_layers, 0),
            "n_symbol_encoder_layers": _int("n_symbol_encoder_layers", n_symbol_encoder_layers, 0),
            "n_fusion_layers": _int("n_fusion_layers", n_fusion_layers, 0),
            "n_data_decoder_layers": _int("n_data_decoder_layers", n_data_decoder_layers, 1),
            "n_symbol_decoder_layers": _int("n_symbol_decoder_layers", n_symbol_decoder_layers, 1),
        }
        if not isinstance(dropout, Real) or not 0 <= dropout < 1:
            raise ValueError(f"`dropout` must be a float in [0, 1), got {dropout!r}.")
        #: The constructor arguments as plain data: ``{"class_path": "opkit.models.PROSE",
        #: "init_args": net.init_args}`` rebuilds the network.
        self.init_args = dict(
            vocab_size=vocab_size,
            pad_id=int(pad_id),
            bos_id=int(bos_id),
            eos_id=int(eos_id),
            max_dim=_int("max_dim", max_dim, 1),
            width=width,
            n_heads=n_heads,
            ff_width=_int("ff_width", ff_width, 1),
            **depths,
            dropout=float(dropout),
            operator_only=bool(operator_only),
            variant=variant,
        )
        self.vocab_size, self.pad_id, self.bos_id, self.eos_id = (
            vocab_size,
            int(pad_id),
            int(bos_id),
            int(eos_id),
        )
        self.max_dim, self.width = int(max_dim), width
        self.operator_only = bool(operator_only)
        self.variant = variant
        ff_width = self.init_args["ff_width"]
        if variant == "authors":
            self._build_authors(n_heads, ff_width, float(dropout), depths)
        else:
            self._build_opkit(n_heads, ff_width, float(dropout), depths)

    def _build_authors(self, n_heads: int, ff_width: int, dropout: float, depths: dict) -> None:
        w, d = self.width, self.max_dim

        def stack(n: int) -> nn.TransformerEncoder:
            return _post_norm_encoder(w, n_heads, ff_width, dropout, n)

        # 1. data encoder (their embedder + DataTransformerModel)
        self.data_embed = nn.Sequential(nn.Linear(1 + d, w), nn.GELU(), nn.Linear(w, w))
        self.data_embed_norm = nn.LayerNorm(w, eps=_EPS)
        self.data_encoder = stack(depths["n_data_encoder_layers"])
        # 4. data decoder (DataOperatorModel)
        self.query_embed = nn.Linear(1, w)
        self.query_norm = nn.LayerNorm(w, eps=_EPS)
        self.data_decoder = nn.ModuleList(
            _PostNormQueryLayer(w, n_heads, ff_width, dropout)
            for _ in range(depths["n_data_decoder_layers"])
        )
        self.data_head = nn.Linear(w, d)
        if self.operator_only:
            return
        # 2. symbol encoder (TextTransformerModel, encoder)
        self.symbol_embed = _embedding(self.vocab_size, w, self.pad_id)
        self.symbol_embed_norm = nn.LayerNorm(w, eps=_EPS)
        self.symbol_encoder = stack(depths["n_symbol_encoder_layers"])
        # 3. fusion (FusionTransformerModel)
        self.modality = _embedding(2, w)
        self.fusion_norm = nn.LayerNorm(w, eps=_EPS)
        self.fusion = stack(depths["n_fusion_layers"])
        # 5. symbol decoder (TextTransformerModel, decoder; output tied to its embedding)
        self.target_embed = _embedding(self.vocab_size, w, self.pad_id)
        self.target_embed_norm = nn.LayerNorm(w, eps=_EPS)
        layer = nn.TransformerDecoderLayer(
            w, n_heads, ff_width, dropout, activation="gelu", batch_first=True,
            norm_first=False, layer_norm_eps=_EPS,
        )  # fmt: skip
        self.symbol_decoder = nn.TransformerDecoder(layer, depths["n_symbol_decoder_layers"])
        self.symbol_head = nn.Linear(w, self.vocab_size)
        self.symbol_head.weight = self.target_embed.weight

    def _build_opkit(self, n_heads: int, ff_width: int, dropout: float, depths: dict) -> None:
        width = self.width

        def encoder(n: int) -> nn.TransformerEncoder:
            layer = nn.TransformerEncoderLayer(
                width, n_heads, ff_width, dropout, activation="gelu", batch_first=True,
                norm_first=True,
            )  # fmt: skip
            return nn.TransformerEncoder(
                layer, n, norm=nn.LayerNorm(width), enable_nested_tensor=False
            )

        # 1. data encoder: (t, z, asinh u) -> width
        self.data_embed = nn.Sequential(
            nn.Linear(1 + 2 * self.max_dim, width), nn.GELU(), nn.Linear(width, width)
        )
        self.data_encoder = encoder(depths["n_data_encoder_layers"])
        # 4. data decoder
        self.query_embed = nn.Sequential(nn.Linear(1, width), nn.GELU(), nn.Linear(width, width))
        self.data_decoder = nn.ModuleList(
            CrossAttentionLayer(width, n_heads, ff_width, dropout=dropout)
            for _ in range(depths["n_data_decoder_layers"])
        )
        self.data_norm = nn.LayerNorm(width)
        self.data_head = nn.Linear(width, self.max_dim)
        if self.operator_only:
            return
        # 3. fusion
        self.fusion = encoder(depths["n_fusion_layers"])
        self.modality = nn.Embedding(2, width)
        # 2. symbol encoder and 5. symbol decoder (tied embedding)
        self.token_embed = nn.Embedding(self.vocab_size, width)
        nn.init.normal_(self.token_embed.weight, std=width**-0.5)
        self.symbol_encoder = encoder(depths["n_symbol_encoder_layers"])
        dec = nn.TransformerDecoderLayer(
            width, n_heads, ff_width, dropout, activation="gelu", batch_first=True,
            norm_first=True,
        )  # fmt: skip
        self.symbol_decoder = nn.TransformerDecoder(
            dec, depths["n_symbol_decoder_layers"], norm=nn.LayerNorm(width)
        )

    @classmethod
    def paper(cls, **overrides) -> PROSE:
        """The authors' network at the paper's size: ``variant="authors"``, width 512, 8
        heads, feed-forward 2048, no dropout, layers data-encoder 2 / symbol-encoder 4 /
        fusion 8 / data-decoder 8 / symbol-decoder 8 (``prose_ode/parsers.py``; about
        104 M parameters with opkit's vocabulary). ``overrides`` replace any constructor
        argument (e.g. ``operator_only=True`` for the authors' ablation at the same size)."""
        return cls(**{**_PAPER, "variant": "authors", **overrides})

    @property
    def symbol_markers(self) -> bool:
        """Whether the symbol input is written ``<BOS> tokens <EOS>`` (opkit's variant) or
        bare, as the authors' text encoder reads it (``variant="authors"``). Batching code
        asks the model rather than its variant."""
        return self.variant != "authors"

    # -- parts ---------------------------------------------------------------------------
    def _check_ids(self, ids: torch.Tensor) -> None:
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.vocab_size):
            raise ValueError(
                f"token ids must lie in [0, {self.vocab_size}), got values in "
                f"[{int(ids.min())}, {int(ids.max())}]."
            )

    def _embed_tokens(self, ids: torch.Tensor, *, target: bool = False) -> torch.Tensor:
        self._check_ids(ids)
        if self.variant == "authors":
            embed, norm = (
                (self.target_embed, self.target_embed_norm)
                if target
                else (self.symbol_embed, self.symbol_embed_norm)
            )
            h = embed(ids)
            return norm(h + _positions(ids.shape[1], self.width, h))
        h = self.token_embed(ids) * math.sqrt(self.width)
        return h + sinusoidal_positions(ids.shape[1], self.width, device=h.device, dtype=h.dtype)

    def _standardise(self, u_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = u_in.mean(dim=1, keepdim=True)
        std = u_in.std(dim=1, keepdim=True, correction=0).clamp_min(1e-4)
        return mean, std

    def _encode_data(self, t_in: torch.Tensor, u_in: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.variant == "authors":
            h = self.data_embed(torch.cat([t_in[..., None].to(u_in.dtype), u_in], dim=-1))
            return {"data": self.data_encoder(self.data_embed_norm(h))}
        mean, std = self._standardise(u_in)
        feats = torch.cat([t_in[..., None], (u_in - mean) / std, torch.asinh(u_in)], dim=-1)
        return {"data": self.data_encoder(self.data_embed(feats)), "anchor": u_in[:, -1:],
                "std": std}  # fmt: skip

    def encode(
        self,
        t_in: torch.Tensor,
        u_in: torch.Tensor,
        symbols: torch.Tensor | None = None,
        *,
        symbol_pad_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor | None]:
        """Data encoder, symbol encoder and fusion: ``{"data": (B, N, width), "symbols":
        (B, S, width) or None, "symbol_mask": (B, S) or None}`` (opkit's variant adds
        ``"anchor"``, the last observed state, and ``"std"`` ``(B, 1, D)``)."""
        if u_in.ndim != 3 or u_in.shape[-1] != self.max_dim:
            raise ValueError(
                f"`u_in` must have shape (batch, n_times, {self.max_dim}) (components "
                f"zero-padded to max_dim), got {tuple(u_in.shape)}."
            )
        if t_in.shape != u_in.shape[:2]:
            t_in = t_in.expand(u_in.shape[:2]) if t_in.ndim == 1 else t_in
        if t_in.shape != u_in.shape[:2]:
            raise ValueError(
                f"`t_in` must have shape (batch, n_times) = {tuple(u_in.shape[:2])} or "
                f"(n_times,), got {tuple(t_in.shape)}."
            )
        if symbols is None and not self.operator_only:
            raise ValueError(
                "`symbols` is required (this PROSE was built with operator_only=False); "
                "pass the empty expression [<BOS>, <EOS>] to give it no symbols."
            )
        if symbols is not None and not self.operator_only:
            if symbols.ndim != 2 or symbols.shape[0] != u_in.shape[0]:
                raise ValueError(
                    f"`symbols` must be token ids of shape (batch={u_in.shape[0]}, length), "
                    f"got {tuple(symbols.shape)}."
                )
            mask = symbols.eq(self.pad_id) if symbol_pad_mask is None else symbol_pad_mask.bool()
            if self.variant == "authors" and bool(mask.all(1).any()):
                raise ValueError(
                    "`symbols` has a row that is all <PAD>: the authors' PROSE reads at least "
                    "one token per guess (use operator_only=True for no symbols)."
                )
        memory: dict[str, torch.Tensor | None] = {"symbols": None, "symbol_mask": None}
        memory.update(self._encode_data(t_in, u_in))
        if self.operator_only:
            return memory
        data = memory["data"]
        n = data.shape[1]
        sym = self.symbol_encoder(self._embed_tokens(symbols), src_key_padding_mask=mask)
        both = torch.cat([data + self.modality.weight[0], sym + self.modality.weight[1]], dim=1)
        pad = torch.cat([mask.new_zeros(mask.shape[0], n), mask], dim=1)
        if self.variant == "authors":
            both = self.fusion_norm(both)
        fused = self.fusion(both, src_key_padding_mask=pad)
        memory.update(data=fused[:, :n], symbols=fused[:, n:], symbol_mask=mask)
        return memory

    def decode_data(
        self, memory: dict, t_out: torch.Tensor, *, dim: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Trajectory at the times ``t_out`` ``(B, Q)`` or ``(Q,)`` -> ``(B, Q, D)``."""
        fused = memory["data"]
        b = fused.shape[0]
        if t_out.ndim == 1:
            t_out = t_out.expand(b, -1)
        if t_out.ndim != 2 or t_out.shape[0] != b:
            raise ValueError(
                f"`t_out` must have shape (batch={b}, n_out) or (n_out,), got {tuple(t_out.shape)}."
            )
        h = self.query_embed(t_out[..., None].to(fused.dtype))
        if self.variant == "authors":
            h = self.query_norm(h)
            for layer in self.data_decoder:
                h = layer(h, fused)
            u = self.data_head(h)
        else:
            for layer in self.data_decoder:
                h = layer(h, fused)
            z = self.data_head(self.data_norm(h))
            u = memory["anchor"] + memory["std"] * z
        if dim is not None:
            keep = torch.arange(self.max_dim, device=u.device) < dim.to(u.device)[:, None]
            u = u * keep[:, None, :]
        return u

    def decode_symbols(
        self, memory: dict, target_in: torch.Tensor, *, last_only: bool = False
    ) -> torch.Tensor:
        """Causal symbol decoder: shifted target ids ``(B, L)`` -> logits ``(B, L, V)``
        (``(B, V)`` of the last position with ``last_only``).

        Position ``k`` sees the target tokens ``0..k`` and the fused symbol part only.
        """
        if memory["symbols"] is None:
            raise ValueError("this PROSE has no symbol decoder (operator_only=True).")
        length = target_in.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=target_in.device).triu(1)
        h = self.symbol_decoder(
            self._embed_tokens(target_in, target=True),
            memory["symbols"],
            tgt_mask=causal,
            memory_key_padding_mask=memory["symbol_mask"],
        )
        if last_only:
            h = h[:, -1]
        if self.variant == "authors":
            return self.symbol_head(h)
        return h @ self.token_embed.weight.T

    # -- calls ---------------------------------------------------------------------------
    def forward(
        self,
        t_in: torch.Tensor,
        u_in: torch.Tensor,
        symbols: torch.Tensor | None,
        t_out: torch.Tensor,
        target_in: torch.Tensor | None = None,
        *,
        symbol_pad_mask: torch.Tensor | None = None,
        dim: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(u_pred (B, Q, D), logits (B, L, V) or None)``; see the class docstring.

        ``logits`` is None when ``target_in`` is None or the model is operator-only.
        """
        memory = self.encode(t_in, u_in, symbols, symbol_pad_mask=symbol_pad_mask)
        u = self.decode_data(memory, t_out, dim=dim)
        logits = None
        if target_in is not None and not self.operator_only:
            logits = self.decode_symbols(memory, target_in)
        return u, logits

    @torch.no_grad()
    def generate(
        self,
        t_in: torch.Tensor,
        u_in: torch.Tensor,
        symbols: torch.Tensor,
        *,
        max_len: int = 200,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
        symbol_pad_mask: torch.Tensor | None = None,
        constrained: bool = False,
        dim: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decode the equations token by token.

        Greedy (``temperature=0``, default) or sampled from ``softmax(logits /
        temperature)`` with ``generator``. A plain loop that re-runs the decoder over the
        prefix at every step (no key/value cache).

        ``constrained=True`` masks, at every step, the tokens after which the sequence could
        no longer become a valid prefix system of ``dim`` components over ``u_0 ..
        u_{dim-1}`` within ``max_len`` tokens (`opkit.symbolic.PrefixGrammar`): every row
        then parses. It needs the model to speak `opkit.symbolic.VOCAB`. The mask fixes
        the syntax only; the operators, variables and constants are still the model's.

        Returns:
            ``(B, n)`` token ids after ``<BOS>``, ``n <= max_len``; each row ends with
            ``<EOS>`` unless it hit ``max_len`` (never when constrained), and is padded
            with ``<PAD>`` after it.

        Raises:
            ValueError: operator-only model, ``max_len < 1``, a negative temperature, or
                ``constrained`` without ``dim`` or with a vocabulary other than opkit's.
        """
        if self.operator_only:
            raise ValueError("an operator-only PROSE (operator_only=True) writes no equations.")
        max_len = _int("max_len", max_len, 1)
        if not isinstance(temperature, Real) or temperature < 0:
            raise ValueError(f"`temperature` must be >= 0, got {temperature!r}.")
        grammar = self._grammar(dim, max_len) if constrained else None
        memory = self.encode(t_in, u_in, symbols, symbol_pad_mask=symbol_pad_mask)
        b = u_in.shape[0]
        seq = torch.full((b, 1), self.bos_id, dtype=torch.long, device=u_in.device)
        done = torch.zeros(b, dtype=torch.bool, device=u_in.device)
        for _ in range(max_len):
            logits = self.decode_symbols(memory, seq, last_only=True).float()
            if grammar is not None:
                logits = logits.masked_fill(~grammar.allowed(), -math.inf)
            if temperature == 0:
                nxt = logits.argmax(-1)
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
            nxt = torch.where(done, torch.full_like(nxt, self.pad_id), nxt)
            if grammar is not None:
                grammar.update(nxt)
            seq = torch.cat([seq, nxt[:, None]], dim=1)
            done |= nxt.eq(self.eos_id)
            if bool(done.all()):
                break
        return seq[:, 1:]

    def _grammar(self, dim: torch.Tensor | None, max_len: int):
        from .. import symbolic

        ids = (self.vocab_size, self.pad_id, self.bos_id, self.eos_id)
        if ids != (len(symbolic.VOCAB), symbolic.PAD_ID, symbolic.BOS_ID, symbolic.EOS_ID):
            raise ValueError(
                "`constrained` decoding needs the vocabulary of opkit.symbolic (vocab_size="
                f"{len(symbolic.VOCAB)}, pad/bos/eos ids {symbolic.PAD_ID}/{symbolic.BOS_ID}/"
                f"{symbolic.EOS_ID}); this PROSE has {ids}."
            )
        if dim is None:
            raise ValueError("`constrained` decoding needs `dim` (B,), the systems' dimensions.")
        return symbolic.PrefixGrammar(torch.as_tensor(dim), max_len=max_len)
