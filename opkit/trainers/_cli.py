"""Sub-commands of ``opkit`` that belong to the training layer (see ``opkit/cli.py``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["lightning_main", "evaluate_main", "benchmark_main", "make_cli"]


def make_cli(args: list[str] | None, *, run: bool = True, logger: str = "csv"):
    """The LightningCLI of opkit (subclass mode for model and data); ``logger``: ``"csv"``
    or ``"tensorboard"`` (CSV plus TensorBoard) unless the config sets ``trainer.logger``.

    Sizes fixed by the data reach the model through jsonargparse links, so that a config
    never states them and LightningCLI parses it before any data is read:

    - on parse, the config of an `OperatorModule`'s network (a `NetworkFactory`: class
      and settings) becomes the module's ``model_record``;
    - on instantiation, the data module's ``spec`` (its `DataSpec`), ``in_frames`` and
      ``unroll`` become the module's; the module builds the network for ``spec`` and
      stores its complete record, so that `opkit.load` rebuilds Lightning's checkpoints.

    A link whose source or target a config's classes lack (PROSE, PINNs) is skipped.
    """
    import lightning as L
    from lightning.pytorch.cli import LightningCLI

    class OpkitCLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments(
                "model.init_args.model",
                "model.init_args.model_record",
                compute_fn=_record_of,
                apply_on="parse",
            )
            parser.link_arguments(
                "data.spec", "model.init_args.spec", compute_fn=_spec_dict, apply_on="instantiate"
            )
            parser.link_arguments(
                "data.spec.n_fields", "model.init_args.n_fields", apply_on="instantiate"
            )
            for name in ("in_frames", "unroll"):
                parser.link_arguments(
                    f"data.{name}", f"model.init_args.{name}", apply_on="instantiate"
                )

        def parse_arguments(self, parser, args) -> None:
            super().parse_arguments(parser, args)
            # LightningCLI reads the checkpoint's hyper-parameters right after parsing:
            # check the parsed value, wherever it came from (flag, config, environment).
            subcommand = self.config.get("subcommand")
            if subcommand:
                _check_ckpt_path(self.config[subcommand].get("ckpt_path"))

        def before_instantiate_classes(self) -> None:
            subcommand = self.config.get("subcommand")
            _check_data_kind(self.config[subcommand] if subcommand else self.config)

        def instantiate_trainer(self, **kwargs):
            from ._callbacks import atomic_checkpoints
            from ._console import instantiate_trainer

            trainer = instantiate_trainer(self, super().instantiate_trainer, logger, **kwargs)
            return atomic_checkpoints(trainer)  # last.ckpt survives a full disk

    no_exit = {"exit_on_error": False}
    return OpkitCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
        run=run,
        save_config_kwargs={"overwrite": True},
        seed_everything_default=0,
        # A bad config raises (opkit.cli prints one line) instead of printing the usage.
        parser_kwargs={"exit_on_error": False, **dict.fromkeys(_SUBCOMMANDS, no_exit)},
    )


_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def _check_data_kind(config: Any) -> None:
    """Refuse, before any class is built, a data file of the other kind: the ``odes``
    trajectories (PROSE) under an operator config, or a PDE file under a PROSE config."""
    data = config.get("data")
    init = data.get("init_args") if data is not None else None
    path = init.get("path") if init is not None else None
    if not isinstance(path, (str, Path)) or not Path(path).is_file():
        return  # a built-in name, or missing: the data module says so
    from ..pde_data import read_header

    try:
        is_odes = read_header(path).get("pde_name") == "odes"
    except (ValueError, OSError):
        return  # not an opkit file: the data module names the problem
    wants_odes = str(data.get("class_path", "")).endswith("ProseDataModule")
    if is_odes != wants_odes:
        held = "the ODE trajectories of `opkit generate odes` (PROSE)" if is_odes else "PDE fields"
        config_kind = "a PROSE" if wants_odes else "an operator"
        fix = (
            "configs/odes_prose.yaml trains PROSE on it"
            if is_odes
            else "a PDE config such as configs/burgers_fno.yaml trains on it"
        )
        raise ValueError(
            f"`data.init_args.path` {str(path)!r} holds {held}, but the config is "
            f"{config_kind} config ({data.get('class_path')}); {fix}."
        )


def _parse_error(err: Exception, command: str, argv: list[str]) -> ValueError:
    """jsonargparse's multi-line parse error as one readable line (for ``opkit: error:``)."""
    noise = ("Does not validate against any of the Union subtypes", "Subtypes:", "Errors:")
    noise += ("Given value type:", "- Expected a <class 'NoneType'>")
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    kept = [ln.removeprefix("- ") for ln in lines if not ln.startswith(noise)]
    text = (
        " ".join(kept)
        .replace(": Given value:", "; given value:")
        .replace(" Given value:", "; given value:")
    )
    if text.startswith("Problems parsing config"):
        configs = [b for a, b in zip(argv, argv[1:]) if a in ("-c", "--config")]
        configs += [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]
        text += f" (in {', '.join(map(repr, configs))})" if configs else ""
    return ValueError(
        f"{text} (`opkit {command} --help` lists the options; `--print_config` shows the "
        "merged config)"
    )


