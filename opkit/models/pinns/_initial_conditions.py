"""Initial conditions of the PINN benchmarks, as small recordable functions ``u0(x)``.

Each is a frozen dataclass (so a problem that holds one is saved as a record,
``{"class_path", "init_args"}``, and rebuilt from a checkpoint) and is called elementwise on
a tensor of positions of any shape. Random initial conditions for datasets are the samplers
of :mod:`opkit.pde_data` (``GRF1D``...); these are the fixed ones the PINN papers use.
"""

from __future__ import annotations

import abc
import dataclasses
import math

import torch

__all__ = ["AbstractInitialCondition", "SineWave", "PeriodicBump", "MonomialCosine"]


def _finite(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"`{name}` must be a real number, got {value!r}.")
        if not math.isfinite(value):
            raise ValueError(f"`{name}` must be finite, got {value!r}.")


class AbstractInitialCondition(abc.ABC):
    """Interface: ``u0(x)``, elementwise on positions of any shape, in ``x``'s dtype."""

    @abc.abstractmethod
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``u0(x)``, same shape as ``x``."""


@dataclasses.dataclass(frozen=True)
class SineWave(AbstractInitialCondition):
    r"""``u0(x) = offset + amplitude sin(wavenumber (x - shift))``.

    ``sin x`` is the convection benchmark (Krishnapriyan et al. 2021), ``-sin(π x)`` the
    regular Kuramoto–Sivashinsky case of Wang et al. 2022 and ``5 + sin x`` the moving
    front of the LPINN Burgers case (Mojgani et al. 2022).

    Args:
        amplitude: default 1.0.
        wavenumber: default 1.0 (``2π / length`` for one period on the domain).
        shift: default 0.0.
        offset: default 0.0.

    Raises:
        TypeError/ValueError: for a parameter that is not a finite real number.

    Examples:
        >>> SineWave(amplitude=-1.0, wavenumber=math.pi)(torch.tensor([0.5])).tolist()
        [-1.0]
    """

    amplitude: float = 1.0
    wavenumber: float = 1.0
    shift: float = 0.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        _finite(self, "amplitude", "wavenumber", "shift", "offset")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.offset + self.amplitude * torch.sin(self.wavenumber * (x - self.shift))


@dataclasses.dataclass(frozen=True)
class PeriodicBump(AbstractInitialCondition):
    r"""A periodic Gaussian ``u0(x) = exp((cos(ω (x - center)) - 1) / (ω width)²)``, ``ω = 2π / T``.

    ``T`` is the ``period``.
    Near ``center`` it is ``exp(-(x - center)² / (2 width²))``; it is exactly periodic with
    the given period. The defaults are the moving pulse of width ``π/8`` on ``[0, 2π)``.

    Args:
        center: default π.
        width: > 0, default π/8.
        period: > 0, default 2π.

    Raises:
        TypeError/ValueError: for a non-finite parameter or a non-positive width or period.
    """

    center: float = math.pi
    width: float = math.pi / 8
    period: float = 2 * math.pi

    def __post_init__(self) -> None:
        _finite(self, "center", "width", "period")
        for name in ("width", "period"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be > 0, got {getattr(self, name)!r}.")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        omega = 2 * math.pi / self.period
        return torch.exp((torch.cos(omega * (x - self.center)) - 1) / (omega * self.width) ** 2)


@dataclasses.dataclass(frozen=True)
class MonomialCosine(AbstractInitialCondition):
    r"""``u0(x) = x^power cos(wavenumber x)``; the defaults are the Allen–Cahn benchmark's
    ``x² cos(π x)`` on ``[-1, 1)`` (Wang, Sankaran & Perdikaris 2022).

    Args:
        power: a non-negative integer (default 2).
        wavenumber: default π.

    Raises:
        TypeError/ValueError: for a negative or non-integer power or a non-finite wavenumber.

    Examples:
        >>> MonomialCosine()(torch.tensor([1.0, 2.0])).tolist()
        [-1.0, 4.0]
    """

    power: int = 2
    wavenumber: float = math.pi

    def __post_init__(self) -> None:
        if isinstance(self.power, bool) or not isinstance(self.power, int) or self.power < 0:
            raise ValueError(f"`power` must be an integer >= 0, got {self.power!r}.")
        _finite(self, "wavenumber")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x**self.power * torch.cos(self.wavenumber * x)
