"""Conformal intervals (``model.intervals=conformal``): quantiles against a hand computation,
CQR's scores, the calibration a trained run stores against its own validation residuals,
and the coverage ``metrics.json`` reports against ``predictions.csv``."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from omegaconf import OmegaConf

from rnnlab.errors import ConfigError
from rnnlab.inference import window_forecasts
from rnnlab.models.conformal import Conformal, conformal_quantile, model_interval, order_index
from rnnlab.models.likelihoods import Quantiles
from rnnlab.run.build import build_data, build_model
from rnnlab.run.predict import load_model
from rnnlab.run.validation import validate_config


def test_the_conformal_quantile_is_the_rank_ceil_n_plus_one_times_c():
    # nine scores per column, in scrambled order; column 2 is column 1 times ten
    scores = torch.tensor([7.0, 1.0, 9.0, 3.0, 5.0, 2.0, 8.0, 4.0, 6.0])
    scores = torch.stack([scores, 10 * scores], dim=1)  # [9, 2]
    # c = 0.5: ceil(10 · 0.5) = 5th smallest; 0.8: ceil(8.0) = 8th; 0.95: ceil(9.5) = 10 > 9
    assert conformal_quantile(scores, 0.5).tolist() == [5.0, 50.0]
    assert conformal_quantile(scores, 0.8).tolist() == [8.0, 80.0]
    assert conformal_quantile(scores, 0.95).tolist() == [math.inf, math.inf]
    # 100 · 0.8 is 80.00000000000001 in floating point: still the 80th, not the 81st
    assert order_index(99, 0.8) == 80 and order_index(19, 0.95) == 19


def test_cqr_widens_the_quantile_interval_by_the_scores_of_its_misses():
    """Romano et al. (2019): s = max(q_lo - y, y - q_hi), interval [q_lo - Q, q_hi + Q]."""
    quantiles = Quantiles([0.1, 0.5, 0.9])
    params = torch.tensor([[[0.0, 1.0, 2.0]], [[0.0, 1.0, 2.0]], [[1.0, 2.0, 3.0]],
                           [[-1.0, 0.0, 1.0]]])  # fmt: skip  # [4 windows, 1 output, Q]
    target = torch.tensor([[2.5], [0.5], [0.0], [-1.0]])
    # scores by hand: 2.5 - 2 = 0.5; max(-0.5, -1.5) = -0.5; 1 - 0 = 1; max(0, -2) = 0
    calib = Conformal(1, levels=(0.8,))
    q = calib.quantiles(lambda c: model_interval(quantiles, params, c), target)
    # n = 4, c = 0.8: rank ceil(5 · 0.8) = 4, the largest score
    assert q.tolist() == [[1.0]]
    calib.q.copy_(q)
    lower, upper = calib.widen(*model_interval(quantiles, params[:1], 0.8), 0.8, scale=2.0)
    assert (lower.item(), upper.item()) == (0.0 - 2.0, 2.0 + 2.0)  # q in model units × scale


def test_a_trained_run_stores_the_quantiles_of_its_own_validation_residuals(trained_run):
    model, run_cfg = load_model(trained_run.metrics["ckpt_path"])
    assert model.intervals == "conformal" == trained_run.metrics["intervals"]  # mse's default
    dm = build_data(run_cfg.data)
    x, y = dm.frame().windows("val").all
    with torch.no_grad():
        residuals = (y - model(x)).abs().double()[:, 0].sort().values  # [n_val]
    n = len(residuals)
    by_hand = [residuals[math.ceil((n + 1) * c - 1e-9) - 1].item() for c in (0.5, 0.8, 0.95)]
    assert model.conformal.q[:, 0].tolist() == pytest.approx(by_hand, rel=1e-6)


def test_metrics_json_coverage_is_that_of_the_written_intervals(trained_run):
    metrics = trained_run.metrics
    with (trained_run.run_dir / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    inside = [float(r["lower80"]) <= float(r["target"]) <= float(r["upper80"]) for r in rows]
    assert metrics["test_conformal_coverage80"] == pytest.approx(sum(inside) / len(rows))
    widths = [float(r["upper80"]) - float(r["lower80"]) for r in rows]
    assert metrics["test_conformal_width80"] == pytest.approx(sum(widths) / len(rows), rel=1e-5)
    assert 0 < metrics["test_conformal_coverage80"] <= metrics["test_conformal_coverage95"] <= 1
    assert "test_conformal_coverage80" in metrics["table"]


def test_conformal_bands_of_a_quantile_model_are_its_quantiles_widened(make_cfg):
    cfg = make_cfg("model.loss=quantile", "model.intervals=conformal", "model.horizon=2",
                   "data.sample_size=200", "model.backbone.hidden_size=3")  # fmt: skip
    dm = build_data(cfg.data)
    model = build_model(cfg, dm).eval()
    q = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])  # [levels, H·T]
    model.conformal.q.copy_(q)
    frame = dm.frame()
    forecasts = window_forecasts(model, frame)
    with torch.no_grad():
        params = model.distribution(frame.windows("test").inputs)
    lo, hi = model.likelihood.interval(params, 0.8)  # the 10 % and 90 % quantiles
    lower, upper = forecasts.bands[0.8]
    assert lower[:, :, 0].float() == pytest.approx(lo - q[1], abs=1e-6)
    assert upper[:, :, 0].float() == pytest.approx(hi + q[1], abs=1e-6)
    assert sorted(forecasts.bands) == [0.5, 0.8, 0.95]


def test_intervals_setting_is_checked(make_cfg):
    with pytest.raises(ConfigError, match=r"model.intervals='sometimes' is invalid: it must be"):
        validate_config(make_cfg("model.intervals=sometimes"))
    cfg = make_cfg("model.intervals=model")  # the default loss, mse, has no interval of its own
    with pytest.raises(ConfigError, match=r"model.intervals=model is invalid with model.loss=mse"):
        build_model(cfg, build_data(cfg.data))
    cfg = make_cfg("model.loss=gaussian")
    assert OmegaConf.select(cfg, "model.intervals") is None
    assert build_model(cfg, build_data(cfg.data)).intervals == "model"  # its own, by default
