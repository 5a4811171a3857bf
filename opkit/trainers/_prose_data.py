"""PROSE's data: ODE trajectories and symbols in batches (`ProseDataModule`).

Items come from `opkit.pde_data.ODETrajectories` (the file's splits); noise and symbol
corruption are options of loading (the file keeps the clean data). The defaults are the
authors' (``prose_ode``): 2 % noise on the whole trajectory, input and target, in training
and evaluation; one corruption mode per system (clean 70 %, one term added 15 %, one term
deleted 15 %); every constant of the guess hidden.
"""

from __future__ import annotations

import functools
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Subset

from .. import symbolic
from .._checks import check_int
from ._datamodule import EpochShuffle
from ._datasets import BUILTIN_DATASETS, data_source, resolve_dataset

__all__ = ["ProseDataModule", "collate_prose", "model_symbols"]

_SPECIALS = {symbolic.BOS_ID, symbolic.EOS_ID, symbolic.PAD_ID}


# -- batches ------------------------------------------------------------------------------
def _ids(tokens) -> list[int]:
    """Token strings or ids -> ids without ``<BOS>/<EOS>/<PAD>``."""
    if isinstance(tokens, torch.Tensor):
        tokens = tokens.tolist()
    tokens = list(tokens)
    if tokens and isinstance(tokens[0], str):
        tokens = symbolic.to_ids(tokens)
    return [int(i) for i in tokens if int(i) not in _SPECIALS]


def _pad(rows: list[list[int]]) -> torch.Tensor:
    """``[<BOS>] + row + [<EOS>]``, padded with ``<PAD>`` to the longest row."""
    n = max(len(r) for r in rows) + 2
    out = torch.full((len(rows), n), symbolic.PAD_ID, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r) + 2] = torch.tensor([symbolic.BOS_ID, *r, symbolic.EOS_ID])
    return out


def model_symbols(net, symbols: torch.Tensor) -> torch.Tensor:
    """The symbol input as ``net`` reads it: the batch's ``<BOS> guess <EOS>`` rows
    (`collate_prose`) as they are when ``net.symbol_markers`` (opkit's variant), else bare
    (the authors' variant: ``<BOS>`` dropped, ``<EOS>`` turned into ``<PAD>``, the column
    that only held ``<EOS>``/``<PAD>`` removed). ``(B, S)`` -> ``(B, S)`` or ``(B, S - 2)``."""
    if getattr(net, "symbol_markers", True):
        return symbols
    bare = symbols[:, 1:].masked_fill(symbols[:, 1:].eq(symbolic.EOS_ID), symbolic.PAD_ID)
    return bare[:, :-1] if bare.shape[1] > 1 else bare


def collate_prose(items: list[dict], *, families: list[str] | None = None) -> dict[str, Any]:
    """Stack `opkit.pde_data.ODETrajectories` items into a PROSE batch.

    ``families`` names the family indices the items carry (``ODETrajectories.families``);
    items whose ``family`` is already a string keep it.

    Returns ``t_in (B, 64)``, ``u_in (B, 64, 5)``, ``t_out (B, 128)``, ``u_out (B, 128, 5)``
    (the target as the item gives it: noisy under the authors' noise), ``u_out_clean (B,
    128, 5)`` (the clean target; ``u_out`` for items without one), ``dim (B,)``, ``family``
    and ``corruption`` (lists of str), ``symbols (B, S)`` (``<BOS>`` input ``<EOS>``,
    ``<PAD>``-padded ids; `model_symbols` gives what a network without markers reads) and
    ``target (B, L)`` (``<BOS>`` clean tokens ``<EOS>``, padded); the decoder reads
    ``target[:, :-1]`` and is trained on ``target[:, 1:]``.
    """
    out: dict[str, Any] = {}
    for key in ("t_in", "u_in", "t_out", "u_out"):
        out[key] = torch.stack([torch.as_tensor(it[key]) for it in items]).float()
    out["u_out_clean"] = torch.stack(
        [torch.as_tensor(it.get("u_out_clean", it["u_out"])) for it in items]
    ).float()
    out["corruption"] = [str(it.get("corruption", "clean")) for it in items]
    out["dim"] = torch.tensor([int(it["dim"]) for it in items])
    out["family"] = [_family_name(it.get("family", ""), families) for it in items]
    out["symbols"] = _pad([_ids(it["symbols_in"]) for it in items])
    out["target"] = _pad([_ids(it["symbols_target"]) for it in items])
    return out


def _family_name(family, families: list[str] | None) -> str:
    if isinstance(family, torch.Tensor):
        family = family.item()
    if families is not None and isinstance(family, int):
        return families[family]
    return str(family)


def _families(ds) -> list[str] | None:
    while isinstance(ds, Subset):
        ds = ds.dataset
    return getattr(ds, "families", None)


