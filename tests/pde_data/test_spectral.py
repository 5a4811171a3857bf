"""The pseudo-spectral building blocks: ETDRK4 coefficients and order, FFT helpers."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

from opkit.pde_data.solvers._spectral import (
    ETDRK4,
    cmul,
    dealias_mask,
    etdrk4_coefficients,
    fft_wavenumbers,
    irfft,
    irfft2,
    rfft,
    rfft2,
    rfft_wavenumbers,
    step_schedule,
)
from tests.problems import bernoulli_ode


def _phi_reference(z: complex, h: float) -> list[complex]:
    """The six ETDRK4 coefficients at ``z`` in 60-digit arithmetic (no cancellation)."""
    with mpmath.workdps(60):
        z = mpmath.mpc(z)
        e = mpmath.exp(z)
        if z == 0:  # the limits 1, 1, h/2, h/6, 2 h/6, h/6
            return [1, 1, h / 2, h / 6, 2 * h / 6, h / 6]
        return [
            complex(e),
            complex(mpmath.exp(z / 2)),
            complex(h * (mpmath.exp(z / 2) - 1) / z),
            complex(h * (-4 - z + e * (4 - 3 * z + z**2)) / z**3),
            complex(2 * h * (2 + z + e * (z - 2)) / z**3),
            complex(h * (-4 - 3 * z - z**2 + e * (4 - z)) / z**3),
        ]


def test_etdrk4_coefficients_match_extended_precision():
    h = 0.3
    z = [0.0, 1e-10, -1e-6, 1e-3, -0.5, 2.0, -30.0, -1e3, -1e6, 3e-4 + 2e-4j, -2 + 5j, 40j]
    lin = torch.tensor([v / h for v in z], dtype=torch.complex128)
    c = etdrk4_coefficients(lin, h)
    got = torch.stack([c.E, c.E2, c.Q, c.f1, c.f2x2, c.f3], dim=1)
    for i, zi in enumerate(z):
        ref = np.array(_phi_reference(zi, h))
        err = np.abs(got[i].numpy() - ref) / np.maximum(np.abs(ref), 1e-300)
        assert err.max() < 1e-12, (zi, err)


def test_etdrk4_coefficients_real_for_real_operator():
    c = etdrk4_coefficients(torch.tensor([0.0, -1.0, 2.0], dtype=torch.float64), 0.1)
    assert c.f1.dtype == torch.float64
    # The q coefficient of a zero operator is h/2, of f1 h/6: the RK4 weights.
    assert c.Q[0].item() == pytest.approx(0.05, rel=1e-14)
    assert c.f1[0].item() == pytest.approx(0.1 / 6, rel=1e-14)


def test_etdrk4_coefficients_reject_bad_step():
    with pytest.raises(ValueError, match="`h`"):
        etdrk4_coefficients(torch.zeros(3), -0.1)
    with pytest.raises(ValueError, match="`h`"):
        etdrk4_coefficients(torch.zeros(3), float("nan"))


def test_etdrk4_fourth_order_on_bernoulli_ode():
    """Regime: non-stiff, ``|h lam| <= 1`` with ``lam in {-2, 0, 0.5, 1 + 2i}``, where ETDRK4
    has its classical order 4 (no stiff order reduction). Fitted slope of the error
    against ``h`` must be >= 3.5 (measured 4.0)."""
    lam = torch.tensor([-2.0, 0.0, 0.5, 1.0 + 2.0j], dtype=torch.complex128)
    u0 = torch.tensor([[0.7, 1.5, 0.2, 0.3 - 0.1j]], dtype=torch.complex128)
    stepper = ETDRK4(lam, lambda v: -v * v)
    exact = bernoulli_ode(u0, lam, 1.0)
    hs = [1 / 4, 1 / 8, 1 / 16, 1 / 32]
    errs = []
    for h in hs:
        v = stepper.advance(u0, 1.0, h)
        errs.append(float((v - exact).abs().max()))
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert slope >= 3.5, (slope, errs)
    assert errs[-1] < 1e-7


def test_etdrk4_is_exact_for_linear_problems():
    lam = torch.tensor([-50.0, -1.0, 0.0, 3.0], dtype=torch.float64)
    stepper = ETDRK4(lam, lambda v: torch.zeros_like(v))
    v0 = torch.ones(1, 4, dtype=torch.complex128)
    v = stepper.advance(v0, 2.0, 0.7)
    assert torch.allclose(v[0].real, torch.exp(2.0 * lam), rtol=1e-13, atol=0)


def test_step_schedule_lands_on_output_times():
    t = torch.tensor([0.0, 0.1, 0.3, 0.35, 1.0], dtype=torch.float64)
    sched = step_schedule(t, 0.05)
    assert [n for n, _ in sched] == [2, 4, 1, 13]
    for (n, h), a, b in zip(sched, t[:-1].tolist(), t[1:].tolist()):
        assert h <= 0.05 * (1 + 1e-9)
        assert n * h == pytest.approx(b - a, rel=1e-14)
    # A non-multiple interval takes ceil steps of a smaller size.
    assert step_schedule(torch.tensor([0.0, 0.12]), 0.05) == [(3, pytest.approx(0.04))]


def test_wavenumbers_and_spectral_derivative():
    n, length = 32, 3.0
    x = torch.arange(n, dtype=torch.float64) * length / n
    u = torch.sin(2 * math.pi * 5 * x / length)
    k = rfft_wavenumbers(n, length, odd=True)
    du = torch.fft.irfft(1j * k * torch.fft.rfft(u), n=n)
    exact = (2 * math.pi * 5 / length) * torch.cos(2 * math.pi * 5 * x / length)
    assert torch.allclose(du, exact, atol=1e-12)
    assert k[-1] == 0.0  # Nyquist has no odd derivative
    kf = fft_wavenumbers(n, length)
    assert kf[1].item() == pytest.approx(2 * math.pi / length)
    assert kf[-1].item() == pytest.approx(-2 * math.pi / length)
    assert kf[n // 2].item() == pytest.approx(-math.pi * n / length)
    assert fft_wavenumbers(n, length, odd=True)[n // 2] == 0.0


def test_dealias_mask_two_thirds_rule():
    # n = 12: keep |m| < 4, i.e. m = 0..3.
    assert dealias_mask(12).tolist() == [1, 1, 1, 1, 0, 0, 0]
    full = dealias_mask(12, full=True)
    m = torch.fft.fftfreq(12, 1 / 12)
    assert torch.equal(full.bool(), m.abs() < 4)
    # Alias-free: the product of two band-limited fields, truncated, is exact.
    n = 48
    x = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    a, b = torch.cos(15 * x), torch.cos(14 * x)  # both |m| < 16 = n / 3
    prod_hat = torch.fft.rfft(a * b) * dealias_mask(n)
    # cos 15x cos 14x = (cos x + cos 29x) / 2; 29 aliases to 19 (outside the band).
    expected = torch.fft.rfft(0.5 * torch.cos(x)) * dealias_mask(n)
    assert torch.allclose(prod_hat, expected, atol=1e-12)


def test_composed_2d_fft_matches_torch_and_round_trips():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 12, 10, dtype=torch.float64, generator=g)
    assert torch.allclose(rfft2(x), torch.fft.rfft2(x), atol=1e-12)
    assert torch.allclose(irfft2(rfft2(x), 10), x, atol=1e-14)


def test_composed_2d_fft_is_batch_invariant():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 32, 32, dtype=torch.float64, generator=g)
    full = rfft2(x)
    back = irfft2(full, 32)
    for i in range(5):
        assert torch.equal(full[i], rfft2(x[i : i + 1])[0])
        assert torch.equal(back[i], irfft2(full[i : i + 1], 32)[0])


def test_cmul_equals_complex_product():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(4, 9, dtype=torch.complex128, generator=g)
    c = torch.randn(9, dtype=torch.complex128, generator=g)
    assert torch.allclose(cmul(a, c), a * c, rtol=1e-15, atol=1e-15)


def test_long_rows_are_transformed_per_sample_and_stay_invariant():
    """Rows above 32 KiB (MKL changes strategy with the batch there) go one sample per call."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 2, 3, 4100, dtype=torch.float64, generator=g)
    xh = rfft2(x)
    assert torch.allclose(xh, torch.fft.rfft2(x), atol=1e-9)
    back = irfft2(xh, 4100)
    for i in range(4):
        assert torch.equal(xh[i], rfft2(x[i : i + 1])[0])
        assert torch.equal(back[i], irfft2(xh[i : i + 1], 4100)[0])
    y = torch.randn(3, 8200, dtype=torch.float32, generator=g)
    yh = rfft(y)
    for i in range(3):
        assert torch.equal(yh[i], rfft(y[i : i + 1])[0])
        assert torch.equal(irfft(yh, 8200)[i], irfft(yh[i : i + 1], 8200)[0])


