"""The report of ``task=anomaly``: every scored point's score, metrics that cannot be gamed,
and the detectors the field compares against, on the same points.

    python train.py data=sine_anomalies                    # injected kinds, labelled
    python train.py data=ucr_anomaly                       # UCR 135 (aeon's copy)
    python train.py data=ucr_anomaly model.scorer=reconstruct

Scored points are the test part's (every point from ``data.train_end`` on). Metrics come from
aeon (``aeon.benchmarking.metrics.anomaly_detection``, the ``anomaly`` extra; without it
PR-AUC and ROC-AUC come from torchmetrics and the range metrics are left out):

* PR-AUC (the ranking metric), ROC-AUC and VUS-PR (Paparrizos et al. 2022; buffers up to
  ``report.vus_buffer`` points);
* range-based F1 (Tatbul et al. 2018, aeon's defaults) and point F1 of the points flagged
  above a threshold set without test labels: the ``report.threshold_quantile`` quantile of the
  validation scores (the training part's last windows, normal points only);
* the UCR top-1 rule: the highest score lies within max(anomaly length, 100) points of the
  labelled anomaly (only where the scored part holds exactly one);
* point-adjusted F1 only beside the same figure for a random score (``random_pa_f1``):
  point adjustment counts a whole anomaly as found when one of its points is flagged, so a
  random score that flags a few points at random already scores high on long anomalies.

Baselines on the same points (``baselines``: their PR-AUC; ``baseline_columns``: the rest):
the AR residual (least squares on the training part's normal windows), ``|x_t - x_(t-1)|``, a
rolling z-score, a random score, and with aeon installed the STOMP matrix-profile discord and
DWT-MLEAD. Files: ``anomalies.csv`` (time, value, score, label, flagged) and the figure
``plots/anomalies.png`` (the series with the score beneath it, true and flagged regions
shaded), also a TensorBoard image.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import warnings
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlab import rundir
from rnnlab.data.anomalies import label_ranges
from rnnlab.data.windows import Split
from rnnlab.inference import rebuilt_windows, window_forecasts
from rnnlab.models.tasks.anomaly import cover_mean, mean_square_spread, point_errors, scan
from rnnlab.report.figures import loss_figure, model_title
from rnnlab.report.task import RUN_KEYS, TaskReport

log = logging.getLogger(__name__)

ANOMALIES_CSV = "anomalies.csv"
TABLE = ("test_roc_auc", "test_vus_pr", "test_range_f1", "test_point_f1", "test_top1_hit")
UCR_MARGIN = 100  # the UCR rule's least distance from the anomaly
RANDOM_SEED = 0  # the random score's draw


# ----------------------------------------------------------------------------- scores
@dataclass
class Scores:
    """Scores of the validation and test points (series index, score), float64."""

    val_index: Tensor
    val: Tensor
    test_index: Tensor
    test: Tensor


def _reference(frame: Any) -> str:
    """The split whose errors standardise the others: validation, else training."""
    return "val" if "val" in frame.splits else "train"


def _normal(labels: Tensor | None, index: Tensor) -> Tensor:
    """Which of the points ``index`` are not labelled anomalous (all, without labels)."""
    if labels is None:
        return torch.ones(len(index), dtype=torch.bool)
    return labels[index] == 0


def _forecast_errors(model: Any, lf: Any, splits: list[str]) -> dict[str, tuple]:
    """``{split: (points, errors)}`` of a forecaster: every point's least error among the
    forecasts made for it, one per step ahead (``model.horizon``; one step: its one-step
    forecast's), over the reference split's normal points' residuals per step."""
    frame = lf.frame
    n, length, horizon = frame.n_points, frame.seq_len, getattr(model, "horizon", 1)
    every = Split("origins", 0, n, length, horizon)  # every window of the series
    frame = dataclasses.replace(frame, splits={**frame.splits, every.name: every})
    forecasts = window_forecasts(model, frame, every.name)
    origins = every.target_index  # [O]: series index of every window's first target
    steps = origins[:, None] + torch.arange(horizon)  # [O, H]: the point each step forecasts
    truth = frame.targets()[steps]  # [O, H, T]
    residual = forecasts.point - truth
    params = forecasts.point
    if forecasts.params is not None:  # [O, H·T, P] -> [O, H, T, P]
        params = forecasts.params.unflatten(1, (horizon, -1))
    reference = lf.points(_reference(frame))
    chosen = torch.zeros(n, dtype=torch.bool)
    chosen[reference] = _normal(lf.labels, reference)
    used = chosen[steps]  # [O, H]: the forecasts of normal reference points
    spread = torch.stack([mean_square_spread(residual[used[:, k], k]) for k in range(horizon)])
    errors = point_errors(model.likelihood, params, truth, spread).mean(dim=-1)  # [O, H]
    # Every point's forecasts, one per step ahead: [N, H], inf where there is none.
    table = torch.full((n, horizon), math.inf, dtype=errors.dtype)
    table[steps, torch.arange(horizon).expand_as(steps)] = errors
    least = table.min(dim=1).values
    return {name: (lf.points(name), least[lf.points(name)]) for name in splits}


def _rebuild_errors(model: Any, lf: Any, splits: list[str]) -> dict[str, tuple]:
    """``{split: (points, errors)}`` of an encoder-decoder: every point's mean error over the
    windows of its split that cover it, over the reference split's normal windows'
    residuals."""
    frame = lf.frame
    found = {}
    for name in splits:
        starts, rebuilt = rebuilt_windows(model, frame, name)
        rows = starts[:, None] + torch.arange(frame.seq_len)  # [W, L]
        truth = frame.targets()[rows]  # [W, L, T]
        params = rebuilt.point
        if rebuilt.params is not None:  # [W, L·T, P] -> [W, L, T, P]
            params = rebuilt.params.unflatten(1, (frame.seq_len, -1))
        found[name] = (starts, rows, rebuilt.point - truth, params, truth)
    _, rows, residual, _, _ = found[splits[0]]  # the reference split comes first
    keep = _normal(lf.labels, rows.flatten()).view(rows.shape).all(dim=1)  # normal windows
    spread = mean_square_spread(residual[keep].flatten(0, 1))
    out = {}
    for name, (starts, _, _, params, truth) in found.items():
        errors = point_errors(model.likelihood, params, truth, spread).mean(dim=-1)  # [W, L]
        points = lf.points(name)
        out[name] = (points, cover_mean(errors, starts, frame.n_points)[points])
    return out


def model_scores(model: Any, lf: Any) -> Scores:
    """The model's scores of the validation and test points (``rnnlab.models.tasks.anomaly``):
    errors over the reference split's normal points' scale, then read on two scales within
    each split (``scan``, ``model.smooth``)."""
    reference = _reference(lf.frame)
    names = list(dict.fromkeys((reference, "test")))
    errors_of = _rebuild_errors if getattr(model, "rebuilds", False) else _forecast_errors
    per_split = {k: (i, e.double()) for k, (i, e) in errors_of(model, lf, names).items()}
    # The scale of normal errors: the reference split's normal points.
    ref_index, ref_errors = per_split[reference]
    normal = ref_errors[_normal(lf.labels, ref_index) & torch.isfinite(ref_errors)]
    mean, std = float(normal.mean()), float(normal.std())
    window = getattr(model, "smooth", 1)
    per_split = {k: (i, scan(e, window, mean, std)) for k, (i, e) in per_split.items()}
    val_index, val = per_split[reference]
    test_index, test = per_split["test"]
    return Scores(val_index, val, test_index, test)


# ----------------------------------------------------------------------------- baselines
def ar_residual(values: np.ndarray, train_end: int, labels: np.ndarray | None, order: int):
    """Squared residual of a least-squares AR(``order``) with an intercept, fit per column
    on the training part's windows of normal points, over its training residuals' mean
    square (mean over columns): ``[N]``, NaN for the first ``order`` points."""
    n, columns = values.shape
    out = np.full(n, np.nan)
    total = np.zeros(n - order)
    for c in range(columns):
        lags = np.lib.stride_tricks.sliding_window_view(values[:, c], order + 1)  # [N - p, p + 1]
        design = np.concatenate([lags[:, :-1], np.ones((len(lags), 1))], axis=1)
        rows = np.arange(train_end - order)
        if labels is not None:
            touched = np.lib.stride_tricks.sliding_window_view(labels, order + 1).max(axis=1)
            rows = rows[touched[rows] == 0]
        coef = np.linalg.lstsq(design[rows], lags[rows, -1], rcond=None)[0]
        residual = lags[:, -1] - design @ coef
        total += residual**2 / np.mean(residual[rows] ** 2)
    out[order:] = total / columns
    return out


def step_change(values: np.ndarray, train_end: int) -> np.ndarray:
    """``|x_t - x_(t-1)|`` per column over its training mean (mean over columns), squared."""
    step = np.abs(np.diff(values, axis=0))
    step = step / np.maximum(step[: train_end - 1].mean(axis=0), 1e-12)
    return np.concatenate([[np.nan], (step**2).mean(axis=1)])


def rolling_z(values: np.ndarray, window: int) -> np.ndarray:
    """Squared z-score of each point against the ``window`` points before it (mean over
    columns; a flat window scores 0 for its own value, a large number for any other)."""
    import pandas as pd

    frame = pd.DataFrame(values)
    past = frame.shift(1).rolling(window, min_periods=window)
    mean, std = past.mean().to_numpy(), past.std().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (values - mean) / std
    z = np.where((std == 0) & (values == mean), 0.0, z)
    z = np.where((std == 0) & (values != mean), 1e6, z)
    return (z**2).mean(axis=1)


def _cached_stumpy() -> None:
    """Let numba keep stumpy's compiled functions on disk (``__pycache__``, as aeon's own
    are): STOMP's first call compiles for about half a minute, later processes load it."""
    try:
        from stumpy import cache
    except ImportError:
        return
    for module, name in cache.get_njit_funcs():
        function = getattr(importlib.import_module(f"stumpy.{module}"), name, None)
        if hasattr(function, "enable_caching"):
            function.enable_caching()


@contextmanager
def torch_threads_kept() -> Iterator[None]:
    """Run numba's parallel code (stumpy's STOMP) on torch's thread count and leave torch's
    count as it was: numba's OpenMP layer resets the OpenMP thread count that torch shares,
    and a training that then runs on more threads than it was given (2 under
    ``OMP_NUM_THREADS=1``) slows down manyfold on a busy machine, every later job of a
    multirun in the same process included."""
    threads = torch.get_num_threads()
    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except ImportError:
        pass
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def aeon_detectors(values: np.ndarray, stomp_window: int) -> tuple[dict[str, np.ndarray], list]:
    """Scores of aeon's STOMP discord (window ``stomp_window``) and DWT-MLEAD over the whole
    series (mean over columns), and the names of those that could not run, with why."""
    with torch_threads_kept():
        return _aeon_detectors(values, stomp_window)


def _aeon_detectors(values: np.ndarray, stomp_window: int) -> tuple[dict[str, np.ndarray], list]:
    scores: dict[str, np.ndarray] = {}
    skipped = []
    try:
        from aeon.anomaly_detection.series.distribution_based import DWT_MLEAD
    except ImportError:
        return {}, ["stomp, dwt_mlead: aeon is not installed (pip install 'rnnlab[anomaly]')"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN bins of DWT-MLEAD's histograms
        scores["dwt_mlead"] = np.mean([DWT_MLEAD().fit_predict(values[:, c].copy())
                                       for c in range(values.shape[1])], axis=0)  # fmt: skip
    try:
        import stumpy  # noqa: F401  (STOMP's engine)
        from aeon.anomaly_detection.series.distance_based import STOMP
    except ImportError:
        skipped.append("stomp: stumpy is not installed (pip install 'rnnlab[anomaly]')")
        return scores, skipped
    _cached_stumpy()
    window = min(stomp_window, len(values) // 4)
    scores["stomp"] = np.mean([STOMP(window_size=window).fit_predict(values[:, c].copy())
                               for c in range(values.shape[1])], axis=0)  # fmt: skip
    return {"stomp": scores.pop("stomp"), **scores}, skipped


# The baselines' scores depend on the data alone: computed once per datamodule.
_BASELINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def baseline_scores(dm: Any, lf: Any, report: AnomalyReport) -> tuple[dict[str, np.ndarray], list]:
    """Every baseline's score of every point of the series ``{name: [N]}``, and what was
    skipped (cached per datamodule and settings)."""
    key = (report.ar_order, report.zscore_window, report.stomp_window, report.aeon_baselines)
    cached = _BASELINES.get(dm)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    frame = lf.frame
    values = frame.targets().numpy()  # [N, T], file units
    labels = None if lf.labels is None else lf.labels.numpy()
    end = lf.train_end
    scores = {
        "ar_residual": ar_residual(values, end, labels, report.ar_order),
        "step_change": step_change(values, end),
        "rolling_z": rolling_z(values, report.zscore_window),
    }
    skipped: list[str] = []
    if report.aeon_baselines:
        found, skipped = aeon_detectors(values, report.stomp_window)
        scores.update(found)
    scores["random"] = np.random.default_rng(RANDOM_SEED).random(len(values))
    _BASELINES[dm] = (key, scores, skipped)
    return scores, skipped


# ----------------------------------------------------------------------------- metrics
def aeon_metrics() -> Any | None:
    """aeon's anomaly-detection metrics module, or None without aeon."""
    try:
        return importlib.import_module("aeon.benchmarking.metrics.anomaly_detection")
    except ImportError:
        return None


def point_adjusted(flagged: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Point adjustment: every point of a labelled anomaly counts as flagged when one of its
    points is (what makes the adjusted F1 of a random score high)."""
    adjusted = flagged.copy()
    for start, stop in label_ranges(labels):
        if flagged[start:stop].any():
            adjusted[start:stop] = True
    return adjusted


def f1(labels: np.ndarray, flagged: np.ndarray) -> float:
    """Point F1 of 0/1 ``flagged`` against ``labels`` (torchmetrics)."""
    from torchmetrics.functional.classification import binary_f1_score

    return float(binary_f1_score(torch.from_numpy(flagged.astype(np.int64)),
                                 torch.from_numpy(labels.astype(np.int64))))  # fmt: skip


def top1_hit(score: np.ndarray, labels: np.ndarray) -> bool | None:
    """The UCR rule: the highest score lies within max(anomaly length, 100) points of the
    labelled anomaly (Wu and Keogh 2021). The rule is made for a series with one anomaly:
    None where the labels hold none or several (a top score near one of many says little)."""
    ranges = label_ranges(labels)
    if len(ranges) != 1:
        return None
    (start, stop), top = ranges[0], int(np.nanargmax(score))
    margin = max(stop - start, UCR_MARGIN)
    return bool(start - margin <= top <= stop - 1 + margin)


def ranking_metrics(labels: np.ndarray, score: np.ndarray, vus_buffer: int | None) -> dict:
    """PR-AUC, ROC-AUC and (``vus_buffer`` not None) VUS-PR of ``score`` against 0/1
    ``labels``; None where undefined (no anomaly, or only anomalies)."""
    out: dict[str, float | None] = {"pr_auc": None, "roc_auc": None, "vus_pr": None}
    if labels.min() == labels.max():
        return out
    score = np.nan_to_num(score.astype(np.float64), nan=-np.inf)
    score = np.where(np.isneginf(score), np.min(score[np.isfinite(score)]), score)
    aeon = aeon_metrics()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "constant score": the metrics then return 0
        if aeon is not None:
            out["pr_auc"] = float(aeon.pr_auc_score(labels, score))
            out["roc_auc"] = float(aeon.roc_auc_score(labels, score))
            if vus_buffer is not None:
                vus = aeon.range_pr_vus_score(labels, score, max_buffer_size=vus_buffer)
                out["vus_pr"] = float(vus)
        else:
            from torchmetrics.functional.classification import (
                binary_auroc,
                binary_average_precision,
            )

            target, preds = torch.from_numpy(labels.astype(np.int64)), torch.from_numpy(score)
            out["pr_auc"] = float(binary_average_precision(preds, target))
            out["roc_auc"] = float(binary_auroc(preds, target))
    return out


def detection_metrics(
    labels: np.ndarray, score: np.ndarray, flagged: np.ndarray, vus_buffer: int | None
) -> dict[str, Any]:
    """Every metric of the module docstring for one detector on the scored points."""
    out: dict[str, Any] = ranking_metrics(labels, score, vus_buffer)
    out.update({"range_f1": None, "point_f1": None, "pa_f1": None, "top1_hit": None})
    if labels.max() == 0:
        return out
    aeon = aeon_metrics()
    if aeon is not None and flagged.any() and not flagged.all():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["range_f1"] = float(aeon.range_f_score(labels, flagged.astype(np.int64)))
    elif aeon is not None:
        out["range_f1"] = 0.0 if not flagged.any() else None
    out["point_f1"] = f1(labels, flagged)
    out["pa_f1"] = f1(labels, point_adjusted(flagged, labels))
    out["top1_hit"] = top1_hit(score, labels)
    return out


def per_kind(lf: Any, index: Tensor, score: np.ndarray) -> dict[str, float | None]:
    """PR-AUC of ``score`` per kind of anomaly, as if the series held that kind alone: over
    that kind's points and the normal points, leaving out the other kinds' anomalies and the
    ``seq_len`` points either side of each (where a forecaster still reads them in its
    window, a smoothed score still sums them)."""
    labels = lf.labels[index].numpy()
    reach = lf.frame.seq_len
    out = {}
    for kind in lf.kinds:
        other = np.zeros(lf.frame.n_points, dtype=bool)
        for a in lf.anomalies:
            if a.kind != kind:
                other[max(a.start - reach, 0) : a.stop + reach] = True
        mine = np.zeros(lf.frame.n_points, dtype=bool)
        for a in lf.anomalies:
            if a.kind == kind:
                mine[a.start : a.stop] = True
        keep = (mine | ~other)[index.numpy()]
        out[kind] = ranking_metrics(labels[keep], score[keep], None)["pr_auc"]
    return out


def threshold_of(val_scores: Tensor, quantile: float) -> float:
    """The flagging threshold: the ``quantile`` of the validation scores given (the normal
    points of the training part's validation windows; never a test label)."""
    finite = val_scores[torch.isfinite(val_scores)]
    if len(finite) == 0:
        return math.inf
    return float(torch.quantile(finite.double(), quantile))


# ----------------------------------------------------------------------------- the report
@dataclass
class Detection:
    """Everything the report computes once per tested model (``AnomalyReport.detect``)."""

    scores: Scores
    threshold: float
    flagged: np.ndarray  # test points above the threshold
    metrics: dict[str, Any]
    kinds: dict[str, float | None]
    baselines: dict[str, dict[str, Any]]
    baseline_kinds: dict[str, dict[str, float | None]]
    random_pa_f1: float | None
    skipped: list[str] = field(default_factory=list)


class AnomalyReport(TaskReport):
    """``task=anomaly``'s report (see the module docstring).

    Args:
        threshold_quantile: the quantile of the validation scores above which a test point
            is flagged (point F1, range F1, ``anomalies.csv``).
        vus_buffer: the largest buffer of VUS-PR, in points (100, as the UCR rule's margin).
        ar_order: lags of the AR-residual baseline.
        zscore_window: points before each point that the rolling z-score compares it with.
        stomp_window: the subsequence length of the STOMP discord.
        aeon_baselines: run aeon's STOMP and DWT-MLEAD (when aeon is installed).
    """

    def __init__(
        self,
        threshold_quantile: float = 0.99,
        vus_buffer: int = 100,
        ar_order: int = 20,
        zscore_window: int = 50,
        stomp_window: int = 100,
        aeon_baselines: bool = True,
    ) -> None:
        self.threshold_quantile = threshold_quantile
        self.vus_buffer = vus_buffer
        self.ar_order = ar_order
        self.zscore_window = zscore_window
        self.stomp_window = stomp_window
        self.aeon_baselines = aeon_baselines
        self._cache: tuple[Any, Detection] | None = None

    def detect(self, model: Any, dm: Any) -> Detection:
        """Scores, threshold, metrics and baselines of the model's current weights (cached
        while the weights and the data stay the same: figures, summary and files share it)."""
        weights = float(sum(p.detach().double().sum() for p in model.parameters()))
        fingerprint = (id(dm), id(model), weights)
        if self._cache is not None and self._cache[0] == fingerprint:
            return self._cache[1]
        lf = dm.labelled_frame()
        scores = model_scores(model, lf)
        val_normal = _normal(lf.labels, scores.val_index)
        threshold = threshold_of(scores.val[val_normal], self.threshold_quantile)
        flagged = (scores.test > threshold).numpy()
        labels = None if lf.labels is None else lf.labels[scores.test_index].numpy()
        test = scores.test.numpy()
        vus = self.vus_buffer
        metrics = detection_metrics(labels, test, flagged, vus) if labels is not None else {}
        kinds = per_kind(lf, scores.test_index, test) if labels is not None and lf.kinds else {}
        full, skipped = baseline_scores(dm, lf, self)
        baselines, baseline_kinds = {}, {}
        random_pa = None
        if labels is not None:
            for name, score in full.items():
                val = torch.from_numpy(score[scores.val_index.numpy()])
                cut = threshold_of(val[val_normal], self.threshold_quantile)
                chosen = score[scores.test_index.numpy()]
                baselines[name] = detection_metrics(labels, chosen, chosen > cut, vus)
                if lf.kinds:
                    baseline_kinds[name] = per_kind(lf, scores.test_index, chosen)
            random_pa = baselines["random"]["pa_f1"]
        detection = Detection(scores, threshold, flagged, metrics, kinds, baselines,
                              baseline_kinds, random_pa, skipped)  # fmt: skip
        self._cache = (fingerprint, detection)
        return detection

    # ------------------------------------------------------------------ numbers
    def summary(self, model: Any, tested: dict[str, float], dm: Any) -> dict[str, Any]:
        """PR-AUC (the ranking metric), ROC-AUC, VUS-PR, range and point F1, the UCR top-1
        hit, point-adjusted F1 beside a random score's, PR-AUC per kind of anomaly, and every
        baseline's numbers on the same points. ``worse_than_baselines`` names every baseline
        with a higher PR-AUC (a warning says so)."""
        d = self.detect(model, dm)
        lf = dm.labelled_frame()
        labels = None if lf.labels is None else lf.labels[d.scores.test_index]
        summary: dict[str, Any] = {"metric": "test_pr_auc", "metric_goal": "max"}
        summary.update({f"test_{k}": v for k, v in d.metrics.items()})
        summary.setdefault("test_pr_auc", None)
        summary["random_pa_f1"] = d.random_pa_f1
        table = list(TABLE)
        for kind, value in d.kinds.items():
            summary[f"test_pr_auc_{kind}"] = value
            table.append(f"test_pr_auc_{kind}")
        if d.kinds:
            summary["test_pr_auc_kinds"] = _mean(d.kinds.values())
            table.append("test_pr_auc_kinds")
        n_anomalous = int(labels.sum()) if labels is not None else None
        summary.update({
            "scorer": getattr(model, "scorer", None),
            "smooth": getattr(model, "smooth", None),
            "threshold": d.threshold,
            "threshold_quantile": self.threshold_quantile,
            "n_scored": len(d.scores.test),
            "n_anomalous": n_anomalous,
            "anomaly_rate": n_anomalous / len(d.scores.test) if n_anomalous is not None else None,
            "n_flagged": int(d.flagged.sum()),
            "test_mse": tested.get("test/mse"),
            "series": lf.name,
        })  # fmt: skip
        if labels is None or n_anomalous == 0:
            summary["metrics_note"] = (
                "the scored part holds no labelled anomaly: PR-AUC, ROC-AUC and the F1 scores "
                "are undefined; anomalies.csv still holds the scores"
            )
            log.warning(summary["metrics_note"])
        named = {name: m["pr_auc"] for name, m in d.baselines.items()}
        columns = {}
        for name, m in d.baselines.items():
            columns[name] = {f"test_{k}": v for k, v in m.items() if f"test_{k}" in table}
            for kind, value in d.baseline_kinds.get(name, {}).items():
                columns[name][f"test_pr_auc_{kind}"] = value
            if d.baseline_kinds.get(name):
                columns[name]["test_pr_auc_kinds"] = _mean(d.baseline_kinds[name].values())
        mine = summary["test_pr_auc"]
        worse = [n for n, v in named.items()
                 if v is not None and mine is not None and v > mine]  # fmt: skip
        if worse:
            log.warning("test_pr_auc %.4g is below the baselines %s", mine,
                        ", ".join(f"{n} ({named[n]:.4g})" for n in worse))  # fmt: skip
        if d.skipped:
            summary["baselines_skipped"] = d.skipped
        return {**summary, "baselines": named, "baseline_columns": columns,
                "worse_than_baselines": worse, "table": table}  # fmt: skip

    def validation(self, model, summary, scores, best_loss, dm) -> dict[str, Any]:
        """The validation error of the tested weights (``val_mse``: the forecast's, or the
        reconstruction's) and the best validation loss; the validation part has no labelled
        anomaly by design, so no ``val_pr_auc``."""
        return {"val_mse": scores.get("val/mse"), "best_val_loss": best_loss}

    def console_keys(self, metrics: dict[str, Any]) -> list[str]:
        keys = ["test_pr_auc", *metrics.get("table", []), "test_pa_f1", "random_pa_f1",
                *(f"baselines.{b}" for b in metrics.get("baselines") or {}),
                "worse_than_baselines", "threshold", "n_flagged", "n_anomalous", "val_mse",
                *RUN_KEYS]  # fmt: skip
        return list(dict.fromkeys(keys))

    # ------------------------------------------------------------------ files
    def write(self, model: Any, dm: Any, out_dir: Path) -> dict[str, Any]:
        """``anomalies.csv``: every scored point's time, value(s), score, label (when known)
        and whether it is flagged."""
        d = self.detect(model, dm)
        lf = dm.labelled_frame()
        frame = lf.frame
        index = d.scores.test_index
        values = frame.targets()[index]  # [n, T] file units
        names = frame.target_names
        header = ["index", "time", *(["value"] if len(names) == 1 else names), "score"]
        columns = [values[:, t].tolist() for t in range(len(names))]
        columns.append(d.scores.test.tolist())
        if lf.labels is not None:
            header.append("label")
            columns.append(lf.labels[index].tolist())
        header.append("flagged")
        columns.append(d.flagged.astype(int).tolist())
        rows = zip(index.tolist(), frame.time_labels(index), *columns, strict=True)
        rundir.write_csv(Path(out_dir) / ANOMALIES_CSV, header, rows)
        return {"anomalies_csv": ANOMALIES_CSV}

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
        """The series with the score beneath it (true anomalies shaded red, flagged points
        orange, the threshold dashed), and the loss curves."""
        d = self.detect(model, dm)
        lf = dm.labelled_frame()
        title = f"{model_title(model)}, scorer={getattr(model, 'scorer', '?')}"
        figures = {"anomalies": anomaly_figure(lf, d, title, self.threshold_quantile)}
        loss = loss_figure(model_title(model), history)
        if loss is not None:
            figures["loss"] = loss
        return figures


def _mean(values: Iterable[float | None]) -> float | None:
    numbers = [v for v in values if v is not None]
    return sum(numbers) / len(numbers) if numbers else None


def _spans(mask: np.ndarray) -> list[tuple[int, int]]:
    return label_ranges(mask.astype(np.int64))


def anomaly_figure(lf: Any, d: Detection, title: str, quantile: float) -> Any:
    """Two rows sharing the time axis: the series (file units) over the training and test
    parts, the score of the test points beneath it."""
    from matplotlib.figure import Figure

    frame = lf.frame
    time = frame.time.double().numpy()
    values = frame.targets().numpy()
    index = d.scores.test_index.numpy()
    fig = Figure(figsize=(12, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    for t, name in enumerate(frame.target_names):
        top.plot(time, values[:, t], lw=0.6, label=name if values.shape[1] > 1 else None)
    top.axvline(time[lf.train_end], color="0.4", ls=":", lw=1)
    top.text(time[lf.train_end], 1.0, " test part ", transform=top.get_xaxis_transform(),
             va="top", fontsize=8, color="0.3")  # fmt: skip
    if lf.labels is not None:
        for start, stop in _spans(lf.labels.numpy() == 1):
            for ax in (top, bottom):
                ax.axvspan(time[start], time[min(stop, len(time) - 1)], color="tab:red", alpha=0.25,
                           lw=0)  # fmt: skip
    for start, stop in _spans(d.flagged):
        a, b = index[start], index[min(stop, len(index) - 1)]
        bottom.axvspan(time[a], time[b], ymin=0.0, ymax=0.08, color="tab:orange", lw=0)
    bottom.plot(time[index], d.scores.test.numpy(), lw=0.6, color="tab:purple")
    if math.isfinite(d.threshold):
        bottom.axhline(d.threshold, color="tab:orange", ls="--", lw=1,
                       label=f"threshold: validation quantile {quantile:g}")  # fmt: skip
    bottom.set_yscale("symlog", linthresh=1.0)
    pr = d.metrics.get("pr_auc")
    top.set_title(f"{title}: {lf.name}" + (f", PR-AUC {pr:.3f}" if pr is not None else ""))
    top.set_ylabel("value")
    bottom.set_ylabel("score")
    bottom.set_xlabel("time")
    from matplotlib.patches import Patch

    handles = [Patch(color="tab:red", alpha=0.25, label="labelled anomaly"),
               Patch(color="tab:orange", label="flagged")]  # fmt: skip
    bottom.legend(handles=[*handles, *bottom.get_legend_handles_labels()[0]], fontsize=8,
                  loc="upper left")  # fmt: skip
    return fig
