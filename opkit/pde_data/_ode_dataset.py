"""`ODETrajectories`: the ``odes`` file as PROSE items, with load-time noise and corruption.

Nothing here is stored: noise and symbol corruption are drawn when an item is read, as
deterministic functions of ``(seed, sample index, epoch)``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import h5py
import numpy as np
import torch

from ._odes import ODE_SYSTEMS
from ._store import (
    DatasetFileError,
    ProcessLocalFile,
    check_split,
    kept_positions,
    read_header,
)
from ._torch_datasets import FileDataset

__all__ = ["ODETrajectories"]

_NOISE_STREAM, _CORRUPT_STREAM = 0, 1


def _item_generator(seed: int, index: int, epoch: int, stream: int) -> torch.Generator:
    state = np.random.SeedSequence(seed, spawn_key=(int(index), int(epoch), stream))
    return torch.Generator().manual_seed(int(state.generate_state(1, np.uint64)[0] >> np.uint64(1)))


def _probability(name: str, value: Any) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be a number in [0, 1], got {value!r}.")
    return float(value)


class ODETrajectories(FileDataset):
    """PROSE items from an ``odes`` file (:func:`opkit.generate` ``("odes", ...)``).

    Item ``i`` (the ``i``-th kept sample of the split; ``sample_index[i]`` is its global
    index) is a dict:

    ==================  ===============================  =================================
    key                 value                            meaning
    ==================  ===============================  =================================
    ``t_in``            ``(n_input,)`` float32           ``t[:n_input]`` (``0 .. 1.98``)
    ``u_in``            ``(n_input, 5)`` float32         observed states (noisy if ``noise``)
    ``t_out``           ``(n_t - n_input,)`` float32     target times (``2.01 .. 6``)
    ``u_out``           ``(n_t - n_input, 5)`` float32   target states (clean by default)
    ``dim``             int64 scalar tensor              the system's dimension (3..5)
    ``family``          int64 scalar tensor              index into ``families``
    ``symbols_in``      ``list[str]``                    tokens, constants as
                                                         ``<PLACEHOLDER>``, terms corrupted
                                                         with probability ``corrupt``
    ``symbols_target``  ``list[str]``                    clean tokens with the floats
    ``index``           int64 scalar tensor              global sample index
    ==================  ===============================  =================================

    States are zero-padded beyond ``dim`` (also after noise). No ``<BOS>``/``<EOS>``.

    Noise (``noise = s``): ``X`` is the sample's whole stored trajectory (all ``n_t``
    times, its ``dim`` real components); ``X + s * ||X||_F / sqrt(n_t * dim) * E`` with
    ``E`` standard normal of ``X``'s shape, so that ``E ||noise||_F^2 = s^2 ||X||_F^2``
    (``s = 0.02``: 2 % relative noise as in PROSE). By default only the input part is
    returned noisy (the model observes noisy data, is scored on the truth);
    ``noise_target=True`` returns the noisy target too.

    Corruption (``corrupt = p``): :func:`opkit.symbolic.corrupt` on the clean system with
    ``p_add = p_delete = p`` (per component: add a term ``c``, ``c u_i`` or ``c u_i u_j``
    with probability ``p``, delete one of >= 2 terms with probability ``p``; PROSE: 0.15),
    then encoded with placeholders.

    Randomness: noise uses a ``torch.Generator`` seeded from
    ``SeedSequence(seed, spawn_key=(sample_index, epoch, 0))``, corruption one from
    ``(sample_index, epoch, 1)``; an item is therefore a pure function of
    ``(file, seed, epoch, index)``, independent of workers and order, and noise and
    corruption do not change each other's draws. ``set_epoch(e)`` redraws both (e.g. once
    per training epoch; with persistent DataLoader workers call it before the workers
    start, or use a fresh loader). Default epoch 0: fixed draws, as for validation.

    Args:
        path: an ``odes`` file.
        split: ``"train"``, ``"val"``, ``"test"`` or ``None`` (all samples).
        noise: relative noise level ``s >= 0`` (default 0).
        corrupt: corruption probability in ``[0, 1]`` (default 0).
        seed: seed of the load-time draws (default 0).
        n_input: leading times given as input (default: the file's, 64).
        noise_target: also return the noisy target (default False).

    Raises:
        FileNotFoundError, DatasetFileError: missing or not an ``odes`` file; reading an item
            whose chunk is damaged (Fletcher-32 checksum) or holds NaN/Inf.
        ValueError: bad ``split``, ``noise``, ``corrupt``, ``seed`` or ``n_input``.

    References:
        Liu, Y., Zhang, Z. & Schaeffer, H. (2024). PROSE. Neural Networks 180, 106707
        (section 4: 64 input and 128 output times, noise and term corruption).

    Examples:
        >>> ds = ODETrajectories("data/odes.h5", split="train", noise=0.02, corrupt=0.15)
        >>> item = ds[0]
        >>> item["u_in"].shape, item["u_out"].shape, item["dim"], item["family"]
        (torch.Size([64, 5]), torch.Size([128, 5]), tensor(3), tensor(0))
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        split: str | None = "train",
        noise: float = 0.0,
        corrupt: float = 0.0,
        seed: int = 0,
        n_input: int | None = None,
        noise_target: bool = False,
    ):
        check_split(split)
        if not isinstance(noise, (int, float)) or isinstance(noise, bool) or not noise >= 0:
            raise ValueError(f"`noise` must be a non-negative number (0.02 = 2 %), got {noise!r}.")
        self.noise = float(noise)
        self.corrupt = _probability("corrupt", corrupt)
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}.")
        self.seed = int(seed)
        self.noise_target = bool(noise_target)
        self.epoch = 0
        header = read_header(path)
        if "families" not in header or "n_input" not in header:
            raise DatasetFileError(
                f"{str(path)!r} is an opkit file but not an ODE trajectory file (no "
                "`families`/`n_input` attributes); make one with opkit.generate('odes', ...)."
            )
        self.families: list[str] = json.loads(header["families"])
        self.param_names: dict[str, list[str]] = json.loads(header["param_names"])
        self._h5 = ProcessLocalFile(path)
        self.split = split
        with h5py.File(self.path, "r") as f:
            self.positions = kept_positions(f, split)
            self.sample_index = f["sample"][:][self.positions]
            self.t = torch.from_numpy(f["t"][:].astype(np.float32))
            self._family = f["family"][:][self.positions].astype(np.int64)
            self._dim = f["dim"][:][self.positions].astype(np.int64)
            self._params = f["params"][:][self.positions]
            equation = f["equation"][:][self.positions]
        self._equation = [b"".join(row).decode() for row in equation]
        n_t = len(self.t)
        n_input = int(header["n_input"]) if n_input is None else n_input
        if not isinstance(n_input, (int, np.integer)) or not 1 <= n_input < n_t:
            raise ValueError(f"`n_input` must be an integer in [1, {n_t - 1}], got {n_input!r}.")
        self.n_input = int(n_input)
        self._clean_in: dict[int, list[str]] = {}
        self._systems: dict[int, list[Any]] = {}

    # ---------------------------------------------------------------- plumbing
    def __len__(self) -> int:
        return len(self.positions)

    def set_epoch(self, epoch: int) -> None:
        """Redraw noise and corruption: items become functions of ``epoch`` too."""
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"`epoch` must be a non-negative integer, got {epoch!r}.")
        self.epoch = int(epoch)

    # ---------------------------------------------------------------- items
    def _read(self, i: int) -> np.ndarray:
        where = f"sample {int(self.sample_index[i])} of {self.path!r}"
        try:
            u = np.asarray(self._h5.get()["u"][int(self.positions[i])], np.float32)
        except OSError as err:
            raise DatasetFileError(
                f"cannot read {where}: {err} -- the stored bytes are damaged (their checksum "
                "fails) or the file is truncated. Regenerate the file."
            ) from err
        if not np.isfinite(u).all():
            raise DatasetFileError(
                f"{where} holds NaN/Inf values although its status is 0 (ok); regenerate the "
                "file, or set that sample's status to 1 to skip it."
            )
        return u

    def system(self, i: int) -> list[Any]:
        """The clean system of item ``i`` as sympy expressions (its drawn coefficients)."""
        if i not in self._systems:  # built once per process: sympy is the costly part
            name = self.families[int(self._family[i])]
            names = self.param_names[name]
            params = dict(zip(names, (float(v) for v in self._params[i, : len(names)])))
            self._systems[i] = ODE_SYSTEMS[name].expression(params)
        return list(self._systems[i])

    def symbols_in(self, i: int) -> list[str]:
        """Item ``i``'s symbol input: placeholders, corrupted with probability ``corrupt``."""
        from opkit import symbolic

        if self.corrupt == 0.0:
            if i not in self._clean_in:
                self._clean_in[i] = symbolic.encode(self.system(i), placeholders=True)
            return list(self._clean_in[i])
        g = _item_generator(self.seed, self.sample_index[i], self.epoch, _CORRUPT_STREAM)
        dim = int(self._dim[i])
        system = symbolic.corrupt(
            self.system(i), rng=g, p_add=self.corrupt, p_delete=self.corrupt, dim=dim
        )
        return symbolic.encode(system, placeholders=True)

    def __getitem__(self, i: int) -> dict[str, Any]:
        self._check_index(i)
        i = int(i) % len(self)
        u = torch.from_numpy(self._read(i))
        dim = int(self._dim[i])
        if self.noise > 0:
            x = u[:, :dim].double()
            g = _item_generator(self.seed, self.sample_index[i], self.epoch, _NOISE_STREAM)
            e = torch.randn(x.shape, dtype=torch.float64, generator=g)
            noisy = x + self.noise * torch.linalg.norm(x) / np.sqrt(x.numel()) * e
            noisy_u = u.clone()
            noisy_u[:, :dim] = noisy.float()
            u_in_src, u_out_src = noisy_u, (noisy_u if self.noise_target else u)
        else:
            u_in_src = u_out_src = u
        k = self.n_input
        return {
            "t_in": self.t[:k].clone(),
            "u_in": u_in_src[:k].clone(),
            "t_out": self.t[k:].clone(),
            "u_out": u_out_src[k:].clone(),
            "dim": torch.tensor(dim),
            "family": torch.tensor(int(self._family[i])),
            "symbols_in": self.symbols_in(i),
            "symbols_target": self._equation[i].split(),
            "index": torch.tensor(int(self.sample_index[i])),
        }