def _plain_quadratic_flux(n: int, length: float, dtype: torch.dtype):
    """The 2/3-rule flux ``-(i k / 2) F[u^2]`` written plainly on the full spectrum."""
    cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    mask = dealias_mask(n)
    flux = (-0.5j * rfft_wavenumbers(n, length, odd=True) * mask).to(cdtype)
    mask_c = mask.to(cdtype)

    def nonlinear(v: torch.Tensor) -> torch.Tensor:
        u = irfft(v * mask_c, n)
        return flux * rfft(u * u)

    return nonlinear


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("pde_name", "n"), [("burgers", 96), ("burgers", 101), ("allen_cahn", 64)])
def test_band_path_is_the_plain_etdrk4_step_bitwise(pde_name, n, dtype):
    """`ETDRK4.integrate` with a `BandLimitedNonlinearity` (in-place band path) gives the
    same bits as `ETDRK4.step` with the same term written plainly on the full spectrum."""
    from opkit.pde_data import AllenCahn1D, Burgers1D
    from opkit.pde_data.solvers._spectral import BandLimitedNonlinearity

    g = torch.Generator().manual_seed(4)
    u0 = torch.randn(3, n, dtype=torch.float64, generator=g).to(dtype)
    if pde_name == "burgers":
        pde = Burgers1D(nu=0.02, n_x=n)
        plain = _plain_quadratic_flux(n, pde.length, dtype)
    else:
        pde = AllenCahn1D(eps=1e-3, n_x=n)
        cubic = pde.stepper(dtype, torch.device("cpu")).nonlinear

        def plain(v):  # -k/2 F[u^3] on the full spectrum, zero-padded by `irfft` to 2 n
            u = 2.0 * irfft(v[..., : cubic.band], 2 * n)  # (the factor undoes 1 / 2n)
            coef = torch.zeros(v.shape[-1], dtype=v.dtype)
            coef[: cubic.band] = -pde.k / 2.0  # (1/2 undoes the 2n of the forward)
            return coef * rfft(u * u * u)[..., : v.shape[-1]]

    banded = pde.stepper(dtype, torch.device("cpu"))
    assert isinstance(banded.nonlinear, BandLimitedNonlinearity)
    reference = ETDRK4(banded.linear, plain)
    t = torch.tensor([0.0, 0.01, 0.03], dtype=torch.float64)
    v0 = rfft(u0)
    fast = banded.integrate(v0, t, 0.004)
    slow = reference.integrate(v0, t, 0.004)
    assert not torch.equal(fast[-1], v0)  # something happened
    for a, b in zip(fast, slow):
        assert torch.equal(a, b)
        assert irfft(a, n).numpy().tobytes() == irfft(b, n).numpy().tobytes()


def test_band_path_returns_normal_tensors_and_names_a_differentiable_input():
    # the steps run in inference mode; what comes out must still be usable by autograd
    from opkit.pde_data import Burgers1D

    pde = Burgers1D(nu=0.05, n_x=32)
    u0 = torch.randn(2, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    u = pde.solve(u0, torch.linspace(0.0, 0.02, 3))
    assert not u.is_inference()
    pred = torch.zeros_like(u, requires_grad=True)
    torch.nn.functional.mse_loss(pred, u).backward()  # saves `u` for backward
    assert pred.grad is not None
    with pytest.raises(ValueError, match=r"not differentiable.*u0\.detach\(\)"):
        pde.solve(u0.clone().requires_grad_(), torch.linspace(0.0, 0.02, 3))
