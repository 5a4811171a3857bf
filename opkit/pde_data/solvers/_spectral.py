"""Pseudo-spectral building blocks shared by the periodic solvers of `opkit.pde_data`.

Conventions: a periodic grid on ``[0, length)`` with ``n`` points ``x_j = j * length / n``;
the state of a real field is its ``torch.fft.rfft`` (``n // 2 + 1`` complex modes, mode
``m`` has angular wavenumber ``k_m = 2 pi m / length``). In 2-D the last dimension (``y``)
is real-transformed and the second-to-last (``x``) fully transformed.

Batch invariance. Datasets must not depend on what else is in a batch, byte for byte.
Measured on the CPU (torch 2.13, MKL FFT): ``torch.fft.rfft2`` is *not* bitwise
batch-invariant (a batch of one takes another code path); batched 1-D transforms are, for
rows up to 32 KiB, but longer real transforms are not; and the 1-D inverse of a strided
(transposed) input is not. So the solvers transform with `rfft` / `irfft` / `rfft2` /
`irfft2` from here, which compose 1-D transforms on contiguous data and fall back to one
sample per call for long rows. Everything else in the time steppers is elementwise with a
result independent of the element's position in memory: sums, products of real tensors,
and complex products whose coefficient is purely real or purely imaginary (the vectorised
and scalar-tail paths of a general complex product can round differently; see `cmul`).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm  # not tqdm.auto: in Jupyter without ipywidgets it warns on import

__all__ = [
    "rfft_wavenumbers",
    "fft_wavenumbers",
    "dealias_mask",
    "rfft",
    "irfft",
    "rfft2",
    "irfft2",
    "short_rows",
    "cmul",
    "complex_dtype",
    "check_real_dtype",
    "step_schedule",
    "ETDRK4Coefficients",
    "etdrk4_coefficients",
    "ETDRK4",
    "BandLimitedNonlinearity",
    "QuadraticFlux",
    "step_progress",
    "check_real_param",
    "check_grid_size",
    "ETDRK4_SOLVER",
    "QUADRATIC_FLUX_SOLVER",
    "quadratic_flux",
]

# The scheme of the ETDRK4 solvers, as written to dataset files (before the dealiasing).
ETDRK4_SOLVER = "Fourier pseudo-spectral + ETDRK4 (Kassam-Trefethen contour coefficients)"
# ... and of those whose nonlinearity is `quadratic_flux` (Burgers, Kuramoto-Sivashinsky).
QUADRATIC_FLUX_SOLVER = f"{ETDRK4_SOLVER}, 2/3-rule dealiasing of the u u_x term"


def rfft_wavenumbers(n: int, length: float, *, odd: bool = False) -> torch.Tensor:
    """Angular wavenumbers ``2 pi m / length`` of the ``rfft`` modes ``m = 0 .. n // 2``.

    Args:
        n: number of grid points.
        length: period of the domain.
        odd: if True, the Nyquist mode (even ``n``) gets wavenumber 0. Use this for odd
            derivatives: the Nyquist mode ``cos(pi j)`` of a real grid function has no
            real-valued derivative, so spectral differentiation drops it (Trefethen,
            *Spectral Methods in MATLAB*, ch. 3).

    Returns:
        float64 tensor of shape ``(n // 2 + 1,)`` on the CPU.
    """
    k = torch.arange(n // 2 + 1, dtype=torch.float64) * (2.0 * math.pi / length)
    if odd and n % 2 == 0:
        k[-1] = 0.0
    return k


def fft_wavenumbers(n: int, length: float, *, odd: bool = False) -> torch.Tensor:
    """Angular wavenumbers of the full ``fft`` modes in ``torch.fft.fftfreq`` order.

    Args and returns as `rfft_wavenumbers`, shape ``(n,)``; for even ``n`` the Nyquist
    index ``n // 2`` carries ``-pi n / length`` (or 0 with ``odd=True``).
    """
    m = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64)
    k = m * (2.0 * math.pi / length)
    if odd and n % 2 == 0:
        k[n // 2] = 0.0
    return k


def dealias_mask(n: int, *, full: bool = False) -> torch.Tensor:
    """Orszag's 2/3 rule: keep the modes ``|m| < n / 3``, zero the rest.

    If every retained mode satisfies ``|m| < n / 3``, the product of two such fields has
    modes ``|m| < 2n / 3``, whose aliases ``m - n`` fall outside the retained band, so a
    quadratic term truncated to the band is exactly alias-free.

    Args:
        n: number of grid points.
        full: mask for the full ``fft`` layout (``(n,)``) instead of ``rfft`` (``(n//2+1,)``).

    Returns:
        float64 tensor of zeros and ones on the CPU.
    """
    m = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64) if full else None
    if m is None:
        m = torch.arange(n // 2 + 1, dtype=torch.float64)
    return (3.0 * m.abs() < n).to(torch.float64)


# Largest transform row (bytes) that is handed to the FFT library as one batched call.
# Measured with the MKL FFT of the CPU build of torch 2.13: real transforms of rows up to
# 32 KiB (4096 float64 / 8192 float32 points) give bitwise the same row whatever the batch
# size and position; longer rows do not (the library then changes strategy with the batch).
# Longer rows are therefore transformed one sample per call, which costs little because
# each call is then long.
_BATCHED_ROW_BYTES = 32 * 1024


def short_rows(n: int, dtype: torch.dtype) -> bool:
    """Whether real rows of ``n`` points of ``dtype`` are short enough for `rfft` / `irfft`
    to transform a whole batch in one call (which is then all they do)."""
    return n * torch.empty((), dtype=dtype).element_size() <= _BATCHED_ROW_BYTES


def _per_sample(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, row_bytes: int):
    if x.shape[0] <= 1 or row_bytes <= _BATCHED_ROW_BYTES:
        return fn(x)
    return torch.cat([fn(x[i : i + 1]) for i in range(x.shape[0])])


def rfft(x: torch.Tensor) -> torch.Tensor:
    """Batch-invariant real FFT over the last dim: ``(batch, ..., n)`` -> ``(..., n//2+1)``.

    Bitwise, a sample's transform does not depend on the rest of the batch (dim 0): short
    rows go to the FFT library in one batched call (invariant, measured), long rows one
    sample per call.
    """
    return _per_sample(lambda y: torch.fft.rfft(y, dim=-1), x, x.shape[-1] * x.element_size())


def irfft(x_hat: torch.Tensor, n: int) -> torch.Tensor:
    """Batch-invariant inverse of `rfft`: ``(batch, ..., m)`` -> ``(batch, ..., n)`` real.

    ``m < n // 2 + 1`` zero-pads (spectral interpolation onto ``n`` points).
    """
    row = n * x_hat.element_size() // 2
    return _per_sample(lambda y: torch.fft.irfft(y, n=n, dim=-1), x_hat, row)


def rfft2(x: torch.Tensor) -> torch.Tensor:
    """2-D real FFT over the last two dims, composed of 1-D transforms (batch-invariant).

    ``(batch, ..., n_x, n_y)`` real -> ``(batch, ..., n_x, n_y // 2 + 1)`` complex; equals
    ``torch.fft.rfft2(x)`` up to rounding. Dim 0 must be the batch (pass ``f[None]`` for a
    single field).
    """

    def fn(y: torch.Tensor) -> torch.Tensor:
        # The transform along dim -2 hands on a transposed memory layout; made contiguous
        # so that what follows sees the same layout for every batch.
        return torch.fft.fft(torch.fft.rfft(y, dim=-1), dim=-2).contiguous()

    row = max(x.shape[-1] * x.element_size(), x.shape[-2] * 2 * x.element_size())
    return _per_sample(fn, x, row)


def irfft2(x_hat: torch.Tensor, n_y: int) -> torch.Tensor:
    """Inverse of `rfft2`: ``(batch, ..., n_x, n_y // 2 + 1)`` -> ``(batch, ..., n_x, n_y)``."""

    def fn(y: torch.Tensor) -> torch.Tensor:
        # A real inverse transform of the strided output of the dim -2 transform is not
        # bitwise batch-invariant on the CPU (measured); of a contiguous one it is.
        return torch.fft.irfft(torch.fft.ifft(y, dim=-2).contiguous(), n=n_y, dim=-1)

    row = max(n_y * x_hat.element_size() // 2, x_hat.shape[-2] * x_hat.element_size())
    return _per_sample(fn, x_hat, row)


def cmul(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Complex product ``a * c`` computed with real arithmetic.

    A general complex product in PyTorch's CPU kernels can round differently in the
    vectorised body and the scalar tail of a loop, so the same sample could get other
    bits in another batch. Spelled out as real products and sums, every element is
    rounded the same way wherever it sits in memory.
    """
    ar, ai = a.real, a.imag
    cr, ci = c.real, c.imag
    return torch.complex(ar * cr - ai * ci, ar * ci + ai * cr)


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """The complex dtype matching a real floating dtype (float32 -> complex64, ...)."""
    return torch.complex64 if dtype == torch.float32 else torch.complex128


def check_real_dtype(u0: torch.Tensor) -> None:
    """Raise ``TypeError`` unless ``u0`` is float32 or float64 (what the FFTs support)."""
    if u0.dtype not in (torch.float32, torch.float64):
        raise TypeError(
            f"`u0` must be float32 or float64 for the spectral solvers, got {u0.dtype}. "
            "Convert with u0.double() (recommended for data generation) or u0.float()."
        )


def step_schedule(t: torch.Tensor, dt: float) -> list[tuple[int, float]]:
    """Steps that land exactly on each output time.

    Each interval ``[t[i], t[i+1]]`` is split into ``n = ceil(length / dt)`` equal steps of
    size ``h = length / n <= dt``; an interval that is an integer multiple of ``dt`` up to
    rounding (relative 1e-9) gets exactly that many steps.

    Returns:
        one ``(n_steps, h)`` pair per interval (``len(t) - 1`` pairs).
    """
    times = t.detach().to("cpu", torch.float64).tolist()
    out = []
    for a, b in zip(times[:-1], times[1:]):
        ratio = (b - a) / dt
        n = round(ratio)
        if n < 1 or abs(ratio - n) > 1e-9 * max(n, 1):
            n = max(1, math.ceil(ratio))
        out.append((n, (b - a) / n))
    return out


@dataclass(frozen=True)
class ETDRK4Coefficients:
    """Diagonal coefficients of one ETDRK4 step of size ``h`` (Cox & Matthews 2002).

    With ``z = h L``: ``E = e^z``, ``E2 = e^{z/2}``, ``Q = h (e^{z/2} - 1) / z``,
    ``f1 = h (-4 - z + e^z (4 - 3z + z^2)) / z^3``, ``f2 = h (2 + z + e^z (z - 2)) / z^3``,
    ``f3 = h (-4 - 3z - z^2 + e^z (4 - z)) / z^3``. ``f2`` is stored doubled (``2 f2``),
    which is what the step uses.
    """

    E: torch.Tensor
    E2: torch.Tensor
    Q: torch.Tensor
    f1: torch.Tensor
    f2x2: torch.Tensor
    f3: torch.Tensor

    def to(self, dtype: torch.dtype, device: torch.device | str | None) -> ETDRK4Coefficients:
        return ETDRK4Coefficients(
            *(getattr(self, f).to(device=device, dtype=dtype) for f in self.__dataclass_fields__)
        )


def etdrk4_coefficients(
    linear: torch.Tensor, h: float, *, n_contour: int = 64
) -> ETDRK4Coefficients:
    """ETDRK4 coefficients by the contour integrals of Kassam & Trefethen (2005).

    The phi-functions above suffer catastrophic cancellation for small ``|z|``. Each is
    analytic, so it equals its mean over the circle ``z + e^{i theta}``; the trapezoidal
    rule with ``n_contour`` points on the full circle converges geometrically and needs no
    special case at ``z = 0``. The full circle (not K&T's upper half and real part) also
    serves complex ``L``.

    Args:
        linear: the diagonal of ``L`` (any shape), real or complex. Computed in float64 on
            the CPU, so CPU and GPU runs use identical coefficients.
        h: the step size, positive.
        n_contour: trapezoidal points on the circle (default 64; 32 on the half circle is
            K&T's choice and reaches double precision).

    Returns:
        `ETDRK4Coefficients` on the CPU, float64 if ``linear`` is real, else complex128.

    Raises:
        ValueError: if ``h`` is not positive and finite or ``n_contour < 8``.

    References:
        Kassam, A.-K. & Trefethen, L. N. (2005). Fourth-order time-stepping for stiff PDEs.
        SIAM J. Sci. Comput. 26(4), 1214-1233.
        Cox, S. M. & Matthews, P. C. (2002). Exponential time differencing for stiff
        systems. J. Comput. Phys. 176, 430-455.
    """
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"`h` must be a positive finite step size, got {h!r}.")
    if n_contour < 8:
        raise ValueError(f"`n_contour` must be >= 8, got {n_contour}.")
    real = not linear.is_complex()
    lin = linear.detach().to("cpu", torch.complex128)
    z = h * lin
    theta = torch.arange(1, n_contour + 1, dtype=torch.float64) - 0.5
    roots = torch.exp(1j * (2.0 * math.pi / n_contour) * theta.to(torch.complex128))
    lr = z.unsqueeze(-1) + roots  # (..., n_contour)
    elr = torch.exp(lr)
    lr2, lr3, three_lr = lr**2, lr**3, 3 * lr  # each used twice
    q = h * torch.mean((torch.exp(lr / 2) - 1) / lr, dim=-1)
    f1 = h * torch.mean((-4 - lr + elr * (4 - three_lr + lr2)) / lr3, dim=-1)
    f2 = h * torch.mean((2 + lr + elr * (lr - 2)) / lr3, dim=-1)
    f3 = h * torch.mean((-4 - three_lr - lr2 + elr * (4 - lr)) / lr3, dim=-1)
    e = torch.exp(z)
    e2 = torch.exp(z / 2)
    out = [e, e2, q, f1, 2 * f2, f3]
    if real:
        out = [c.real.contiguous() for c in out]
    return ETDRK4Coefficients(*out)


class ETDRK4:
    """Batched ETDRK4 integrator for ``v_t = L v + N(v)`` with diagonal ``L`` (Fourier space).

    One step of size ``h`` (Cox & Matthews 2002, as in Kassam & Trefethen 2005)::

        a = E2 v + Q N(v)
        b = E2 v + Q N(a)
        c = E2 a + Q (2 N(b) - N(v))
        v <- E v + f1 N(v) + 2 f2 (N(a) + N(b)) + f3 N(c)

    Every operation is per sample (per-row FFTs inside ``N``, elementwise products with
    real coefficients otherwise), so a sample's result does not depend on its batch and a
    sample that blows up turns into non-finite values without touching the others.

    Args:
        linear: diagonal of ``L``, shape ``spectral_shape``, real (float64) or complex.
        nonlinear: ``N``, maps ``(batch, *spectral_shape)`` complex to the same. A
            `BandLimitedNonlinearity` makes `integrate` take the in-place band path
            (`_integrate_band`): the same numbers, fewer passes over memory.
        n_contour: points of the contour integral (see `etdrk4_coefficients`).
    """

    # Coefficient entries kept per stepper (two per distinct step size, dtype and device:
    # the full sets and their band copies), oldest forgotten first.
    CACHE_SIZE = 32

    def __init__(
        self,
        linear: torch.Tensor,
        nonlinear: Callable[[torch.Tensor], torch.Tensor],
        *,
        n_contour: int = 64,
    ) -> None:
        self.linear = linear
        self.nonlinear = nonlinear
        self.n_contour = n_contour
        self._cache: dict[tuple, Any] = {}

    def coefficients(
        self, h: float, dtype: torch.dtype, device: torch.device
    ) -> ETDRK4Coefficients:
        """Coefficients for step ``h`` cast to ``dtype`` (complex) on ``device``, cached."""
        key = (h, dtype, str(device))
        if key not in self._cache:
            c = etdrk4_coefficients(self.linear, h, n_contour=self.n_contour)
            # A real coefficient is stored as a complex one with zero imaginary part: the
            # product with the state is then a complex-by-complex product, which is
            # batch-invariant because one factor's imaginary part is exactly zero (see
            # the module docstring) and faster than a mixed real-complex product.
            self._remember(key, c.to(dtype, device))
        return self._cache[key]

    def _remember(self, key: tuple, value: Any) -> None:
        """Cache ``value``, forgetting the oldest entries beyond `CACHE_SIZE`."""
        self._cache[key] = value
        while len(self._cache) > self.CACHE_SIZE:
            del self._cache[next(iter(self._cache))]

    def step(self, v: torch.Tensor, c: ETDRK4Coefficients) -> torch.Tensor:
        """One ETDRK4 step of ``v`` (``(batch, *spectral_shape)``, complex)."""
        n = self.nonlinear
        nv = n(v)
        e2v = c.E2 * v
        a = e2v + c.Q * nv
        na = n(a)
        b = e2v + c.Q * na
        nb = n(b)
        cc = c.E2 * a + c.Q * (2 * nb - nv)
        nc = n(cc)
        return c.E * v + c.f1 * nv + c.f2x2 * (na + nb) + c.f3 * nc

    def advance(
        self, v: torch.Tensor, duration: float, dt: float, *, progress: bool = False
    ) -> torch.Tensor:
        """Integrate ``v`` over ``duration`` with steps ``<= dt``; returns the final state."""
        if duration <= 0:
            return v
        t = torch.tensor([0.0, duration], dtype=torch.float64)
        return self.integrate(v, t, dt, progress=progress)[-1]

    def integrate(
        self, v: torch.Tensor, t: torch.Tensor, dt: float, *, progress: bool = False
    ) -> list[torch.Tensor]:
        """States at the output times ``t`` (``t[0]`` is the time of ``v``).

        Args:
            v: ``(batch, *spectral_shape)`` complex initial state.
            t: 1-D increasing output times.
            dt: largest step; each output interval uses equal steps ``<= dt``
                (`step_schedule`), so outputs land exactly on ``t``.
            progress: show a tqdm bar over the steps.

        Returns:
            list of ``len(t)`` states, the first being ``v`` itself.
        """
        schedule = step_schedule(t, dt)
        if isinstance(self.nonlinear, BandLimitedNonlinearity) and v.ndim == 2:
            return self._integrate_band(v, schedule, progress)
        out = [v]
        with step_progress(schedule, progress) as bar:
            for n_steps, h in schedule:
                c = self.coefficients(h, v.dtype, v.device)
                for _ in range(n_steps):
                    v = self.step(v, c)
                    bar.update()
                out.append(v)
        return out

    def _integrate_band(
        self, v: torch.Tensor, schedule: list[tuple[int, float]], progress: bool
    ) -> list[torch.Tensor]:
        """`integrate` for a `BandLimitedNonlinearity`: the arithmetic of `step`, in place.

        ``N`` reads and writes only the modes ``[:band]``, so outside the band the step is
        ``v <- E v`` (the other terms add products with exact zeros) and the stages ``a``,
        ``b``, ``c`` are needed inside it only. Inside the band every value comes from the
        same IEEE operations on the same operands as in `step`, in buffers allocated once:

        - the band of each stage is written straight into the zero-padded buffer that the
          nonlinear term transforms (no mask multiply);
        - a coefficient product and the sum after it are one `torch.addcmul`,
          ``x + (1 c) y``: the product by 1 is exact, and a coefficient's imaginary part
          is zero, so the complex product rounds like the real one in every code path;
        - ``E2 a + Q (2 N(b) - N(v))`` is ``E2 a + (-1 Q) (N(v) - 2 N(b))`` (negation is
          exact and rounding symmetric), and ``N(a) + N(b)``, ``N(v) - 2 N(b)`` are one
          pass (products by 1 and -2 are exact);
        - the update accumulates in place in the order of `step`,
          ``((E v + f1 N(v)) + 2 f2 (N(a) + N(b))) + f3 N(c)``; its first sum is formed
          together with ``a = E2 v + Q N(v)``, as one `torch.addcmul` over the stacked
          ``[E v, E2 v]`` and ``[f1, Q]`` (the same operation per element, one pass less).

        The only freedom left is the sign of an exact zero, which no nonzero sum sees.
        ``tests/pde_data/test_spectral.py`` checks the bits against `step`.
        """
        nl = self.nonlinear
        band, width = nl.band, nl.input_modes
        batch, n_modes = v.shape
        if v.requires_grad:
            raise ValueError(
                "the state requires grad, but this ETDRK4 path works in place and is not "
                "differentiable; pass a detached initial value (`u0.detach()`)."
            )
        if n_modes != nl.n_modes:
            raise ValueError(
                f"the state has {n_modes} modes but the nonlinear term expects {nl.n_modes}."
            )
        # Slots: 0 N(b), 1 v then E v + f1 N(v) then the new v, 2 N(a), 3 N(v), 4 b,
        # 5 a then N(a) + N(b), 6 c, 7 N(v) - 2 N(b) then N(c); zero outside the band,
        # which is never written. [N(a), N(v)], [N(a) + N(b), N(v) - 2 N(b)] and
        # [E v + f1 N(v), a] are then strided views.
        slots = v.new_zeros(8, batch, width)
        slots[1, :, :band] = v[:, :band]
        high = v[:, band:].clone()
        ev_e2v = v.new_empty(2, batch, band)
        e2x = ev_e2v[1]  # E2 v, then E2 a
        # Every view used in the loop, made once (indexing costs as much as a small op).
        low = slots[..., :band]
        z_v, z_a, z_b, z_c = slots[1], slots[5], slots[4], slots[6]
        rows_nb, rows_na, rows_nv, rows_nc = slots[0], slots[2], slots[3], slots[7]
        nb, v_, na, nv, b_, a_, c_, d_ = low.unbind(0)
        nc, s_ = d_, a_  # N(c) overwrites N(v) - 2 N(b) once spent, N(a) + N(b) overwrites a
        na_nv, s_d, v_a, v_1, nv_1 = low[2:4], low[5::2], low[1::4], v_[None], nv[None]
        one_two = torch.tensor([1.0, -2.0], dtype=torch.float64)
        one_two = one_two.to(device=v.device, dtype=v.dtype).view(2, 1, 1)
        out = [v]
        evaluate = nl.evaluate
        # Modes above the band that are exactly zero stay zero (E 0 = 0): skip them.
        has_high = bool(high.any())
        mul, addcmul = torch.mul, torch.addcmul
        # The steps run in inference mode: the same kernels, so the same bits, with less
        # dispatch work per small operation. Every tensor they write was made outside it,
        # and so were the cached coefficients: no inference tensor leaves this method or
        # enters a cache.
        with step_progress(schedule, progress) as bar:
            for n_steps, h in schedule:
                c = self.coefficients(h, v.dtype, v.device)
                e_e2, f1_q, q, f2x2, f3, e_high = self._band_coefficients(h, c, band)
                e2 = e_e2[1]
                with torch.inference_mode():
                    for _ in range(n_steps):
                        evaluate(z_v, rows_nv, nv)
                        mul(e_e2, v_1, out=ev_e2v)  # E v, E2 v
                        # E v + (1 f1) N(v) (the update's first sum) and a = E2 v + (1 Q) N(v)
                        addcmul(ev_e2v, f1_q, nv_1, out=v_a)
                        evaluate(z_a, rows_na, na)
                        addcmul(e2x, q, na, out=b_)
                        evaluate(z_b, rows_nb, nb)
                        mul(e2, a_, out=e2x)
                        # N(a) + (1 * 1) N(b) and N(v) + (1 * -2) N(b): exact products, one pass
                        addcmul(na_nv, one_two, nb, out=s_d)
                        addcmul(e2x, q, d_, value=-1, out=c_)  # E2 a + (-1 Q) (N(v) - 2 N(b))
                        evaluate(z_c, rows_nc, nc)
                        v_.addcmul_(f2x2, s_)  # ((E v + f1 N(v)) + 2 f2 (...)) + f3 N(c)
                        v_.addcmul_(f3, nc)
                        if has_high:
                            high.mul_(e_high)
                        bar.update()
                out.append(torch.cat([v_, high], dim=-1))
        return out

    def _band_coefficients(
        self, h: float, c: ETDRK4Coefficients, band: int
    ) -> tuple[torch.Tensor, ...]:
        """``[E, E2]`` and ``[f1, Q]`` on the band stacked as ``(2, 1, band)``, ``Q, 2 f2,
        f3`` on the band and ``E`` above it (contiguous), for `_integrate_band`."""
        key = ("band", h, c.E.dtype, str(c.E.device), band)
        if key not in self._cache:
            e_e2 = torch.stack([c.E[:band], c.E2[:band]])[:, None]
            f1_q = torch.stack([c.f1[:band], c.Q[:band]])[:, None]
            on_band = [x[:band].contiguous() for x in (c.Q, c.f2x2, c.f3)]
            self._remember(key, (e_e2, f1_q, *on_band, c.E[band:].contiguous()))
        return self._cache[key]


class BandLimitedNonlinearity(abc.ABC):
    """A nonlinear term ``N(v)`` of an rfft state that reads and writes only a band of modes.

    The dealiased terms of the 1-D solvers have this form: ``N`` sees the modes
    ``[:band]`` of ``v`` (the rest is zero in the transform it takes) and its result is zero
    outside them. `ETDRK4` then integrates the band and the modes above it separately
    (`ETDRK4._integrate_band`). Subclasses set ``n_modes`` (the state's last dimension),
    ``band`` and ``input_modes`` (the length of the zero-padded spectrum the inverse FFT
    reads, ``>= band``) and implement `evaluate`.
    """

    n_modes: int
    band: int
    input_modes: int

    @abc.abstractmethod
    def evaluate(self, z: torch.Tensor, rows: torch.Tensor, out: torch.Tensor) -> None:
        """Write ``N`` on the band into ``out``.

        Args:
            z: ``(batch, input_modes)`` complex, the state's band followed by zeros.
            rows: ``(batch, input_modes)`` complex, contiguous; ``out`` is its band. An
                implementation may write the whole of it, the band with ``N`` and exact
                zeros (or NaN where its transform is not finite) after it.
            out: ``(batch, band)`` complex view of ``rows`` to write.
        """

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        """``N(v)`` of a full state ``(batch, n_modes)``, zero outside the band."""
        z = v.new_zeros(*v.shape[:-1], self.input_modes)
        z[..., : self.band] = v[..., : self.band]
        rows = torch.zeros_like(z)
        self.evaluate(z, rows, rows[..., : self.band])
        out = torch.zeros_like(v)
        out[..., : self.band] = rows[..., : self.band]
        return out


class QuadraticFlux(BandLimitedNonlinearity):
    """``N(v) = -(scale i k / 2) F[u^2]``, the flux ``-scale u u_x`` in Fourier space.

    Dealiased by the 2/3 rule: ``u`` is formed from the modes ``|m| < n_x / 3`` only (the
    band) and ``F[u^2]`` is truncated to the same band (exactly alias-free for the
    quadratic flux); the Nyquist mode, outside the band, would get the odd-derivative
    wavenumber 0. ``v`` is the rfft state ``(batch, n_x // 2 + 1)`` in ``dtype``'s complex
    type on ``device``. The purely imaginary coefficient keeps the product
    batch-invariant (module docstring).
    """

    def __init__(
        self, n_x: int, length: float, scale: float, dtype: torch.dtype, device: torch.device
    ) -> None:
        kd = rfft_wavenumbers(n_x, length, odd=True)
        mask = dealias_mask(n_x)
        self.n_x = n_x
        self.n_modes = self.input_modes = n_x // 2 + 1
        self.band = int(mask.sum())  # the modes 0 .. band - 1, as dealias_mask keeps
        flux = -0.5j * scale * kd * mask  # zero outside the band
        self.flux = flux.to(device=device, dtype=complex_dtype(dtype))
        self.short_rows = short_rows(n_x, dtype)

    def evaluate(self, z: torch.Tensor, rows: torch.Tensor, out: torch.Tensor) -> None:
        if self.short_rows:  # what `irfft` and `rfft` do for such rows, called directly
            u = torch.fft.irfft(z, self.n_x)
            u_hat = torch.fft.rfft(u.mul_(u))
        else:
            u = irfft(z, self.n_x)
            u_hat = rfft(u.mul_(u))
        torch.mul(self.flux, u_hat, out=rows)  # the whole row: no slicing


def quadratic_flux(
    n_x: int, length: float, scale: float, dtype: torch.dtype, device: torch.device
) -> QuadraticFlux:
    """The `QuadraticFlux` ``-scale u u_x`` on ``n_x`` points of a period ``length``."""
    return QuadraticFlux(n_x, length, scale, dtype, device)


def step_progress(schedule: list[tuple[int, float]], enabled: bool) -> tqdm:
    """A tqdm bar over the steps of ``schedule`` (a no-op bar when not ``enabled``)."""
    total = sum(n for n, _ in schedule)
    return tqdm(total=total, disable=not enabled, unit="step", desc="solve", leave=False)


def check_real_param(obj: object, name: str, *, positive: bool = False, nonneg: bool = False):
    """Validate and normalise a real parameter of a frozen dataclass (in ``__post_init__``).

    Raises:
        TypeError: if the value is not a real number (bool is rejected).
        ValueError: if it is not finite, or not positive / non-negative when required.
    """
    value = getattr(obj, name)
    cls = type(obj).__name__
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, (int, float)):
        try:
            if isinstance(value, (bool, str, bytes)):
                raise TypeError
            value = float(value)  # numpy scalars and 0-d tensors
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"{cls}: `{name}` must be a real number, got {type(value).__name__} {value!r}."
            ) from None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{cls}: `{name}` must be finite, got {value!r}.")
    if positive and value <= 0:
        raise ValueError(f"{cls}: `{name}` must be > 0, got {value!r}.")
    if nonneg and value < 0:
        raise ValueError(f"{cls}: `{name}` must be >= 0, got {value!r}.")
    object.__setattr__(obj, name, value)
    return value


def check_grid_size(obj: object, name: str, *, minimum: int = 8) -> int:
    """Validate and normalise an integer grid size ``>= minimum`` of a frozen dataclass."""
    value = getattr(obj, name)
    cls = type(obj).__name__
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(
            f"{cls}: `{name}` must be an integer number of grid points, "
            f"got {type(value).__name__} {value!r}."
        )
    value = int(value)
    if value < minimum:
        raise ValueError(
            f"{cls}: `{name}` (={value}) must be >= {minimum}; a spectral grid needs at "
            "least that many points to resolve anything after 2/3 dealiasing."
        )
    object.__setattr__(obj, name, value)
    return value
