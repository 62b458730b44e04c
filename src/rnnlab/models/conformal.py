"""Split conformal intervals for a forecaster: ``model.intervals=conformal``.

The model's own central interval ``[lo, hi]`` at coverage ``c`` (a point forecast: ``lo = hi
= ŷ``) is calibrated on the validation windows, per forecast step and target, through the
conformity score

    s = max(lo − y, y − hi)

and the calibrated interval is ``[lo − q, hi + q]``, with ``q`` the ``⌈(n + 1)·c⌉``-th
smallest of the ``n`` validation scores (split conformal prediction, Vovk et al. 2005;
Lei et al. 2018). For a point forecast the score is the absolute residual ``|y − ŷ|``; for
quantiles it is conformalised quantile regression (CQR, Romano et al. 2019); a Gaussian's
interval is widened or narrowed by the same rule. When validation and test windows are
exchangeable the interval covers a share ``c`` or more of new targets; with ``n`` too small
for ``c`` (``⌈(n + 1)·c⌉ > n``) ``q`` is infinite.

``q`` lives in the model (``Conformal``, a buffer in model units), so checkpoints, predictions
on new data and exported models carry the calibration of their own weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

LEVELS = (0.5, 0.8, 0.95)  # the coverages calibrated (the fan of the figures)
REPORTED = (0.8, 0.95)  # those metrics.json reports


def order_index(n: int, coverage: float) -> int:
    """The rank ``k = ⌈(n + 1)·c⌉`` (1-based) of the conformal quantile among ``n`` scores;
    ``k > n`` means the quantile is infinite."""
    # (n + 1)·c in floating point can land a hair above an integer (100 · 0.8 = 80.00000000000001)
    return math.ceil(round((n + 1) * coverage, 9))


def conformal_quantile(scores: Tensor, coverage: float) -> Tensor:
    """``scores [n, N]`` -> ``[N]``: the ``⌈(n + 1)·c⌉``-th smallest score of every column
    (``inf`` where there are too few scores, NaN for no scores at all)."""
    n = scores.shape[0]
    if n == 0:
        return torch.full(scores.shape[1:], math.nan, dtype=scores.dtype)
    k = order_index(n, coverage)
    if k > n:
        return torch.full(scores.shape[1:], math.inf, dtype=scores.dtype)
    return scores.sort(dim=0).values[k - 1]


def conformity_scores(lower: Tensor, upper: Tensor, target: Tensor) -> Tensor:
    """``max(lo − y, y − hi)``: how far ``target`` lies outside ``[lower, upper]`` (negative
    inside)."""
    return torch.maximum(lower - target, target - upper)


class Conformal(nn.Module):
    """The calibration of a forecaster's intervals: ``q [len(levels), N]`` in model units
    (``N = H·T``), NaN until ``fit`` runs.

    A checkpoint written before the buffer existed loads with NaN (uncalibrated).
    """

    def __init__(self, n_outputs: int, levels: Sequence[float] = LEVELS) -> None:
        super().__init__()
        self.levels = tuple(float(c) for c in levels)
        self.register_buffer("q", torch.full((len(self.levels), n_outputs), math.nan))

    @property
    def calibrated(self) -> bool:
        return not bool(torch.isnan(self.q).any())

    @torch.no_grad()
    def quantiles(
        self, interval: Callable[[float], tuple[Tensor, Tensor]], target: Tensor
    ) -> Tensor:
        """``q`` for the validation ``target [n, N]`` and the model's central intervals
        there (``interval(c) -> (lo, hi)``, each ``[n, N]``), without storing it."""
        rows = []
        for c in self.levels:
            lower, upper = interval(c)
            scores = conformity_scores(lower.double(), upper.double(), target.double())
            rows.append(conformal_quantile(scores, c))
        return torch.stack(rows).to(self.q)

    def widen(
        self, lower: Tensor, upper: Tensor, coverage: float, scale: Tensor | float = 1.0
    ) -> tuple[Tensor, Tensor]:
        """The calibrated interval ``[lo − q·scale, hi + q·scale]`` at ``coverage`` for the
        model's own ``lower``/``upper`` (``[..., N]``, in units ``scale`` times the model's)."""
        q = self.q[self.levels.index(coverage)].to(lower) * scale
        return lower - q, upper + q

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        key = prefix + "q"
        if key not in state_dict:  # an older checkpoint: uncalibrated
            state_dict[key] = torch.full_like(self.q, math.nan)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def model_interval(likelihood, params: Tensor, coverage: float) -> tuple[Tensor, Tensor]:
    """The likelihood's own central interval of ``params``; a point forecast's is the point
    itself (``lo = hi``), so its conformal interval is ``ŷ ± q`` of the absolute residuals."""
    if not likelihood.probabilistic:
        point = likelihood.point(params)
        return point, point
    return likelihood.interval(params, coverage)
