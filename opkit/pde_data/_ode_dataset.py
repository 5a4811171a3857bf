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

from ._ode_checks import check_trajectories
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
    ``u_out``           ``(n_t - n_input, 5)`` float32   target states (noisy if ``noise``
                                                         and ``noise_target``)
    ``u_out_clean``     ``(n_t - n_input, 5)`` float32   target states without noise
    ``dim``             int64 scalar tensor              the system's dimension (3..5)
    ``family``          int64 scalar tensor              index into ``families``
    ``symbols_in``      ``list[str]``                    the symbol input: constants as
                                                         ``<PLACEHOLDER>``, corrupted
    ``corruption``      ``str``                          ``"clean"``, ``"add"``,
                                                         ``"delete"`` or ``"other"``
    ``symbols_target``  ``list[str]``                    clean tokens with the floats
    ``index``           int64 scalar tensor              global sample index
    ==================  ===============================  =================================

    States are zero-padded beyond ``dim`` (also after noise). No ``<BOS>``/``<EOS>``.

    Noise (``noise = gamma``), the authors' additive noise (``prose_ode``: ``trainer.py``
    ``enc_dec_step`` with ``train_noise_gamma``, ``evaluate.py`` with ``eval_noise_gamma``,
    both 0.02): ``X`` is the sample's whole stored trajectory (all ``n_t`` times, its
    ``dim`` real components), ``E`` standard normal of ``X``'s shape, and
    ``X + sigma E`` with ``sigma = gamma ||X||_F / (||E||_F + 1e-6)``: the noise's norm is
    ``gamma ||X||`` (up to the authors' ``1e-6``), its direction uniformly random. The
    input and, by default (``noise_target=True``, the authors' training labels and their
    reported error), the target are noisy; ``u_out_clean`` always holds the clean target
    so that evaluation can report both. ``noise_target=False`` returns the clean target
    as ``u_out``.

    Corruption (``corrupt = p``): :func:`opkit.symbolic.corrupt` with ``p_add = p_delete =
    p`` -- one mode per *system*: clean with probability ``1 - 2p``, one term added, or one
    term deleted, each with probability ``p`` (the authors' 0.15: clean 70 %);
    ``corruption_mode`` forces a mode for every item (``"clean"``, ``"add"``, ``"delete"``;
    ``"other"``: the clean guess of another family, the next one in ``families`` with the
    same dimension, at its nominal coefficients). The symbol input is then encoded with
    placeholders; with ``hide_integers=True`` (default, the authors' input) every numeric
    leaf is hidden (:func:`opkit.symbolic.hide_integers`), with ``False`` the integers
    ``-10 .. 10`` of the equations stay visible (opkit's earlier choice).

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
        noise: relative noise level ``gamma >= 0`` (default 0; the authors train and
            evaluate with 0.02, :attr:`AUTHORS_NOISE`).
        corrupt: probability of each of the modes add and delete, in ``[0, 0.5]``
            (default 0; the authors: 0.15, :attr:`AUTHORS_CORRUPT`).
        seed: seed of the load-time draws (default 0).
        n_input: leading times given as input (default: the file's, 64).
        noise_target: ``u_out`` is the noisy target (default True, the authors');
            ``u_out_clean`` is clean either way.
        corruption_mode: force one corruption mode for every item (default None: drawn).
        hide_integers: hide integer leaves too (default True, the authors').

    Raises:
        FileNotFoundError, DatasetFileError: missing or not an ``odes`` file; reading an item
            whose chunk is damaged (Fletcher-32 checksum) or holds NaN/Inf.
        ValueError: bad ``split``, ``noise``, ``corrupt``, ``seed``, ``n_input`` or
            ``corruption_mode``.

    References:
        Liu, Y., Zhang, Z. & Schaeffer, H. (2024). PROSE. Neural Networks 180, 106707
        (section 4: 64 input and 128 output times, noise and term corruption).

    Examples:
        >>> from opkit.pde_data import generate
        >>> path = generate("odes", 30, out="data/odes.h5", seed=0, progress=False)
        >>> ds = ODETrajectories(path, split="train", noise=0.02, corrupt=0.15)
        >>> # the authors' training items: 2 % noise on input and target, 70/15/15 guesses
        >>> item = ds[0]
        >>> item["u_in"].shape, item["u_out"].shape, item["dim"], item["family"]
        (torch.Size([64, 5]), torch.Size([128, 5]), tensor(3), tensor(0))
    """

    #: The authors' noise level (``train_noise_gamma`` = ``eval_noise_gamma`` = 0.02).
    AUTHORS_NOISE: float = 0.02
    #: The authors' probability of each of the modes add and delete (0.15 each).
    AUTHORS_CORRUPT: float = 0.15

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        split: str | None = "train",
        noise: float = 0.0,
        corrupt: float = 0.0,
        seed: int = 0,
        n_input: int | None = None,
        noise_target: bool = True,
        corruption_mode: str | None = None,
        hide_integers: bool = True,
    ):
        check_split(split)
        if not isinstance(noise, (int, float)) or isinstance(noise, bool) or not noise >= 0:
            raise ValueError(f"`noise` must be a non-negative number (0.02 = 2 %), got {noise!r}.")
        self.noise = float(noise)
        self.corrupt = _probability("corrupt", corrupt)
        self._set_symbol_options(corruption_mode, hide_integers)
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
        self._equation = [b"".join(row).decode(errors="replace") for row in equation]
        check_trajectories(  # family, dim, time grid, equations: before anything is trusted
            str(self.path),
            families=self.families,
            param_names=self.param_names,
            t=self.t.numpy(),
            sample_index=self.sample_index,
            family=self._family,
            dim=self._dim,
            params=self._params,
            equations=self._equation,
        )
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

    def _set_symbol_options(self, corruption_mode: str | None, hide_integers: bool) -> None:
        from opkit import symbolic

        modes = (*symbolic.CORRUPTION_MODES, "other")
        if corruption_mode is not None and corruption_mode not in modes:
            raise ValueError(
                f"`corruption_mode` must be one of {modes} or None (drawn with `corrupt`), "
                f"got {corruption_mode!r}."
            )
        if not isinstance(hide_integers, bool):
            raise ValueError(f"`hide_integers` must be True or False, got {hide_integers!r}.")
        if self.corrupt > 0.5:
            raise ValueError(
                f"`corrupt` (={self.corrupt}) is the probability of each of the two modes "
                "(add one term, delete one term) and must be <= 0.5; the authors use 0.15."
            )
        self.corruption_mode = corruption_mode
        self.hide_integers = hide_integers

    def _other_family(self, i: int) -> list[Any]:
        """The nominal system of the family after item ``i``'s in ``families`` (cyclic)
        with the same dimension (any other family if none has it)."""
        own = self.families[int(self._family[i])]
        dim = ODE_SYSTEMS[own].dim
        k = self.families.index(own)
        others = [self.families[(k + j) % len(self.families)] for j in range(1, len(self.families))]
        same = [f for f in others if ODE_SYSTEMS[f].dim == dim] or others or [own]
        return ODE_SYSTEMS[same[0]].expression()

    def _encode_input(self, system: list[Any]) -> list[str]:
        from opkit import symbolic

        return symbolic.encode_guess(system, hide_integers=self.hide_integers)

    def symbol_input(self, i: int) -> tuple[list[str], str]:
        """Item ``i``'s symbol input and its corruption mode (``"clean"``, ``"add"``,
        ``"delete"``, ``"other"``): a function of ``(seed, sample_index[i], epoch)``."""
        from opkit import symbolic

        mode = self.corruption_mode
        if mode == "other":
            return self._encode_input(self._other_family(i)), "other"
        if mode == "clean" or (mode is None and self.corrupt == 0.0):
            if i not in self._clean_in:
                self._clean_in[i] = self._encode_input(self.system(i))
            return list(self._clean_in[i]), "clean"
        g = _item_generator(self.seed, self.sample_index[i], self.epoch, _CORRUPT_STREAM)
        if mode is None:
            mode = symbolic.draw_corruption_mode(g, p_add=self.corrupt, p_delete=self.corrupt)
        system = symbolic.corrupt(self.system(i), rng=g, dim=int(self._dim[i]), mode=mode)
        return self._encode_input(system), mode

    def symbols_in(self, i: int) -> list[str]:
        """Item ``i``'s symbol input (see :meth:`symbol_input`)."""
        return self.symbol_input(i)[0]

    def noisy(self, i: int, u: torch.Tensor) -> torch.Tensor:
        """Item ``i``'s stored trajectory ``u (n_t, 5)`` with the authors' noise (a copy;
        ``u`` itself when ``noise == 0``): ``X = u[:, :dim]``, ``E ~ N(0, 1)`` drawn from
        ``(seed, sample_index[i], epoch)``, ``X + gamma ||X|| / (||E|| + 1e-6) E`` in
        float64, stored back as float32; padding stays zero."""
        if self.noise == 0:
            return u
        dim = int(self._dim[i])
        x = u[:, :dim].double()
        g = _item_generator(self.seed, self.sample_index[i], self.epoch, _NOISE_STREAM)
        e = torch.randn(x.shape, dtype=torch.float64, generator=g)
        sigma = self.noise * torch.linalg.vector_norm(x) / (torch.linalg.vector_norm(e) + 1e-6)
        out = u.clone()
        out[:, :dim] = (x + sigma * e).float()
        return out

    def __getitem__(self, i: int) -> dict[str, Any]:
        self._check_index(i)
        i = int(i) % len(self)
        u = torch.from_numpy(self._read(i))
        dim = int(self._dim[i])
        noisy = self.noisy(i, u)
        symbols, mode = self.symbol_input(i)
        k = self.n_input
        return {
            "t_in": self.t[:k].clone(),
            "u_in": noisy[:k].clone(),
            "t_out": self.t[k:].clone(),
            "u_out": (noisy if self.noise_target else u)[k:].clone(),
            "u_out_clean": u[k:].clone(),
            "dim": torch.tensor(dim),
            "family": torch.tensor(int(self._family[i])),
            "symbols_in": symbols,
            "corruption": mode,
            "symbols_target": self._equation[i].split(),
            "index": torch.tensor(int(self.sample_index[i])),
        }