def _record_of(network: Any) -> dict | None:
    """``{"class_path", "init_args"}`` of a parsed network config (a jsonargparse Namespace)."""
    if network is None or not hasattr(network, "as_dict"):
        return None
    return network.as_dict()


def _spec_dict(spec) -> dict:
    import dataclasses

    return dataclasses.asdict(spec)


# Lightning's own names for checkpoints that its trainer finds (not files).
_LIGHTNING_CKPT_NAMES = ("last", "best", "hpc", "registry")


def _check_ckpt_path(value: Any) -> None:
    """Refuse a checkpoint path that is missing, not a Lightning checkpoint, or names
    classes outside opkit./torch. -- before LightningCLI reads it.

    LightningCLI rebuilds the model from a checkpoint's ``hyper_parameters`` (importing the
    modules they name) as soon as the arguments are parsed, whichever way ``ckpt_path``
    arrived: ``--ckpt_path``, a ``ckpt_path:`` key in a config file, or an environment
    variable. `make_cli` calls this on the parsed value, so every way is checked alike.
    """
    if value is None or str(value) in (*_LIGHTNING_CKPT_NAMES, "null", "None", ""):
        return
    import zipfile

    path = Path(str(value))
    if not path.is_file():
        raise FileNotFoundError(
            f"`ckpt_path` {str(value)!r} does not exist; give a checkpoint written by `opkit "
            "fit` (e.g. lightning_logs/version_0/checkpoints/last.ckpt)."
        )
    # torch.save writes a zip archive whose directory is at the end: an HDF5 file, a
    # foreign file or a truncated checkpoint is not one.
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"`ckpt_path` {str(value)!r} is not a checkpoint (truncated, or another kind of "
            "file such as a dataset); give a .ckpt written by `opkit fit`."
        )
    _check_lightning_checkpoint(path)


def _check_lightning_checkpoint(path: Path) -> None:
    """A Lightning checkpoint (``state_dict``, ``pytorch-lightning_version``) whose
    hyper-parameters name only classes under opkit./torch. (read with weights_only, so
    reading it imports nothing)."""
    import torch

    from .._records import ALLOWED_PREFIXES

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors differ between torch versions
        raise ValueError(
            f"`ckpt_path` {str(path)!r} is not a checkpoint opkit can read safely: {err}"
        ) from err

    def walk(node: Any):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("class_path", "_class_path") and isinstance(value, str):
                    yield value
                yield from walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                yield from walk(value)

    hparams = (ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None) or {}
    foreign = [c for c in walk(hparams) if not c.startswith(ALLOWED_PREFIXES)]
    if foreign:
        raise ValueError(
            f"`ckpt_path` {str(path)!r} names classes outside {ALLOWED_PREFIXES} in its "
            f"hyper-parameters ({foreign[:3]}); opkit never imports classes named in a file. "
            "Use a checkpoint written by `opkit fit`."
        )
    needed = ("state_dict", "pytorch-lightning_version")
    if not isinstance(ckpt, dict) or any(key not in ckpt for key in needed):
        keys = sorted(map(str, ckpt))[:6] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(
            f"`ckpt_path` {str(path)!r} is not a Lightning checkpoint (it holds {keys}, not "
            f"{list(needed)}): a model saved with `.save()` (a PROSE or operator bundle) is "
            "read by `opkit evaluate FILE` or `opkit.load(FILE)`; `--ckpt_path` takes the "
            ".ckpt files that `opkit fit` writes (e.g. .../checkpoints/last.ckpt)."
        )


def lightning_main(argv: list[str]) -> int:
    """``opkit fit|validate|test|predict --config FILE [overrides]`` (LightningCLI)."""
    rest = argv[1:]
    if any(a in ("-h", "--help") for a in rest) or not rest:
        make_cli([argv[0], "--help"])
        return 0
    import time

    from ._console import after_fit, pop_logger

    logger, rest = pop_logger(rest)
    # --ckpt_path on the command line is checked before the config is even parsed; the
    # parsed value (from any source) is checked again in make_cli
    for i, arg in enumerate(rest):
        if arg.startswith("--ckpt_path="):
            _check_ckpt_path(arg.split("=", 1)[1])
        elif arg == "--ckpt_path" and i + 1 < len(rest):
            _check_ckpt_path(rest[i + 1])
    start = time.monotonic()
    from argparse import ArgumentError

    try:
        cli = make_cli([argv[0], *rest], logger=logger)
    except ArgumentError as err:
        raise _parse_error(err, argv[0], rest) from err
    if argv[0] == "fit":
        print(after_fit(cli, seconds=time.monotonic() - start))
    if argv[0] == "predict":
        print(f"predictions: {_save_predictions(cli.trainer)}")
    return 0


