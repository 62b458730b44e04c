"""Test and validation metrics of a forecaster, in the series' own units.

Point metrics (MSE, RMSE, MAE, R²) are torchmetrics' own. A probabilistic forecaster adds
the coverage and mean width of the central 80 % interval, CRPS, and the NLL where the
likelihood defines one (and, for a Gaussian, the mean predicted standard deviation). With
several targets each target also gets its own MSE and MAE (``mse/<name>``).

All metrics of one collection are updated with the same ``(params, target)`` pair; the
point metrics read the point forecast through ``PointOf``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torchmetrics import MeanAbsoluteError, MeanSquaredError, Metric, MetricCollection, R2Score
from torchmetrics.wrappers import MetricInputTransformer

from rnnlab.models.likelihoods import CENTRAL, Likelihood


class PointOf(MetricInputTransformer):
    """A point metric fed through ``pick``: e.g. the point forecast of a distribution, or
    one target's column of it."""

    def __init__(
        self,
        metric: Metric,
        pick_pred: Callable[[Tensor], Tensor],
        pick_target: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        super().__init__(metric)
        self.pick_pred = pick_pred
        self.pick_target = pick_target

    def transform_pred(self, pred: Tensor) -> Tensor:
        return self.pick_pred(pred)

    def transform_target(self, target: Tensor) -> Tensor:
        return target if self.pick_target is None else self.pick_target(target)


class ElementMean(Metric):
    """The mean over all elements of ``score(params, target)`` (``[B, N]``)."""

    full_state_update = False

    def __init__(self, score: Callable[[Tensor, Tensor], Tensor]) -> None:
        super().__init__()
        self.score = score
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, params: Tensor, target: Tensor) -> None:
        values = self.score(params, target)
        self.total += values.double().sum()
        self.count += values.numel()

    def compute(self) -> Tensor:
        return (self.total / self.count).float()


def interval_scores(likelihood: Likelihood) -> dict[str, Callable[[Tensor, Tensor], Tensor]]:
    """``coverage80``, ``width80``, ``crps``, and ``nll``/``std_mean`` where defined, as
    element-wise scores of ``(params, target)``."""

    def coverage(params: Tensor, target: Tensor) -> Tensor:
        lower, upper = likelihood.interval(params, CENTRAL)
        return ((target >= lower) & (target <= upper)).float()

    def width(params: Tensor, target: Tensor) -> Tensor:
        lower, upper = likelihood.interval(params, CENTRAL)
        return upper - lower

    scores = {"coverage80": coverage, "width80": width, "crps": likelihood.crps}
    if likelihood.nll(torch.zeros(1, 1, likelihood.n_params), torch.zeros(1, 1)) is not None:
        scores["nll"] = likelihood.nll
    if likelihood.name == "gaussian":
        scores["std_mean"] = lambda params, target: params[..., 1]
    return scores


def forecast_metrics(
    prefix: str, likelihood: Likelihood, target_names: Sequence[str] = ()
) -> MetricCollection:
    """The metric collection of a forecaster (see the module docstring)."""
    point = {
        "mse": MeanSquaredError(),
        "rmse": MeanSquaredError(squared=False),
        "mae": MeanAbsoluteError(),
        "r2": R2Score(),
    }
    n = len(target_names)
    if n > 1:
        for t, name in enumerate(target_names):

            def column(values: Tensor, t: int = t) -> Tensor:
                return values.unflatten(-1, (-1, n))[..., t]  # [B, H·T] -> [B, H]

            point[f"mse/{name}"] = PointOf(MeanSquaredError(), column, column)
            point[f"mae/{name}"] = PointOf(MeanAbsoluteError(), column, column)
    if not likelihood.probabilistic:
        return MetricCollection(point, prefix=prefix)
    metrics: dict[str, Metric] = {}
    for key, metric in point.items():
        if isinstance(metric, PointOf):
            inner, pick = metric.wrapped_metric, metric.pick_pred
            metric = PointOf(inner, lambda p, pick=pick: pick(likelihood.point(p)), pick)
        else:
            metric = PointOf(metric, likelihood.point)
        metrics[key] = metric
    for key, score in interval_scores(likelihood).items():
        metrics[key] = ElementMean(score)
    return MetricCollection(metrics, prefix=prefix, compute_groups=False)
