"""The report of ``task=panel``: per-series scaled errors beside statistical baselines.

    python train.py data=m1_yearly                      # M1 yearly, horizon 6
    python train.py experiment=m1_yearly                # global backbones over seeds

Every series is forecast once from its test origin (its last ``model.horizon`` points are the
targets) and scored per series (``rnnlab.report.panel_metrics``: MASE with period
``data.season`` and the in-sample scale as the Monash archive computes it, sMAPE, MAE, RMSE).
``metrics.json`` holds their mean and median over the series (``test_mase_mean`` ranks
runs), the same for every baseline, the best baseline's name and the model's ratio to it
(``test_mase_ratio``, below 1: the model wins). ``metrics_per_series.csv`` has one row per
series (the model's errors and each baseline's MASE) and ``forecasts.csv`` one row per
series and step (id, time, step, forecast, actual). The validation split (the horizon before
the test) is scored the same way (``val_mase_mean``: what a configuration is chosen on).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab import rundir
from rnnlab.inference import outputs
from rnnlab.report import panel_metrics as pm
from rnnlab.report.figures import loss_figure, model_title
from rnnlab.report.task import RUN_KEYS, TaskReport

log = logging.getLogger(__name__)

PER_SERIES = "metrics_per_series.csv"
FORECASTS = "forecasts.csv"


def panel_forecasts(model: Any, dm: Any, split: str) -> np.ndarray:
    """``[N, H]`` float64: the model's forecast from every window of ``split`` (one per series
    for val and test), in the file's units."""
    series, _ = dm.split_rows(split)
    point = outputs(model, dm.model_inputs(split), dm.eval_batch_size)
    return dm.to_file_units(point.double().numpy(), series)


