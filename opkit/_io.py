"""Writing files safely: atomic replacement and one writer per output.

Every file opkit writes goes through these two helpers (``pde_data`` and ``trainers``
both import them; this module imports neither):

- :func:`atomic_write` writes to a temporary file in the destination's folder, flushes and
  fsyncs it, then ``os.replace``-s it over the destination (and fsyncs the folder). A
  crash, a full disk or an exception at any moment leaves either the old file or the new
  one, never a truncated mix.
- :func:`output_lock` takes an exclusive lock on ``OUT.lock`` (a file next to the output
  holding the holder's pid) for the whole run, so that two processes never write the same
  output. The lock is an OS advisory lock (``flock``): the kernel drops it when its holder
  dies, so a ``kill -9`` never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["OutputLockedError", "atomic_write", "lock_path", "output_lock", "save_torch"]

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows: locks fall back to exclusive creation
    fcntl = None  # type: ignore[assignment]


class OutputLockedError(RuntimeError):
    """Another process is writing the same output (its lock file is held)."""


def _fsync_dir(folder: Path) -> None:
    # Make the rename itself durable; not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "wb", *, fsync: bool = True, **open_kwargs: Any
) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success it atomically becomes ``path``.

    Args:
        path: the destination. Its folder must exist.
        mode: ``"wb"`` (default) or ``"w"`` (text; ``open_kwargs`` such as ``encoding`` go to
            ``open``).
        fsync: flush the data to the disk before the rename (default; only benchmarks turn
            it off to measure its cost).

    Yields:
        the open temporary file. If the ``with`` body raises, the temporary file is removed
        and ``path`` is untouched.

    Raises:
        OSError: the folder is missing, read-only or full (``path`` is then untouched).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"`mode` must be 'w' or 'wb', got {mode!r}.")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        with contextlib.suppress(OSError):
            # mkstemp creates 0600; give the file the permissions a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(path.parent)


def replace_durably(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """``os.replace(src, dst)`` after fsyncing ``src``, then fsync the folder."""
    fd = os.open(src, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(src, dst)
    _fsync_dir(Path(dst).parent)


def save_torch(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through :func:`atomic_write` (the old file survives a failure)."""
    import torch

    path = Path(path)
    with atomic_write(path, "wb") as f:
        torch.save(obj, f)
    return path


def lock_path(out: str | os.PathLike) -> Path:
    """``data/b.h5`` -> ``data/b.h5.lock``: the lock file of an output."""
    return Path(f"{out}.lock")


# Locks held by this process (path -> depth): taking a lock this process already holds is
# a no-op, so that a function holding it can call another that takes it too.
_held: dict[str, int] = {}
_held_guard = threading.Lock()


def _holder(lock: Path) -> str:
    try:
        text = lock.read_text().strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "pid unknown"


def _try_lock(lock: Path) -> int | None:
    """An fd holding the lock on ``lock``, or None if another process holds it."""
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:  # pragma: no cover
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        # The previous holder may have unlinked the file between our open and our flock:
        # then we locked an orphan inode; retry on the current file.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def output_lock(out: str | os.PathLike, *, wait: bool = False, poll: float = 0.2) -> Iterator[Path]:
    """Hold the exclusive lock of output ``out`` (the file ``OUT.lock``) for a ``with`` block.

    Args:
        out: the output file that will be written (its folder must exist).
        wait: if another process holds the lock, wait until it is released (``True``) or
            raise at once (``False``, default).
        poll: seconds between attempts while waiting.

    Yields:
        the lock file's path. It holds the holder's pid and is removed on release.

    Raises:
        OutputLockedError: another process holds the lock and ``wait`` is False; the
            message names its pid and the output.
        OSError: the lock file cannot be created (missing or read-only folder).
    """
    lock = lock_path(out)
    key = f"{os.getpid()}:{lock.resolve()}"  # a forked child does not hold its parent's locks
    with _held_guard:
        if key in _held:
            _held[key] += 1
            reentrant = True
        else:
            reentrant = False
    if reentrant:
        try:
            yield lock
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    while True:
        fd = _try_lock(lock)
        if fd is not None:
            break
        if not wait:
            raise OutputLockedError(
                f"another opkit process ({_holder(lock)}) is writing {str(out)!r} (lock file "
                f"{str(lock)!r}); wait for it to finish, or stop it. The lock is released "
                "when that process ends."
            )
        time.sleep(poll)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        with _held_guard:
            _held[key] = 1
        yield lock
    finally:
        with _held_guard:
            _held.pop(key, None)
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)