# -- data ---------------------------------------------------------------------------------
class ProseDataModule(L.LightningDataModule):
    """Batches of ODE trajectories and symbols for `ProseModule`.

    Reads an ODE file (`opkit.pde_data.ODETrajectories`, split by the file's ``split``
    variable) and stacks items with :func:`collate_prose`. Noise and symbol corruption are
    options of loading (the file keeps the clean data). Noise applies to every split, as
    the authors train and evaluate with it (the validation and test draws are fixed:
    epoch 0); corruption to the training split only (validation reads the clean guess).
    Training draws are functions of ``(seed, epoch, item)`` and the order of the training
    items of ``(seed, epoch)``, so a resumed run repeats the uninterrupted one.

    Args:
        path: an ODE file, or ``"odes"`` (the built-in dataset of ``size`` and
            ``data_seed``, generated on first use into the cache folder).
        batch_size: batch size (default 32; the paper: 256).
        num_workers: DataLoader workers.
        noise: the authors' relative noise ``gamma`` on input and target (default 0.02,
            theirs; see `ODETrajectories`); 0 trains and validates on clean data.
        corrupt: probability of each of the corruption modes add and delete of the
            training guesses (default 0.15, the authors': 70 % of the guesses are clean).
        hide_integers: hide the integer constants of the guesses too (default True, the
            authors'); recorded with the data so that `TrainedProse.predict` encodes a
            user's guess the same way.
        max_train_samples: use only the first N training items.
        max_eval_samples: use only the first N items of the validation and test splits.
        size: size of the built-in dataset (``"cpu"`` or ``"paper"``).
        data_seed: seed of the built-in dataset (default 0).
        seed: seed of the loading randomness (order, noise, corruption).

    Raises:
        ValueError: unknown path or size, bad settings, or a file without the three
            non-empty splits.
    """

    def __init__(
        self,
        path: str = "odes",
        *,
        batch_size: int = 32,
        num_workers: int = 0,
        noise: float = 0.02,
        corrupt: float = 0.15,
        hide_integers: bool = True,
        max_train_samples: int | None = None,
        max_eval_samples: int | None = None,
        size: str = "cpu",
        data_seed: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        check_int("batch_size", batch_size, minimum=1)
        check_int("num_workers", num_workers, minimum=0)
        for name, value in (("max_train_samples", max_train_samples),
                            ("max_eval_samples", max_eval_samples)):  # fmt: skip
            if value is not None:
                check_int(name, value, minimum=1)
        _check_noise("noise", noise)
        if not (isinstance(corrupt, (int, float)) and 0 <= corrupt <= 0.5):
            raise ValueError(
                f"`corrupt` must be the probability of each of the modes add and delete, in "
                f"[0, 0.5], got {corrupt!r}; the authors use 0.15 (70 % clean guesses)."
            )
        if not isinstance(hide_integers, bool):
            raise ValueError(f"`hide_integers` must be True or False, got {hide_integers!r}.")
        if size not in ("cpu", "paper"):
            raise ValueError(f"`size` must be 'cpu' or 'paper', got {size!r}.")
        self.save_hyperparameters()
        text = str(path)
        self.name = text if text in BUILTIN_DATASETS else None
        self.path = str(resolve_dataset(text, size=size, seed=data_seed))
        self.batch_size, self.num_workers = batch_size, num_workers
        self.noise, self.corrupt = float(noise), float(corrupt)
        self.hide_integers = hide_integers
        self.max_train_samples, self.max_eval_samples = max_train_samples, max_eval_samples
        self.seed = seed
        for split in ("train", "val", "test"):
            if len(self.dataset(split)) == 0:
                raise ValueError(
                    f"the {split} split of {self.path!r} is empty; PROSE trains on the train "
                    "split, selects on val and scores test: generate the file with all three "
                    "(`opkit generate odes --out FILE`)."
                )

    def source(self) -> dict:
        """Where the training data came from (`opkit.trainers.data_source`) and how its
        guesses were encoded (``hide_integers``)."""
        source = data_source(self.path, name=self.name, max_train_samples=self.max_train_samples)
        return {**source, "hide_integers": self.hide_integers}

    def dataset(
        self,
        split: str,
        *,
        noise: float = 0.0,
        corrupt: float = 0.0,
        corruption_mode: str | None = None,
        limit: int | None = None,
    ):
        """The `ODETrajectories` of a split (with the module's ``seed`` and
        ``hide_integers``), cut to ``limit`` items (default: the module's
        ``max_train_samples`` or ``max_eval_samples``)."""
        from ..pde_data import ODETrajectories

        ds = ODETrajectories(
            self.path,
            split=split,
            noise=noise,
            corrupt=corrupt,
            corruption_mode=corruption_mode,
            hide_integers=self.hide_integers,
            seed=self.seed,
        )
        if limit is None:
            limit = self.max_train_samples if split == "train" else self.max_eval_samples
        if limit is not None and limit < len(ds):
            ds = Subset(ds, range(int(limit)))
        return ds

    def _epoch(self) -> int:
        try:
            return int(self.trainer.current_epoch)
        except (RuntimeError, AttributeError):  # not attached to a Trainer
            return 0

    def loader(self, ds, *, shuffle: bool = False, batch_size: int | None = None) -> DataLoader:
        """A DataLoader of PROSE batches; shuffled in an order of ``(seed, epoch)``."""
        sampler = EpochShuffle(len(ds), lambda: (self.seed, self._epoch())) if shuffle else None
        return DataLoader(
            ds,
            batch_size=batch_size or self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=functools.partial(collate_prose, families=_families(ds)),
        )

    def train_dataloader(self):
        ds = self.dataset("train", noise=self.noise, corrupt=self.corrupt)
        return self.loader(ds, shuffle=True)

    def val_dataloader(self):
        return self.loader(self.dataset("val", noise=self.noise))

    def test_dataloader(self):
        return self.loader(self.dataset("test", noise=self.noise))


def _check_noise(name: str, value) -> None:
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0 <= value < 1):
        raise ValueError(
            f"`{name}` must be a relative noise level in [0, 1) (0.02 = 2 %, the authors'), "
            f"got {value!r}."
        )
