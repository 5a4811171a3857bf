"""The shared metrics against hand computations."""

import math

import numpy as np
import torch

from opkit.trainers._metrics import (
    fourier_band_rmse,
    max_error,
    nrmse,
    relative_l2,
    valid_prediction_time,
)
from opkit.trainers._normalizer import FieldNormalizer
from opkit.trainers._operator import rollout


def test_relative_l2_and_max_error_match_numpy():
    g = torch.Generator().manual_seed(0)
    true = torch.randn(5, 1, 1, 32, generator=g, dtype=torch.float64)
    pred = true + 0.1 * torch.randn(5, 1, 1, 32, generator=g, dtype=torch.float64)
    t, p = true.numpy().reshape(5, -1), pred.numpy().reshape(5, -1)
    expected = np.linalg.norm(p - t, axis=1) / np.linalg.norm(t, axis=1)
    np.testing.assert_allclose(relative_l2(pred, true).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(max_error(pred, true).numpy(), np.abs(p - t).max(1), rtol=1e-12)


def test_nrmse_is_pdebench_definition():
    # two frames; the error of frame 0 is 10 % of its RMS, of frame 1 it is 30 %
    x = torch.linspace(0, 2 * math.pi, 65, dtype=torch.float64)[:-1]
    true = torch.stack([torch.sin(x), 2 * torch.cos(x)])[None, :, None]  # (1, 2, 1, 64)
    pred = true.clone()
    pred[0, 0] *= 1.1
    pred[0, 1] *= 1.3
    assert torch.allclose(nrmse(pred, true, n_spatial=1), torch.tensor([0.2], dtype=torch.float64))


def test_fourier_bands_separate_modes():
    n = 64
    x = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    true = torch.zeros(1, 1, 1, n, dtype=torch.float64)
    for k, band in ((3, "low"), (8, "mid"), (20, "high")):
        pred = true + torch.cos(k * x)
        out = fourier_band_rmse(pred, true, n_spatial=1)
        # An orthonormal FFT of cos(kx) puts sqrt(n)/2 into modes +k and -k.
        n_modes = {"low": 9, "mid": 16, "high": n - 25}[band]
        expected = math.sqrt(2 * (math.sqrt(n) / 2) ** 2 / n_modes)
        assert math.isclose(float(out[band]), expected, rel_tol=1e-10), band
        for other in {"low", "mid", "high"} - {band}:
            assert float(out[other]) < 1e-12


def test_valid_prediction_time():
    true = torch.ones(2, 6, 1, 16, dtype=torch.float64)
    true[:, :, :, ::2] = -1.0  # std 1
    pred = true.clone()
    pred[0, 3:] += 1.0  # error 1 > 0.5 from frame 3 on
    vpt = valid_prediction_time(pred, true, dt=0.5, threshold=0.5)
    assert vpt.tolist() == [1.5, 3.0]  # sample 1 never fails: full horizon 6 * 0.5


def test_normalizer_round_trip_and_per_field_stats():
    norm = FieldNormalizer(n_fields=2)
    norm.set(torch.tensor([1.0, -2.0]), torch.tensor([2.0, 4.0]))
    x = torch.randn(3, 6, 8)  # 3 frames x 2 fields
    enc = norm.encode(x)
    assert torch.allclose(enc[:, 0], (x[:, 0] - 1) / 2) and torch.allclose(
        enc[:, 3], (x[:, 3] + 2) / 4
    )
    assert torch.allclose(norm.decode(enc), x, atol=1e-6)


def test_rollout_slides_window():
    # A "model" that predicts the next frame as the last frame + 1 (2 frames in, 1 out).
    def step(w):
        return w[:, -1:] + 1

    x = torch.zeros(1, 2, 4)
    x[:, 1] = 1.0
    out = rollout(step, x, 5, n_fields=1)
    assert out.shape == (1, 5, 4)
    assert torch.equal(out[0, :, 0], torch.tensor([2.0, 3.0, 4.0, 5.0, 6.0]))
