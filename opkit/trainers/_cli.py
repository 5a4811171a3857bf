"""Sub-commands of ``opkit`` that belong to the training layer (see ``opkit/cli.py``)."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["lightning_main", "evaluate_main", "benchmark_main", "demo_main", "make_cli"]

_MODEL = "model.init_args.model"


def _load_configs(argv: list[str]) -> dict:
    """Merge the ``--config`` YAML files of ``argv`` (later files win) plus dotted
    ``--data.*`` / ``--model.*`` overrides, as far as sizing needs them."""
    merged: dict = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        value = None
        if arg.startswith("--") and "=" in arg:
            arg, value = arg.split("=", 1)
        elif arg.startswith("--") and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            value = argv[i + 1]
            i += 1
        i += 1
        if value is None:
            continue
        if arg == "--config":
            path = Path(value)
            if not path.is_file():
                raise SystemExit(f"opkit: config file {value!r} not found.")
            _merge(merged, yaml.safe_load(path.read_text()) or {})
        elif arg.startswith(("--data.", "--model.")):
            keys = arg[2:].split(".")
            # `init_args` levels are implied: every `model`/`data` node steps into its own.
            keys = [k for k in keys if k != "init_args"]
            node = merged
            for k in keys[:-1]:
                node = node.setdefault(k, {})
                if "init_args" in node and k in ("data", "model"):
                    node = node["init_args"]
            node[keys[-1]] = yaml.safe_load(value)
    return merged


def _merge(base: dict, new: dict) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def _import(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _init_args(node: Any) -> dict:
    if not isinstance(node, dict):
        return {}
    return dict(node.get("init_args") or {})


def _sizes_from_data(argv: list[str]) -> list[str]:
    """Extra arguments that carry the sizes fixed by the data into the model.

    When the config trains an `OperatorModule` on an `OperatorDataModule`, the dataset's
    `DataSpec` is read from the file and the inner model's constructor arguments that its
    ``from_spec`` derives from the data (channels, grid, ...) are added unless the config
    sets them itself. The module's ``n_fields``/``in_frames`` are linked by
    ``link_arguments`` (see `make_cli`).
    """
    from ._build import spec_init_args
    from ._datamodule import OperatorDataModule
    from ._operator import OperatorModule

    cfg = _load_configs(argv)
    data, model = cfg.get("data"), cfg.get("model")
    if not (isinstance(data, dict) and isinstance(model, dict)):
        return []
    try:
        data_cls, module_cls = _import(data["class_path"]), _import(model["class_path"])
    except (KeyError, ImportError, AttributeError):
        return []  # let LightningCLI report the config error
    if not (issubclass(data_cls, OperatorDataModule) and issubclass(module_cls, OperatorModule)):
        return []
    inner = _init_args(model).get("model")
    if not isinstance(inner, dict) or "class_path" not in inner:
        return []
    net_cls = _import(inner["class_path"])
    if not hasattr(net_cls, "init_args_from_spec"):
        return []
    data_args = _init_args(data)
    if "path" not in data_args:
        return []
    dm = data_cls(**data_args)
    given = _init_args(inner)
    # `init_args_from_spec` takes the architecture's own settings; pass those the config sets.
    params = inspect.signature(net_cls.init_args_from_spec).parameters
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    passable = {k: v for k, v in given.items() if var_kw or k in params}
    extra = []
    for key, value in spec_init_args(net_cls, dm.spec, **passable).items():
        if key not in given and value is not None:
            text = value if isinstance(value, str) else json.dumps(_plain(value))
            extra += [f"--{_MODEL}.init_args.{key}", text]
    return extra


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def make_cli(args: list[str] | None, *, run: bool = True, logger: str = "csv"):
    """The LightningCLI of opkit (subclass mode for model and data); ``logger``: ``"csv"``
    or ``"tensorboard"`` (CSV plus TensorBoard) unless the config sets ``trainer.logger``."""
    import lightning as L
    from lightning.pytorch.cli import LightningCLI

    from ._datamodule import OperatorDataModule
    from ._operator import OperatorModule

    class OpkitCLI(LightningCLI):
        def instantiate_trainer(self, **kwargs):
            from ._callbacks import atomic_checkpoints
            from ._console import instantiate_trainer

            trainer = instantiate_trainer(self, super().instantiate_trainer, logger, **kwargs)
            return atomic_checkpoints(trainer)  # last.ckpt survives a full disk

    class _Linked(OpkitCLI):
        """An `OperatorModule` on an `OperatorDataModule`: the data's description and the
        network's record become constructor arguments of the module, so that Lightning's
        own checkpoints can be rebuilt by `opkit.load`."""

        def before_instantiate_classes(self) -> None:
            cfg = self.config[self.subcommand] if self.subcommand else self.config
            inner = cfg.model.init_args.model
            if cfg.model.init_args.get("model_record") is None:
                cfg.model.init_args.model_record = {
                    "class_path": inner.class_path,
                    "init_args": _namespace_to_dict(inner.init_args),
                }

        def add_arguments_to_parser(self, parser) -> None:
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

    cfg = _load_configs(args or [])
    linked = False
    try:
        linked = issubclass(_import(cfg["model"]["class_path"]), OperatorModule) and issubclass(
            _import(cfg["data"]["class_path"]), OperatorDataModule
        )
    except (KeyError, TypeError, ImportError, AttributeError):
        linked = False
    cls = _Linked if linked else OpkitCLI
    return cls(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
        run=run,
        save_config_kwargs={"overwrite": True},
        seed_everything_default=0,
    )


def _spec_dict(spec) -> dict:
    import dataclasses

    return dataclasses.asdict(spec)


def _namespace_to_dict(ns: Any) -> dict:
    if ns is None:
        return {}
    out = {}
    for k, v in vars(ns).items():
        out[k] = _namespace_to_dict(v) if hasattr(v, "__dict__") and not isinstance(v, type) else v
    return out


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
    extra = _sizes_from_data(rest)
    start = time.monotonic()
    cli = make_cli([argv[0], *rest, *extra], logger=logger)
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


def demo_main(argv: list[str]) -> int:
    """``opkit demo``: the README's main job (small Burgers set, DeepONet and FNO)."""
    from ._suite import run_demo

    parser = argparse.ArgumentParser(
        prog="opkit demo",
        description="Generate a small Burgers dataset, train DeepONet and FNO for about two "
        "minutes on CPU, and write a report with plots.",
    )
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per model")
    parser.add_argument("--n-samples", type=int, default=400)
    parser.add_argument("--out", default="reports/demo")
    args = parser.parse_args(argv)
    report = run_demo(budget=args.budget, n_samples=args.n_samples, out=Path(args.out))
    print(report.markdown)
    print(f"\nreport written to {report.paths['md']}")
    return 0
