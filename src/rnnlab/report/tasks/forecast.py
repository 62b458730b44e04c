"""The report of ``task=forecast``: its numbers, its files and its figures.

    python train.py                          # one step ahead
    python train.py model.horizon=50         # direct: 50 steps from one call
    python train.py report.horizon=50        # a one-step model rolled 50 steps (forecast.csv)

Test numbers are in the file's units, beside the baselines on the same targets
(``rnnlab.report.baselines``) and the noise floor where the clean signal is known.
``predictions.csv`` holds every test window's first target and its forecast; with a horizon
(``report.horizon``, or the model's own above 1) ``forecast.csv`` holds the MSE per step
for the model and every baseline, and ``plots/forecast.png`` the forecast from the first test
window and beyond the data. The figures: predictions on the true time axis, actual against
predicted, the loss curves, the hidden states over one test window, and the attention weights
of ``model.head=attention``. With ``model.intervals=conformal`` the summary holds the test
coverage and mean width of the calibrated 80 % and 95 % intervals. ``predict`` writes the
forecast beyond the end of new data (``python predict.py``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab import rundir
from rnnlab.data.frame import SeriesFrame
from rnnlab.inference import (
    Forecasts,
    calibration,
    forecast_beyond,
    forecast_paths,
    model_horizon,
    window_forecasts,
)
from rnnlab.models.conformal import REPORTED
from rnnlab.models.heads import AttentionHead, attention_weights
from rnnlab.models.likelihoods import CENTRAL
from rnnlab.report import baselines as base
from rnnlab.report.figures import (
    example_index,
    hidden_states_figure,
    loss_figure,
    model_title,
)
from rnnlab.report.task import RUN_KEYS, TaskReport

log = logging.getLogger(__name__)

# A probabilistic forecaster's test metrics: Lightning's key -> metrics.json key.
PROBABILISTIC_KEYS = {
    "test/coverage80": "test_coverage80",  # share of targets inside the central 80 % interval
    "test/width80": "test_width80",  # mean width of that interval, series units
    "test/crps": "test_crps",
    "test/nll": "test_nll",  # Gaussian only
    "test/std_mean": "test_mean_std",  # Gaussian only: the mean predicted standard deviation
}
METHOD_LABELS = {"direct": "model (direct)", "recursive": "model (rolled forward)",
                 "naive_last": "repeat last value", "linear_ar": "linear AR (rolled)"}  # fmt: skip


class ForecastReport(TaskReport):
    """``task=forecast``'s report (see the module docstring).

    Args:
        horizon: steps of the multi-step forecast after testing (``forecast.csv``); None: the
            model's own horizon when above 1, else none.
    """

    def __init__(self, horizon: int | None = None) -> None:
        self.horizon = horizon

    # ------------------------------------------------------------------ numbers
    def summary(self, model: Any, tested: dict[str, float], dm: Any) -> dict[str, Any]:
        """MSE, RMSE, MAE and R² in the file's units (over every step of the model's horizon,
        and per target when there are several), the noise floor and the ratio to it, the
        interval metrics of a probabilistic model, and the baselines on the same targets.
        ``worse_than_baselines`` names every baseline with a lower MSE (a warning says so)."""
        frame = dm.frame()
        floor = base.noise_floor_mse(frame)
        baselines = base.baseline_metrics(frame)  # naive_last_mse, [seasonal_naive,] linear_ar
        named = {name.removesuffix("_mse"): value for name, value in baselines.items()}
        mse = tested["test/mse"]
        summary: dict[str, Any] = {
            "metric": "test_mse",
            "metric_goal": "min",
            "test_mse": mse,
            "test_rmse": tested["test/rmse"],
            "test_mae": tested["test/mae"],
            "test_r2": tested["test/r2"],
            "noise_floor_mse": floor,
            "test_mse_ratio": mse / floor if floor else None,
        }
        table = ["test_mse_ratio", "test_mae", "val_mse"]
        if frame.horizon > 1:
            summary["horizon"] = frame.horizon  # test_mse and the baselines average the steps
        if frame.n_targets > 1:
            for name in frame.target_names:
                for metric in ("mse", "mae"):
                    summary[f"test_{metric}_{name}"] = tested[f"test/{metric}/{name}"]
                table.append(f"test_mse_{name}")
        for key, name in PROBABILISTIC_KEYS.items():
            if key in tested:
                summary[name] = tested[key]
                table.append(name)
        summary["intervals"] = getattr(model, "intervals", None)
        coverage = conformal_coverage(model, frame)
        summary.update(coverage)
        table += [k for k in coverage if k.startswith("test_conformal_coverage")]
        worse = base.worse_than(mse, named)
        if worse:
            log.warning(
                "test_mse %.6g is worse than the baselines %s: the model has not learned what "
                "they know (see docs/forecasting.md)", mse,
                ", ".join(f"{name} ({named[name]:.6g})" for name in worse),
            )  # fmt: skip
        ratios = {n: {"test_mse_ratio": v / floor} for n, v in named.items()} if floor else {}
        return {
            **summary,
            **baselines,
            "baselines": named,
            "worse_than_baselines": worse,
            "table": table,
            "metric_floor": floor,
            "baseline_columns": ratios,
        }

    def validation(self, model, summary, scores, best_loss, dm) -> dict:
        """``val_mse`` of the tested weights, ``best_val_mse`` of the best checkpoint (in the
        file's units: ``val/loss`` is an MSE in model units; a probabilistic loss is no MSE,
        so the best checkpoint's MSE is then unknown: None), and the baselines' MSE over the
        validation windows (``val_baselines``: what a choice made on validation compares)."""
        best = model.val_loss_as_mse(best_loss) if best_loss is not None else None
        frame = dm.frame()
        try:
            val = base.baseline_metrics(frame, "val") if "val" in frame.splits else {}
        except ValueError:  # a season longer than the history before the validation split
            val = {}
        return {"val_mse": scores.get("val/mse"), "best_val_mse": best,
                "val_baselines": {k.removesuffix("_mse"): v for k, v in val.items()}}  # fmt: skip

    def console_keys(self, metrics: dict[str, Any]) -> list[str]:
        keys = ["test_mse", "test_mse_ratio", "test_rmse", "test_mae", "test_r2",
                "noise_floor_mse", *(f"{b}_mse" for b in metrics.get("baselines", {})),
                *metrics.get("table", []), "worse_than_baselines", "forecast_mse_step1",
                "forecast_mse_last_step", "val_mse", "best_val_mse", *RUN_KEYS]  # fmt: skip
        return list(dict.fromkeys(keys))

    # ------------------------------------------------------------------ files
    def write(self, model: Any, dm: Any, out_dir: Path) -> dict[str, Any]:
        """``predictions.csv``; with a horizon, ``forecast.csv`` and ``plots/forecast.png``
        (their summary numbers are returned for ``metrics.json``)."""
        frame = dm.frame()
        write_predictions(model, frame, Path(out_dir) / rundir.PREDICTIONS)
        horizon = self.horizon
        if not horizon and getattr(model, "horizon", 1) > 1:  # a direct model: its own horizon
            horizon = model.horizon
        if not horizon:
            return {}
        return write_forecast(model, frame, horizon, Path(out_dir))

    def predict(
        self,
        model: Any,
        dm: Any,
        out_dir: Path,
        *,
        horizon: int | None = None,
        trained: Any = None,
    ) -> list[Path]:
        """``forecast.csv``: ``horizon`` steps (default: the model's own) beyond the last
        point of ``dm``'s series, which is scaled with the statistics the model was trained
        with (``dm.history``); in the file's units, with the interval columns of
        ``write_beyond``."""
        frame = history_frame(model, dm)
        own = model_horizon(model)
        steps = horizon or own
        if own > 1 and steps > own:  # a direct model is not rolled forward
            raise ValueError(
                f"horizon={steps} is longer than the model's model.horizon={own}: use "
                f"horizon <= {own} (or null)"
            )
        time, forecasts = forecast_beyond(model, frame, steps)
        path = Path(out_dir) / rundir.FORECAST
        write_beyond(frame, time, forecasts, path)
        return [path]

    # ------------------------------------------------------------------ figures
    def figures(
        self,
        model: Any,
        dm: Any,
        history: Iterable[dict[str, Any]] | None = None,
        *,
        window: int = 0,
        max_panels: int = 8,
    ) -> dict[str, Any]:
        """Per target, the test predictions on the true time axis (one step ahead, a direct
        model's first step, with the 80 % interval of a probabilistic one); actual against
        predicted; the loss curves; the hidden states over test window ``window``; the
        attention weights over it for ``model.head=attention``."""
        from rnnlab.report import plots

        frame = dm.frame()
        test = frame.windows("test")
        window = example_index(window, len(test))
        title = model_title(model)
        forecasts = window_forecasts(model, frame)
        idx = test.split.target_index
        observed = frame.targets()  # [N, T], file units
        target, pred = observed[idx], forecasts.point[:, 0]  # [n_test, T]
        time = frame.time
        n = len(time)
        regions = {
            name: (float(time[s.start]), float(time[min(s.stop, n - 1)]))
            for name, s in frame.splits.items()
        }
        names = frame.target_names
        figures: dict[str, Any] = {}
        for t, name in enumerate(names):
            key = "predictions" if t == 0 else f"predictions_{name}"
            figures[key] = plots.new_figure("predictions")
            plots.predictions_over_time(
                figures[key],
                time,
                observed[:, t],
                regions,
                time[idx],
                target[:, t],
                pred[:, t],
                clean=frame.clean,
                bands={c: (lo[:, 0, t], hi[:, 0, t]) for c, (lo, hi) in forecasts.bands.items()},
                dates=frame.time_is_date,
                title=f"{title}: predictions vs actual values"
                + (f" of {name}" if len(names) > 1 else ""),
            )
        figures["scatter"] = plots.new_figure("scatter")
        plots.actual_vs_predicted(
            figures["scatter"].subplots(), target[:, 0], pred[:, 0], title=f"{title}, test split"
        )
        loss = loss_figure(title, history, floor=base.noise_floor_mse(frame))
        if loss is not None:
            figures["loss"] = loss
        x = test.inputs[window]  # [L, F]
        # What the backbone reads: the window after the model's own normalisation, if any.
        encode = getattr(getattr(model, "normalizer", None), "encode", None)
        seen = encode(x[None].to(model.device))[0][0].cpu() if encode is not None else x
        start = test.split.start + window
        context = observed[start : start + test.seq_len, 0]  # the first target over the window
        figures["hidden_states"] = hidden_states_figure(
            model,
            seen,
            inputs=context,
            target=float(target[window, 0]),
            max_panels=max_panels,
            title=f"{title}: states over test window {window} "
            f"(starts at t = {float(time[start]):.1f})",
        )
        if isinstance(getattr(model, "head", None), AttentionHead):
            figures["attention"] = plots.new_figure("attention")
            weights = attention_weights(model, seen[None].to(model.device))[0]
            plots.attention_window(
                figures["attention"],
                time[start : start + test.seq_len + 1],
                context,
                float(target[window, 0]),
                float(pred[window, 0]),
                weights,
                title=f"{title}: attention over test window {window}",
            )
        return figures


def write_predictions(model: nn.Module, frame: SeriesFrame, path: Path) -> None:
    """``predictions.csv``: every test window's first target, the model's forecast of it
    and, for a probabilistic model, the 80 % interval; in the file's units, per target."""
    forecasts = window_forecasts(model, frame)
    idx = frame.splits["test"].target_index
    truth = frame.targets()[idx]  # [n, T]
    names = frame.target_names
    suffix = (lambda n: f"/{n}") if len(names) > 1 else (lambda n: "")
    header = ["index", "time"]
    columns = []
    for t, name in enumerate(names):
        header += [f"target{suffix(name)}", f"prediction{suffix(name)}"]
        columns += [truth[:, t], forecasts.point[:, 0, t]]
        if CENTRAL in forecasts.bands:
            lower, upper = forecasts.bands[CENTRAL]
            header += [f"lower80{suffix(name)}", f"upper80{suffix(name)}"]
            columns += [lower[:, 0, t], upper[:, 0, t]]
    rows = zip(idx.tolist(), frame.time_labels(idx), *(c.tolist() for c in columns), strict=True)
    rundir.write_csv(path, header, rows)


def conformal_coverage(model: nn.Module, frame: SeriesFrame) -> dict[str, float | None]:
    """Share of the test targets (every step and target) inside the conformal intervals at
    80 % and 95 %, and their mean width in the file's units (``test_conformal_coverage80``,
    ``test_conformal_width80``, ...; None for an infinite width: too few validation windows);
    empty when the model's intervals are not calibrated conformal ones."""
    if calibration(model) is None:
        return {}
    forecasts = window_forecasts(model, frame)
    truth = frame.to_file_units(frame.windows("test").targets.double())  # [n, H·T]
    truth = truth.unflatten(1, (model_horizon(model), -1))  # [n, H, T]
    summary: dict[str, float | None] = {}
    for c in REPORTED:
        lower, upper = forecasts.bands[c]
        width = (upper - lower).mean().item()
        pct = round(100 * c)
        summary[f"test_conformal_coverage{pct}"] = (
            ((truth >= lower) & (truth <= upper)).double().mean().item()
        )
        summary[f"test_conformal_width{pct}"] = width if math.isfinite(width) else None
    return summary


def history_frame(model: nn.Module, dm: Any) -> SeriesFrame:
    """``dm``'s whole series scaled with the model's stored statistics, checked against the
    training set-up: the same columns, at least one window (one-line ``ValueError``s)."""
    statistics = getattr(model, "statistics", None)
    if not statistics:
        raise ValueError(
            "the checkpoint stores no training statistics (it was written by an older rnnlab): "
            "train the model again to predict on new data"
        )
    frame = dm.history(statistics)
    stored = dict(model.hparams.get("columns") or {})
    defaults = {"inputs": ["value"], "targets": ["value"], "known": []}  # one series
    trained = {key: stored.get(key) or default for key, default in defaults.items()}
    given = frame.columns.model_columns()
    if given != trained:
        show = lambda c: ", ".join(f"{k} {c[k]}" for k in c if c[k])  # noqa: E731
        raise ValueError(
            f"the data's columns ({show(given)}) are not the model's ({show(trained)}): "
            "give a file with the training columns (data.target, data.inputs, data.calendar)"
        )
    if frame.n_points < frame.seq_len:
        raise ValueError(
            f"the data holds {frame.n_points} points, fewer than the model's window of "
            f"{frame.seq_len} (data.seq_len): give at least {frame.seq_len} points of history"
        )
    return frame


def write_beyond(frame: SeriesFrame, time: Tensor, forecasts: Forecasts, path: Path) -> None:
    """The forecast beyond the data as CSV: ``step``, ``time`` (dates continuing the file's
    frequency, its time numbers, or row numbers), then per target the forecast and each
    interval (``lower80``, ``upper80``, ...; empty where a step has none), file units."""
    names = frame.target_names
    suffix = (lambda n: f"/{n}") if len(names) > 1 else (lambda n: "")
    header, columns = ["step", "time"], []
    for t, name in enumerate(names):
        header.append(f"forecast{suffix(name)}")
        columns.append(forecasts.point[0, :, t])
        for c, (lower, upper) in sorted(forecasts.bands.items()):
            pct = f"{100 * c:g}"
            header += [f"lower{pct}{suffix(name)}", f"upper{pct}{suffix(name)}"]
            columns += [lower[0, :, t], upper[0, :, t]]
    labels = frame.time_labels(None, time)
    labels = [int(v) if isinstance(v, float) and v.is_integer() else v for v in labels]
    cell = lambda v: "" if math.isnan(v) else v  # noqa: E731
    rows = ([s + 1, labels[s], *(cell(float(c[s])) for c in columns)] for s in range(len(labels)))
    rundir.write_csv(path, header, rows)


def _interval_curves(
    model: nn.Module, frame: SeriesFrame, forecasts: Forecasts, truth: Tensor
) -> dict[str, Tensor]:
    """Coverage of the 80 % interval and CRPS per step ``[steps, T]`` for a probabilistic
    direct forecast; empty otherwise."""
    likelihood = getattr(model, "likelihood", None)
    if forecasts.params is None or likelihood is None:
        return {}
    steps = truth.shape[1]
    target = frame.to_file_units(truth).flatten(1)  # [n, steps·T]
    lower, upper = likelihood.interval(forecasts.params, CENTRAL)
    covered = ((target >= lower) & (target <= upper)).double()
    crps = likelihood.crps(forecasts.params, target)
    per_step = lambda v: v.unflatten(1, (steps, -1)).mean(dim=0)  # noqa: E731
    return {"direct_coverage80": per_step(covered), "direct_crps": per_step(crps)}


@torch.no_grad()
def write_forecast(model: nn.Module, frame: SeriesFrame, horizon: int, out_dir: Path) -> dict:
    """``forecast.csv`` (the MSE per step of the model and of every baseline, plus the
    coverage and CRPS per step of a probabilistic direct model) and ``plots/forecast.png``;
    returns the summary numbers for ``metrics.json``."""
    method, forecasts = forecast_paths(model, frame, horizon)
    starts = frame.origins("test", horizon)
    truth = base.future_values(frame, starts, horizon)  # [n, steps, T] model units
    error = (forecasts.point - frame.to_file_units(truth)) ** 2
    curves = {method: error.mean(dim=0)}  # name -> [steps, T]
    for name, path in base.baseline_paths(frame, starts, horizon).items():
        curves[name] = base.squared_errors(frame, path, truth).mean(dim=0)
    extra = _interval_curves(model, frame, forecasts, truth)
    names = frame.target_names if frame.n_targets > 1 else [None]
    header = ["step"]
    columns = []
    for key, values in [*((f"{k}_mse", v) for k, v in curves.items()), *extra.items()]:
        header.append(key)
        columns.append(values.mean(dim=1))
        if len(names) > 1:
            for t, target in enumerate(names):
                header.append(f"{key}/{target}")
                columns.append(values[:, t])
    rows = ([s + 1, *(float(c[s]) for c in columns)] for s in range(horizon))
    rundir.write_csv(out_dir / rundir.FORECAST, header, rows)
    mean_curves = {name: v.mean(dim=1) for name, v in curves.items()}
    fig = forecast_figure(model, frame, horizon, method, forecasts, mean_curves, len(starts))
    (out_dir / rundir.PLOTS).mkdir(parents=True, exist_ok=True)
    fig.savefig(out_dir / rundir.PLOTS / "forecast.png", dpi=100)
    mse = mean_curves[method]
    summary = {
        "forecast_horizon": horizon,
        "forecast_method": method,
        "forecast_start_points": len(starts),
        "forecast_mse_step1": mse[0].item(),
        "forecast_mse_last_step": mse[-1].item(),
        "forecast_mse_mean": mse.mean().item(),
    }
    for name, values in mean_curves.items():
        if name != method:
            summary[f"forecast_{name}_mse_mean"] = values.mean().item()
    return summary


def forecast_figure(
    model: nn.Module,
    frame: SeriesFrame,
    horizon: int,
    method: str,
    forecasts: Forecasts,
    curves: dict[str, Tensor],
    n_starts: int,
) -> Any:
    """Per target, a view of the forecast from the first test window and one of the forecast
    beyond the data (intervals as a fan), each with the window the model read; the MSE of
    every method per step spans the bottom row."""
    from rnnlab.report import plots

    time = frame.time.double()
    test = frame.splits["test"]
    first = test.start + test.seq_len  # series index of the first test target
    future_time, beyond = forecast_beyond(model, frame, horizon)
    observed = frame.targets()  # [N, T] file units
    names = frame.target_names
    fig = plots.new_figure("forecast")
    grid = fig.add_gridspec(len(names) + 1, 2, height_ratios=[3] * len(names) + [2.5])
    step = float(time[1] - time[0]) if len(time) > 1 else 1.0
    context = frame.seq_len * step
    first_view = (float(time[first]) - context - step, float(time[first + horizon - 1]) + step)
    end_view = (float(time[-1]) - context, float(future_time[-1]) + step)
    for t, name in enumerate(names):

        def band(f: Forecasts, t: int = t) -> dict[float, tuple[Tensor, Tensor]]:
            return {c: (lo[0, :, t], hi[0, :, t]) for c, (lo, hi) in f.bands.items()}

        views = [
            (  # (title, label, (time, values), forecasts, view)
                "From the first test window",
                f"{horizon}-step {method} forecast from the first test window",
                (time[first : first + horizon], forecasts.point[0, :, t]),
                forecasts,
                first_view,
            ),
            (
                "Beyond the data",
                f"{horizon}-step forecast beyond the data",
                (future_time, beyond.point[0, :, t]),
                beyond,
                end_view,
            ),
        ]
        for col, (title, label, path, shown, view) in enumerate(views):
            plots.forecast_paths(
                fig.add_subplot(grid[t, col]),
                time,
                observed[:, t],
                float(time[test.start]),
                {label: path},
                bands={label: band(shown)},
                ylabel=name,
                dates=frame.time_is_date,
                xlim=view,
                title=title + (f": {name}" if len(names) > 1 else ""),
                color_offset=2 + col,
            )
    labels = {**METHOD_LABELS, "seasonal_naive": f"seasonal naive (season {frame.season})"}
    plots.forecast_errors(
        fig.add_subplot(grid[-1, :]),
        {labels.get(k, k): v for k, v in curves.items()},
        start_points=n_starts,
    )
    return fig