def _save_predictions(trainer) -> Path:
    """Write what ``opkit predict`` predicted to ``<log dir>/predictions.pt`` (atomically):
    one tensor per dataloader, the batches concatenated in order."""
    import torch

    from .._io import save_torch

    per_loader = trainer.predict_loop.predictions or []
    if per_loader and not isinstance(per_loader[0], list):
        per_loader = [per_loader]
    tensors = [torch.cat([torch.as_tensor(b).cpu() for b in batches]) for batches in per_loader]
    folder = Path(trainer.log_dir or trainer.default_root_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return save_torch(tensors[0] if len(tensors) == 1 else tensors, folder / "predictions.pt")


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing the usage: `opkit.cli` prints one line."""

    def error(self, message: str):  # type: ignore[override]
        raise ValueError(f"{self.prog}: {message} (`{self.prog} --help` describes the options)")


def _check_out_file(out: str | None, flag: str = "--out") -> None:
    """Refuse an output file that cannot be written, before any work."""
    if out is None:
        return
    import os

    path = Path(out)
    if path.is_dir():
        raise ValueError(f"{flag} {out!r} is a directory; give a file name such as {out}/x.json.")
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"{flag} {out!r}: its folder {str(path.parent)!r} does not exist; create it first."
        )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise PermissionError(f"{flag} {out!r}: cannot write into {str(path.parent)!r}.")


def evaluate_main(argv: list[str]) -> int:
    """``opkit evaluate CKPT [--data FILE] [--split test] [--out metrics.json]``."""
    parser = _Parser(
        prog="opkit evaluate",
        description="Score a trained model (a file saved by `.save()` or a Lightning .ckpt from "
        "`opkit fit`) with the shared metrics, on its own data or on --data.",
    )
    parser.add_argument("checkpoint", help="file written by `.save()` or `opkit fit`")
    parser.add_argument(
        "--data",
        default=None,
        help="opkit dataset file or built-in name (default: the data the model was trained on)",
    )
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--out", default=None, help="write the metrics as JSON here")
    args = parser.parse_args(argv)
    _check_out_file(args.out)
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(
            f"checkpoint {args.checkpoint!r} does not exist; give a file written by `.save()` "
            "or `opkit fit` (e.g. lightning_logs/version_0/checkpoints/last.ckpt)."
        )
    from ._fit import evaluate

    metrics = evaluate(args.checkpoint, args.data, split=args.split)
    shown = {k: v for k, v in metrics.items() if not isinstance(v, list)}
    print(json.dumps(shown, indent=2))
    if args.out:
        from .._io import atomic_write

        with atomic_write(args.out, "w", encoding="utf-8") as f:
            f.write(json.dumps(metrics, indent=2))
    return 0


def benchmark_main(argv: list[str]) -> int:
    """``opkit benchmark --suite burgers|ks|ns --models deeponet,fno [--budget S]``."""
    from ._suite import MODELS, SUITES, run_suite

    parser = _Parser(
        prog="opkit benchmark",
        description="Train every named model on a suite's fixed data with the same budget "
        "and write reports/<suite>.md, .json and plots.",
    )
    parser.add_argument("--suite", required=True, choices=sorted(SUITES))
    parser.add_argument("--models", default="deeponet,fno", help=f"comma list of {sorted(MODELS)}")
    parser.add_argument("--budget", type=float, default=None, help="seconds per model")
    parser.add_argument("--size", default="cpu", choices=["cpu", "paper"])
    parser.add_argument("--out", default="reports", help="report folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--match-params", action="store_true", help="size FNO to the first model")
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="train every model for this many epochs instead of --budget seconds "
        "(an equal-epoch comparison, which machine load does not distort)",
    )
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be a positive integer, got {args.epochs}.")
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names:
        parser.error(
            f"--models {args.models!r} names no model; give a comma list of {sorted(MODELS)}"
        )
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {sorted(MODELS)}")
    report = run_suite(
        args.suite,
        names,
        budget=args.budget,
        size=args.size,
        out=Path(args.out),
        seed=args.seed,
        match_params=args.match_params,
        accelerator=args.accelerator,
        epochs=args.epochs,
    )
    print(report.markdown)
    print(f"\nreport: {report.paths['md']}", file=sys.stderr)
    return 0
