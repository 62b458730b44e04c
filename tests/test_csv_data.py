"""CSV series: reading, train-only standardisation, original units, and every bad input."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from rnnlab.data.csv import CsvDataModule, calendar_features, dates_of
from rnnlab.data.readers import SHIPPED
from rnnlab.errors import ConfigError
from rnnlab.report.baselines import noise_floor_mse
from rnnlab.run.train import train


def write_csv(path: Path, columns: dict[str, list]) -> Path:
    names = list(columns)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows(zip(*columns.values(), strict=True))
    return path


def trending_series(n: int = 300) -> list[float]:
    """A wave on a rising trend with a large offset: test points lie far above the training
    points, so statistics taken over the whole series would differ from the training ones."""
    return [1000.0 + 2.0 * i + 50.0 * math.sin(0.3 * i) for i in range(n)]


@pytest.fixture
def series_csv(tmp_path: Path) -> Path:
    values = trending_series()
    years = [1800 + i for i in range(len(values))]
    return write_csv(tmp_path / "series.csv", {"year": years, "level": values})


def make_dm(path: Path, **kwargs) -> CsvDataModule:
    kwargs.setdefault("seq_len", 10)
    return CsvDataModule(path=str(path), target="level", **kwargs)


def test_standardised_with_training_statistics_only(series_csv):
    dm = make_dm(series_csv, time_column="year")
    dm.setup()
    raw = torch.tensor(trending_series(), dtype=torch.float64)
    train = dm.splits["train"]
    segment = raw[train.start : train.stop]
    assert dm.loc == pytest.approx(segment.mean().item())
    assert dm.scale == pytest.approx(segment.std().item())
    assert dm.loc < raw.mean().item() - 50  # the whole-series mean is much higher
    # the training segment is centred, the test segment is not
    assert dm.series[train.start : train.stop].mean().item() == pytest.approx(0.0, abs=1e-5)
    assert dm.series[dm.splits["test"].start :].mean().item() > 2.0
    back = dm.frame().to_file_units(dm.series.double())
    assert torch.allclose(back, raw, rtol=1e-6)
    assert dm.time[0].item() == 1800 and dm.time[-1].item() == 1800 + len(raw) - 1
    assert noise_floor_mse(dm.frame()) is None


def test_same_windows_and_splits_as_the_sine_data(series_csv):
    from rnnlab.data.windows import chronological_splits

    dm = make_dm(series_csv, val_fraction=0.1, test_fraction=0.2)
    dm.setup()
    assert dm.splits == chronological_splits(300, 10, 0.1, 0.2)
    x, y = dm.datasets["test"][torch.tensor([0])]
    assert x.shape == (1, 10, 1) and y.shape == (1, 1)


def test_without_time_column_the_axis_is_the_row_position(series_csv):
    dm = make_dm(series_csv)
    dm.setup()
    assert torch.equal(dm.time, torch.arange(300, dtype=torch.float64))


def test_a_date_column_gives_a_date_axis(tmp_path):
    dates = [f"2020-01-{i + 1:02d}" for i in range(30)]
    path = write_csv(tmp_path / "dates.csv", {"date": dates, "level": list(range(30))})
    dm = CsvDataModule(path=str(path), target="level", time_column="date", seq_len=3)
    dm.setup()
    assert dm.time_is_date
    assert dm.time[1] - dm.time[0] == 1.0  # days
    assert [str(d.date()) for d in dates_of(dm.time[[0, -1]])] == [dates[0], dates[-1]]


def test_a_time_column_of_text_falls_back_to_row_position(tmp_path):
    path = write_csv(
        tmp_path / "names.csv", {"when": [f"day {i}" for i in range(30)], "level": list(range(30))}
    )
    dm = CsvDataModule(path=str(path), target="level", time_column="when", seq_len=3)
    dm.setup()
    assert not dm.time_is_date
    assert torch.equal(dm.time, torch.arange(30, dtype=torch.float64))


def test_interpolate_fills_gaps_linearly(tmp_path):
    values = [str(float(i)) for i in range(40)]
    values[5], values[6], values[20] = "", "NaN", "nan"
    values[0] = ""  # a leading gap takes the first known value
    values[-1] = "null"  # a trailing gap the last known one
    path = write_csv(tmp_path / "gaps.csv", {"level": values})
    dm = CsvDataModule(path=str(path), target="level", seq_len=3, fill="interpolate")
    dm.setup()
    filled = dm.frame().to_file_units(dm.series.double())
    expected = torch.arange(40, dtype=torch.float64)
    expected[0], expected[-1] = 1.0, 38.0
    assert torch.allclose(filled, expected, atol=1e-4)


def test_a_shipped_series_is_found_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dm = CsvDataModule(path="data/sunspots_yearly.csv", target="sunspots", time_column="year")
    dm.setup()
    assert len(dm.series) == 309
    assert dm.time[0].item() == 1700 and dm.time[-1].item() == 2008


def test_shipped_series_are_small_and_complete():
    path = SHIPPED / "sunspots_yearly.csv"
    assert path.stat().st_size < 100_000
    rows = path.read_text().splitlines()
    assert rows[0] == "year,sunspots" and len(rows) == 1 + 309
    weather = SHIPPED / "seattle_weather.csv"
    assert weather.stat().st_size < 100_000
    rows = weather.read_text().splitlines()
    assert rows[0] == "date,precipitation,temp_max,temp_min,wind" and len(rows) == 1 + 1461
    assert rows[1].startswith("2012-01-01,") and rows[-1].startswith("2015-12-31,")


BAD_INPUTS = [
    # (file content or None for a missing file, settings, exception type, message fragments)
    (None, {}, FileNotFoundError, ["data.path=", "no such file"]),
    ("a,b\n1,2\n", {"target": "level"}, ValueError, ["data.target='level'", "columns: a, b"]),
    (
        "level,a\n1,2\n",
        {"inputs": ["level", "wind"]},
        ValueError,
        ["data.inputs: 'wind'", "columns: level, a"],
    ),
    (
        "level,year\n1,1\n",
        {"time_column": "when"},
        ValueError,
        ["data.time_column='when'", "columns: level, year"],
    ),
    ("level\n1\n2\nabc\n4\n", {}, ValueError, ["non-numeric value 'abc'", "line 4"]),
    ("year,level\n1,1\n2,\n3,3\n", {}, ValueError, ["missing values", "data.fill=interpolate"]),
    ("level\n1\nNaN\n3\n4\n", {}, ValueError, ["1 missing values", "line 3"]),
    ("level\n" + "\n".join(map(str, range(12))) + "\n", {}, ValueError, ["data.seq_len=10"]),
    ("level\n" + "5\n" * 100, {}, ValueError, ["constant"]),
    (
        "date,level\n2020-01-02,1\n2020-01-01,2\n",
        {"time_column": "date"},
        ValueError,
        ["data.time_column='date' is not in increasing order", "line 3"],
    ),
    (
        "year,level\n1,1\n2,2\n",
        {"time_column": "year", "calendar": ["month"]},
        ValueError,
        ["data.calendar=['month'] needs dates"],
    ),
]


@pytest.mark.parametrize(("content", "settings", "error", "fragments"), BAD_INPUTS)
def test_bad_input_gets_a_one_line_error(tmp_path, content, settings, error, fragments):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    settings = {"target": "level", **settings}
    with pytest.raises(error) as info:
        dm = CsvDataModule(path=str(path), seq_len=10, **settings)
        dm.setup()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_training_reports_metrics_and_predictions_in_original_units(make_cfg, series_csv):
    cfg = make_cfg(
        "data=csv", f"data.path={series_csv}", "data.target=level", "data.time_column=year",
        "data.seq_len=10", "backbone=gru", "model.backbone.hidden_size=8", "callbacks.figures=null",
    )  # fmt: skip
    metrics = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    with (run_dir / "predictions.csv").open() as f:
        rows = list(csv.DictReader(f))
    raw = trending_series()
    assert [float(r["target"]) for r in rows] == pytest.approx(
        [raw[int(r["index"])] for r in rows], rel=1e-6
    )
    assert float(rows[0]["time"]) == 1800 + int(rows[0]["index"])
    pred = torch.tensor([float(r["prediction"]) for r in rows], dtype=torch.float64)
    target = torch.tensor([float(r["target"]) for r in rows], dtype=torch.float64)
    # test_mse is the error in the file's units (levels ~1500), not in standardised units
    by_hand = torch.mean((pred - target) ** 2).item()  # near 0: the AR start is exact here
    assert metrics["test_mse"] == pytest.approx(by_hand, rel=1e-3, abs=1e-6)
    on_disk = json.loads((run_dir / "metrics.json").read_text())
    assert on_disk["naive_last_mse"] > 0 and on_disk["linear_ar_mse"] > 0
    assert on_disk["noise_floor_mse"] is None and on_disk["test_mse_ratio"] is None


def test_several_columns_are_scaled_separately_with_training_statistics(tmp_path):
    n = 200
    level = trending_series(n)
    other = [5.0 + 0.1 * math.cos(0.7 * i) + 0.01 * i for i in range(n)]
    path = write_csv(tmp_path / "two.csv", {"level": level, "other": other})
    dm = CsvDataModule(path=str(path), target="level", inputs=["other", "level"], seq_len=6)
    dm.setup()
    assert dm.series.shape == (n, 2) and dm.columns.names == ("other", "level")
    train = dm.splits["train"]
    for c, raw in enumerate((other, level)):
        segment = torch.tensor(raw[train.start : train.stop], dtype=torch.float64)
        scaled = dm.series[:, c].double()
        expected = (torch.tensor(raw, dtype=torch.float64) - segment.mean()) / segment.std()
        assert torch.allclose(scaled, expected, atol=1e-5)
    assert dm.loc == pytest.approx(
        torch.tensor(level[train.start : train.stop]).double().mean().item()
    )
    # the window feeds both columns in the order given; the target is the level's next value
    x, y = dm.datasets["test"][torch.tensor([0])]
    first = dm.splits["test"].start
    assert x.shape == (1, 6, 2) and y.shape == (1, 1)
    assert torch.allclose(x[0, :, 1], dm.series[first : first + 6, 1])
    assert y[0, 0] == dm.series[first + 6, 1]
    assert dm.model_settings() == {
        "backbone.input_size": 2,
        "columns": {"inputs": ["other", "level"], "targets": ["level"], "known": []},
    }


def test_calendar_features_are_known_columns_after_the_observed_ones(tmp_path):
    dates = [f"2021-{m:02d}-{d:02d}" for m in (1, 2, 3) for d in range(1, 29)]
    path = write_csv(tmp_path / "cal.csv", {"date": dates, "level": trending_series(len(dates))})
    dm = CsvDataModule(
        path=str(path), target="level", time_column="date", calendar=["day_of_week", "month"],
        seq_len=5,
    )  # fmt: skip
    dm.setup()
    assert dm.columns.names == (
        "level", "day_of_week_sin", "day_of_week_cos", "month_sin", "month_cos",
    )  # fmt: skip
    assert dm.columns.known == (1, 2, 3, 4)
    # 2021-01-04 was a Monday (day_of_week 0): sine 0, cosine 1; month 1 -> angle 0
    monday = dates.index("2021-01-04")
    assert dm.series[monday, 1:3].tolist() == pytest.approx([0.0, 1.0], abs=1e-6)
    assert dm.series[dates.index("2021-03-01"), 3:5].tolist() == pytest.approx(
        [math.sin(2 * math.pi * 2 / 12), math.cos(2 * math.pi * 2 / 12)], abs=1e-6
    )
    import pandas as pd

    by_hand = calendar_features(pd.DatetimeIndex(dates), ["day_of_week", "month"])
    assert torch.allclose(dm.series[:, 1:].double(), torch.from_numpy(by_hand), atol=1e-6)
    # calendar columns are not standardised; beyond the data they follow the dates
    after = dm.time[-1] + torch.arange(1, 4, dtype=torch.float64)
    expected = calendar_features(pd.date_range("2021-03-29", periods=3), ["day_of_week", "month"])
    assert torch.allclose(dm.future_known(after).double(), torch.from_numpy(expected), atol=1e-6)


def test_the_old_column_setting_names_its_new_name(make_cfg, series_csv):
    from rnnlab.run.validation import validate_config

    cfg = make_cfg("data=csv", f"data.path={series_csv}", "data.column=level")
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    message = str(info.value)
    assert "\n" not in message
    assert "data.column='level'" in message and "data.target='level'" in message
