"""Causal weights against a hand computation, no gradient through them, and the samplers."""

import math

import pytest
import torch

from opkit.models.pinns import (
    SAMPLERS,
    CausalSchedule,
    causal_loss,
    causal_weights,
    collocation_points,
    per_time_losses,
)

F64 = torch.float64


def test_causal_weights_by_hand():
    losses = torch.tensor([0.5, 1.0, 2.0, 0.25], dtype=F64)
    eps, l0 = 0.7, 0.3
    expected = torch.tensor(
        [
            math.exp(-eps * 0.3),
            math.exp(-eps * (0.3 + 0.5)),
            math.exp(-eps * (0.3 + 0.5 + 1.0)),
            math.exp(-eps * (0.3 + 0.5 + 1.0 + 2.0)),
        ],
        dtype=F64,
    )
    torch.testing.assert_close(causal_weights(losses, eps, initial=l0), expected)
    # Without an initial loss the first time always has weight exactly 1.
    assert float(causal_weights(losses, eps)[0]) == 1.0


def test_no_gradient_flows_through_the_weights():
    losses = torch.tensor([0.5, 1.0, 2.0, 0.25], dtype=F64, requires_grad=True)
    initial = torch.tensor(0.3, dtype=F64, requires_grad=True)
    loss, w = causal_loss(losses, 0.7, initial_loss=initial)
    assert not w.requires_grad
    torch.testing.assert_close(loss, initial + (w * losses).mean())
    loss.backward()
    # d loss / d L_i = w_i / n_t exactly (w is a constant), d loss / d L_0 = 1 exactly.
    torch.testing.assert_close(losses.grad, w / 4)
    assert float(initial.grad) == 1.0
    # Had the weights carried gradient, d/dL_0 would be 1 - eps * mean(w * L) < 1.
    assert 1.0 - 0.7 * float((w * losses).mean()) < 0.9


def test_per_time_losses_are_time_major_means():
    r = torch.arange(6, dtype=F64)  # two times, three points each
    torch.testing.assert_close(per_time_losses(r, 2), torch.tensor([5 / 3, 50 / 3], dtype=F64))
    with pytest.raises(ValueError, match="multiple"):
        per_time_losses(r, 4)


def test_schedule_defaults_and_validation():
    s = CausalSchedule()
    assert s.epsilons == (1e-2, 1e-1, 1.0, 10.0, 100.0) and s.delta == 0.99
    assert s.converged(torch.tensor([0.995, 0.999])) and not s.converged(torch.tensor([0.98]))
    with pytest.raises(ValueError, match="increasing"):
        CausalSchedule(epsilons=(1.0, 0.1))
    with pytest.raises(ValueError, match="positive"):
        CausalSchedule(epsilons=(0.0, 1.0))
    with pytest.raises(ValueError, match="delta"):
        CausalSchedule(delta=1.0)
    with pytest.raises(ValueError, match="eps"):
        causal_weights(torch.ones(3), -1.0)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_collocation_points_are_sorted_in_the_unit_square(sampler):
    t, x = collocation_points(17, 9, sampler=sampler, generator=torch.Generator().manual_seed(0))
    assert t.shape == (17,) and x.shape == (17, 9)
    assert bool((t[1:] >= t[:-1]).all()) and float(t.min()) >= 0 and float(t.max()) <= 1
    assert float(x.min()) >= 0 and float(x.max()) < 1
    again = collocation_points(17, 9, sampler=sampler, generator=torch.Generator().manual_seed(0))
    assert torch.equal(t, again[0]) and torch.equal(x, again[1])


def test_low_discrepancy_samplers_cover_better_than_random():
    # Largest gap between sorted points of 256 draws: stratified/low-discrepancy sequences
    # leave no hole much wider than 1/256; uniform random ones do (~ log(n)/n).
    def max_gap(sampler, seed):
        gen = torch.Generator().manual_seed(seed)
        _, x = collocation_points(2, 128, sampler=sampler, generator=gen)
        v = torch.sort(x.reshape(-1).double()).values
        return float(torch.diff(torch.cat([v, v[:1] + 1])).max())

    for sampler in ("sobol", "halton", "lhs"):
        assert max(max_gap(sampler, s) for s in range(5)) < 3.0 / 256
    assert min(max_gap("random", s) for s in range(5)) > 3.0 / 256


def test_grid_sampler_is_the_uniform_grid():
    t, x = collocation_points(5, 4, sampler="grid", dtype=F64)
    assert t.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert torch.equal(x, torch.tensor([[0.0, 0.25, 0.5, 0.75]], dtype=F64).expand(5, 4))
    with pytest.raises(ValueError, match="sampler"):
        collocation_points(4, 4, sampler="uniform")
    with pytest.raises(ValueError, match="n_t"):
        collocation_points(1, 4)
