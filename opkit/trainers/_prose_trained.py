"""`TrainedProse`: what `opkit.fit(PROSE, ...)` returns; predicts trajectories and decodes
equations."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .. import symbolic
from ._prose_data import _ids, _pad, model_symbols
from ._task import AbstractTrained

__all__ = ["TrainedProse", "ProsePrediction", "decode_rows"]


@dataclasses.dataclass
class ProsePrediction:
    """What `TrainedProse.predict` returns.

    Attributes:
        u: predicted trajectories ``(B, Q, d)`` at the output times.
        tokens: decoded token sequences (list of B lists of str), empty for an
            operator-only model.
        equations: the decoded systems as lists of sympy expressions, ``None`` where the
            tokens do not decode.
    """

    u: torch.Tensor
    tokens: list[list[str]]
    equations: list[list | None]


class TrainedProse(AbstractTrained):
    """A trained PROSE with its metrics; what `opkit.fit(PROSE, ...)` returns.

    Attributes:
        module: the `ProseModule`. model: the bare ``PROSE``. metrics: final metrics
        (``test/rel_l2``, ``val/rel_l2``, ...). data: the training data's identity.
    """

    task = "prose"

    @torch.no_grad()
    def predict(
        self,
        u_in: torch.Tensor,
        symbols=None,
        *,
        t_in: torch.Tensor | None = None,
        t_out: torch.Tensor | None = None,
        max_len: int = 150,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
        constrained: bool = False,
    ) -> ProsePrediction:
        """Predict the trajectory and decode the equations.

        Args:
            u_in: observed states ``(B, 64, d)`` (or ``(64, d)``), ``d <= 5``.
            symbols: the guesses, one per sample: sympy systems (encoded as in training,
                `opkit.symbolic.encode_guess`: constants as placeholders, and integers too
                unless the model was trained with ``hide_integers=False``), token lists
                (read as given), or ``None`` (no guess: the empty expression; a network
                that reads bare guesses, the authors' variant, needs one).
            t_in, t_out: observed and output times (default: the ODE data's grid,
                ``linspace(0, 6, 192)`` split 64 / 128).
            max_len, temperature, generator: decoding (greedy by default).
            constrained: decode only valid prefix systems of ``d`` components (see
                `opkit.models.PROSE.generate`).

        Returns:
            `ProsePrediction` with ``u (B, Q, d)``, ``tokens`` and ``equations``.
        """
        u_in = torch.as_tensor(u_in, dtype=torch.float32)
        if u_in.ndim == 2:
            u_in = u_in[None]
        if u_in.ndim != 3:
            raise ValueError(f"`u_in` must be (B, n, d) or (n, d), got shape {tuple(u_in.shape)}.")
        if not bool(torch.isfinite(u_in).all()):
            raise ValueError("`u_in` holds NaN/Inf values; PROSE predicts from finite states.")
        b, n, d = u_in.shape
        net = self.model
        if d > net.max_dim:
            raise ValueError(f"`u_in` has {d} components; the model takes at most {net.max_dim}.")
        grid = torch.linspace(0, 6, 192)
        t_in = grid[:n] if t_in is None else torch.as_tensor(t_in, dtype=torch.float32)
        t_out = grid[n:] if t_out is None else torch.as_tensor(t_out, dtype=torch.float32)
        if symbols is None or (len(symbols) and not isinstance(symbols[0], (list, tuple))):
            symbols = [symbols] * b
        if len(symbols) != b:
            raise ValueError(f"`symbols` has {len(symbols)} entries for {b} trajectories.")
        if not net.symbol_markers and not net.operator_only and any(s is None for s in symbols):
            raise ValueError(
                "this PROSE (variant='authors') reads a guess for every trajectory: pass a "
                "sympy system or a token list per trajectory as `symbols` (a network trained "
                "with variant='opkit' also reads no guess)."
            )
        hide = (self.data or {}).get("hide_integers", True)
        rows = []
        for s in symbols:
            if s is None:
                rows.append([])
            elif all(isinstance(x, str) for x in s):
                rows.append(_ids(s))
            else:
                rows.append(_ids(symbolic.encode_guess(list(s), hide_integers=hide)))
        p = next(net.parameters())
        batch = {
            "t_in": t_in.expand(b, -1).to(p.device),
            "u_in": nn.functional.pad(u_in, (0, net.max_dim - d)).to(p.device),
            "t_out": t_out.expand(b, -1).to(p.device),
            "dim": torch.full((b,), d, device=p.device),
            "symbols": _pad(rows).to(p.device),
        }
        self.module.eval()
        sym = None if net.operator_only else model_symbols(net, batch["symbols"])
        u = net(batch["t_in"], batch["u_in"], sym, batch["t_out"], dim=batch["dim"])[0]
        tokens, equations = [], []
        if not net.operator_only:
            ids = net.generate(
                batch["t_in"], batch["u_in"], sym, max_len=max_len, temperature=temperature,
                generator=generator, constrained=constrained, dim=batch["dim"],
            )  # fmt: skip
            tokens, equations = decode_rows(ids)
        return ProsePrediction(u=u[..., :d].cpu(), tokens=tokens, equations=equations)


def decode_rows(ids: torch.Tensor) -> tuple[list[list[str]], list[list | None]]:
    tokens, equations = [], []
    for row in ids.tolist():
        if symbolic.EOS_ID in row:
            row = row[: row.index(symbolic.EOS_ID)]
        toks = symbolic.from_ids([i for i in row if i != symbolic.PAD_ID])
        tokens.append(toks)
        try:
            equations.append(symbolic.decode(toks))
        except (symbolic.TokenError, ValueError):
            equations.append(None)
    return tokens, equations
