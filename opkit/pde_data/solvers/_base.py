"""The contract every PDE of `opkit.pde_data` keeps.

A PDE is a frozen dataclass that validates its parameters in ``__post_init__`` and solves
batches with ``solve(u0, t, *, dt=None)``:

- ``u0``: ``(batch, n_x)`` in 1-D, ``(batch, n_x, n_y)`` in 2-D, on any device, any float
  dtype (float64 recommended for data generation);
- ``t``: 1-D strictly increasing tensor of output times with ``t[0] == 0``;
- returns ``(batch, len(t), *spatial)`` in ``u0``'s dtype and device.

A sample whose solution stops being finite is returned as non-finite values (it is *not*
raised): callers that batch many samples record a per-sample status and go on.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from ._spectral import check_grid_size, check_real_dtype, check_real_param, irfft, rfft

__all__ = ["AbstractPDE", "AbstractPDE1D", "DERIVATIVE_KEYS", "check_solve_inputs"]

# The names under which `residual` reads a field and its derivatives (each ``(N,)``).
DERIVATIVE_KEYS = ("u", "u_t", "u_x", "u_xx", "u_xxx", "u_xxxx")


class AbstractPDE(abc.ABC):
    """Interface of a batched PDE solver (see module docstring for shapes).

    Concrete subclasses are frozen dataclasses and define:

    - ``name``: short lower-case identifier (``"burgers"``) used in files and the CLI;
    - ``field``: the name of the stored variable (``"u"``, or ``"vorticity"``);
    - ``spatial_shape``: the grid shape ``(n_x,)`` or ``(n_x, n_y)``;
    - ``coords()``: a dict of 1-D coordinate tensors (``{"x": ...}`` or ``{"x":..., "y":...}``);
    - ``default_dt``: the documented default step used when ``dt=None``;
    - ``solver``: one line naming the scheme (written to dataset files);
    - ``solve(u0, t, *, dt=None)``.
    """

    name: ClassVar[str]
    field: ClassVar[str] = "u"
    solver: ClassVar[str]

    @property
    @abc.abstractmethod
    def spatial_shape(self) -> tuple[int, ...]:
        """Grid shape, ``(n_x,)`` or ``(n_x, n_y)``."""

    @property
    def ndim(self) -> int:
        return len(self.spatial_shape)

    @property
    @abc.abstractmethod
    def default_dt(self) -> float:
        """Time step used when ``solve(..., dt=None)``."""

    @property
    def translation_invariant(self) -> bool:
        """Whether a periodic shift of a solution in space is again a solution.

        True for PDEs without position-dependent coefficients or forcing. Training on
        randomly shifted copies of their data (``OperatorDataModule(shift_augment=...)``) is
        then exact. Default False; subclasses that have the symmetry say so.
        """
        return False

    @abc.abstractmethod
    def coords(self) -> dict[str, torch.Tensor]:
        """1-D float64 coordinate tensors of the grid, keyed ``"x"`` (and ``"y"``)."""

    @abc.abstractmethod
    def solve(self, u0: torch.Tensor, t: torch.Tensor, *, dt: float | None = None) -> torch.Tensor:
        """Solve a batch; ``(batch, *spatial)`` -> ``(batch, len(t), *spatial)``."""

    def params(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serialisable (tensors become lists)."""
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, torch.Tensor):
                v = v.tolist()
            out[f.name] = v
        return out


