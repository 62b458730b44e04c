"""Multi-step forecasts: feedback of the model's own predictions, per-step MSE, files."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from rnnlab.data import SineDataModule
from rnnlab.report.forecast import (
    forecast_beyond,
    horizon_mse,
    naive_horizon_mse,
    roll_forward,
    run_forecast,
    start_points,
)


class Recurrence(nn.Module):
    """Predicts ``a x_{t-1} + b x_{t-2} + c``: exact for a sine with a = 2cos(w dt), b = -1."""

    def __init__(self, a: float, b: float, c: float = 0.0) -> None:
        super().__init__()
        self.coef = nn.Parameter(torch.tensor([a, b, c]), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        a, b, c = self.coef
        return a * x[:, -1] + b * x[:, -2] + c  # [B, L, 1] -> [B, 1]


def clean_sine() -> SineDataModule:
    dm = SineDataModule(noise_std=0.0)
    dm.setup()
    return dm


def sine_recurrence() -> Recurrence:
    dt = 100.0 / 999  # linspace(0, 100, 1000)
    return Recurrence(2 * math.cos(0.1 * dt), -1.0)


def test_roll_forward_feeds_back_its_own_predictions():
    counting = Recurrence(1.0, 0.0, 1.0)  # next = last + 1
    context = torch.zeros(2, 5, 1)
    context[1] = 10.0
    out = roll_forward(counting, context, 4)
    assert out.tolist() == [[1.0, 2.0, 3.0, 4.0], [11.0, 12.0, 13.0, 14.0]]


def test_an_exact_recurrence_forecasts_a_clean_sine_for_many_steps():
    dm = clean_sine()
    mse = horizon_mse(sine_recurrence(), dm, 50)
    assert mse.shape == (50,)
    assert mse.max().item() < 1e-8
    naive = naive_horizon_mse(dm, 50)
    assert naive[-1] > naive[0] > 0  # repeating the last value degrades with the horizon


def test_step_errors_use_every_start_point_with_enough_future():
    dm = SineDataModule(seed=5)
    dm.setup()
    n_test = len(dm.datasets["test"])
    assert start_points(dm, 1) == n_test
    assert start_points(dm, 30) == n_test - 29
    # one step ahead over all start points is the ordinary one-step test MSE
    model = sine_recurrence()
    test = dm.datasets["test"]
    one_step = torch.mean((model(test.inputs) - test.targets) ** 2).item()
    assert horizon_mse(model, dm, 1)[0].item() == pytest.approx(one_step, rel=1e-5)
    # step h with the naive forecast: target at t+h-1 against the last input
    h = 7
    idx = test.split.target_index[: start_points(dm, h)]
    expected = torch.mean((dm.series[idx + h - 1] - dm.series[idx - 1]) ** 2).item()
    assert naive_horizon_mse(dm, h)[h - 1].item() == pytest.approx(expected, rel=1e-5)


def test_a_horizon_longer_than_the_test_split_gets_one_line():
    with pytest.raises(ValueError, match=r"forecast\.horizon <= 196") as info:
        horizon_mse(sine_recurrence(), clean_sine(), 10_000)
    assert "\n" not in str(info.value)


def test_forecast_beyond_the_data_continues_the_time_axis():
    dm = clean_sine()
    time, values = forecast_beyond(sine_recurrence(), dm, 20)
    step = (dm.time[-1] - dm.time[-2]).item()
    assert time[0].item() == pytest.approx(dm.time[-1].item() + step, rel=1e-6)
    assert time[-1].item() == pytest.approx(dm.time[-1].item() + 20 * step, rel=1e-6)
    assert torch.allclose(values, torch.sin(0.1 * time), atol=1e-4)


def test_run_forecast_writes_the_table_and_a_plot(tmp_path):
    summary = run_forecast(sine_recurrence(), clean_sine(), 12, tmp_path)
    with (tmp_path / "forecast.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    assert summary["forecast_horizon"] == 12
    assert summary["forecast_mse_last_step"] == pytest.approx(float(rows[-1]["mse"]))
    image = _png_pixels(tmp_path / "plots" / "forecast.png")
    assert image.std() > 0.05  # not blank


def _png_pixels(path: Path):
    import matplotlib.image

    return matplotlib.image.imread(str(path))


def test_training_with_a_horizon_forecasts_at_the_end(make_cfg):
    from rnnlab.run.train import train

    cfg = make_cfg(
        "backbone=rnn", "model.backbone.hidden_size=4", "trainer.max_epochs=1",
        "forecast.horizon=50", "callbacks.figures=null",
    )  # fmt: skip
    metrics = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert (run_dir / "plots" / "forecast.png").is_file()
    assert len((run_dir / "forecast.csv").read_text().splitlines()) == 1 + 50
    on_disk = json.loads((run_dir / "metrics.json").read_text())
    assert on_disk["forecast_horizon"] == 50 and on_disk["forecast_start_points"] == 196 - 49
    assert on_disk["forecast_mse_step1"] == pytest.approx(metrics["forecast_mse_step1"])


def test_eval_forecasts_a_saved_checkpoint(make_cfg, tmp_path):
    from omegaconf import OmegaConf

    from rnnlab.run.eval import evaluate
    from rnnlab.run.train import train

    cfg = make_cfg(
        "backbone=rnn", "model.backbone.hidden_size=4", "trainer.max_epochs=1",
        "callbacks.figures=null",
    )  # fmt: skip
    trained = train(cfg)
    eval_dir = tmp_path / "eval"
    settings = {
        "ckpt_path": trained["last_ckpt_path"], "accelerator": "cpu", "data": {},
        "figures": False, "forecast": {"horizon": 10}, "paths": {"output_dir": str(eval_dir)},
    }  # fmt: skip
    eval_cfg = OmegaConf.create(settings)
    metrics = evaluate(eval_cfg)
    assert metrics["forecast_horizon"] == 10
    assert (eval_dir / "plots" / "forecast.png").is_file()
    assert len((eval_dir / "forecast.csv").read_text().splitlines()) == 1 + 10
    # the one-step error of the rolled forecast is the tested model's own
    assert metrics["test_mse"] == pytest.approx(trained["test_mse"], rel=1e-5)
