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
from rnnlab.inference import forecast_beyond, forecast_paths, roll_forward
from rnnlab.report.baselines import future_values, naive_last, squared_errors
from rnnlab.report.tasks.forecast import write_forecast


class Recurrence(nn.Module):
    """Predicts ``a x_{t-1} + b x_{t-2} + c``: exact for a sine with a = 2cos(w dt), b = -1."""

    def __init__(self, a: float, b: float, c: float = 0.0) -> None:
        super().__init__()
        self.coef = nn.Parameter(torch.tensor([a, b, c]), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        a, b, c = self.coef
        return a * x[:, -1] + b * x[:, -2] + c  # [B, L, 1] -> [B, 1]


def horizon_mse(model: nn.Module, dm: SineDataModule, steps: int) -> Tensor:
    """The model's test MSE of step 1..steps over every origin with that much future."""
    frame = dm.frame()
    _, forecasts = forecast_paths(model, frame, steps)
    truth = future_values(frame, frame.origins("test", steps), steps)
    return ((forecasts.point - frame.to_file_units(truth)) ** 2).mean(dim=(0, 2))


def naive_horizon_mse(dm: SineDataModule, steps: int) -> Tensor:
    frame = dm.frame()
    starts = frame.origins("test", steps)
    truth = future_values(frame, starts, steps)
    return squared_errors(frame, naive_last(frame, starts, steps), truth).mean(dim=(0, 2))


def start_points(dm: SineDataModule, steps: int) -> int:
    return len(dm.frame().origins("test", steps))


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
    time, forecasts = forecast_beyond(sine_recurrence(), dm.frame(), 20)
    values = forecasts.point[0, :, 0]
    step = (dm.time[-1] - dm.time[-2]).item()
    assert time[0].item() == pytest.approx(dm.time[-1].item() + step, rel=1e-6)
    assert time[-1].item() == pytest.approx(dm.time[-1].item() + 20 * step, rel=1e-6)
    assert torch.allclose(values, torch.sin(0.1 * time), atol=1e-4)


def test_write_forecast_writes_the_table_and_a_plot(tmp_path):
    summary = write_forecast(sine_recurrence(), clean_sine().frame(), 12, tmp_path)
    with (tmp_path / "forecast.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    assert list(rows[0]) == ["step", "recursive_mse", "naive_last_mse", "linear_ar_mse"]
    assert summary["forecast_horizon"] == 12 and summary["forecast_method"] == "recursive"
    assert summary["forecast_mse_last_step"] == pytest.approx(float(rows[-1]["recursive_mse"]))
    # the exact recurrence is exact; the rolled AR learns it too; the naive one does not
    assert float(rows[-1]["recursive_mse"]) < 1e-8 < float(rows[-1]["naive_last_mse"])
    image = _png_pixels(tmp_path / "plots" / "forecast.png")
    assert image.std() > 0.05  # not blank


def _png_pixels(path: Path):
    import matplotlib.image

    return matplotlib.image.imread(str(path))


def test_training_with_a_horizon_forecasts_at_the_end(make_cfg):
    from rnnlab.run.train import train

    cfg = make_cfg(
        "backbone=rnn", "model.backbone.hidden_size=4", "trainer.max_epochs=1",
        "report.horizon=50", "callbacks.figures=null",
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
        "figures": False, "report": {"horizon": 10}, "paths": {"output_dir": str(eval_dir)},
    }  # fmt: skip
    eval_cfg = OmegaConf.create(settings)
    metrics = evaluate(eval_cfg)
    assert metrics["forecast_horizon"] == 10
    assert (eval_dir / "plots" / "forecast.png").is_file()
    assert len((eval_dir / "forecast.csv").read_text().splitlines()) == 1 + 10
    # the one-step error of the rolled forecast is the tested model's own
    assert metrics["test_mse"] == pytest.approx(trained["test_mse"], rel=1e-5)


# ------------------------------------------------------------------ several columns, horizons


def _calendar_csv(tmp_path: Path, n: int = 120) -> Path:
    """Daily rows: a target, an observed column that is not forecast, and dates."""
    import pandas as pd

    dates = pd.date_range("2021-01-01", periods=n, freq="D")
    rows = ["date,temp,wind"]
    for i, d in enumerate(dates):
        rows.append(f"{d.date()},{10 + 5 * math.sin(i / 9) + 0.01 * i},{3 + math.cos(i / 4)}")
    path = tmp_path / "daily.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _calendar_dm(path: Path, horizon: int, **kwargs):
    from rnnlab.data.csv import CsvDataModule

    dm = CsvDataModule(
        path=str(path), target="temp", inputs=["temp", "wind"], time_column="date",
        calendar=["day_of_week"], seq_len=8, horizon=horizon, **kwargs,
    )  # fmt: skip
    dm.setup()
    return dm


def _forecaster(dm, horizon: int, **kwargs):
    from functools import partial

    from rnnlab.models import Forecaster
    from rnnlab.models.backbones import GRU

    settings = dm.model_settings()
    torch.manual_seed(0)
    backbone = GRU(settings["backbone.input_size"], 6)
    model = Forecaster(backbone, partial(torch.optim.Adam), horizon=horizon,
                       columns=settings["columns"], **kwargs)  # fmt: skip
    return model.eval()


def test_a_multi_step_target_lines_up_with_the_future_values(tmp_path):
    dm = _calendar_dm(_calendar_csv(tmp_path), horizon=4)
    for name, ds in dm.datasets.items():
        x, y, future = ds.all
        origin = ds.split.target_index  # the first target of every window
        series = dm.series
        steps = origin[:, None] + torch.arange(4)
        assert torch.equal(y, series[steps, 0]), name  # [N, 4]: the next four temps
        assert torch.equal(x[:, :, :2], series[origin[:, None] + torch.arange(-8, 0)][..., :2])
        assert torch.equal(future, series[steps][..., 2:]), name  # calendar at those steps
        assert steps.max() < ds.split.stop and (origin - 8).min() >= ds.split.start


def test_several_targets_are_step_major(tmp_path):
    from rnnlab.data.csv import CsvDataModule

    path = _calendar_csv(tmp_path)
    dm = CsvDataModule(path=str(path), target=["temp", "wind"], seq_len=5, horizon=3)
    dm.setup()
    test = dm.datasets["test"]
    origin = test.split.target_index
    y = test.targets.unflatten(1, (3, 2))  # [N, H·T] -> [N, H, T]
    for h in range(3):
        assert torch.equal(y[:, h], dm.series[origin + h])
    frame = dm.frame()
    assert frame.target_names == ["temp", "wind"] and isinstance(frame.scale, torch.Tensor)
    back = frame.to_file_units(test.targets.double())
    assert torch.allclose(back.unflatten(1, (3, 2)), frame.targets()[origin[:, None] +
                          torch.arange(3)], atol=1e-9)  # fmt: skip


def test_calendar_features_shift_correctly_at_the_forecast_origin(tmp_path):
    import pandas as pd

    from rnnlab.data.csv import calendar_features, dates_of

    dm = _calendar_dm(_calendar_csv(tmp_path), horizon=3)
    x, _, future = dm.datasets["test"][torch.tensor([5])]
    origin = int(dm.datasets["test"].split.target_index[5])
    dates = dates_of(dm.time)
    by_hand = calendar_features(pd.DatetimeIndex(dates), ["day_of_week"])
    # the window's last row carries the calendar of the day before the origin ...
    assert x[0, -1, 2:].tolist() == pytest.approx(by_hand[origin - 1].tolist(), abs=1e-6)
    # ... and the forecast steps those of the origin and the days after it
    for h in range(3):
        assert future[0, h].tolist() == pytest.approx(by_hand[origin + h].tolist(), abs=1e-6)
    assert dates[origin].day_of_week == (dates[origin - 1].day_of_week + 1) % 7


def _windows_after_changing(dm, origin: int, columns: list[int], delta: float):
    """The test inputs again, after adding ``delta`` to ``columns`` from ``origin`` on."""
    series = dm.series.clone()
    series[origin:, columns] += delta
    from rnnlab.data.windows import WindowDataset

    return WindowDataset(series, dm.splits["test"], dm.columns)


@pytest.mark.parametrize("decoder", ["linear", "seq2seq"])
def test_the_direct_forecast_never_reads_future_targets_or_observed_columns(tmp_path, decoder):
    dm = _calendar_dm(_calendar_csv(tmp_path), horizon=3)
    model = _forecaster(dm, 3, decoder=decoder)
    test = dm.datasets["test"]
    i = 4
    origin = int(test.split.target_index[i])
    before = model(*(t[i : i + 1] for t in test.model_inputs))
    # future temperature and wind (the target and an observed column) change a lot ...
    changed = _windows_after_changing(dm, origin, [0, 1], 50.0)
    assert not torch.equal(changed.targets[i], test.targets[i])
    after = model(*(t[i : i + 1] for t in changed.model_inputs))
    assert torch.equal(before, after)  # ... and the forecast does not move
    # a future calendar value is known, and the forecast may follow it
    moved = _windows_after_changing(dm, origin, [2], 0.5)
    assert not torch.equal(before, model(*(t[i : i + 1] for t in moved.model_inputs)))


def test_the_rolled_forecast_reads_future_calendar_values_only(tmp_path):
    from rnnlab.data.csv import CsvDataModule
    from rnnlab.inference import recursive_paths

    path = _calendar_csv(tmp_path)
    dm = CsvDataModule(path=str(path), target="temp", time_column="date",
                       calendar=["day_of_week"], seq_len=8)  # fmt: skip
    dm.setup()
    model = _forecaster(dm, 1)
    starts = torch.tensor([int(dm.splits["test"].target_index[2])])
    before = recursive_paths(model, dm.frame(), starts, 5)
    series = dm.series.clone()
    dm.series = series.clone()
    dm.series[int(starts) :, 0] += 50.0  # the future target
    assert torch.equal(before, recursive_paths(model, dm.frame(), starts, 5))
    dm.series[int(starts) + 2 :, 1:] += 0.5  # the calendar from the third step on
    after = recursive_paths(model, dm.frame(), starts, 5)
    assert torch.equal(before[:, :2], after[:, :2]) and not torch.equal(before, after)


def test_a_model_with_an_observed_input_it_does_not_forecast_cannot_be_rolled(tmp_path):
    from rnnlab.inference import recursive_paths, why_not_recursive

    dm = _calendar_dm(_calendar_csv(tmp_path), horizon=1)
    model = _forecaster(dm, 1)
    assert "wind" in why_not_recursive(model, dm.frame())
    with pytest.raises(ValueError, match=r"model\.horizon") as info:
        recursive_paths(model, dm.frame(), torch.tensor([100]), 3)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("normalize", ["level", "window", "difference"])
def test_window_normalisation_follows_the_level_of_each_window(normalize):
    from rnnlab.models.backbones import LSTM
    from rnnlab.models.tasks.forecast import Forecaster

    torch.manual_seed(1)
    model = Forecaster(LSTM(1, 5), None, horizon=2, normalize=normalize, loss="gaussian").eval()
    x = torch.randn(3, 12, 1)
    shifted = model.distribution(x + 100.0)
    base = model.distribution(x)
    # a level shift moves the forecast by the same amount and leaves the spread alone
    assert torch.allclose(shifted[..., 0], base[..., 0] + 100.0, atol=1e-3)
    assert torch.allclose(shifted[..., 1], base[..., 1], atol=1e-4)
    if normalize == "window":  # and a change of scale scales both
        scaled = model.distribution(3.0 * x)
        assert torch.allclose(scaled[..., 0], 3.0 * base[..., 0], atol=1e-3)
        assert torch.allclose(scaled[..., 1], 3.0 * base[..., 1], atol=1e-3)


def test_a_direct_probabilistic_run_reports_intervals_and_baselines(make_cfg, caplog):
    from rnnlab.run.train import train

    cfg = make_cfg(
        "data=seasonal", "data.seq_len=10", "backbone=gru", "model.backbone.hidden_size=4",
        "trainer.max_epochs=1", "model.horizon=3", "model.loss=gaussian",
        "model.normalize=window", "callbacks.figures=null",
    )  # fmt: skip
    with caplog.at_level("WARNING"):
        metrics = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    on_disk = json.loads((run_dir / "metrics.json").read_text())
    assert on_disk["horizon"] == 3 and on_disk["forecast_method"] == "direct"
    assert set(on_disk["baselines"]) == {"naive_last", "seasonal_naive", "linear_ar"}
    for key in ("test_coverage80", "test_width80", "test_crps", "test_nll", "test_mean_std"):
        assert key in on_disk["table"] and math.isfinite(on_disk[key])
    assert 0.0 <= on_disk["test_coverage80"] <= 1.0
    assert on_disk["best_val_mse"] is None  # the loss is an NLL, not an MSE
    worse = [n for n, v in on_disk["baselines"].items() if v < on_disk["test_mse"]]
    assert on_disk["worse_than_baselines"] == worse
    assert all(name in caplog.text for name in worse) and (not worse or "worse" in caplog.text)
    with (run_dir / "forecast.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and list(rows[0]) == [
        "step", "direct_mse", "naive_last_mse", "seasonal_naive_mse", "linear_ar_mse",
        "direct_coverage80", "direct_crps",
    ]  # fmt: skip
    # averaged over the steps, the per-step errors are the test MSE and the baselines
    mean = lambda key: sum(float(r[key]) for r in rows) / 3  # noqa: E731
    assert mean("direct_mse") == pytest.approx(metrics["test_mse"], rel=1e-4)
    assert mean("seasonal_naive_mse") == pytest.approx(on_disk["seasonal_naive_mse"], rel=1e-9)
    with (run_dir / "predictions.csv").open() as f:
        header = next(csv.reader(f))
    assert header == ["index", "time", "target", "prediction", "lower80", "upper80"]
    assert (run_dir / "plots" / "forecast.png").is_file()


BAD_FORECAST_SETTINGS = [
    (["model.horizon=3", "data.horizon=1"], "data.horizon=1 is invalid with model.horizon=3"),
    (["model.loss=laplace"], "model.loss='laplace' is invalid: it must be one of mse"),
    (["model.loss=quantile", "model.quantiles=[0.2,0.5,0.8]"], "must reach 0.1 and 0.9"),
    (["model.loss=quantile", "model.quantiles=[0.5,0.1,0.9]"], "must be increasing levels"),
    (["model.horizon=5", "report.horizon=10"], "a direct model forecasts at most 5 steps"),
    (["model.normalize=sideways"], "model.normalize='sideways' is invalid"),
    (
        [
            "data=csv",
            "data.path={csv}",
            "data.target=a",
            "data.inputs=[b]",
            "model.normalize=window",
        ],
        "a is not (add it to data.inputs)",
    ),
    (
        [
            "data=csv",
            "data.path={csv}",
            "data.target=a",
            "data.time_column=t",
            "data.calendar=[weekday]",
        ],
        "'weekday' is not one of hour, day_of_week, day_of_year, month",
    ),
]


@pytest.mark.parametrize(("overrides", "fragment"), BAD_FORECAST_SETTINGS)
def test_bad_forecast_settings_fail_before_training(make_cfg, tmp_path, overrides, fragment):
    """Refused by the settings check or while the run is built, before any training."""
    from rnnlab.errors import ConfigError
    from rnnlab.run.build import build_run
    from rnnlab.run.validation import validate_config

    csv_file = tmp_path / "ab.csv"
    csv_file.write_text("t,a,b\n" + "".join(f"2024-01-{d:02d},{d},{d % 3}\n" for d in range(1, 29)))
    cfg = make_cfg(*(o.format(csv=csv_file) for o in overrides), "data.seq_len=3")
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
        build_run(cfg)
    assert fragment in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "run" / "checkpoints").exists()
