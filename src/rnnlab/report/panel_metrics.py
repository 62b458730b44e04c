"""Per-series errors of many forecasts at once, and the statistical baselines they are judged by.

The series come ragged: their in-sample points as one flat array and offsets (series ``i`` is
``values[offsets[i]:offsets[i + 1]]``), their forecasts and actual values as ``[S, H]``.

* MASE as the Monash archive computes it: the mean absolute error over the horizon divided
  by the mean absolute seasonal difference ``|y_t - y_{t-m}|`` of the series' in-sample
  points (``m`` = ``data.season``; lag 1 where the in-sample part holds ``m`` points or
  fewer). A flat in-sample part makes it undefined (NaN, left out of the mean and median).
* sMAPE in percent, ``200/H · Σ |F - A| / (|F| + |A|)`` (a step with F = A = 0 counts 0).
* MAE and RMSE in the series' own units.

Baselines: ``naive`` (the last in-sample value), ``seasonal_naive`` (the value one season
before), and with statsforecast installed (the ``stats`` extra) ``AutoETS``, ``AutoTheta``
and ``AutoARIMA`` fitted per series; their forecasts are cached on disk per data set (a hash
of the in-sample values, horizon, season, method and statsforecast's version), so a sweep
fits them once.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

METRICS = ("mase", "smape", "mae", "rmse")
STATS_METHODS = ("AutoETS", "AutoTheta", "AutoARIMA")  # the default of report.stats_baselines
# statsforecast models that report.stats_baselines may name (each takes season_length).
STATS_CHOICES = (*STATS_METHODS, "AutoCES", "Theta")


def _segments(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(series of every point, position of every point within its series)``."""
    lengths = np.diff(offsets)
    series = np.repeat(np.arange(len(lengths)), lengths)
    return series, np.arange(offsets[-1]) - offsets[:-1][series]


def seasonal_scale(values: np.ndarray, offsets: np.ndarray, season: int = 1) -> np.ndarray:
    """``[S]``: each series' mean absolute ``season``-lag difference of its in-sample points
    (lag 1 for a series of ``season`` points or fewer; NaN for one of a single point)."""
    lengths = np.diff(offsets)
    series, position = _segments(offsets)
    lag = np.where(lengths > season, season, 1)
    has = position >= lag[series]
    prev = np.maximum(np.arange(len(values)) - lag[series], 0)
    diff = np.where(has, np.abs(values - values[prev]), 0.0)
    count = np.bincount(series, weights=has, minlength=len(lengths))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(series, weights=diff, minlength=len(lengths)) / count


def per_series_errors(
    forecast: np.ndarray,
    actual: np.ndarray,
    values: np.ndarray,
    offsets: np.ndarray,
    season: int = 1,
) -> dict[str, np.ndarray]:
    """``{metric: [S]}`` for ``METRICS`` (module docstring)."""
    forecast, actual = np.asarray(forecast, np.float64), np.asarray(actual, np.float64)
    error = np.abs(forecast - actual)  # [S, H]
    mae = error.mean(axis=1)
    denominator = np.abs(forecast) + np.abs(actual)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(denominator > 0, error / denominator, 0.0)
        scale = seasonal_scale(values, offsets, season)
        mase = np.where(scale > 0, mae / scale, np.nan)
    return {
        "mase": mase,
        "smape": 200.0 * ratio.mean(axis=1),
        "mae": mae,
        "rmse": np.sqrt((error**2).mean(axis=1)),
    }


def summarize(errors: dict[str, np.ndarray], prefix: str) -> dict[str, float | None]:
    """``{prefix}{metric}_mean`` and ``_median`` over the series where defined."""
    out: dict[str, float | None] = {}
    for name, values in errors.items():
        finite = values[np.isfinite(values)]
        out[f"{prefix}{name}_mean"] = float(finite.mean()) if len(finite) else None
        out[f"{prefix}{name}_median"] = float(np.median(finite)) if len(finite) else None
    return out


