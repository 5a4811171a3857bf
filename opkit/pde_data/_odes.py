r"""The 15 ODE systems of PROSE: right-hand sides in torch, expressions in sympy.

Each system is a frozen dataclass whose fields are its coefficients (the defaults are the
nominal values); :data:`ODE_SYSTEMS` maps the names PROSE uses to instances at the nominal
values. Every system offers

- ``rhs(u, params=None)``: the vector field in torch, ``(..., dim) -> (..., dim)``; a
  coefficient may be a tensor that broadcasts against the leading axes of ``u`` (one value
  per sample), so a batch of samples with different coefficients is evaluated in one call;
- ``expression(params=None)``: the same vector field as a list of ``dim`` sympy
  expressions in ``Symbol("u_0") ... Symbol("u_{dim-1}")`` with the coefficients as
  ``sympy.Float`` and structural small integers (``2`` in ``u_0 - 2 u_1``) as
  ``sympy.Integer``; fixed non-integer constants (Dadras' ``0.5``, Halvorsen's ``0.25``,
  the ``1/3`` of Aizawa and Chen--Lee, Chen--Lee's ``b = -10``) are ``sympy.Float``;
- ``draw_params(generator)``: coefficients drawn uniformly within +-10 % of nominal
  (``nominal * U(0.9, 1.1)``, one ``torch.rand`` call in field order) and rounded to 3
  significant digits. Fabrikant's ``alpha = -2 U(0.98 +- 10 %)`` is that same law
  (``-1.96 = -2 * 0.98``); the double pendulum draws ``g`` and ``l`` this way and derives
  ``a = -3 g / l``, ``b = -g / l``, ``c = 4 g / l``, each rounded to 3 significant digits.

Variables: ``x, y, z = u_0, u_1, u_2``. The right-hand sides are those of the PROSE
authors' code as issue 11 lists them (Aizawa without ``-y^2``; Dadras and Halvorsen with
their scaled constants; Duffing forced, with the time as state ``u_0``).

References:
    Liu, Y., Zhang, Z. & Schaeffer, H. (2024). PROSE: Predicting Operators and Symbolic
    Expressions using multimodal transformers. Neural Networks 180, 106707
    (arXiv:2309.16816), appendix: the 15 systems and their parameters.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

import sympy
import torch

__all__ = [
    "AbstractODESystem",
    "ODE_SYSTEMS",
    "round_sig",
    "Thomas",
    "Lorenz3D",
    "Aizawa",
    "ChenLee",
    "Dadras",
    "Rossler",
    "Halvorsen",
    "Fabrikant",
    "SprottB",
    "SprottLinzF",
    "FourWing",
    "Lorenz96",
    "Duffing",
    "DoublePendulum",
]


def round_sig(value: float, digits: int = 3) -> float:
    """``value`` rounded to ``digits`` significant digits (``0.15349 -> 0.153``)."""
    return float(f"{float(value):.{digits}g}")


def _sym_vars(dim: int) -> list[sympy.Symbol]:
    return [sympy.Symbol(f"u_{i}") for i in range(dim)]


class AbstractODESystem(abc.ABC):
    """A parametrised autonomous ODE ``du/dt = f(u; params)`` with ``u`` in R^dim.

    Concrete systems are frozen dataclasses whose fields are the coefficients; they define
    ``name``, ``dim``, ``_rhs`` (torch) and ``_expression`` (sympy) and may override
    ``blow_up`` (the ``|u|`` at which a generated trajectory is redrawn) and ``_draw``.
    """

    name: ClassVar[str]
    dim: ClassVar[int]
    blow_up: ClassVar[float] = 1e3
    _structural: ClassVar[tuple[str, ...]] = ()  # fields that are not coefficients

    @property
    def param_names(self) -> tuple[str, ...]:
        """The coefficients' names, in field order."""
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        return tuple(f.name for f in fields if f.name not in self._structural)

    @property
    def params(self) -> dict[str, float]:
        """The coefficients of this instance (nominal for :data:`ODE_SYSTEMS`), by name."""
        return {k: float(getattr(self, k)) for k in self.param_names}

    # ------------------------------------------------------------------ evaluation
    def coefficients(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """This instance's coefficients with ``params`` (a subset) overriding them.

        Raises:
            TypeError / ValueError: ``params`` is not a mapping, or names an unknown
                coefficient.
        """
        return self._resolve(params)

    def components(self, u: list[torch.Tensor], coefficients: Mapping[str, Any]) -> list:
        """The components of ``f`` from the components of ``u`` and resolved
        ``coefficients`` (`coefficients`), without checks: the solver's inner loop."""
        return self._rhs(u, coefficients)

    def _resolve(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        if params is None:
            return self.params
        if not isinstance(params, Mapping):
            raise TypeError(
                f"`params` must be a mapping of coefficient names to values, got "
                f"{type(params).__name__}."
            )
        unknown = sorted(set(params) - set(self.param_names))
        if unknown:
            raise ValueError(
                f"unknown coefficient(s) {unknown} for {self.name!r}; its coefficients are "
                f"{list(self.param_names)}."
            )
        return {**self.params, **params}

    def rhs(self, u: torch.Tensor, params: Mapping[str, Any] | None = None) -> torch.Tensor:
        """The vector field ``f(u)``.

        Args:
            u: ``(..., dim)`` states (any float dtype and device).
            params: coefficients overriding this instance's (a subset is fine); each a
                number or a tensor broadcasting against ``u.shape[:-1]`` (one value per
                sample of a batch).

        Returns:
            ``(..., dim)`` (leading axes broadcast with the coefficients' shapes).

        Raises:
            TypeError / ValueError: ``u`` is not a float tensor ending in ``dim``, or an
                unknown coefficient name.
        """
        if not isinstance(u, torch.Tensor) or not u.is_floating_point():
            raise TypeError(f"`u` must be a floating-point torch.Tensor, got {type(u).__name__}.")
        if u.ndim < 1 or u.shape[-1] != self.dim:
            raise ValueError(
                f"`u` must have shape (..., {self.dim}) for {self.name!r}, got {tuple(u.shape)}."
            )
        p = self._resolve(params)
        parts = self._rhs(list(u.unbind(-1)), p)
        return torch.stack(torch.broadcast_tensors(*parts), dim=-1)

    def expression(self, params: Mapping[str, Any] | None = None) -> list[sympy.Expr]:
        """The vector field as ``dim`` sympy expressions in ``u_0 ... u_{dim-1}``.

        Args:
            params: coefficients overriding this instance's (numbers; a subset is fine).

        Returns:
            ``[f_0, ..., f_{dim-1}]`` with coefficients as ``sympy.Float``.
        """
        p = {k: sympy.Float(float(v)) for k, v in self._resolve(params).items()}
        return [sympy.sympify(e) for e in self._expression(_sym_vars(self.dim), p)]

    def draw_params(self, generator: torch.Generator) -> dict[str, float]:
        """Coefficients drawn uniformly within +-10 % of nominal, 3 significant digits.

        One ``torch.rand(n_params, dtype=float64, generator=generator)`` call, in field
        order: coefficient ``k`` is ``round_sig(nominal_k * (0.9 + 0.2 r_k))``. Nominal
        values are this instance's.
        """
        r = torch.rand(len(self.param_names), dtype=torch.float64, generator=generator)
        return self._draw([0.9 + 0.2 * float(v) for v in r])

    def _draw(self, factors: Sequence[float]) -> dict[str, float]:
        return {k: round_sig(v * f) for (k, v), f in zip(self.params.items(), factors)}

    @abc.abstractmethod
    def _rhs(self, u: list[torch.Tensor], p: Mapping[str, Any]) -> list[torch.Tensor]:
        """Components of ``f`` from the components of ``u`` (torch)."""

    @abc.abstractmethod
    def _expression(self, u: list[sympy.Symbol], p: Mapping[str, sympy.Float]) -> list[Any]:
        """Components of ``f`` as sympy expressions."""


_F = sympy.Float


@dataclasses.dataclass(frozen=True)
class Thomas(AbstractODESystem):
    """Thomas' cyclically symmetric attractor: ``[sin y - b x, sin z - b y, sin x - b z]``."""

    b: float = 0.17

    name: ClassVar[str] = "thomas"
    dim: ClassVar[int] = 3

    def _rhs(self, u, p):
        x, y, z = u
        b = p["b"]
        return [torch.sin(y) - b * x, torch.sin(z) - b * y, torch.sin(x) - b * z]

    def _expression(self, u, p):
        x, y, z = u
        b = p["b"]
        return [sympy.sin(y) - b * x, sympy.sin(z) - b * y, sympy.sin(x) - b * z]


@dataclasses.dataclass(frozen=True)
class Lorenz3D(AbstractODESystem):
    """Lorenz (1963): ``[sigma (y - x), x (rho - z) - y, x y - beta z]``."""

    sigma: float = 10.0
    rho: float = 28.0
    beta: float = 8.0 / 3.0

    name: ClassVar[str] = "lorenz_3d"
    dim: ClassVar[int] = 3

    def _rhs(self, u, p):
        x, y, z = u
        return [p["sigma"] * (y - x), x * (p["rho"] - z) - y, x * y - p["beta"] * z]

    _expression = _rhs  # the same arithmetic on sympy symbols and Floats


@dataclasses.dataclass(frozen=True)
class Aizawa(AbstractODESystem):
    """Aizawa, as the PROSE code has it (no ``-y^2``):
    ``[(z - b) x - d y, d x + (z - b) y, c + a z - z^3 / 3 - x^2 + f z x^3]``."""

    a: float = 0.95
    b: float = 0.7
    c: float = 0.6
    d: float = 3.5
    f: float = 0.1

    name: ClassVar[str] = "aizawa"
    dim: ClassVar[int] = 3

    def _rhs(self, u, p):
        x, y, z = u
        a, b, c, d, f = (p[k] for k in "abcdf")
        return [
            (z - b) * x - d * y,
            d * x + (z - b) * y,
            c + a * z - z**3 / 3 - x**2 + f * z * x**3,
        ]

    def _expression(self, u, p):
        x, y, z = u
        a, b, c, d, f = (p[k] for k in "abcdf")
        return [
            (z - b) * x - d * y,
            d * x + (z - b) * y,
            c + a * z - _F(1 / 3) * z**3 - x**2 + f * z * x**3,
        ]


@dataclasses.dataclass(frozen=True)
class ChenLee(AbstractODESystem):
    """Chen--Lee with ``b = -10`` fixed: ``[a x - y z, b y + x z, d z + x y / 3]``."""

    a: float = 5.0
    d: float = -0.38

    name: ClassVar[str] = "chen_lee"
    dim: ClassVar[int] = 3
    b: ClassVar[float] = -10.0

    def _rhs(self, u, p):
        x, y, z = u
        return [p["a"] * x - y * z, self.b * y + x * z, p["d"] * z + x * y / 3]

    def _expression(self, u, p):
        x, y, z = u
        return [p["a"] * x - y * z, _F(self.b) * y + x * z, p["d"] * z + _F(1 / 3) * x * y]


@dataclasses.dataclass(frozen=True)
class Dadras(AbstractODESystem):
    """Dadras, as coded by PROSE:
    ``[0.5 y - a x + b y z, c y - 0.5 x z + 0.5 z, d x y - e z]``."""

    a: float = 1.25
    b: float = 1.15
    c: float = 0.75
    d: float = 0.8
    e: float = 4.0

    name: ClassVar[str] = "dadras"
    dim: ClassVar[int] = 3

    def _rhs(self, u, p):
        x, y, z = u
        a, b, c, d, e = (p[k] for k in "abcde")
        return [0.5 * y - a * x + b * y * z, c * y - 0.5 * x * z + 0.5 * z, d * x * y - e * z]

    def _expression(self, u, p):
        x, y, z = u
        a, b, c, d, e = (p[k] for k in "abcde")
        h = _F(0.5)
        return [h * y - a * x + b * y * z, c * y - h * x * z + h * z, d * x * y - e * z]


@dataclasses.dataclass(frozen=True)
class Rossler(AbstractODESystem):
    """Rossler (1976): ``[-y - z, x + a y, b + z (x - c)]``."""

    a: float = 0.1
    b: float = 0.1
    c: float = 14.0

    name: ClassVar[str] = "rossler"
    dim: ClassVar[int] = 3

    def _rhs(self, u, p):
        x, y, z = u
        return [-y - z, x + p["a"] * y, p["b"] + z * (x - p["c"])]

    _expression = _rhs


@dataclasses.dataclass(frozen=True)
class Halvorsen(AbstractODESystem):
    """Halvorsen, as coded by PROSE:
    ``[a x - y - z - 0.25 y^2, a y - z - x - 0.25 z^2, a z - x - y - 0.25 x^2]``."""

    a: float = -0.35

    name: ClassVar[str] = "halvorsen"
    dim: ClassVar[int] = 3

    def _rhs(self, u, p):
        x, y, z = u
        a = p["a"]
        return [
            a * x - y - z - 0.25 * y**2,
            a * y - z - x - 0.25 * z**2,
            a * z - x - y - 0.25 * x**2,
        ]

    def _expression(self, u, p):
        x, y, z = u
        a, q = p["a"], _F(0.25)
        return [a * x - y - z - q * y**2, a * y - z - x - q * z**2, a * z - x - y - q * x**2]


@dataclasses.dataclass(frozen=True)
class Fabrikant(AbstractODESystem):
    """Rabinovich--Fabrikant, as coded by PROSE:
    ``[y (z - 1 + x^2) + gamma x, x (3 z + 1 - x^2) + gamma y, alpha z - 2 x y z]``.
    Redrawn only at ``|u| >= 1e5``."""

    alpha: float = -1.96
    gamma: float = 0.1

    name: ClassVar[str] = "fabrikant"
    dim: ClassVar[int] = 3
    blow_up: ClassVar[float] = 1e5

    def _rhs(self, u, p):
        x, y, z = u
        g = p["gamma"]
        return [
            y * (z - 1 + x**2) + g * x,
            x * (3 * z + 1 - x**2) + g * y,
            p["alpha"] * z - 2 * x * y * z,
        ]

    _expression = _rhs


@dataclasses.dataclass(frozen=True)
class SprottB(AbstractODESystem):
    """Sprott case B: ``[a y z, x - b y, c - x y]``."""

    a: float = 0.4
    b: float = 1.2
    c: float = 1.0

    name: ClassVar[str] = "sprott_B"
    dim: ClassVar[int] = 3

    def _rhs(self, u, p):
        x, y, z = u
        return [p["a"] * y * z, x - p["b"] * y, p["c"] - x * y]

    _expression = _rhs


@dataclasses.dataclass(frozen=True)
class SprottLinzF(AbstractODESystem):
    """Sprott--Linz F: ``[y + z, -x + a y, x^2 - z]``."""

    a: float = 0.5

    name: ClassVar[str] = "sprott_linz_F"
    dim: ClassVar[int] = 3

    def _rhs(self, u, p):
        x, y, z = u
        return [y + z, -x + p["a"] * y, x**2 - z]

    _expression = _rhs


@dataclasses.dataclass(frozen=True)
class FourWing(AbstractODESystem):
    """Four-wing attractor: ``[a x + y z, b x + c y - x z, -z - x y]``."""

    a: float = 0.2
    b: float = 0.01
    c: float = -0.4

    name: ClassVar[str] = "four_wing"
    dim: ClassVar[int] = 3

    def _rhs(self, u, p):
        x, y, z = u
        return [p["a"] * x + y * z, p["b"] * x + p["c"] * y - x * z, -z - x * y]

    _expression = _rhs


@dataclasses.dataclass(frozen=True)
class Lorenz96(AbstractODESystem):
    """Lorenz (1996) in ``n`` dimensions (4 or 5 in PROSE), indices cyclic:
    ``du_i/dt = (u_{i+1} - u_{i-2}) u_{i-1} - u_i + F``."""

    F: float = 8.0
    n: int = 4

    _structural: ClassVar[tuple[str, ...]] = ("n",)

    def __post_init__(self) -> None:
        if self.n not in (4, 5) or isinstance(self.n, bool):
            raise ValueError(f"`n` must be 4 or 5 (the PROSE systems), got {self.n!r}.")

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"lorenz_96_{self.n}d"

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.n

    def _rhs(self, u, p):
        n = len(u)
        return [(u[(i + 1) % n] - u[i - 2]) * u[i - 1] - u[i] + p["F"] for i in range(n)]

    _expression = _rhs


@dataclasses.dataclass(frozen=True)
class Duffing(AbstractODESystem):
    """Forced Duffing oscillator with the time as state ``u_0``; ``u = (t, x, v)``:
    ``[1, v, delta v + alpha x + beta x^3 + gamma cos(omega t)]``."""

    alpha: float = -1.0
    beta: float = -5.0
    gamma: float = 8.0
    delta: float = -0.02
    omega: float = 0.5

    name: ClassVar[str] = "duffing"
    dim: ClassVar[int] = 3

    def _rhs(self, u, p):
        t, x, v = u
        forcing = p["gamma"] * torch.cos(p["omega"] * t)
        return [torch.ones_like(t), v, p["delta"] * v + p["alpha"] * x + p["beta"] * x**3 + forcing]

    def _expression(self, u, p):
        t, x, v = u
        forcing = p["gamma"] * sympy.cos(p["omega"] * t)
        return [sympy.Integer(1), v, p["delta"] * v + p["alpha"] * x + p["beta"] * x**3 + forcing]


@dataclasses.dataclass(frozen=True)
class DoublePendulum(AbstractODESystem):
    """Double pendulum (equal masses and lengths), angles ``u_0, u_1``, angular velocities
    ``u_2, u_3``, ``D = u_0 - u_1``::

        [u_2, u_3,
         (a sin u_0 + b sin(u_0 - 2 u_1) - 2 sin D (u_3^2 + u_2^2 cos D)) / (3 - cos 2D),
         sin D (4 u_2^2 + c cos u_0 + u_3^2 cos D) / (3 - cos 2D)]

    with ``a = -3 g / l``, ``b = -g / l``, ``c = 4 g / l`` (nominal ``g = 9.81``, ``l = 1``).
    ``draw_params`` draws ``g`` and ``l`` within +-10 % and rounds ``a, b, c``.
    """

    a: float = -3 * 9.81
    b: float = -9.81
    c: float = 4 * 9.81

    name: ClassVar[str] = "double_pendulum"
    dim: ClassVar[int] = 4
    g: ClassVar[float] = 9.81
    l: ClassVar[float] = 1.0

    def _draw(self, factors):
        g, l = round_sig(self.g * factors[0]), round_sig(self.l * factors[1])
        return {"a": round_sig(-3 * g / l), "b": round_sig(-g / l), "c": round_sig(4 * g / l)}

    def draw_params(self, generator: torch.Generator) -> dict[str, float]:
        """``g, l`` each ``nominal * U(0.9, 1.1)`` (one ``torch.rand(2)``), rounded to 3
        significant digits; ``a = -3 g / l``, ``b = -g / l``, ``c = 4 g / l`` rounded too."""
        r = torch.rand(2, dtype=torch.float64, generator=generator)
        return self._draw([0.9 + 0.2 * float(v) for v in r])

    def _rhs(self, u, p):
        return self._field(u, p, torch.sin, torch.cos)

    def _expression(self, u, p):
        return self._field(u, p, sympy.sin, sympy.cos)

    @staticmethod
    def _field(u, p, sin, cos):
        th1, th2, w1, w2 = u
        delta = th1 - th2
        den = 3 - cos(2 * delta)
        num3 = p["a"] * sin(th1) + p["b"] * sin(th1 - 2 * th2)
        num3 = num3 - 2 * sin(delta) * (w2**2 + w1**2 * cos(delta))
        num4 = sin(delta) * (4 * w1**2 + p["c"] * cos(th1) + w2**2 * cos(delta))
        return [w1, w2, num3 / den, num4 / den]


def _systems() -> Mapping[str, AbstractODESystem]:
    systems = [
        Thomas(),
        Lorenz3D(),
        Aizawa(),
        ChenLee(),
        Dadras(),
        Rossler(),
        Halvorsen(),
        Fabrikant(),
        SprottB(),
        SprottLinzF(),
        FourWing(),
        Lorenz96(n=4),
        Lorenz96(n=5),
        Duffing(),
        DoublePendulum(),
    ]
    return MappingProxyType({s.name: s for s in systems})


ODE_SYSTEMS: Mapping[str, AbstractODESystem] = _systems()
"""The 15 PROSE systems at their nominal coefficients, in PROSE's order (read-only)."""

MAX_DIM: int = max(s.dim for s in ODE_SYSTEMS.values())
MAX_PARAMS: int = max(len(s.param_names) for s in ODE_SYSTEMS.values())
