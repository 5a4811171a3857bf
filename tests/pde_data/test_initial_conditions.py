"""Initial-condition samplers: spectra within sampling error, FNO equivalence, validation."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from opkit.pde_data import GRF1D, GRF2D, RandomFourierSeries

# Family-wise false-alarm rate of each spectrum test (Bonferroni over the modes).
ALPHA = 1e-6


def _chi2_check(power: torch.Tensor, var: torch.Tensor, dof_per_sample: torch.Tensor, n: int):
    """``sum_samples |u_k|^2`` of a Gaussian mode with ``E|u_k|^2 = var`` and ``d`` real
    degrees of freedom is ``(var / d) chi^2(n d)``. Check every mode's statistic lies in
    the two-sided ``1 - ALPHA`` band (Bonferroni over modes)."""
    stat = (power.sum(0) * dof_per_sample / var).numpy()
    dof = (n * dof_per_sample).numpy()
    q = ALPHA / (2 * stat.size)
    lo, hi = stats.chi2.ppf(q, dof), stats.chi2.ppf(1 - q, dof)
    bad = (stat < lo) | (stat > hi)
    assert not bad.any(), (stat[bad] / dof[bad], lo[bad] / dof[bad], hi[bad] / dof[bad])


def test_grf1d_mode_variances_match_theory():
    grf = GRF1D(alpha=2.0, tau=5.0, sigma=25.0, length=1.0)
    n, n_x = 4000, 64
    u = grf.sample(n, n_x, generator=torch.Generator().manual_seed(0))
    coef = torch.fft.rfft(u) / n_x
    var = grf.mode_variance(n_x)
    assert float(coef[:, 0].abs().max()) < 1e-14  # zero mean, exactly
    dof = torch.full((n_x // 2 + 1,), 2.0, dtype=torch.float64)
    dof[-1] = 1.0  # the Nyquist coefficient is real
    _chi2_check(coef[:, 1:].abs() ** 2, var[1:], dof[1:], n)
    # Real and imaginary parts carry half each (isotropic phases).
    re = (coef[:, 1:-1].real ** 2).sum(0) * 2 / var[1:-1]
    q = ALPHA / (2 * re.numel())
    assert bool((re > stats.chi2.ppf(q, n)).all() and (re < stats.chi2.ppf(1 - q, n)).all())
    # The formula by hand: 625 / (4 pi^2 + 25)^2 at k = 1.
    assert float(var[1]) == pytest.approx(625 / (4 * math.pi**2 + 25) ** 2, rel=1e-14)


def test_grf1d_domain_length_scales_like_an_operator_on_l2():
    """On [0, L) the variance of mode k is sigma^2 ((2 pi k / L)^2 + tau^2)^-alpha / L."""
    grf = GRF1D(alpha=2.0, tau=3.0, sigma=2.0, length=4.0)
    var = grf.mode_variance(16)
    k = torch.arange(9, dtype=torch.float64)
    expected = 4.0 * ((2 * math.pi * k / 4.0) ** 2 + 9.0) ** -2.0 / 4.0
    expected[0] = 0.0
    assert torch.allclose(var, expected, rtol=1e-14)
    n = 3000
    u = grf.sample(n, 16, generator=torch.Generator().manual_seed(5))
    dof = torch.full((9,), 2.0, dtype=torch.float64)
    dof[-1] = 1.0
    _chi2_check((torch.fft.rfft(u) / 16)[:, 1:].abs() ** 2, var[1:], dof[1:], n)


def test_grf2d_mode_variances_match_theory():
    grf = GRF2D(alpha=2.5, tau=7.0)
    n, s = 1500, 16
    u = grf.sample(n, s, generator=torch.Generator().manual_seed(1))
    coef = torch.fft.fft2(u) / s**2
    var = grf.mode_variance(s)
    assert float(coef[:, 0, 0].abs().max()) < 1e-14
    m = torch.fft.fftfreq(s, 1 / s).long()
    self_conj = ((m[:, None] % s) == (-m[:, None]) % s) & ((m[None, :] % s) == (-m[None, :]) % s)
    dof = torch.where(self_conj, 1.0, 2.0).to(torch.float64)
    keep = var > 0
    _chi2_check((coef.abs() ** 2)[:, keep], var[keep], dof[keep], n)


def test_grf2d_non_square_grid_and_variance_formula():
    grf = GRF2D(alpha=2.0, tau=3.0, sigma=1.5, length=2.0)
    var = grf.mode_variance(8, 12)
    assert var.shape == (8, 12)
    # Mode (k_x, k_y) = (1, -2): lam = (2 pi / 2)^2 * 5 + 9.
    assert float(var[1, -2]) == pytest.approx(2.25 * (math.pi**2 * 5 + 9) ** -2.0 / 4.0)
    u = grf.sample(3, 8, 12, generator=torch.Generator().manual_seed(0))
    assert u.shape == (3, 8, 12)


def test_fno_default_sigma_and_equivalence_with_fno_generator():
    """sigma=None is the FNO code's tau^(0.5 (2 alpha - d)), and the field equals the FNO
    ``GaussianRF`` recipe (complex normal coefficients times ``size^d sqrt(2) sigma
    lam^(-alpha/2)``, real part of the inverse FFT) fed the same normal numbers."""
    assert GRF1D().amplitude == pytest.approx(5.0**1.5)
    assert GRF2D().amplitude == pytest.approx(7.0**1.5)
    s, alpha, tau = 32, 2.5, 7.0
    sigma = tau ** (0.5 * (2 * alpha - 2))
    w = GRF2D(alpha=alpha, tau=tau).sample(2, s, generator=torch.Generator().manual_seed(9))
    g = torch.randn(2, s, s, 2, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    xi = torch.complex(g[..., 0], g[..., 1]) / math.sqrt(2)  # torch.randn(cfloat) law
    k = torch.fft.fftfreq(s, 1 / s, dtype=torch.float64)
    lam = 4 * math.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2) + tau**2
    sqrt_eig = s**2 * math.sqrt(2.0) * sigma * lam ** (-alpha / 2)
    sqrt_eig[0, 0] = 0.0
    fno = torch.fft.ifftn(sqrt_eig * xi, dim=[-1, -2]).real
    assert torch.allclose(w, fno, rtol=0, atol=1e-12 * float(fno.abs().max()))


def test_random_fourier_series_statistics_and_band_limit():
    rfs = RandomFourierSeries(n_modes=5, amplitude=0.7, decay=1.5, length=3.0)
    n, n_x = 4000, 32
    u = rfs.sample(n, n_x, generator=torch.Generator().manual_seed(2))
    coef = torch.fft.rfft(u) / n_x
    assert float(coef[:, 6:].abs().max()) < 1e-15  # nothing above n_modes
    assert float(coef[:, 0].abs().max()) < 1e-15
    var = rfs.mode_variance(n_x)
    assert float(var.sum() * 2) == pytest.approx(0.7**2)  # pointwise variance = amplitude^2
    assert float(var[2] / var[1]) == pytest.approx(2.0**-3.0)  # m^(-2 decay)
    _chi2_check(coef[:, 1:6].abs() ** 2, var[1:6], torch.full((5,), 2.0), n)
    # Pointwise variance, chi^2 band on the mean over grid points of x = 0.
    s0 = float((u[:, 0] ** 2).sum() / 0.7**2)
    assert stats.chi2.ppf(ALPHA, n) < s0 < stats.chi2.ppf(1 - ALPHA, n)


def test_random_fourier_series_mode_check():
    rfs = RandomFourierSeries(n_modes=8)
    with pytest.raises(ValueError, match=r"n_modes.*< n_x / 2"):
        rfs.sample(1, 16, generator=torch.Generator())
    assert rfs.sample(1, 17, generator=torch.Generator()).shape == (1, 17)


@pytest.mark.parametrize(
    "sampler", [GRF1D(), GRF2D(), RandomFourierSeries(n_modes=3)], ids=["grf1d", "grf2d", "rfs"]
)
def test_result_depends_only_on_generator_state(sampler):
    def draw(dtype=torch.float64, seed=7):
        return sampler.sample(1, 16, generator=torch.Generator().manual_seed(seed), dtype=dtype)

    a, b = draw(), draw()
    assert torch.equal(a, b)
    assert not torch.equal(a, draw(seed=8))
    # Computed in float64 and then rounded: float32 is the rounding of float64.
    assert torch.equal(draw(torch.float32), a.float())
    assert draw().device.type == "cpu"
    g = torch.Generator().manual_seed(7)
    first = sampler.sample(1, 16, generator=g)
    assert torch.equal(first, a) and not torch.equal(sampler.sample(1, 16, generator=g), a)
    moved = sampler.sample(1, 16, generator=torch.Generator().manual_seed(7), device="cpu")
    assert torch.equal(moved, a)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"n_samples": 0, "n_x": 16}, ValueError, "n_samples"),
        ({"n_samples": 1, "n_x": 2}, ValueError, "n_x"),
        ({"n_samples": 1.0, "n_x": 16}, TypeError, "n_samples"),
        ({"n_samples": 1, "n_x": 16, "generator": None}, TypeError, "generator"),
        ({"n_samples": 1, "n_x": 16, "dtype": torch.int64}, TypeError, "dtype"),
    ],
)
def test_sample_argument_validation(kwargs, exc, match):
    kwargs.setdefault("generator", torch.Generator())
    with pytest.raises(exc, match=match):
        GRF1D().sample(**kwargs)
    with pytest.raises(exc, match=match):
        GRF2D().sample(**kwargs)


@pytest.mark.parametrize(
    ("cls", "kwargs", "exc", "match"),
    [
        (GRF1D, {"alpha": 0.0}, ValueError, "alpha"),
        (GRF1D, {"tau": -1.0}, ValueError, "tau"),
        (GRF1D, {"sigma": float("nan")}, ValueError, "sigma"),
        (GRF2D, {"length": 0.0}, ValueError, "length"),
        (GRF2D, {"alpha": "2"}, TypeError, "alpha"),
        (RandomFourierSeries, {"n_modes": 0}, ValueError, "n_modes"),
        (RandomFourierSeries, {"decay": -1.0}, ValueError, "decay"),
        (RandomFourierSeries, {"amplitude": math.inf}, ValueError, "amplitude"),
    ],
)
def test_parameter_validation(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls(**kwargs)
