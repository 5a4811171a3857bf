"""The error raised for malformed token sequences."""

from __future__ import annotations

__all__ = ["TokenError"]

_MAX_SHOWN = 60


def _show(token: object) -> str:
    text = repr(token)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


class TokenError(ValueError):
    """A token sequence that does not spell an expression (a ``ValueError``).

    Attributes:
        position: index of the offending token in the sequence as given (``<BOS>``
            included), or the sequence's length when it ended too early.
        token: the offending token, or ``None`` at the end of the sequence.
    """

    def __init__(self, message: str, position: int | None = None, token: object = None):
        self.position = position
        self.token = token
        self.reason = message
        if position is None:
            where = ""
        elif token is None:
            where = f"at position {position} (end of sequence): "
        else:
            where = f"at position {position} (token {_show(token)}): "
        super().__init__(where + message)