class AbstractPDE1D(AbstractPDE):
    """A PDE ``u_t = F(u, u_x, ...)`` on the periodic interval ``[0, length)``, ``n_x`` points.

    Concrete subclasses are frozen dataclasses with the fields ``length`` and ``n_x``; the
    grid ``x_j = j * length / n_x`` follows from them. Besides ``solve`` they state the
    equation once, as ``residual(d)``: the same PDE is then the solver of a dataset and the
    loss of a physics-informed network (which passes its own derivatives in ``d``).
    """

    @abc.abstractmethod
    def residual(self, d: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The pointwise residual of the equation, zero exactly where ``u`` solves it.

        Args:
            d: the field and its derivatives at ``N`` points, each ``(N,)``, under the
                names of `DERIVATIVE_KEYS` (``"u"``, ``"u_t"``, ``"u_x"``, ``"u_xx"``, ...);
                only the ones the equation needs are read, so ``d`` may compute them lazily.

        Returns:
            ``(N,)``, differentiable through ``d``'s entries.
        """

    length: float
    n_x: int

    @property
    def spatial_shape(self) -> tuple[int]:
        return (self.n_x,)

    @property
    def dx(self) -> float:
        """Grid spacing ``length / n_x``."""
        return self.length / self.n_x

    @property
    def translation_invariant(self) -> bool:
        """True: opkit's 1-D PDEs have constant coefficients and no forcing."""
        return True

    def coords(self) -> dict[str, torch.Tensor]:
        """``{"x": x}`` with ``x_j = j * length / n_x`` (float64, ``(n_x,)``)."""
        return {"x": torch.arange(self.n_x, dtype=torch.float64) * self.dx}

    def _check_grid(self) -> None:
        """Validate and normalise ``length`` (> 0) and ``n_x`` (>= 8), in ``__post_init__``."""
        check_real_param(self, "length", positive=True)
        check_grid_size(self, "n_x")

    def solve(
        self, u0: torch.Tensor, t: torch.Tensor, *, dt: float | None = None, progress: bool = False
    ) -> torch.Tensor:
        """Solve a batch of initial conditions.

        Args:
            u0: ``(batch, n_x)`` float32/float64 initial values on the grid `coords`.
            t: 1-D strictly increasing output times with ``t[0] == 0``.
            dt: largest time step (default `default_dt`); each output interval is split
                into equal steps ``<= dt`` so outputs land exactly on ``t``. A solver that
                is exact in time (`Advection1D`) validates it and takes no steps.
            progress: show a tqdm bar over the time steps (default False).

        Returns:
            ``(batch, len(t), n_x)`` in ``u0``'s dtype and device; frame 0 is ``u0``.
            A sample that blows up comes back non-finite; the others are unaffected.

        Raises:
            TypeError / ValueError: bad ``u0``, ``t`` or ``dt`` (see `check_solve_inputs`);
                ``u0`` that requires grad for the ETDRK4 solvers (Burgers, Allen-Cahn), which
                step in place and are not differentiable.
        """
        return self._checked_solve(u0, t, dt=dt, progress=progress)

    def _checked_solve(
        self, u0: torch.Tensor, t: torch.Tensor, *, dt: float | None, progress: bool, **kw: Any
    ) -> torch.Tensor:
        t, dt = check_solve_inputs(self, u0, t, dt)
        check_real_dtype(u0)
        return self._evolve(u0, t, dt, progress=progress, **kw)

    @abc.abstractmethod
    def _evolve(
        self, u0: torch.Tensor, t: torch.Tensor, dt: float, *, progress: bool
    ) -> torch.Tensor:
        """`solve` after its checks: ``t`` on ``u0``'s device, ``dt`` a positive float."""


def check_solve_inputs(
    pde: AbstractPDE, u0: torch.Tensor, t: torch.Tensor, dt: float | None
) -> tuple[torch.Tensor, float]:
    """Validate ``solve`` arguments; returns ``(t, dt)`` with ``t`` on ``u0``'s device.

    Raises ``TypeError``/``ValueError`` naming the argument, what was received and what was
    expected.
    """
    if not isinstance(u0, torch.Tensor):
        raise TypeError(f"`u0` must be a torch.Tensor, got {type(u0).__name__}.")
    if not u0.is_floating_point():
        raise TypeError(f"`u0` must be a floating-point tensor, got dtype {u0.dtype}.")
    shape = tuple(pde.spatial_shape)
    if u0.ndim != len(shape) + 1 or tuple(u0.shape[1:]) != shape:
        raise ValueError(
            f"`u0` must have shape (batch, {', '.join(map(str, shape))}) for {type(pde).__name__}"
            f" with grid {shape}, got {tuple(u0.shape)}. Add a batch dimension with "
            "u0[None] or resample to the PDE's grid."
        )
    if not bool(torch.isfinite(u0).all()):
        bad = (~torch.isfinite(u0)).flatten(1).any(1).nonzero().flatten().tolist()
        raise ValueError(f"`u0` contains NaN or Inf (samples {bad[:10]}); pass finite data.")
    t = torch.as_tensor(t, dtype=torch.float64).to(u0.device)
    if t.ndim != 1 or t.numel() < 1:
        raise ValueError(
            f"`t` must be a non-empty 1-D tensor of times, got shape {tuple(t.shape)}."
        )
    if float(t[0]) != 0.0:
        raise ValueError(f"`t` must start at 0 (the time of `u0`), got t[0] = {float(t[0])}.")
    if t.numel() > 1 and not bool((t[1:] > t[:-1]).all()):
        raise ValueError(f"`t` must be strictly increasing, got {t.tolist()[:10]}...")
    if dt is None:
        dt = pde.default_dt
    if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"`dt` must be a positive finite float or None, got {dt!r}.")
    return t, float(dt)


class SpectralPDE1D(AbstractPDE1D):
    """A 1-D PDE integrated in Fourier space by ETDRK4 (Burgers, Kuramoto–Sivashinsky,
    Allen–Cahn): subclasses give the stiff linear part and the nonlinear term through
    ``stepper``; the solve loop is shared."""

    @abc.abstractmethod
    def stepper(self, dtype: torch.dtype, device: torch.device) -> Any:
        """The `ETDRK4` stepper of this PDE for a dtype and device (its linear part and
        nonlinear term; the solve caches it per equal PDE)."""

    def _evolve(
        self,
        u0: torch.Tensor,
        t: torch.Tensor,
        dt: float,
        *,
        progress: bool,
        burn_in: float = 0.0,
    ) -> torch.Tensor:
        """The ETDRK4 solve; with ``burn_in > 0`` frame 0 is the state after the burn-in."""
        stepper = _cached_stepper(self, u0.dtype, u0.device)
        v0, first = rfft(u0), u0
        if burn_in > 0:
            v0 = stepper.advance(v0, float(burn_in), dt, progress=progress)
            first = irfft(v0, self.n_x)
        states = stepper.integrate(v0, t, dt, progress=progress)
        return torch.stack([first] + [irfft(v, self.n_x) for v in states[1:]], dim=1)


# Steppers of recently solved PDEs (frozen dataclasses, equal by value) per dtype and
# device, so that repeated solves (the batches of a dataset) reuse their ETDRK4
# coefficients instead of recomputing the contour integrals each time.
_STEPPERS: OrderedDict[tuple, Any] = OrderedDict()
_STEPPERS_SIZE = 8


def _cached_stepper(pde: SpectralPDE1D, dtype: torch.dtype, device: torch.device) -> Any:
    key = (pde, dtype, str(device))
    try:
        hash(key)
    except TypeError:  # a subclass that is not a frozen dataclass: no reuse
        return pde.stepper(dtype, device)
    if key in _STEPPERS:
        _STEPPERS.move_to_end(key)
        return _STEPPERS[key]
    stepper = _STEPPERS[key] = pde.stepper(dtype, device)
    while len(_STEPPERS) > _STEPPERS_SIZE:
        _STEPPERS.popitem(last=False)
    return stepper
