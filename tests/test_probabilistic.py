"""Probabilistic forecasts: losses against hand-computed values, CRPS against its
definition, intervals that never cross, and the metrics a probabilistic run reports."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.models.forecast_metrics import forecast_metrics
from rnnlab.models.likelihoods import Gaussian, PointMSE, Quantiles


def test_gaussian_nll_matches_the_formula_by_hand():
    gauss = Gaussian()
    params = torch.tensor([[[1.0, 2.0], [0.0, 0.5]]])  # (mean, std) of two elements
    target = torch.tensor([[2.0, -1.0]])
    by_hand = [
        0.5 * math.log(2 * math.pi) + math.log(2.0) + 0.5 * (1.0 / 2.0) ** 2,
        0.5 * math.log(2 * math.pi) + math.log(0.5) + 0.5 * (-1.0 / 0.5) ** 2,
    ]
    assert gauss.nll(params, target)[0].tolist() == pytest.approx(by_hand, rel=1e-6)
    assert gauss.loss(params, target).item() == pytest.approx(sum(by_hand) / 2, rel=1e-6)


def test_gaussian_params_keep_the_std_positive():
    raw = torch.tensor([[0.3, -50.0, 1.0, 0.0]])  # two elements: (mean, raw std) each
    params = Gaussian(min_std=1e-3).params(raw)
    assert params[0, :, 0].tolist() == pytest.approx([0.3, 1.0])
    assert params[0, 0, 1].item() == pytest.approx(1e-3, rel=1e-3)  # softplus(-50) ~ 0
    assert params[0, 1, 1].item() == pytest.approx(math.log(2.0) + 1e-3, rel=1e-6)


def test_pinball_loss_matches_the_formula_by_hand():
    quant = Quantiles([0.1, 0.5, 0.9])
    params = torch.tensor([[[0.0, 1.0, 2.0]]])
    target = torch.tensor([[1.5]])
    # y - q = 1.5, 0.5, -0.5: tau·diff when diff >= 0, (tau - 1)·diff otherwise
    by_hand = [0.1 * 1.5, 0.5 * 0.5, (0.9 - 1.0) * -0.5]
    assert quant.pinball(params, target)[0, 0].tolist() == pytest.approx(by_hand)
    assert quant.loss(params, target).item() == pytest.approx(sum(by_hand) / 3)
    assert quant.crps(params, target).item() == pytest.approx(2 * sum(by_hand) / 3)


def test_gaussian_crps_closed_form_matches_its_definition():
    """CRPS(F, y) = ∫ (F(x) - 1{x >= y})² dx, integrated numerically."""
    gauss = Gaussian()
    mean, std, y = 0.3, 0.7, 1.1
    x = torch.linspace(mean - 12 * std, mean + 12 * std, 400_001, dtype=torch.float64)
    cdf = 0.5 * (1 + torch.erf((x - mean) / (std * math.sqrt(2))))
    integrand = (cdf - (x >= y).double()) ** 2
    numeric = torch.trapezoid(integrand, x).item()
    closed = gauss.crps(torch.tensor([[[mean, std]]], dtype=torch.float64), torch.tensor([[y]]))
    assert closed.item() == pytest.approx(numeric, rel=1e-5)


def test_quantile_crps_approaches_the_gaussian_closed_form_with_many_levels():
    levels = [(k + 0.5) / 200 for k in range(200)]
    quant, gauss = Quantiles(levels), Gaussian()
    normal = torch.distributions.Normal(torch.tensor(0.0), torch.tensor(1.0))
    q = normal.icdf(torch.tensor(levels)).double()[None, None]  # N(0, 1) quantiles
    y = torch.tensor([[0.4]], dtype=torch.float64)
    exact = gauss.crps(torch.tensor([[[0.0, 1.0]]], dtype=torch.float64), y).item()
    assert quant.crps(q, y).item() == pytest.approx(exact, rel=1e-2)


def test_quantiles_never_cross_whatever_the_raw_outputs():
    quant = Quantiles([0.05, 0.1, 0.5, 0.9, 0.95])
    raw = torch.randn(64, 3 * 5, generator=torch.Generator().manual_seed(0))
    params = quant.params(raw)  # [64, 3, 5]
    assert (params.diff(dim=-1) > 0).all()
    # extreme raw outputs: increments may underflow to zero, but never go negative
    assert (quant.params(raw * 50).diff(dim=-1) >= 0).all()
    lower, upper = quant.interval(params, 0.8)
    assert (lower <= quant.point(params)).all() and (quant.point(params) <= upper).all()


def test_gaussian_intervals_are_nested_and_centred():
    gauss = Gaussian()
    params = torch.tensor([[[2.0, 0.5]]])
    lo50, hi50 = gauss.interval(params, 0.5)
    lo80, hi80 = gauss.interval(params, 0.8)
    assert lo80 < lo50 < hi50 < hi80
    assert (hi80 - 2.0).item() == pytest.approx(1.2815516 * 0.5, rel=1e-5)  # z_0.9 · std


def test_quantile_between_levels_is_read_linearly():
    quant = Quantiles([0.1, 0.9])  # no 0.5 level: the median lies halfway
    params = torch.tensor([[[1.0, 3.0]]])
    assert quant.point(params).item() == pytest.approx(2.0)
    assert quant.interval(params, 0.8) == (params[..., 0], params[..., 1])


@pytest.mark.parametrize("likelihood", [PointMSE(), Gaussian(), Quantiles([0.1, 0.5, 0.9])])
def test_affine_maps_the_distribution_like_its_values(likelihood):
    raw = torch.randn(4, 2 * likelihood.n_params, generator=torch.Generator().manual_seed(1))
    params = likelihood.params(raw)
    target = torch.randn(4, 2, generator=torch.Generator().manual_seed(2))
    moved = likelihood.affine(params, 5.0, 3.0)
    assert torch.allclose(likelihood.point(moved), likelihood.point(params) * 3 + 5, atol=1e-5)
    if likelihood.probabilistic:
        # CRPS is in the units of the values: it scales with them
        crps = likelihood.crps(moved, target * 3 + 5)
        assert torch.allclose(crps, 3 * likelihood.crps(params, target), atol=1e-5)


def test_metrics_report_coverage_width_crps_and_nll():
    gauss = Gaussian()
    metrics = forecast_metrics("test/", gauss)
    mean = torch.zeros(1000, 1)
    std = torch.ones(1000, 1)
    target = torch.randn(1000, 1, generator=torch.Generator().manual_seed(3))
    params = torch.stack((mean, std), dim=-1)
    metrics.update(params, target)
    out = {k: v.item() for k, v in metrics.compute().items()}
    inside = (target.abs() <= 1.2815516).float().mean().item()
    assert out["test/coverage80"] == pytest.approx(inside)
    assert out["test/width80"] == pytest.approx(2 * 1.2815516, rel=1e-5)
    assert out["test/crps"] == pytest.approx(gauss.crps(params, target).mean().item(), rel=1e-5)
    assert out["test/nll"] == pytest.approx(gauss.nll(params, target).mean().item(), rel=1e-5)
    assert out["test/std_mean"] == pytest.approx(1.0)
    assert out["test/mse"] == pytest.approx((target**2).mean().item(), rel=1e-5)
    # MetricCollection's `in` looks at the unprefixed names; keys() gives the logged ones.
    quantile = set(forecast_metrics("test/", Quantiles()).keys())
    assert "test/nll" not in quantile and "test/crps" in quantile
