"""Many series, one model: the long table's windows and splits, the per-series metrics, the
``.tsf`` reader, the one-line errors, and a global model trained end to end (task=panel)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from rnnlab import rundir
from rnnlab.data.panel import BalancedSampler, PanelDataModule, PanelWindows
from rnnlab.data.tsf import M1YearlyDataModule, TsfDataModule, read_tsf
from rnnlab.errors import ConfigError
from rnnlab.report import panel_metrics as pm
from rnnlab.run.build import build_data
from rnnlab.run.train import complete_run, prepare_run


def long_table(n_series=6, length=30, seed=0, ragged=True, **extra) -> pd.DataFrame:
    """Series of different lengths and starts: a level per series, noise, and ``extra``
    columns made by ``f(rng, n)``."""
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(n_series):
        n = length - (s % 3) * 4 if ragged else length
        start = s * 2 if ragged else 0
        frame = pd.DataFrame({"unique_id": f"s{s}", "ds": np.arange(start, start + n),
                              "y": 10.0 * (s + 1) + rng.normal(0, 1, n)})  # fmt: skip
        for name, make in extra.items():
            frame[name] = make(rng, n)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=seed)


def panel(table, **kwargs) -> PanelDataModule:
    settings = {"seq_len": 6, "horizon": 3, "batch_size": 8, **kwargs}
    dm = PanelDataModule(table=table, **settings)
    dm.load()
    return dm


# ---------------------------------------------------------------- metrics
def test_mase_and_smape_match_hand_computed_values():
    # series a: in-sample 1, 3, 2, 5 -> lag-1 differences 2, 1, 3 -> scale 2
    # series b: in-sample 1, 2, 3, 5, 4, 7 -> lag-2 differences 2, 3, 1, 2 -> scale 2 (m = 2)
    values = np.array([1, 3, 2, 5, 1, 2, 3, 5, 4, 7], dtype=float)
    offsets = np.array([0, 4, 10])
    forecast = np.array([[5.0, 5.0], [8.0, 6.0]])
    actual = np.array([[6.0, 4.0], [6.0, 6.0]])
    one = pm.per_series_errors(forecast[:1], actual[:1], values[:4], offsets[:2], season=1)
    assert one["mase"][0] == pytest.approx(1.0 / 2.0)
    assert one["smape"][0] == pytest.approx(100 * (1 / 11 + 1 / 9))
    assert one["mae"][0] == pytest.approx(1.0) and one["rmse"][0] == pytest.approx(1.0)
    both = pm.per_series_errors(forecast, actual, values, offsets, season=2)
    # a has 4 points > m = 2: lag-2 differences |2-1|, |5-3| -> scale 1.5; MAE 1
    assert both["mase"] == pytest.approx([1.0 / 1.5, 1.0 / 2.0])
    assert both["smape"][1] == pytest.approx(100 * (2 / 14 + 0.0))
    assert both["rmse"][1] == pytest.approx(np.sqrt(2.0))
    # a series no longer than its season falls back to lag 1; a flat one has no MASE
    short = pm.seasonal_scale(np.array([1.0, 4.0, 2.0, 2.0, 2.0]), np.array([0, 2, 5]), 4)
    assert short[0] == pytest.approx(3.0) and short[1] == 0.0
    flat = pm.per_series_errors([[1.0]], [[2.0]], np.array([2.0, 2.0]), np.array([0, 2]))
    assert np.isnan(flat["mase"][0])
    assert pm.per_series_errors([[0.0]], [[0.0]], values[:4], offsets[:2])["smape"][0] == 0.0
    summary = pm.summarize({"mase": np.array([1.0, np.nan, 3.0, 8.0])}, "test_")
    assert summary == {"test_mase_mean": 4.0, "test_mase_median": 3.0}


def test_naive_baselines_reproduce_the_m1_yearly_figures():
    dm = M1YearlyDataModule(seq_len=12, horizon=6, min_history=3)
    dm.load()
    assert len(dm.ids) == 181 and dm.n_dropped == 0
    values, offsets = dm.history("test")
    actual = dm.actuals("test")
    naive = pm.per_series_errors(pm.naive_forecast(values, offsets, 6), actual, values, offsets)
    # statsforecast's Naive under the Monash protocol, as measured in issue 24
    assert np.mean(naive["mase"]) == pytest.approx(4.894, abs=5e-4)
    assert np.median(naive["mase"]) == pytest.approx(3.772, abs=5e-4)
    snaive = pm.seasonal_naive_forecast(np.arange(10.0), np.array([0, 5, 10]), 4, 2)
    assert snaive.tolist() == [[3, 4, 3, 4], [8, 9, 8, 9]]


# ---------------------------------------------------------------- splits and windows
def test_the_per_series_split_puts_no_test_or_validation_point_in_training():
    dm = panel(long_table(), min_history=2)
    H = dm.horizon
    train = dm.splits["train"]
    series, origin = train.locate(torch.arange(train.n_windows))
    start = torch.from_numpy(dm.offsets[:-1])[series]
    end = start + torch.from_numpy(dm.lengths)[series]
    assert (origin + H <= end - 2 * H).all()  # every target before the validation part
    assert (origin - dm.seq_len < end - 2 * H).all()
    for name, back in (("val", 2 * H), ("test", H)):
        s, o = dm.splits[name].locate(torch.arange(dm.splits[name].n_windows))
        assert (o == torch.from_numpy(dm.offsets[1:])[s] - back).all()
    # every training window's values: the same when the test and validation points change
    dm.setup()
    before = dm.datasets["train"][torch.arange(train.n_windows)]
    table = long_table()
    rank = table.groupby("unique_id")["ds"].rank(ascending=False)
    table.loc[rank <= 2 * H, "y"] += 1e6
    changed = panel(table, min_history=2)
    changed.setup()
    after = changed.datasets["train"][torch.arange(train.n_windows)]
    for a, b in zip(before, after, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(dm.datasets["test"].all[1], changed.datasets["test"].all[1])


def test_too_short_series_are_dropped_and_counted(caplog):
    table = long_table()  # lengths 30, 26, 22, 30, 26, 22
    short = table[(table.unique_id != "s2") | (table.ds < table.ds.min() + 12)]
    with caplog.at_level("WARNING", logger="rnnlab.data.panel"):
        dm = panel(short, min_history=4)  # a series needs 4 + 3 points at least
    assert dm.n_dropped == 0 and "dropped" not in caplog.text
    tiny = table[(table.unique_id != "s2") | (table.ds < table.ds.min() + 6)]
    with caplog.at_level("WARNING", logger="rnnlab.data.panel"):
        dm = panel(tiny, min_history=4)
    assert dm.n_dropped == 1 and "s2" not in dm.ids.tolist() and len(dm.ids) == 5
    assert "dropped 1 of 6 series shorter than 7 points" in caplog.text
    assert dm.splits["test"].n_windows == 5


def test_refit_trains_up_to_the_test_and_never_on_it():
    held, refit = panel(long_table(), min_history=2), panel(long_table(), min_history=2, refit=True)
    H = refit.horizon
    for dm, back in ((held, 2 * H), (refit, H)):
        train = dm.splits["train"]
        series, origin = train.locate(torch.arange(train.n_windows))
        end = torch.from_numpy(dm.offsets[1:])[series]
        assert (origin + H <= end - back).all()
        assert (origin + H == end - back).sum() == len(dm.ids)  # every series reaches it
    assert refit.splits["train"].n_windows == held.splits["train"].n_windows + H * len(held.ids)


def test_windows_are_index_arithmetic_over_one_table_with_padding_marked():
    dm = panel(long_table(), min_history=2)
    dm.setup()
    train = dm.datasets["train"]
    assert train.values.data_ptr() == dm.values.data_ptr()  # no copy of the table
    x, y, future, *_ = train[torch.arange(len(train))]
    assert x.shape == (len(train), 6, 2) and y.shape == (len(train), 3) and future.shape[-1] == 0
    first = train.split.locate(torch.tensor([0]))[1].item()  # its series' first window
    assert x[0, :4, 1].tolist() == [1, 1, 1, 1] and x[0, 4:, 1].tolist() == [0, 0]
    assert torch.equal(x[0, :5, 0], dm.values[first - 2, 0].expand(5))  # padded: first value
    assert torch.equal(y[0], dm.values[first : first + 3, 0])


def test_balanced_sampling_draws_equally_from_every_series():
    dm = panel(long_table(n_series=4, length=60, ragged=False).pipe(
        lambda t: t[~((t.unique_id != "s0") & (t.ds >= 30))]), balance=True,
        windows_per_series=5)  # fmt: skip
    split = dm.splits["train"]
    assert split.count.tolist()[0] > 2 * split.count.tolist()[1]  # s0 holds most windows
    sampler = BalancedSampler(split, 5, 8, seed=1, min_batches=1)
    sampler.set_epoch(3)
    drawn = torch.cat(list(sampler))
    series, _ = split.locate(drawn)
    assert torch.bincount(series).tolist() == [5, 5, 5, 5] and dm.train_size() == 20
    again = BalancedSampler(split, 5, 8, seed=1, min_batches=1)
    again.set_epoch(3)
    assert torch.equal(drawn, torch.cat(list(again)))


# ---------------------------------------------------------------- covariates
def test_an_observed_covariate_cannot_leak_the_future():
    # `peek` copies the target: a window that read it at the target steps would know them
    table = long_table(promo=lambda rng, n: rng.normal(size=n))
    table["peek"] = table["y"]
    dm = panel(table, observed=["peek"], known=["promo"])
    dm.setup()
    x, y, future, _, _ = dm.datasets["test"].all
    assert future.shape[-1] == 1  # only the known column reaches the target steps
    rank = table.groupby("unique_id")["ds"].rank(ascending=False)
    changed = table.copy()
    changed.loc[rank <= 3, "peek"] = 99.0  # the observed column over every test horizon
    other = panel(changed, observed=["peek"], known=["promo"])
    other.setup()
    x2, y2, future2, _, _ = other.datasets["test"].all
    # (the column's standardisation reads the training parts only, which did not change)
    assert torch.equal(x, x2) and torch.equal(future, future2) and torch.equal(y, y2)


def promo_config(make_cfg, tmp_path, *extra):
    table = long_table(n_series=12, length=48, promo=lambda rng, n: (rng.random(n) < 0.3) * 1.0)
    table["y"] += 5.0 * table["promo"]
    path = tmp_path / "promo.csv"
    table.to_csv(path, index=False)
    return make_cfg(
        "data=panel", f"data.path={path}", "model.horizon=3", "data.seq_len=8",
        "data.known=[promo]", "backbone=gru", "model.backbone.hidden_size=8",
        "trainer.max_epochs=12", "data.min_batches_per_epoch=25", "model.optimizer.lr=0.01",
        "report.stats_baselines=[]", "logger=csv", f"paths.log_dir={tmp_path}/logs", *extra,
    )  # fmt: skip


def test_a_known_covariate_changes_the_forecast_and_the_run_reports_per_series(make_cfg, tmp_path):
    cfg = promo_config(make_cfg, tmp_path)
    run = prepare_run(cfg)
    metrics = complete_run(run, cfg)
    model, dm = run.model, run.datamodule
    x, future, static, ids = dm.model_inputs("test")
    series, _ = dm.split_rows("test")
    with torch.no_grad():
        model.eval()
        high = dm.to_file_units(model(x, future.clamp(min=future.max()), static, ids), series)
        low = dm.to_file_units(model(x, future.clamp(max=future.min()), static, ids), series)
    # the promotion adds 5 to the target; the model learned most of it from the known column
    assert (high - low).mean() > 2.5
    out = tmp_path / "run"
    saved = json.loads((out / rundir.METRICS).read_text())
    assert saved["metric"] == "test_mase_mean" and saved["metric_goal"] == "min"
    assert saved["test_mase_mean"] == metrics["test_mase_mean"] > 0
    assert set(saved["baselines"]) == {"naive"} and saved["best_baseline"] == "naive"
    assert saved["test_mase_ratio"] == pytest.approx(
        saved["test_mase_mean"] / saved["baselines"]["naive"]
    )
    per_series = pd.read_csv(out / "metrics_per_series.csv")
    assert len(per_series) == 12 and per_series["mase"].mean() == pytest.approx(
        saved["test_mase_mean"]
    )
    forecasts = pd.read_csv(out / "forecasts.csv")
    assert list(forecasts.columns) == ["id", "time", "step", "forecast", "actual"]
    assert len(forecasts) == 12 * 3
    torch.load(out / rundir.BEST_CKPT, weights_only=True)  # plain hparams only


# ---------------------------------------------------------------- the .tsf reader
TSF = """# a comment
@relation tiny
@attribute series_name string
@attribute start_timestamp date
@attribute weight numeric
@frequency yearly
@horizon 2
@missing true
@equallength false
@data
A:1990-01-01 00-00-00:2.5:1,2,3,4.5
B:2001-01-01 00-00-00:7:10,?,12
"""


def test_the_tsf_reader_reads_a_small_file(tmp_path, caplog):
    path = tmp_path / "tiny.tsf"
    path.write_text(TSF)
    tsf = read_tsf(path)
    assert tsf.horizon == 2 and tsf.frequency == "yearly" and tsf.static == ["weight"]
    table = tsf.table
    assert list(table.columns) == ["unique_id", "ds", "y", "weight"]
    assert table["unique_id"].tolist() == ["A"] * 4 + ["B"] * 3
    assert table["y"].tolist()[:4] == [1, 2, 3, 4.5] and np.isnan(table["y"].iloc[5])
    assert [str(d.date()) for d in table["ds"]][3:5] == ["1993-01-01", "2001-01-01"]
    assert table["weight"].tolist() == [2.5] * 4 + [7.0] * 3
    path.write_text(TSF.replace("@missing true", "@missing false"))
    with pytest.raises(ValueError, match=r"tiny.tsf line 12: a missing value"):
        read_tsf(path)
    path.write_text(TSF.replace("A:1990", "A:x:1990"))
    with pytest.raises(ValueError, match=r"line 11: 5 colon-separated fields, expected 4"):
        read_tsf(path)
    # as data=tsf: the file's series and numeric attributes, its @horizon checked
    path.write_text(TSF.replace("10,?,12", "10,11,12"))
    with caplog.at_level("WARNING", logger="rnnlab.data.tsf"):
        dm = TsfDataModule(path=str(path), horizon=1, seq_len=2, min_history=1, static=["weight"])
        dm.load()
    assert "states @horizon 2; training at model.horizon=1" in caplog.text
    assert dm.ids.tolist() == ["A", "B"] and dm.static_names == ["weight"]
    assert dm.actuals("test").tolist() == [[4.5], [12.0]]


# ---------------------------------------------------------------- one-line errors
@pytest.mark.parametrize(
    ("change", "settings", "message"),
    [
        (lambda t: pd.concat([t, t.iloc[[0, 1]]]), {},
         r"duplicate \(unique_id, ds\) rows: \('s\d', \d+\), \('s\d', \d+\); a series holds"),
        (lambda t: t.assign(y=t["y"].astype(object).where(t.index != 7, "n/a")), {},
         r"data.target='y' is not numeric: value 'n/a' in series 's\d' at ds=\d+"),
        (lambda t: t.assign(promo=t["promo"].where(~((t.unique_id == "s1")
                            & (t.ds == t[t.unique_id == "s1"].ds.max())))),
         {"known": ["promo"]}, r"data.known='promo' is missing over the forecast horizon at 1 "
         r"rows \(first: series 's1' at ds=\d+\)"),
        (lambda t: t, {"static": ["region"]},
         r"data.static='region' is not a column of the table; columns: unique_id, ds, y, promo"),
        (lambda t: t, {"horizon": 40},
         r"every series is too short: the longest has 30 points and a series needs "
         r"data.min_history \+ model.horizon = 6 \+ 40 = 46"),
    ],
)  # fmt: skip
def test_bad_tables_get_one_clear_line(change, settings, message):
    table = change(long_table(promo=lambda rng, n: rng.normal(size=n)))
    with pytest.raises(ValueError, match=message) as caught:
        panel(table, **settings)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_a_config_error(make_cfg, tmp_path):
    cfg = make_cfg("data=panel", f"data.path={tmp_path}/absent.csv")
    with pytest.raises(ConfigError, match=r"data.path='.*absent.csv': no such file"):
        build_data(cfg.data)


def test_panel_windows_serve_the_model_inputs_of_every_split():
    dm = panel(long_table(static_kind=lambda rng, n: ["a"] * n), static=["static_kind"])
    dm.setup()
    assert dm.static_names == ["static_kind=a"]
    for name in ("train", "val", "test"):
        windows = dm.datasets[name]
        assert isinstance(windows, PanelWindows)
        batch = windows[torch.arange(min(4, len(windows)))]
        assert batch[3].shape[-1] == 1 and batch[4].dtype == torch.long
    settings = dm.model_settings()
    assert settings["backbone.input_size"] == 1 + 1 and settings["n_series"] == 6


def test_the_series_embedding_and_static_columns_enter_the_model():
    from rnnlab.models.backbones import GRU
    from rnnlab.models.tasks.panel import PanelForecaster

    dm = panel(long_table(kind=lambda rng, n: ["ab"[rng.integers(2)]] * n), static=["kind"])
    settings = dm.model_settings()
    assert dm.static_names == ["kind=a", "kind=b"] and settings["n_static"] == 2
    torch.manual_seed(0)
    model = PanelForecaster(
        GRU(input_size=settings["backbone.input_size"] + 4, hidden_size=8),
        torch.optim.Adam, horizon=3, n_series=settings["n_series"], id_embedding=4,
        n_static=2, columns=settings["columns"],
    )  # fmt: skip
    x, future, static, ids = dm.model_inputs("test")
    with torch.no_grad():
        base = model(x, future, static, ids)
        assert not torch.allclose(base, model(x, future, static, ids.roll(1)))
        assert not torch.allclose(base, model(x, future, 1 - static, ids))


# ---------------------------------------------------------------- data.known for one series
def test_the_single_series_csv_serves_known_columns_at_the_forecast_steps(
    make_cfg, tmp_path, caplog
):
    from rnnlab.data.csv import CsvDataModule

    rng = np.random.default_rng(0)
    promo = (rng.random(300) < 0.3) * 1.0
    load = 20 + np.sin(np.arange(300) / 5) + 6 * promo + rng.normal(0, 0.3, 300)
    path = tmp_path / "load.csv"
    pd.DataFrame({"load": load, "promo": promo}).to_csv(path, index=False)
    dm = CsvDataModule(path=str(path), target="load", known=["promo"], seq_len=8, horizon=3)
    dm.setup()
    assert dm.columns.names == ("load", "promo") and dm.columns.known == (1,)
    x, y, future = dm.datasets["test"][torch.tensor([0])]
    first = dm.splits["test"].start
    scaled = dm.series[:, 1]
    assert torch.equal(x[0, :, 1], scaled[first : first + 8])  # over the window
    assert torch.equal(future[0, :, 0], scaled[first + 8 : first + 11])  # and ahead
    assert torch.equal(y[0], dm.series[first + 8 : first + 11, 0])  # the load is the target
    with caplog.at_level("WARNING", logger="rnnlab.data.csv"):
        ahead = dm.future_known(torch.arange(300.0, 304.0))
    assert torch.equal(ahead[:, 0], scaled[-1].expand(4)) and "holds them" in caplog.text
    with pytest.raises(ValueError, match=r"'load' is also a target or an input"):
        CsvDataModule(path=str(path), target="load", known=["load"])
    cfg = make_cfg(
        "data=csv", f"data.path={path}", "data.target=load", "data.known=[promo]",
        "data.seq_len=8", "model.horizon=3", "backbone=gru", "model.backbone.hidden_size=8",
        "trainer.max_epochs=10", "data.min_batches_per_epoch=25", "model.optimizer.lr=0.01",
        "test_ckpt=last", "callbacks.figures=null",
    )  # fmt: skip
    run = prepare_run(cfg)
    complete_run(run, cfg)
    model = run.model.eval()
    context = dm.datasets["test"][torch.arange(20)][0]
    with torch.no_grad():  # the promotion adds 6 to the load: the model learned to read it
        on = model(context, torch.full((20, 3, 1), float(scaled.max())))
        off = model(context, torch.full((20, 3, 1), float(scaled.min())))
    assert ((on - off) * dm.scale).mean() > 3.0
