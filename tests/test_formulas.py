"""Every number ``metrics.json`` reports, recomputed by hand from what the run left behind or
from the definition; and the per-window maps of the forecaster in their harder shapes (several
targets, several steps), where a wrong order or a wrong anchor hides from simple cases."""

from __future__ import annotations

import csv
import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab import rundir
from rnnlab.data import SineDataModule
from rnnlab.models.backbones import GRU
from rnnlab.models.tasks.copy import CopyModel
from rnnlab.models.tasks.forecast import Forecaster, WindowNormalizer
from rnnlab.models.tasks.shared import ClassSums
from rnnlab.report.baselines import noise_floor_mse
from rnnlab.run.train import train


def read_csv(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}


def sine_values(n: int = 1000, t_max: float = 100.0, seed: int = 42):
    """The walk-through's series from its definition: (clean, noisy), float64."""
    t = np.linspace(0.0, t_max, n)
    clean = np.sin(0.1 * t)
    return clean, clean + np.random.RandomState(seed).normal(0.0, 0.1, n)


# ------------------------------------------------------------------ a finished forecast run
def test_a_forecast_runs_numbers_follow_from_its_files_and_the_data(trained_run):
    m, run = trained_run.metrics, trained_run.run_dir
    pred = read_csv(run / rundir.PREDICTIONS)
    err = pred["prediction"] - pred["target"]
    assert m["test_mse"] == pytest.approx(np.mean(err**2), rel=1e-5)
    assert m["test_rmse"] == pytest.approx(math.sqrt(np.mean(err**2)), rel=1e-5)
    assert m["test_mae"] == pytest.approx(np.mean(np.abs(err)), rel=1e-5)
    spread = np.sum((pred["target"] - pred["target"].mean()) ** 2)
    assert m["test_r2"] == pytest.approx(1 - np.sum(err**2) / spread, rel=1e-5)

    # the floor is the clean signal against the noisy test targets (index 804 onwards)
    clean, noisy = sine_values(seed=m["data_seed"])
    index = pred["index"].astype(int)
    assert index[0] == 804 and np.allclose(pred["target"], noisy[index], atol=1e-6)
    floor = np.mean((clean[index] - noisy[index]) ** 2)
    assert m["noise_floor_mse"] == pytest.approx(floor, rel=1e-5)
    assert m["metric_floor"] == m["noise_floor_mse"]
    assert m["test_mse_ratio"] == pytest.approx(m["test_mse"] / floor, rel=1e-5)
    assert m["test_mse_ratio"] > 1  # no model beats the noise floor

    # repeating the last value: each target against the point before it
    naive = np.mean((noisy[index] - noisy[index - 1]) ** 2)
    assert m["naive_last_mse"] == pytest.approx(naive, rel=1e-5)
    assert m["baselines"] == {"naive_last": m["naive_last_mse"], "linear_ar": m["linear_ar_mse"]}
    for name, value in m["baselines"].items():
        assert m["baseline_columns"][name]["test_mse_ratio"] == pytest.approx(value / floor)
    assert m["worse_than_baselines"] == [n for n, v in m["baselines"].items() if v < m["test_mse"]]

    history = read_csv(run / rundir.HISTORY)
    assert m["epochs_trained"] == len(history["epoch"])
    # the best checkpoint is the epoch of lowest val/loss; on the sine the loss is the MSE
    assert m["best_epoch"] == int(history["epoch"][np.argmin(history["val/loss"])])
    assert m["best_val_mse"] == pytest.approx(history["val/loss"].min(), rel=1e-6)
    assert m["val_mse"] == pytest.approx(history["val/loss"][-1], rel=1e-4)  # test_ckpt=last


def test_the_floor_and_its_ratio_scale_with_the_series(tmp_path):
    """The ratio is MSE over floor (not floor over MSE): doubling the errors doubles it."""
    from rnnlab.report.tasks.forecast import ForecastReport

    dm = SineDataModule()
    dm.setup()
    floor = noise_floor_mse(dm.frame())
    model = Forecaster(GRU(1, 2), None)
    tested = {"test/mse": 2 * floor, "test/rmse": 0.0, "test/mae": 0.0, "test/r2": 0.0}
    summary = ForecastReport().summary(model, tested, dm)
    assert summary["test_mse_ratio"] == pytest.approx(2.0)
    tested["test/mse"] = 4 * floor
    assert ForecastReport().summary(model, tested, dm)["test_mse_ratio"] == pytest.approx(4.0)


def test_interval_numbers_follow_from_the_predictions_file(make_cfg):
    cfg = make_cfg("model.loss=gaussian", "model.backbone.hidden_size=4",
                   "callbacks.figures=null", "logger=none")  # fmt: skip
    m = train(cfg)
    pred = read_csv(Path(cfg.paths.output_dir) / rundir.PREDICTIONS)
    inside = (pred["target"] >= pred["lower80"]) & (pred["target"] <= pred["upper80"])
    assert m["test_coverage80"] == pytest.approx(inside.mean(), abs=1e-6)
    assert m["test_width80"] == pytest.approx(np.mean(pred["upper80"] - pred["lower80"]), rel=1e-4)
    # a Gaussian's central 80 % interval is mean ± 1.2816 σ, centred on the prediction
    half = (pred["upper80"] - pred["lower80"]) / 2
    assert np.allclose((pred["upper80"] + pred["lower80"]) / 2, pred["prediction"], atol=1e-5)
    assert m["test_mean_std"] == pytest.approx(np.mean(half) / 1.2815516, rel=1e-4)


