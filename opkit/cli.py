"""The ``opkit`` console script.

Sub-commands are implemented next to the layer they belong to and imported lazily, so
``opkit generate`` does not pay for importing Lightning::

    opkit generate burgers --n-samples 1000 --out data/burgers.h5 [--seed S] [--shard k/N]
    opkit data merge OUT SHARD...          # join shards; `opkit data info FILE`
    opkit fit|validate|test|predict --config configs/<task>.yaml   # LightningCLI
    opkit evaluate CKPT [--data FILE]      # default: the data the model was trained on
    opkit benchmark --suite burgers|ks|ns --models deeponet,fno
    opkit compress CKPT --k K --m M --out OUT  # POD-DEIM reduction of a NeuralODE
    opkit demo                             # the README's main job
    opkit report reports/*.json --out reports/summary   # table + accuracy/speed plot
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import re
import signal
import sys
import threading

# command -> (module, function, one-line help). Each function takes the remaining argv
# (for the LightningCLI commands: the command itself first) and returns an exit code.
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "generate": ("opkit.pde_data._cli", "generate_main", "generate a dataset file (HDF5)"),
    "data": ("opkit.pde_data._cli", "data_main", "dataset utilities: merge shards, info"),
    "fit": ("opkit.trainers._cli", "lightning_main", "train from a YAML config (LightningCLI)"),
    "validate": ("opkit.trainers._cli", "lightning_main", "validate a config/checkpoint"),
    "test": ("opkit.trainers._cli", "lightning_main", "test a config/checkpoint"),
    "predict": ("opkit.trainers._cli", "lightning_main", "predict with a config/checkpoint"),
    "evaluate": ("opkit.trainers._cli", "evaluate_main", "score a checkpoint on a dataset"),
    "benchmark": ("opkit.trainers._cli", "benchmark_main", "run the shared evaluation suite"),
    "compress": ("opkit.trainers._compress", "compress_main", "POD-DEIM-reduce a NeuralODE"),
    "demo": ("opkit.trainers._demo", "demo_main", "small end-to-end demo on CPU"),
    "report": ("opkit.trainers._report", "report_main", "collect benchmark runs: table + plot"),
}
_PASS_COMMAND = {"fit", "validate", "test", "predict"}


def _usage() -> str:
    lines = ["usage: opkit COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {doc}" for name, (_, _, doc) in _COMMANDS.items()]
    lines += ["", "`opkit COMMAND --help` describes a command."]
    lines += ["Any failure ends in one line `opkit: error: ...`; add --debug (or set"]
    lines += ["OPKIT_DEBUG=1) for the traceback. Exit status: 2 bad input, 1 failed run."]
    return "\n".join(lines)


# Commands that write files without Lightning: SIGTERM (a scheduler's kill, `timeout`)
# becomes KeyboardInterrupt there, so that a half-created file is removed and a partial
# one is closed cleanly, resumable. Lightning installs its own SIGTERM handling in fit.
_SIGTERM_AS_INTERRUPT = {"generate", "data"}

# Exceptions that mean "the input is wrong" (exit 2); anything else is a failed run (1).
_BAD_INPUT = (ValueError, TypeError, KeyError, FileNotFoundError, IsADirectoryError)
_BAD_INPUT += (NotADirectoryError, PermissionError)


def _is_bad_input(err: BaseException) -> bool:
    names = {c.__name__ for c in type(err).__mro__}
    return isinstance(err, _BAD_INPUT) or "ArgumentError" in names


def _is_disk_full(err: BaseException) -> bool:
    """ENOSPC anywhere in the chain; HDF5 reports it only inside its message text
    (``RuntimeError: ... errno = 28, error message = 'No space left on device'``)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return True
        if "errno = 28" in str(seen) or "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _one_line(err: BaseException) -> str:
    """The message of ``err`` (or, for a bare wrapper, of its cause) on one line."""
    seen = err
    text = str(err).strip()
    while not text and (seen.__cause__ or seen.__context__) is not None:
        seen = seen.__cause__ or seen.__context__
        text = str(seen).strip()
    text = " ".join(text.split()) or type(err).__name__
    if isinstance(err, KeyError) and len(err.args) == 1:
        text = f"missing key {err.args[0]!r}"
    if _is_disk_full(err):
        # HDF5's own text is a page of C-level detail; what matters is which file
        written = re.search(r"filename = '([^']*)'", text)
        if written:
            text = f"no space left on device while writing {written.group(1)!r}"
        text += (
            " -- the disk is full: free some space and rerun the same command (finished "
            "files are intact; a generation resumes where it stopped)"
        )
    return text


@contextlib.contextmanager
def _sigterm_as_interrupt(active: bool):
    """Raise KeyboardInterrupt on SIGTERM inside the block (main thread only), then restore
    the previous handler."""
    if not active or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """The console script: run a sub-command; every failure ends in one line.

    ``--debug`` (anywhere) or ``OPKIT_DEBUG=1`` lets the exception propagate with its
    traceback instead.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get("OPKIT_DEBUG", "").strip().lower() not in ("", "0", "false", "no")
    if "--debug" in argv:
        argv = [a for a in argv if a != "--debug"]
        debug = True
    try:
        with _sigterm_as_interrupt(bool(argv) and argv[0] in _SIGTERM_AS_INTERRUPT):
            return _main(argv)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print(
            "opkit: error: interrupted; finished files are intact -- rerun the same command "
            "to resume (`opkit fit ... --ckpt_path .../last.ckpt` for training).",
            file=sys.stderr,
        )
        return 130
    except Exception as err:
        if debug:
            raise
        print(f"opkit: error: {_one_line(err)} (add --debug for the traceback)", file=sys.stderr)
        return 1 if _is_disk_full(err) else 2 if _is_bad_input(err) else 1


def _main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from . import __version__

        print(f"opkit {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in _COMMANDS:
        print(f"opkit: unknown command {command!r}.\n\n{_usage()}", file=sys.stderr)
        return 2
    module, function, _ = _COMMANDS[command]
    run = getattr(importlib.import_module(module), function)
    from ._quiet import quiet_lightning

    with quiet_lightning():  # Lightning's tips and its own deprecations: nothing to act on
        return int(run([command, *rest] if command in _PASS_COMMAND else rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
