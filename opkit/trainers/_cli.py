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

        def instantiate_trainer(self, **kwargs):
            from ._callbacks import atomic_checkpoints
            from ._console import instantiate_trainer

            trainer = instantiate_trainer(self, super().instantiate_trainer, logger, **kwargs)
            return atomic_checkpoints(trainer)  # last.ckpt survives a full disk

    return OpkitCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
        run=run,
        save_config_kwargs={"overwrite": True},
        seed_everything_default=0,
    )


def _record_of(network: Any) -> dict | None:
    """``{"class_path", "init_args"}`` of a parsed network config (a jsonargparse Namespace)."""
    if network is None or not hasattr(network, "as_dict"):
        return None
    return network.as_dict()


def _spec_dict(spec) -> dict:
    import dataclasses

    return dataclasses.asdict(spec)


def _check_ckpt_path(argv: list[str]) -> None:
    """Refuse a ``--ckpt_path`` that is missing or not a torch checkpoint, before any work."""
    import zipfile

    for i, arg in enumerate(argv):
        if arg.startswith("--ckpt_path="):
            value = arg.split("=", 1)[1]
        elif arg == "--ckpt_path" and i + 1 < len(argv):
            value = argv[i + 1]
        else:
            continue
        if value in ("last", "best", "hpc", "registry", "null", "None"):
            continue  # Lightning's own names for checkpoints it finds
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(
                f"--ckpt_path {value!r} does not exist; give a checkpoint written by `opkit "
                "fit` (e.g. lightning_logs/version_0/checkpoints/last.ckpt)."
            )
        # torch.save writes a zip archive whose directory is at the end: an HDF5 file, a
        # foreign file or a truncated checkpoint is not one.
        if not zipfile.is_zipfile(path):
            raise ValueError(
                f"--ckpt_path {value!r} is not a checkpoint (truncated, or another kind of file "
                "such as a dataset); give a .ckpt written by `opkit fit`."
            )
        _check_class_paths(path)


def _check_class_paths(path: Path) -> None:
    """LightningCLI rebuilds the classes named in a checkpoint's hyper-parameters: refuse,
    before anything is imported, a checkpoint naming a class outside opkit./torch."""
    import torch

    from .._records import ALLOWED_PREFIXES

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors differ between torch versions
        raise ValueError(
            f"--ckpt_path {str(path)!r} is not a checkpoint opkit can read safely: {err}"
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

    hparams = ckpt.get("hyper_parameters", {}) if isinstance(ckpt, dict) else {}
    foreign = [c for c in walk(hparams) if not c.startswith(ALLOWED_PREFIXES)]
    if foreign:
        raise ValueError(
            f"--ckpt_path {str(path)!r} names classes outside {ALLOWED_PREFIXES} in its "
            f"hyper-parameters ({foreign[:3]}); opkit never imports classes named in a file. "
            "Use a checkpoint written by `opkit fit`."
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
    _check_ckpt_path(rest)
    start = time.monotonic()
    cli = make_cli([argv[0], *rest], logger=logger)
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


def evaluate_main(argv: list[str]) -> int:
    """``opkit evaluate CKPT --data FILE [--split test] [--out metrics.json]``."""
    parser = argparse.ArgumentParser(
        prog="opkit evaluate",
        description="Score a trained operator (opkit checkpoint or Lightning .ckpt from "
        "`opkit fit`) on a dataset with the shared metrics.",
    )
    parser.add_argument("checkpoint", help="file written by TrainedOperator.save or `opkit fit`")
    parser.add_argument("--data", required=True, help="opkit dataset file or built-in name")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--out", default=None, help="write the metrics as JSON here")
    args = parser.parse_args(argv)
    from ._evaluate import evaluate

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

    parser = argparse.ArgumentParser(
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