# ------------------------------------------------------------------ per-window maps
def step_major(values: list[float], horizon: int) -> torch.Tensor:
    """One value per target, laid out as ``[1, H·T]`` (step h, target t at h·T + t)."""
    return torch.tensor([values * horizon])


def test_the_level_of_each_target_is_tiled_step_major():
    x = torch.zeros(1, 4, 3)
    x[..., 0], x[..., 1], x[..., 2] = 10.0, -5.0, 7.0  # two targets, then a third input
    norm = WindowNormalizer("level", n_observed=3, target_features=[0, 1], horizon=3)
    _, shift, scale = norm.encode(x)
    assert scale is None and torch.equal(shift, step_major([10.0, -5.0], 3))
    norm = WindowNormalizer("window", n_observed=3, target_features=[1, 0], horizon=2)
    x[0, :, 0] = torch.tensor([9.0, 11.0, 9.0, 11.0])  # std 1
    _, shift, scale = norm.encode(x)
    assert torch.allclose(shift, step_major([-5.0, 10.0], 2))
    assert torch.allclose(scale, step_major([math.sqrt(1e-5), math.sqrt(1 + 1e-5)], 2))


@pytest.mark.parametrize("normalize", ["level", "window", "difference"])
def test_a_level_shift_of_one_target_moves_only_its_own_forecasts(normalize):
    torch.manual_seed(0)
    columns = {"inputs": ["a", "b"], "targets": ["a", "b"], "known": []}
    model = Forecaster(GRU(2, 6), partial(torch.optim.Adam), horizon=3, normalize=normalize,
                       columns=columns).eval()  # fmt: skip
    x = torch.randn(4, 10, 2)
    moved = x.clone()
    moved[..., 0] += 50.0
    with torch.no_grad():
        delta = (model(moved) - model(x)).unflatten(1, (3, 2))  # [B, H·T] -> [B, H, T]
    assert torch.allclose(delta[..., 0], torch.full_like(delta[..., 0], 50.0), atol=1e-3)
    assert torch.allclose(delta[..., 1], torch.zeros_like(delta[..., 1]), atol=1e-4)


def test_difference_forecasts_start_from_the_last_value_of_the_window():
    model = Forecaster(GRU(1, 3), None, horizon=2, normalize="difference").eval()
    for p in model.head.parameters():  # the network forecasts no change at all
        torch.nn.init.zeros_(p)
    x = torch.arange(1.0, 9.0).reshape(1, 8, 1) * torch.tensor([[[1.0]], [[-2.0]]])  # ramps
    with torch.no_grad():
        forecast = model(x)
    assert torch.equal(forecast, x[:, -1].expand(-1, 2))  # 8 and -16, not 1 and -2


# ------------------------------------------------------------------ recall accuracy
def copy_batch():
    """Two sequences of 5 steps; class 3 is blank. The model gets every blank right and every
    symbol wrong."""
    target = torch.tensor([[3, 3, 3, 0, 1], [3, 3, 3, 2, 2]])
    wrong = (target + 1) % 3  # a symbol, never the right one
    guess = torch.where(target == 3, target, wrong)
    logits = torch.nn.functional.one_hot(guess, 4).float() * 5.0  # [B, L, C]
    return logits, target


def test_copy_accuracy_counts_recalled_symbols_only():
    model = CopyModel(GRU(5, 2), None, num_classes=4)
    logits, target = copy_batch()
    metrics = model.make_metrics("test/")
    metrics.update(*model.metric_inputs(logits, target))
    assert metrics.compute()["test/accuracy"].item() == 0.0  # the blanks do not count
    right = torch.nn.functional.one_hot(target, 4).float() * 5.0
    metrics.reset()
    metrics.update(*model.metric_inputs(right, target))
    assert metrics.compute()["test/accuracy"].item() == 1.0
    sums = ClassSums(skip=model.blank)
    sums.update(logits, target, torch.tensor(0.5))
    assert sums.compute("train/")["train/accuracy"].item() == 0.0


def test_copy_reports_the_memoryless_formula(make_cfg):
    cfg = make_cfg("data=copy", "data.seq_len=12", "data.n_train=64", "data.n_val=32",
                   "data.n_test=32", "model.backbone.hidden_size=4", "trainer.max_epochs=1",
                   "callbacks.figures=null", "logger=none")  # fmt: skip
    m = train(cfg)
    assert m["memoryless_ce_formula"] == pytest.approx(10 * math.log(8) / (12 + 20))
    assert m["metric"] == "test_ce" and m["val_ce"] is not None
    pred = read_csv(Path(cfg.paths.output_dir) / rundir.PREDICTIONS)
    assert set(pred["target"]) <= set(range(8))  # only the recalled symbols, no blank
    assert m["test_accuracy"] == pytest.approx(np.mean(pred["target"] == pred["prediction"]))
