"""``python predict.py``: the forecast beyond new data, scaled with the statistics stored at
training time, through the project's one inference path; one-line refusals for data that
does not match the training set-up and for checkpoints without statistics."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from rnnlab.data.csv import calendar_features
from rnnlab.errors import ConfigError
from rnnlab.inference import forecast_beyond
from rnnlab.run.build import build_data
from rnnlab.run.config import compose_config
from rnnlab.run.predict import load_model, predict
from rnnlab.run.train import train
from tests.conftest import FAST

WEATHER = Path(__file__).resolve().parents[1] / "data" / "seattle_weather.csv"
DIGITS = WEATHER.with_name("digits.csv.gz")
# The weather set-up made small: four observed columns, the day of the year as a calendar
# feature, three steps at once, Gaussian intervals calibrated conformally.
RUN = ["experiment=weather", "data.seq_len=8", "model.horizon=3", "model.loss=gaussian",
       "model.intervals=conformal", "model.backbone.hidden_size=4", "trainer.max_epochs=2",
       "callbacks.figures=null", "logger=none"]  # fmt: skip


@pytest.fixture(scope="module")
def weather_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("weather") / "run"
    metrics = train(compose_config(run_dir, [*FAST, *RUN]))
    GlobalHydra.instance().clear()
    return run_dir, metrics


def run_predict(tmp_path: Path, *overrides: str) -> list[dict]:
    """``predict.py`` with ``overrides``; the rows of its forecast.csv."""
    cfg = compose_config(tmp_path / "predict", list(overrides), config_name="predict")
    try:
        written = predict(cfg)
    finally:
        GlobalHydra.instance().clear()
    (path,) = written["files"]
    assert Path(path) == tmp_path / "predict" / "predictions" / "forecast.csv"
    with Path(path).open() as f:
        return list(csv.DictReader(f))


def test_predict_on_the_training_file_reproduces_the_runs_forecast_beyond_the_data(
    weather_run, tmp_path
):
    run_dir, metrics = weather_run
    rows = run_predict(tmp_path, f"run_dir={run_dir}", f"data.path={WEATHER}")
    # The run's own forecast beyond its data, as its report draws it (forecast figure)
    model, run_cfg = load_model(metrics["ckpt_path"])
    _, own = forecast_beyond(model, build_data(run_cfg.data).frame(), 3)
    assert [float(r["forecast"]) for r in rows] == pytest.approx(own.point[0, :, 0].tolist())
    for c, (lower, upper) in own.bands.items():
        pct = f"{100 * c:g}"
        assert [float(r[f"lower{pct}"]) for r in rows] == pytest.approx(lower[0, :, 0].tolist())
        assert [float(r[f"upper{pct}"]) for r in rows] == pytest.approx(upper[0, :, 0].tolist())
    assert sorted(own.bands) == [0.5, 0.8, 0.95]  # conformal: every step has its intervals
    # the days after the file's last one, continuing its daily frequency
    assert [r["time"] for r in rows] == ["2016-01-01", "2016-01-02", "2016-01-03"]
    assert [int(r["step"]) for r in rows] == [1, 2, 3]


def test_the_stored_statistics_scale_new_data_never_its_own(weather_run, tmp_path):
    run_dir, metrics = weather_run
    model, _ = load_model(metrics["ckpt_path"])
    table = pd.read_csv(WEATHER).tail(40)
    shifted = table.copy()
    observed = ["precipitation", "temp_max", "temp_min", "wind"]
    shifted[observed] += 10.0  # a warmer, wetter, windier month
    paths = {}
    for name, frame in (("plain", table), ("shifted", shifted)):
        paths[name] = tmp_path / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    plain = run_predict(tmp_path / "a", f"run_dir={run_dir}", f"data.path={paths['plain']}")
    moved = run_predict(tmp_path / "b", f"run_dir={run_dir}", f"data.path={paths['shifted']}")
    point = np.array([float(r["forecast"]) for r in moved])

    # By hand: the raw window scaled with the checkpoint's statistics, the calendar of the
    # window's and the forecast days, the model, back to degrees with the same statistics.
    loc, scale = model.data_loc.numpy(), model.data_scale.numpy()
    assert model.data_columns == observed
    window = (shifted[observed].to_numpy()[-8:] - loc) / scale  # [L, 4]
    dates = pd.DatetimeIndex(pd.to_datetime(shifted["date"]))
    future = pd.date_range(dates[-1] + dt.timedelta(days=1), periods=3, freq="D")
    x = np.concatenate([window, calendar_features(dates[-8:], ["day_of_year"])], axis=1)
    known = calendar_features(future, ["day_of_year"])
    with torch.no_grad():
        z = model(torch.tensor(x[None]).float(), torch.tensor(known[None]).float())
    by_hand = z[0].double().numpy() * scale[1] + loc[1]  # temp_max is the second column
    assert point == pytest.approx(by_hand, rel=1e-5)
    # Statistics refitted on the shifted file would have absorbed the shift: not what we get
    own = (shifted[observed].to_numpy() - shifted[observed].mean().to_numpy()) / shifted[
        observed
    ].std().to_numpy()
    assert not np.allclose(window, own[-8:], atol=0.1)
    # ten degrees warmer in, a warmer forecast out
    assert (point - np.array([float(r["forecast"]) for r in plain])).mean() > 5.0


def test_data_that_does_not_match_the_training_set_up_is_refused(weather_run, tmp_path):
    run_dir, _ = weather_run
    table = pd.read_csv(WEATHER).tail(40)
    cases = {
        "renamed": (table.rename(columns={"wind": "gust"}), [],
                    r"data.inputs: 'wind' is not a column of renamed.csv; columns: date, "),
        "extra": (table, ["+data.inputs=[precipitation,temp_max,temp_min]"],
                  r"the data's columns \(inputs \['precipitation', 'temp_max', 'temp_min', "
                  r"'day_of_year_sin', 'day_of_year_cos'\].*are not the model's"),
        "short": (table.tail(5), [],
                  r"the data holds 5 points, fewer than the model's window of 8 \(data.seq_len\)"),
        "gaps": (table.assign(wind=table["wind"].where(table.index % 7 > 0)), [],
                 r"data.inputs='wind' has 6 missing values .* set data.fill=interpolate"),
    }  # fmt: skip
    for name, (frame, extra, message) in cases.items():
        path = tmp_path / f"{name}.csv"
        frame.to_csv(path, index=False)
        with pytest.raises(ConfigError, match=message):
            run_predict(tmp_path / name, f"run_dir={run_dir}", f"data.path={path}", *extra)
    # gaps are filled when the user asks for it
    rows = run_predict(tmp_path / "filled", f"run_dir={run_dir}",
                       f"data.path={tmp_path / 'gaps.csv'}", "+data.fill=interpolate")  # fmt: skip
    assert len(rows) == 3
    with pytest.raises(ConfigError, match=r"horizon=4 is longer than the model's model.horizon=3"):
        run_predict(tmp_path / "far", f"run_dir={run_dir}", "horizon=4")
    with pytest.raises(ConfigError, match=r"data.seq_len=9 is invalid: the model was trained on"):
        run_predict(tmp_path / "len", f"run_dir={run_dir}", "data.seq_len=9")
    with pytest.raises(ConfigError, match=r"data.fill='sometimes' is invalid: it must be one of"):
        run_predict(tmp_path / "fill", f"run_dir={run_dir}", "data.fill=sometimes")


def test_a_checkpoint_without_statistics_is_refused(trained_run, tmp_path):
    ckpt = torch.load(trained_run.metrics["ckpt_path"], map_location="cpu", weights_only=True)
    for key in ("data_loc", "data_scale", "conformal.q"):
        del ckpt["state_dict"][key]  # as an rnnlab before predict.py wrote them
    old = tmp_path / "old.ckpt"
    torch.save(ckpt, old)
    with pytest.raises(ConfigError, match=r"the checkpoint stores no training statistics"):
        run_predict(tmp_path, f"ckpt_path={old}")
    with pytest.raises(ConfigError, match=r"give one of run_dir=<train run dir> or ckpt_path="):
        run_predict(tmp_path, f"ckpt_path={old}", f"run_dir={tmp_path}")


def test_predict_on_the_runs_own_series_with_a_rolled_horizon(trained_run, tmp_path):
    rows = run_predict(tmp_path, f"run_dir={trained_run.run_dir}", "horizon=4")
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"]
    # a one-step model: the first step has its calibrated intervals, the rolled ones none
    assert float(rows[0]["lower80"]) < float(rows[0]["forecast"]) < float(rows[0]["upper80"])
    assert all(r["lower80"] == "" for r in rows[1:])


def test_a_new_file_of_a_generated_series_is_read_as_its_column(trained_run, tmp_path):
    """A sine run forecasts beyond a CSV of a ``value`` column as beyond its own series."""
    run_dir = trained_run.run_dir
    series = build_data(trained_run.cfg.data).frame().series[-30:].double()  # the run's last points
    path = tmp_path / "new.csv"
    pd.DataFrame({"value": series.numpy()}).to_csv(path, index=False)
    own = run_predict(tmp_path / "own", f"run_dir={run_dir}", "horizon=3")
    new = run_predict(tmp_path / "new", f"run_dir={run_dir}", f"data.path={path}", "horizon=3")
    assert [float(r["forecast"]) for r in new] == pytest.approx(
        [float(r["forecast"]) for r in own], abs=1e-6
    )
    assert [r["time"] for r in new] == ["30", "31", "32"]  # row numbers continue the file's


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("digits") / "run"
    train(compose_config(run_dir, [*FAST, "data=digits", "trainer.max_epochs=1",
                                   "model.backbone.hidden_size=4", "callbacks.figures=null",
                                   "logger=none"]))  # fmt: skip
    GlobalHydra.instance().clear()
    return run_dir


def test_a_classifier_writes_class_probabilities_of_new_sequences(digits_run, tmp_path):
    table = pd.read_csv(DIGITS)
    table = table[table["sequence"].isin([3, 7, 11])]
    new = tmp_path / "new.csv"
    table.drop(columns="label").to_csv(new, index=False)  # new sequences have no labels
    cfg = compose_config(tmp_path / "p", [f"run_dir={digits_run}", f"data.path={new}"],
                         config_name="predict")  # fmt: skip
    try:
        written = predict(cfg)
    finally:
        GlobalHydra.instance().clear()
    (path,) = written["files"]
    with Path(path).open() as f:
        rows = list(csv.DictReader(f))
    # By hand: the training split's statistics (not the new file's), the model, softmax
    model, run_cfg = load_model(written["ckpt_path"])
    dm = build_data(run_cfg.data)
    pixels = [f"px{i}" for i in range(8)]
    x = np.stack([table[table["sequence"] == s].sort_values("step")[pixels].to_numpy()
                  for s in (3, 7, 11)])  # fmt: skip  # [3, 8 rows, 8 pixels]
    x = (x - dm.channel_loc) / dm.channel_scale
    with torch.no_grad():
        prob = torch.softmax(model(torch.tensor(x).float()), -1)
    assert [r["sequence"] for r in rows] == ["3", "7", "11"]
    got = np.array([[float(r[f"p_{c}"]) for c in range(10)] for r in rows])
    assert got == pytest.approx(prob.numpy(), abs=1e-6)
    assert [int(r["prediction"]) for r in rows] == prob.argmax(-1).tolist()
    # another column than the training file's channels is refused, in one line
    table.assign(px8=1.0).to_csv(new, index=False)
    cfg = compose_config(tmp_path / "q", [f"run_dir={digits_run}", f"data.path={new}"],
                         config_name="predict")  # fmt: skip
    try:
        with pytest.raises(ConfigError, match=r"has column 'px8', which the model was not"):
            predict(cfg)
    finally:
        GlobalHydra.instance().clear()
