"""Random initial conditions on periodic grids: Gaussian random fields and Fourier series.

Every sampler draws its random numbers on the CPU in float64 from the ``torch.Generator``
it is given, computes the field there, and only then casts it and moves it to ``device``.
So a sample is a pure function of the generator's state: the same on CPU and GPU, in any
dtype up to the final rounding, whatever else is sampled in the same run.

Fourier normalisation used in the docstrings: a real field on ``[0, L)`` (or
``[0, L)^2``) is ``u(x) = sum_k u_k exp(2 pi i k.x / L)`` over integer ``k``; on an
``n``-point grid ``u_k = rfft(u)[k] / n`` (2-D: divided by ``n_x n_y``).
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import ClassVar

import torch

__all__ = ["GRF1D", "GRF2D", "RandomFourierSeries"]


def _check_sample_args(
    obj: object,
    n_samples: object,
    sizes: dict[str, object],
    generator: object,
    dtype: object,
    minimum: int = 4,
) -> None:
    cls = type(obj).__name__
    for name, value in {"n_samples": n_samples, **sizes}.items():
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(
                f"{cls}.sample: `{name}` must be an int, got {type(value).__name__} {value!r}."
            )
    if int(n_samples) < 1:  # type: ignore[call-overload]
        raise ValueError(f"{cls}.sample: `n_samples` must be >= 1, got {n_samples}.")
    for name, value in sizes.items():
        if int(value) < minimum:  # type: ignore[call-overload]
            raise ValueError(f"{cls}.sample: `{name}` must be >= {minimum}, got {value}.")
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"{cls}.sample: `generator` must be a torch.Generator, got "
            f"{type(generator).__name__}. Create one with torch.Generator().manual_seed(seed)."
        )
    if generator.device.type != "cpu":
        raise ValueError(
            f"{cls}.sample: `generator` must be a CPU generator (got one on "
            f"{generator.device}); random numbers are drawn on the CPU so that CPU and GPU "
            "runs get identical fields. Pass torch.Generator() and use `device=`."
        )
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{cls}.sample: `dtype` must be torch.float32 or float64, got {dtype}.")


def _check_params(obj: object, names: tuple[str, ...], *, positive: tuple[str, ...]) -> None:
    cls = type(obj).__name__
    for name in names:
        value = getattr(obj, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{cls}: `{name}` must be a real number, got {value!r}.")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{cls}: `{name}` must be finite, got {value!r}.")
        if name in positive and value <= 0:
            raise ValueError(f"{cls}: `{name}` must be > 0, got {value!r}.")
        object.__setattr__(obj, name, value)


def _fno_sigma(alpha: float, tau: float, d: int) -> float:
    return tau ** (0.5 * (2.0 * alpha - d))


class _Sampler1D(abc.ABC):
    """A law of random fields on the periodic ``[0, length)``: `sample` checks the
    arguments and casts; subclasses draw in float64 on the CPU (``_draw``)."""

    def sample(
        self,
        n_samples: int,
        n_x: int,
        *,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Draw ``n_samples`` fields on ``x_j = j * length / n_x``.

        Args:
            n_samples: number of fields, >= 1.
            n_x: grid points, >= 4 (`RandomFourierSeries`: ``> 2 * n_modes``).
            generator: a CPU ``torch.Generator``; the result depends only on its state.
            dtype: float32 or float64 (default) of the result.
            device: where the result goes (default CPU).

        Returns:
            ``(n_samples, n_x)`` tensor.

        Raises:
            TypeError / ValueError: bad sizes, a non-CPU generator, a non-float dtype, or
            (`RandomFourierSeries`) ``n_modes >= n_x / 2``.
        """
        _check_sample_args(self, n_samples, {"n_x": n_x}, generator, dtype)
        field = self._draw(int(n_samples), int(n_x), generator)
        return field.to(dtype=dtype).to(device)

    @abc.abstractmethod
    def _draw(self, n_samples: int, n_x: int, generator: torch.Generator) -> torch.Tensor:
        """``(n_samples, n_x)`` float64 on the CPU, from checked arguments."""