class PanelReport(TaskReport):
    """``task=panel``'s report (see the module docstring).

    Args:
        stats_baselines: statsforecast models fitted per series beside naive and seasonal
            naive (``rnnlab.report.panel_metrics.STATS_CHOICES``); [] for none. Without
            statsforecast installed they are left out (the log says so).
        cache_dir: where their forecasts are cached per data set (None: not cached).
        max_stats_series: more series than this and the statsforecast baselines are skipped
            (they fit one model per series, in one process).
        panels: series drawn in ``plots/forecasts.png``.
    """

    def __init__(
        self,
        stats_baselines: Iterable[str] = pm.STATS_METHODS,
        cache_dir: str | None = None,
        max_stats_series: int = 20_000,
        panels: int = 6,
    ) -> None:
        self.stats_baselines = tuple(str(m) for m in stats_baselines)
        unknown = [m for m in self.stats_baselines if m not in pm.STATS_CHOICES]
        if unknown:
            raise ValueError(
                f"report.stats_baselines: {unknown[0]!r} is not one of "
                f"{', '.join(pm.STATS_CHOICES)}"
            )
        self.cache_dir, self.max_stats_series, self.panels = cache_dir, max_stats_series, panels
        self._baselines: dict[tuple[str, int], dict[str, np.ndarray]] = {}

    # ------------------------------------------------------------------ numbers
    def baselines(self, dm: Any, split: str) -> dict[str, np.ndarray]:
        """``{name: [N, H]}`` baseline forecasts of ``split`` (statistical ones for the test
        split only; kept for the datamodule's life)."""
        key = (split, id(dm))
        if key not in self._baselines:
            values, offsets = dm.history(split)
            methods = self.stats_baselines if split == "test" else ()
            if methods and len(offsets) - 1 > self.max_stats_series:
                log.warning("%d series > report.max_stats_series=%d: no statsforecast baselines",
                            len(offsets) - 1, self.max_stats_series)  # fmt: skip
                methods = ()
            cache = Path(self.cache_dir) / "panel_baselines" if self.cache_dir else None
            self._baselines[key] = pm.baseline_forecasts(
                values, offsets, dm.horizon, dm.season, methods, cache
            )
        return self._baselines[key]

    def scores(self, model: Any, dm: Any, split: str) -> dict[str, dict[str, np.ndarray]]:
        """Per-series errors ``{"model" | baseline: {metric: [N]}}`` on ``split``."""
        values, offsets = dm.history(split)
        actual = dm.actuals(split)
        forecasts = {"model": panel_forecasts(model, dm, split), **self.baselines(dm, split)}
        return {
            name: pm.per_series_errors(f, actual, values, offsets, dm.season)
            for name, f in forecasts.items()
        }

    def summary(self, model: Any, tested: dict[str, float], dm: Any) -> dict[str, Any]:
        """Mean and median over the series of MASE, sMAPE, MAE and RMSE for the model and each
        baseline; the best baseline by mean MASE and the model's ratio to it."""
        scores = self.scores(model, dm, "test")
        own = pm.summarize(scores.pop("model"), "test_")
        named = {name: pm.summarize(errors, "test_") for name, errors in scores.items()}
        baselines = {name: block["test_mase_mean"] for name, block in named.items()}
        mase = own["test_mase_mean"]
        ranked = [n for n in baselines if baselines[n] is not None]
        best = min(ranked, key=lambda n: baselines[n]) if ranked else None
        ratio = mase / baselines[best] if best and mase is not None and baselines[best] else None
        worse = sorted(n for n in ranked if mase is not None and baselines[n] < mase)
        if worse:
            log.warning("test_mase_mean %.4g is worse than the baselines %s", mase,
                        ", ".join(f"{n} ({baselines[n]:.4g})" for n in worse))  # fmt: skip
        undefined = int(np.sum(~np.isfinite(scores["naive"]["mase"])))
        table = ["test_mase_ratio", "test_mase_median", "test_smape_mean", "val_mase_mean"]
        columns = {
            name: {
                "test_mase_ratio": block["test_mase_mean"] / baselines[best] if best else None,
                "test_mase_median": block["test_mase_median"],
                "test_smape_mean": block["test_smape_mean"],
            }
            for name, block in named.items()
        }
        return {
            "metric": "test_mase_mean",
            "metric_goal": "min",
            **own,
            "test_mase_ratio": ratio,
            "best_baseline": best,
            "horizon": dm.horizon,
            "season": dm.season,
            "n_series": len(dm.ids),
            "n_series_dropped": dm.n_dropped,
            "n_series_mase_undefined": undefined,
            "n_train_windows": dm.splits["train"].n_windows,
            "baselines": baselines,
            "baseline_metrics": named,
            "worse_than_baselines": worse,
            "table": table,
            "baseline_columns": columns,
        }

    def validation(self, model, summary, scores, best_loss, dm) -> dict[str, Any]:
        """The same errors on the validation split (one window per series, the horizon before
        the test), the naive baselines' there, and the lowest validation loss of training."""
        if "val" not in dm.splits:
            return {"val_mase_mean": None, "best_val_loss": best_loss}
        errors = self.scores(model, dm, "val")
        own = pm.summarize(errors.pop("model"), "val_")
        val = {n: pm.summarize(e, "val_")["val_mase_mean"] for n, e in errors.items()}
        # data.refit trains on the validation horizon: its scores are then in-sample
        return {**own, "val_baselines": val, "n_val_series": len(dm.splits["val"].series),
                "val_in_training": bool(dm.refit), "best_val_loss": best_loss}  # fmt: skip

    def console_keys(self, metrics: dict[str, Any]) -> list[str]:
        keys = ["test_mase_mean", "test_mase_median", "test_mase_ratio", "best_baseline",
                *(f"baselines.{b}" for b in metrics.get("baselines") or {}), "test_smape_mean",
                "test_mae_mean", "val_mase_mean", "n_series", "n_series_dropped",
                "best_val_loss", *RUN_KEYS]  # fmt: skip
        return list(dict.fromkeys(keys))

    # ------------------------------------------------------------------ files
    def write(self, model: Any, dm: Any, out_dir: Path) -> dict[str, Any]:
        """``metrics_per_series.csv`` and ``forecasts.csv`` (module docstring)."""
        out_dir = Path(out_dir)
        forecast = panel_forecasts(model, dm, "test")
        values, offsets = dm.history("test")
        actual = dm.actuals("test")
        own = pm.per_series_errors(forecast, actual, values, offsets, dm.season)
        others = {
            name: pm.per_series_errors(f, actual, values, offsets, dm.season)["mase"]
            for name, f in self.baselines(dm, "test").items()
        }
        series, _ = dm.split_rows("test")
        ids = dm.ids[series]
        header = ["id", "n_points", *pm.METRICS, *(f"mase_{n}" for n in others)]
        rows = zip(ids, dm.lengths[series].tolist(), *(own[m].tolist() for m in pm.METRICS),
                   *(v.tolist() for v in others.values()), strict=True)  # fmt: skip
        rundir.write_csv(out_dir / PER_SERIES, header, rows)
        times = dm.target_times("test")
        H = dm.horizon
        steps = (
            (ids[i], _label(times[i, h]), h + 1, forecast[i, h], actual[i, h])
            for i in range(len(ids))
            for h in range(H)
        )
        rundir.write_csv(out_dir / FORECASTS, ["id", "time", "step", "forecast", "actual"], steps)
        return {"per_series_file": PER_SERIES, "forecasts_file": FORECASTS}

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
        """The loss curves, and the test forecasts of a few series (best, median and worst
        MASE of the model, and some between) beside the best baseline's."""
        from rnnlab.report import plots

        title = model_title(model)
        figures: dict[str, Any] = {}
        loss = loss_figure(title, history, "training loss (model units)")
        if loss is not None:
            figures["loss"] = loss
        forecast = panel_forecasts(model, dm, "test")
        values, offsets = dm.history("test")
        actual = dm.actuals("test")
        mase = pm.per_series_errors(forecast, actual, values, offsets, dm.season)["mase"]
        baselines = self.baselines(dm, "test")
        scored = {n: np.nanmean(pm.per_series_errors(f, actual, values, offsets, dm.season)["mase"])
                  for n, f in baselines.items()}  # fmt: skip
        best = min(scored, key=scored.get)
        order = np.argsort(np.where(np.isfinite(mase), mase, np.inf))
        n = min(self.panels, max_panels, len(order)) or 1
        picks = order[np.unique(np.linspace(0, len(order) - 1, n).round().astype(int))]
        fig = plots.new_figure("forecast")
        cols = 2 if len(picks) > 1 else 1
        axes = fig.subplots((len(picks) + cols - 1) // cols, cols, squeeze=False).ravel()
        H = dm.horizon
        for ax, i in zip(axes, picks, strict=False):
            past = values[offsets[i] : offsets[i + 1]]
            t_past = np.arange(len(past))
            t_next = np.arange(len(past), len(past) + H)
            ax.plot(t_past, past, color="0.3", lw=1, label="history")
            ax.plot(t_next, actual[i], color="black", lw=1.5, label="actual")
            ax.plot(t_next, forecast[i], color="tab:red", lw=1.5, label="model")
            ax.plot(t_next, baselines[best][i], color="tab:blue", lw=1, ls="--", label=best)
            ax.set_title(f"{dm.ids[i]}: MASE {mase[i]:.3g}", fontsize=9)
            ax.tick_params(labelsize=7)
        for ax in axes[len(picks) :]:
            ax.set_visible(False)
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{title}: test forecasts (best, median and worst MASE)")
        figures["forecasts"] = fig
        return figures


def _label(value: Any) -> Any:
    """A time cell for the CSV: dates as ISO text, whole numbers as ints."""
    if isinstance(value, np.datetime64):
        return str(value.astype("datetime64[s]")).replace("T00:00:00", "")
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value
