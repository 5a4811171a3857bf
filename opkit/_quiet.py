"""Quiet runs: drop the lines of Lightning that a user of opkit cannot act on.

Used by opkit's entry points (the ``opkit`` console script and ``opkit.fit``) for the
duration of one call; importing opkit changes no warning filter or logging handler.
What is dropped, and why it cannot be fixed at the source:

- Lightning's advertisements (``💡 Tip: ... litlogger`` / ``litmodels``), logged at INFO
  whenever a run does not use Lightning's cloud logger; no ``Trainer`` argument turns
  them off.
- ``isinstance(treespec, LeafSpec) is deprecated``: torch >= 2.9 deprecates a class that
  Lightning's own ``_pytree`` helper still calls (nothing of opkit's).
- ``LightningCLI's args parameter is intended ...``: opkit's CLI reads ``sys.argv`` itself
  and hands LightningCLI the full argument list (plus the sizes read from the data).
- ``The number of training batches (N) is smaller than the logging interval ...``: opkit
  logs its metrics per epoch; Lightning's per-step logging interval does not matter here.
- ``Your `IterableDataset` has `__len__` defined ...``: about loading with several worker
  processes; the PINN's collocation stream (`CollocationDataModule`) is always loaded in
  the main process, and its length is the epoch length Lightning needs.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

__all__ = ["quiet_lightning"]

_TIP = "💡 Tip:"
# (message regex, category): exact messages only, never a whole category.
_WARNINGS = (
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning),
    (r"LightningCLI's args parameter is intended to run from within Python", UserWarning),
    (r"The number of training batches \(\d+\) is smaller than the logging interval", UserWarning),
    (r"Your `IterableDataset` has `__len__` defined", UserWarning),
)
# Lightning's `rank_zero_info` logs on its `rank_zero` module loggers (filters set there
# work even before Lightning is imported: `logging.getLogger` returns the same object).
_PACKAGES = ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")
_LOGGERS = tuple(f"{p}{m}" for p in _PACKAGES for m in ("", ".utilities.rank_zero"))


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_TIP)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Within the block, Lightning's tips and the warnings listed above are not shown.

    Filters are added to Lightning's loggers and to the handlers that print their records
    (Lightning's own ``StreamHandler``, or the root logger's when Lightning propagates to
    it), and removed on exit; warnings are filtered inside ``warnings.catch_warnings``.
    """
    tips = _DropTips()
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    handlers = {h for lg in [*loggers, logging.getLogger()] for h in lg.handlers}
    for obj in [*loggers, *handlers]:
        obj.addFilter(tips)
    try:
        with warnings.catch_warnings():
            for message, category in _WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category)
            yield
    finally:
        for obj in [*loggers, *handlers]:
            obj.removeFilter(tips)