class _GRF:
    """The parameters that `GRF1D` and `GRF2D` share (``alpha``, ``tau``, ``sigma``,
    ``length``), their checks and the FNO default amplitude."""

    _dim: ClassVar[int]
    alpha: float
    tau: float
    sigma: float | None

    def __post_init__(self) -> None:
        _check_params(
            self, ("alpha", "tau", "sigma", "length"), positive=("alpha", "tau", "sigma", "length")
        )

    @property
    def amplitude(self) -> float:
        """The ``sigma`` in use (the FNO default when ``sigma`` is None)."""
        return self.sigma if self.sigma is not None else _fno_sigma(self.alpha, self.tau, self._dim)


@dataclasses.dataclass(frozen=True)
class GRF1D(_GRF, _Sampler1D):
    r"""Gaussian random field on the periodic ``[0, length)`` with covariance
    ``sigma^2 (-Delta + tau^2 I)^(-alpha)``, as parameterised in the FNO paper and code.

    The field has zero mean and independent Fourier coefficients with

        ``E |u_k|^2 = sigma^2 ((2 pi k / length)^2 + tau^2)^(-alpha) / length``, ``k != 0``,

    and ``u_0 = 0`` (mode 0 is removed, as in the FNO generator), in the normalisation of
    the module docstring; ``1 / length`` makes this the covariance operator on
    ``L^2(0, length)``, so for ``length = 1`` it is exactly the FNO code's field. The field
    is sampled as the FNO code does, the real part of complex white noise coloured by the
    square root of the spectrum: for ``0 < k < n_x / 2`` the real and imaginary parts of
    ``u_k`` are independent with variance ``E|u_k|^2 / 2``; the Nyquist mode (even
    ``n_x``) is real with variance ``E|u_k|^2``. Every mode the grid can hold is drawn, so
    the grid values are the exact point values of the (truncated) field.

    Args:
        alpha: smoothness exponent, > 0 (default 2.0; the FNO Burgers data).
        tau: inverse length scale, > 0 (default 5.0).
        sigma: amplitude, > 0. ``None`` (default) takes the FNO code's
            ``tau ** (0.5 * (2 * alpha - 1))``. The FNO Burgers dataset uses
            ``sigma = 25``, i.e. the covariance ``625 (-Delta + 25 I)^(-2)``.
        length: period of the domain (default 1.0).

    Raises:
        TypeError / ValueError: non-finite or non-positive parameters.

    References:
        Li, Z. et al. (2021). Fourier neural operator for parametric partial differential
        equations. ICLR. (The generator ``data_generation/navier_stokes/random_fields.py``.)

    Examples:
        >>> import torch
        >>> grf = GRF1D(alpha=2.0, tau=5.0, sigma=25.0)
        >>> u0 = grf.sample(4, 2048, generator=torch.Generator().manual_seed(0))
        >>> tuple(u0.shape), u0.dtype
        ((4, 2048), torch.float64)
    """

    alpha: float = 2.0
    tau: float = 5.0
    sigma: float | None = None
    length: float = 1.0

    _dim: ClassVar[int] = 1

    def mode_variance(self, n_x: int) -> torch.Tensor:
        """``E |u_k|^2`` for the ``rfft`` modes ``k = 0 .. n_x // 2`` (float64, CPU)."""
        k = torch.arange(n_x // 2 + 1, dtype=torch.float64)
        lam = (2.0 * math.pi * k / self.length) ** 2 + self.tau**2
        var = self.amplitude**2 * lam ** (-self.alpha) / self.length
        var[0] = 0.0
        return var

    def _draw(self, n_samples: int, n_x: int, generator: torch.Generator) -> torch.Tensor:
        var = self.mode_variance(n_x)
        # Full-spectrum variances (negative k mirror positive k) in fftfreq order.
        k = torch.fft.fftfreq(n_x, d=1.0 / n_x, dtype=torch.float64).abs().long()
        std = var[k].sqrt()
        noise = torch.randn(n_samples, n_x, 2, generator=generator, dtype=torch.float64)
        coeff = torch.complex(noise[..., 0], noise[..., 1]) * std
        return torch.fft.ifft(coeff, dim=-1).real * n_x


@dataclasses.dataclass(frozen=True)
class GRF2D(_GRF):
    r"""Gaussian random field on the periodic square ``[0, length)^2`` with covariance
    ``sigma^2 (-Delta + tau^2 I)^(-alpha)``, as parameterised in the FNO paper and code.

    Zero mean, independent Fourier coefficients (module-docstring normalisation)

        ``E |u_k|^2 = sigma^2 ((2 pi / length)^2 (k_x^2 + k_y^2) + tau^2)^(-alpha) / length^2``

    for ``k != 0`` and ``u_0 = 0``; for ``length = 1`` this is the FNO code's field. As in
    the FNO code the field is the real part of coloured complex white noise: real and
    imaginary parts of ``u_k`` have variance ``E|u_k|^2 / 2`` each, except on the
    self-conjugate modes (``k = -k`` on the grid: Nyquist rows/columns) where ``u_k`` is
    real with variance ``E|u_k|^2``.

    Args:
        alpha: smoothness exponent, > 0 (default 2.5; the FNO Navier-Stokes data).
        tau: inverse length scale, > 0 (default 7.0).
        sigma: amplitude, > 0. ``None`` (default) takes the FNO code's
            ``tau ** (0.5 * (2 * alpha - 2))`` (``7 ** 1.5`` at the defaults). Note that the
            FNO *paper* writes the covariance as ``7^{3/2} (-Delta + 49 I)^{-2.5}``, i.e.
            ``sigma^2 = 7^{3/2}``, while its generator ``ns_2d.py`` multiplies the square
            root of the spectrum by ``7^{3/2}`` (``sigma = 7^{3/2}``); the datasets were
            made with the code, which this default follows.
        length: side of the square domain (default 1.0).

    Raises:
        TypeError / ValueError: non-finite or non-positive parameters.

    References:
        Li, Z. et al. (2021). Fourier neural operator for parametric partial differential
        equations. ICLR. (``data_generation/navier_stokes/random_fields.py``, ``ns_2d.py``.)

    Examples:
        >>> import torch
        >>> w0 = GRF2D().sample(2, 64, generator=torch.Generator().manual_seed(0))
        >>> tuple(w0.shape)
        (2, 64, 64)
    """

    alpha: float = 2.5
    tau: float = 7.0
    sigma: float | None = None
    length: float = 1.0

    _dim: ClassVar[int] = 2

    def mode_variance(self, n_x: int, n_y: int | None = None) -> torch.Tensor:
        """``E |u_k|^2`` on the full ``fft`` grid, ``(n_x, n_y)`` float64 in fftfreq order."""
        n_y = n_x if n_y is None else n_y
        kx = torch.fft.fftfreq(n_x, d=1.0 / n_x, dtype=torch.float64)
        ky = torch.fft.fftfreq(n_y, d=1.0 / n_y, dtype=torch.float64)
        k2 = kx[:, None] ** 2 + ky[None, :] ** 2
        lam = (2.0 * math.pi / self.length) ** 2 * k2 + self.tau**2
        var = self.amplitude**2 * lam ** (-self.alpha) / self.length**2
        var[0, 0] = 0.0
        return var

    def sample(
        self,
        n_samples: int,
        n_x: int,
        n_y: int | None = None,
        *,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Draw ``n_samples`` fields on ``(x_i, y_j) = (i, j) * length / (n_x, n_y)``.

        Args:
            n_samples: number of fields, >= 1.
            n_x, n_y: grid points per direction, >= 4 (``n_y`` defaults to ``n_x``).
            generator: a CPU ``torch.Generator``; the result depends only on its state.
            dtype: float32 or float64 (default) of the result.
            device: where the result goes (default CPU).

        Returns:
            ``(n_samples, n_x, n_y)`` tensor, ``x`` along dim 1.

        Raises:
            TypeError / ValueError: bad sizes, a non-CPU generator, or a non-float dtype.
        """
        n_y = n_x if n_y is None else n_y
        _check_sample_args(self, n_samples, {"n_x": n_x, "n_y": n_y}, generator, dtype)
        n_x, n_y = int(n_x), int(n_y)
        std = self.mode_variance(n_x, n_y).sqrt()
        noise = torch.randn(n_samples, n_x, n_y, 2, generator=generator, dtype=torch.float64)
        coeff = torch.complex(noise[..., 0], noise[..., 1]) * std
        field = torch.fft.ifft2(coeff).real * (n_x * n_y)
        return field.to(dtype=dtype).to(device)


@dataclasses.dataclass(frozen=True)
class RandomFourierSeries(_Sampler1D):
    r"""Random trigonometric polynomial on the periodic ``[0, length)``.

        ``u(x) = (amplitude / sqrt(Z)) sum_{m=1}^{n_modes} m^(-decay)
        (a_m cos(2 pi m x / length) + b_m sin(2 pi m x / length))``

    with ``a_m, b_m`` independent standard normals and ``Z = sum_m m^(-2 decay)``. The
    field is stationary with zero mean and pointwise standard deviation ``amplitude``;
    mode ``m`` has ``E |u_m|^2 = amplitude^2 m^(-2 decay) / (2 Z)`` (module-docstring
    normalisation), modes above ``n_modes`` are zero. Being band-limited, the grid values
    are exact whenever ``n_modes < n_x / 2``, which ``sample`` requires.

    Args:
        n_modes: number of Fourier modes, >= 1 (default 8).
        amplitude: pointwise standard deviation, > 0 (default 1.0).
        decay: power-law decay of the mode amplitudes, >= 0 (default 1.0: ``1/m``).
        length: period of the domain (default 1.0).

    Raises:
        TypeError / ValueError: bad parameters; ``sample`` raises if
            ``n_modes >= n_x / 2``.

    Examples:
        >>> import torch
        >>> rfs = RandomFourierSeries(n_modes=4)
        >>> rfs.sample(3, 64, generator=torch.Generator().manual_seed(1)).shape
        torch.Size([3, 64])
    """

    n_modes: int = 8
    amplitude: float = 1.0
    decay: float = 1.0
    length: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.n_modes, bool) or not hasattr(self.n_modes, "__index__"):
            raise TypeError(f"RandomFourierSeries: `n_modes` must be an int, got {self.n_modes!r}.")
        if int(self.n_modes) < 1:
            raise ValueError(f"RandomFourierSeries: `n_modes` must be >= 1, got {self.n_modes}.")
        object.__setattr__(self, "n_modes", int(self.n_modes))
        _check_params(self, ("amplitude", "decay", "length"), positive=("amplitude", "length"))
        if self.decay < 0:
            raise ValueError(f"RandomFourierSeries: `decay` must be >= 0, got {self.decay}.")

    def _weights(self) -> torch.Tensor:
        m = torch.arange(1, self.n_modes + 1, dtype=torch.float64)
        w = m ** (-self.decay)
        return self.amplitude * w / w.square().sum().sqrt()

    def mode_variance(self, n_x: int) -> torch.Tensor:
        """``E |u_m|^2`` for the ``rfft`` modes ``m = 0 .. n_x // 2`` (float64, CPU)."""
        var = torch.zeros(n_x // 2 + 1, dtype=torch.float64)
        var[1 : self.n_modes + 1] = self._weights().square() / 2
        return var

    def _draw(self, n_samples: int, n_x: int, generator: torch.Generator) -> torch.Tensor:
        if 2 * self.n_modes >= n_x:
            raise ValueError(
                f"RandomFourierSeries.sample: `n_modes` (={self.n_modes}) must be < n_x / 2 "
                f"(n_x={n_x}) for the grid to represent every mode; use n_x >= "
                f"{2 * self.n_modes + 1} or fewer modes."
            )
        ab = torch.randn(n_samples, self.n_modes, 2, generator=generator, dtype=torch.float64)
        # a cos + b sin  <->  rfft coefficient n (a - i b) / 2.
        coeff = torch.zeros(n_samples, n_x // 2 + 1, dtype=torch.complex128)
        coeff[:, 1 : self.n_modes + 1] = torch.complex(ab[..., 0], -ab[..., 1]) * (
            self._weights() * (n_x / 2)
        )
        return torch.fft.irfft(coeff, n=n_x, dim=-1)
