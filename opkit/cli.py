"""The ``opkit`` console script.

Sub-commands are implemented next to the layer they belong to and imported lazily, so
``opkit generate`` does not pay for importing Lightning::

    opkit generate burgers --n-samples 1000 --out data/burgers.h5 [--seed S] [--shard k/N]
    opkit data merge OUT SHARD...          # join shards; `opkit data info FILE`
    opkit fit|validate|test|predict --config configs/<task>.yaml   # LightningCLI
    opkit evaluate CKPT --data FILE
    opkit benchmark --suite burgers|ks|ns --models deeponet,fno
    opkit demo                             # the README's main job
    opkit report reports/*.json --out reports/summary   # table + accuracy/speed plot
"""

from __future__ import annotations

import importlib
import sys

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
    "demo": ("opkit.trainers._cli", "demo_main", "small end-to-end demo on CPU"),
    "report": ("opkit.trainers._report", "report_main", "collect benchmark runs: table + plot"),
}
_PASS_COMMAND = {"fit", "validate", "test", "predict"}


def _usage() -> str:
    lines = ["usage: opkit COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<10} {doc}" for name, (_, _, doc) in _COMMANDS.items()]
    lines += ["", "`opkit COMMAND --help` describes a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
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