def naive_forecast(values: np.ndarray, offsets: np.ndarray, horizon: int) -> np.ndarray:
    """``[S, H]``: every series' last in-sample value."""
    return np.repeat(values[offsets[1:] - 1][:, None], horizon, axis=1)


def seasonal_naive_forecast(
    values: np.ndarray, offsets: np.ndarray, horizon: int, season: int
) -> np.ndarray:
    """``[S, H]``: step ``h`` repeats the value ``season`` steps before it, from the last full
    season of each series (the naive forecast where a series is shorter than a season)."""
    ends = offsets[1:]
    lengths = np.diff(offsets)
    m = np.minimum(season, lengths)[:, None]  # [S, 1]
    h = np.arange(horizon)[None]  # [1, H]
    return values[ends[:, None] - m + h % m]


def data_key(values: np.ndarray, offsets: np.ndarray, horizon: int, season: int) -> str:
    """A hash of the in-sample data and the forecast's settings (the cache's key)."""
    digest = hashlib.sha256()
    for array in (
        np.ascontiguousarray(values, np.float64),
        np.ascontiguousarray(offsets, np.int64),
    ):
        digest.update(array.tobytes())
    digest.update(f"h={horizon},m={season}".encode())
    return digest.hexdigest()[:20]


def stats_available() -> str | None:
    """statsforecast's version, or None when it is not installed."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("statsforecast")
    except PackageNotFoundError:
        return None


def _fit_one(method: str, series: np.ndarray, horizon: int, season: int) -> np.ndarray:
    from statsforecast import models

    model = getattr(models, method)(season_length=season)
    return np.asarray(model.forecast(y=series, h=horizon)["mean"], dtype=np.float64)


def stats_forecast(
    method: str,
    values: np.ndarray,
    offsets: np.ndarray,
    horizon: int,
    season: int,
    cache_dir: str | Path | None = None,
) -> tuple[np.ndarray, int]:
    """``([S, H] forecasts, series that fell back to naive)`` of a statsforecast model fitted to
    every series' in-sample points, read from or written to ``cache_dir`` (module docstring).
    A series the method cannot fit gets the naive forecast, and is counted."""
    version = stats_available()
    key = data_key(values, offsets, horizon, season)
    path = Path(cache_dir) / f"{method}-{version}-{key}.npz" if cache_dir else None
    if path is not None and path.is_file():
        cached = np.load(path)
        return cached["forecast"], int(cached["failed"])
    naive = naive_forecast(values, offsets, horizon)
    forecast = naive.copy()
    failed = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(len(offsets) - 1):
            series = values[offsets[i] : offsets[i + 1]]
            try:
                fitted = _fit_one(method, series, horizon, season)
            except Exception:  # a fit that fails on one short series must not end the report
                failed += 1
                continue
            if np.isfinite(fitted).all():
                forecast[i] = fitted
            else:
                failed += 1
    if failed:
        log.warning("%s could not fit %d series: they get the naive forecast", method, failed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        np.savez(tmp, forecast=forecast, failed=failed)
        tmp.replace(path)
    return forecast, failed


def baseline_forecasts(
    values: np.ndarray,
    offsets: np.ndarray,
    horizon: int,
    season: int,
    methods: tuple[str, ...] = STATS_METHODS,
    cache_dir: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """``{name: [S, H]}``: naive, seasonal naive (when ``season > 1``) and those of
    ``methods`` that statsforecast offers (none without it: the log says so)."""
    out = {"naive": naive_forecast(values, offsets, horizon)}
    if season > 1:
        out["seasonal_naive"] = seasonal_naive_forecast(values, offsets, horizon, season)
    if not methods:
        return out
    if stats_available() is None:
        log.info("statsforecast is not installed (pip install 'rnnlab[stats]'): no %s baselines",
                 ", ".join(methods))  # fmt: skip
        return out
    for method in methods:
        out[method] = stats_forecast(method, values, offsets, horizon, season, cache_dir)[0]
    return out
