"""`ODEDatasetRecipe`: how the ``odes`` dataset of PROSE is made (see ``_ode_generate``).

A leaf module (it imports only the systems and the store's split codes), so that the named
recipes and the generator can both use it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ._odes import ODE_SYSTEMS
from ._store import SPLIT_CODES

__all__ = ["KIND", "ODE_FAMILIES", "ODEDatasetRecipe", "solver_text"]

ODE_FAMILIES: tuple[str, ...] = tuple(ODE_SYSTEMS)
KIND = "ode_trajectories"


@dataclasses.dataclass(frozen=True)
class ODEDatasetRecipe:
    """How the ``odes`` dataset is made; with ``(seed, n_samples)`` it fixes every byte.

    Args:
        name: dataset name (``"odes"``).
        families: system names (keys of :data:`ODE_SYSTEMS`); sample ``i`` is of family
            ``families[(i // ics_per_equation) % len(families)]``.
        t_end, n_t: output times ``linspace(0, t_end, n_t)`` (default 6 and 192).
        n_input: number of leading times that are the model's input (default 64).
        ic_range: initial conditions ``U(-ic_range, ic_range)`` per component (default 2).
        rtol, atol: tolerances of the integrator (default ``1e-10``).
        blow_up: redraw when ``max |u| >=`` this; ``None`` (default): each system's own
            (``1e3``, Fabrikant ``1e5``).
        max_attempts: attempts per sample before it is stored as failed (default 100).
        ics_per_equation: trajectories per drawn equation (default 1): samples
            ``e k .. e k + k - 1`` (``k = ics_per_equation``) share the coefficients of
            equation ``e`` and differ in their initial conditions, as the authors' 20
            initial conditions per equation (``prose_ode``: ``ICs_per_equation``). Every
            split must hold whole equations (a multiple of ``k``).
        splits, seed, size, batch_size, description: as in :class:`DatasetRecipe`.

    Raises:
        ValueError: unknown family or invalid number (named in the message).
    """

    name: str = "odes"
    families: tuple[str, ...] = ODE_FAMILIES
    t_end: float = 6.0
    n_t: int = 192
    n_input: int = 64
    ic_range: float = 2.0
    rtol: float = 1e-10
    atol: float = 1e-10
    blow_up: float | None = None
    max_attempts: int = 100
    ics_per_equation: int = 1
    splits: tuple[int, int, int] = (2400, 300, 300)
    seed: int = 0
    size: str = "custom"
    batch_size: int = 1500
    description: str = ""

    def __post_init__(self) -> None:
        families = tuple(self.families)
        unknown = [f for f in families if f not in ODE_SYSTEMS]
        if not families or unknown:
            raise ValueError(
                f"`families` must be names from {list(ODE_SYSTEMS)}, got unknown {unknown}."
            )
        object.__setattr__(self, "families", families)
        for key in ("n_t", "n_input", "max_attempts", "batch_size", "ics_per_equation"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"`{key}` must be a positive integer, got {v!r}.")
        if self.n_input >= self.n_t:
            raise ValueError(f"`n_input` (={self.n_input}) must be < `n_t` (={self.n_t}).")
        for key in ("t_end", "ic_range", "rtol", "atol"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
                raise ValueError(f"`{key}` must be a positive finite number, got {v!r}.")
        if self.blow_up is not None and not (self.blow_up > 0):
            raise ValueError(f"`blow_up` must be positive or None, got {self.blow_up!r}.")
        splits = tuple(self.splits)
        if len(splits) != 3 or any(not isinstance(s, int) or s < 0 for s in splits):
            raise ValueError(f"`splits` must be three non-negative integers, got {splits!r}.")
        object.__setattr__(self, "splits", splits)
        k = self.ics_per_equation
        if any(s % k for s in splits):
            raise ValueError(
                f"`splits` {splits!r} must be multiples of `ics_per_equation` (={k}) so that "
                "no equation is shared between training and evaluation."
            )

    @property
    def n_samples(self) -> int:
        return sum(self.splits)

    @property
    def t(self) -> torch.Tensor:
        """``(n_t,)`` float64 output times."""
        return torch.linspace(0.0, float(self.t_end), self.n_t, dtype=torch.float64)

    def equation_of(self, index: int) -> int:
        """The equation of sample ``index``: ``index // ics_per_equation``."""
        return index // self.ics_per_equation

    def family_of(self, index: int) -> int:
        """Index into :data:`ODE_FAMILIES` of sample ``index``'s family."""
        return ODE_FAMILIES.index(self.families[self.equation_of(index) % len(self.families)])

    def to_json(self, *, n_samples: int, seed: int, splits: tuple[int, int, int], device: str):
        """The ``recipe`` attribute (compared on resume and merge). With one initial
        condition per equation it has no ``ics_per_equation`` key (files made before that
        option stay byte-identical)."""
        out = {
            "kind": KIND,
            "name": self.name,
            "size": self.size,
            "families": list(self.families),
            "nominal_params": {f: ODE_SYSTEMS[f].params for f in self.families},
            "t": {"start": 0.0, "end": float(self.t_end), "n": self.n_t},
            "n_input": self.n_input,
            "initial_condition": f"U(-{self.ic_range}, {self.ic_range}) per component",
            "params": "nominal * U(0.9, 1.1), 3 significant digits (draw_params)",
            "solver": solver_text(self),
            "blow_up": self.blow_up,
            "max_attempts": self.max_attempts,
            "dtype": "float64",
            "device": device,
            "n_samples": n_samples,
            "splits": dict(zip(SPLIT_CODES, splits)),
            "seed": seed,
            "sample_seed": "attempt 0: SeedSequence(seed, spawn_key=(i,)); attempt r >= 1: "
            "SeedSequence(seed, spawn_key=(i, r)); generate_state(1, uint64)[0] >> 1",
        }
        if self.ics_per_equation != 1:
            out["ics_per_equation"] = self.ics_per_equation
            out["params"] = (
                "per equation e = i // ics_per_equation: nominal * U(0.9, 1.1), 3 significant "
                "digits, from SeedSequence(seed, spawn_key=(e, 0, 1)); the attempts of sample "
                "i draw its initial condition only"
            )
        return out


def solver_text(recipe: ODEDatasetRecipe) -> str:
    """One line naming the integrator and its tolerances (written to the file)."""
    return (
        f"Dormand-Prince 5(4), per-sample adaptive steps, rtol={recipe.rtol:g}, "
        f"atol={recipe.atol:g}, float64 (opkit.pde_data._ode_solve)"
    )
