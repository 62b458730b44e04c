"""``task=anomaly``: score every point of a series by how badly a model trained on its normal
part expected it; the report is ``rnnlab.report.tasks.anomaly``.

Two scorers (``model.scorer``), both a ``Forecaster`` underneath (its normalisation,
likelihoods, highway and metrics):

* ``forecast``: the forecaster of ``task=forecast``, one step ahead. A point's error is its
  squared residual over the validation residuals' mean square (a standardised residual,
  squared), or its negative log-likelihood under ``model.loss=gaussian``.
* ``reconstruct``: an encoder-decoder that rebuilds each window of ``seq_len`` points
  (EncDec-AD, Malhotra et al. 2016): the backbone reads the window, its last state starts a
  GRU decoder that emits the window again (``decoder=seq2seq`` with the window as its
  horizon). A point's error is the mean of its standardised squared reconstruction errors
  over the windows that cover it (or of their negative log-likelihoods).

A point's score reads its error on two scales (``scan``): the larger of its own standardised
error and the standardised sum of the errors over a centred window of ``model.smooth``
points, both in standard deviations of the normal validation points' errors. A lone spike
keeps its peak; a long anomaly whose every error is moderate adds up over the window; 1: the
point's own error alone. The arithmetic lives here (``cover_mean``, ``scan``,
``point_errors``); turning a model and a series into outputs is ``rnnlab.inference``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from rnnlab.models.tasks.forecast import Forecaster

SCORERS = ("forecast", "reconstruct")


class AnomalyDetector(Forecaster):
    """A forecaster or an encoder-decoder whose errors score points (module docstring).

    Args:
        backbone, optimizer, scheduler, scheduler_interval, head, loss, normalize, columns,
            highway, highway_init, and the shared loop's settings: see ``Forecaster``
            (``reconstruct`` takes no highway: a linear map of the window could copy it).
        scorer: ``forecast`` or ``reconstruct``.
        horizon: ``forecast``: steps forecast at once; a point's error is the least among the
            forecasts made for it, one per step ahead (1: its one-step forecast's).
        window: the points of a window (the data's ``seq_len``): what ``reconstruct`` rebuilds.
        smooth: points of the centred window the score also sums the errors over (1: none).
    """

    task = "anomaly"

    def __init__(
        self,
        backbone: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        scorer: str = "forecast",
        horizon: int = 1,
        window: int | None = None,
        smooth: int = 1,
        head: str = "last",
        loss: str = "mse",
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        normalize: str = "none",
        columns: dict[str, list[str]] | None = None,
        highway: int | None = None,
        highway_init: str = "zero",
        **loop_settings: Any,
    ) -> None:
        # Plain containers, not the config's: hparams are read from these very names, and
        # checkpoints must load with torch.load(weights_only=True).
        quantiles = [float(q) for q in quantiles]
        columns = {str(k): [str(n) for n in v] for k, v in columns.items()} if columns else None
        if scorer not in SCORERS:
            raise ValueError(f"model.scorer={scorer!r} is invalid: one of {', '.join(SCORERS)}")
        if loss not in ("mse", "gaussian"):
            raise ValueError(
                f"model.loss={loss!r} is invalid for task=anomaly: mse (squared standardised "
                "errors) or gaussian (negative log-likelihoods)"
            )
        reconstruct = scorer == "reconstruct"
        if reconstruct and window is None:
            raise ValueError("model.window is unset: the data's seq_len fills it in")
        if reconstruct and horizon != 1:
            raise ValueError(
                f"model.horizon={horizon} is invalid with model.scorer=reconstruct: it rebuilds "
                "windows and forecasts nothing (model.horizon=1)"
            )
        if reconstruct and highway:
            raise ValueError(
                f"model.highway={highway} is invalid with model.scorer=reconstruct: a linear "
                "map of the window could copy it (model.highway=null)"
            )
        super().__init__(
            backbone, optimizer, scheduler, scheduler_interval, head=head,
            horizon=int(window) if reconstruct else horizon,
            decoder="seq2seq" if reconstruct else "linear", loss=loss, quantiles=quantiles,
            normalize=normalize, columns=columns, highway=highway, highway_init=highway_init,
            intervals="none", **loop_settings,
        )  # fmt: skip
        self.save_plain_hyperparameters()  # this class's own arguments, not the forecaster's
        self.scorer = scorer
        self.window = window
        self.smooth = int(smooth)
        inputs = list((columns or {}).get("inputs") or ["value"])
        # Where each target sits among a window's features: what a rebuilt window is scored on.
        self.register_buffer(
            "target_features",
            torch.tensor([inputs.index(t) for t in self.target_names if t in inputs]),
            persistent=False,
        )

    @property
    def rebuilds(self) -> bool:
        """Whether the model rebuilds its input windows (``reconstruct``) rather than
        forecasting the next point."""
        return self.scorer == "reconstruct"

    def window_targets(self, x: Tensor) -> Tensor:
        """What ``reconstruct`` rebuilds: the targets over the window, ``[B, L, F] -> [B,
        L·T]`` step-major as a forecaster's ``[B, H·T]``."""
        return x[..., self.target_features].flatten(1)

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        if not self.rebuilds:
            return super().step(batch)
        x = batch[0]
        output = self.distribution(x)
        target = self.window_targets(x)
        return self.loss(output, target), output, target


# ----------------------------------------------------------------------------- the arithmetic
def cover_mean(errors: Tensor, starts: Tensor, n_points: int) -> Tensor:
    """The mean over the windows covering each point of ``errors [W, L]`` (window ``w``
    covers the points ``starts[w] .. starts[w] + L - 1``): ``[n_points]``, NaN where no
    window covers."""
    length = errors.shape[1]
    index = (starts[:, None] + torch.arange(length)).flatten()  # [W, L] -> [W·L]
    total = torch.zeros(n_points, dtype=errors.dtype).index_add_(0, index, errors.flatten())
    count = torch.zeros(n_points, dtype=errors.dtype).index_add_(
        0, index, torch.ones_like(errors.flatten())
    )
    return total / count  # 0/0: NaN where uncovered


def moving_sum(values: Tensor, window: int) -> Tensor:
    """The sum over a centred window of ``window`` points (fewer at the ends) and how many
    points each sum holds: ``([n], [n])``."""
    left = (window - 1) // 2
    kernel = torch.ones(1, 1, window, dtype=values.dtype)
    pad = (left, window - 1 - left)
    total = torch.nn.functional.conv1d(torch.nn.functional.pad(values[None, None], pad), kernel)
    ones = torch.nn.functional.pad(torch.ones_like(values)[None, None], pad)
    return total[0, 0], torch.nn.functional.conv1d(ones, kernel)[0, 0]


def scan(errors: Tensor, window: int, mean: float, std: float) -> Tensor:
    """The score of every point from its error and its neighbours': the larger of its own
    standardised error ``(e - mean) / std`` and the standardised sum of the errors over the
    centred window of ``window`` points, ``(Σe - k·mean) / (std·√k)`` (``k`` points in the
    window). ``mean`` and ``std`` are those of the errors of normal points, so both scales
    read as standard deviations: a lone spike keeps its own peak, and a long anomaly of
    moderate errors adds up over the window. ``window`` 1: the standardised error alone."""
    std = max(std, 1e-12)
    own = (errors - mean) / std
    if window <= 1 or len(errors) < 2:
        return own
    total, count = moving_sum(errors, window)
    return torch.maximum(own, (total - count * mean) / (std * count.sqrt()))


def point_errors(
    likelihood: Any, params: Tensor, truth: Tensor, spread: Tensor | None = None
) -> Tensor:
    """Per element of ``truth [n, T]``, the error a score is made of: the squared residual
    over ``spread²`` (the validation residuals' mean square per target, ``[T]``) for a point
    model, the negative log-likelihood (file units) for a Gaussian one. ``params``: the
    likelihood's parameters in file units, ``[n, T(, P)]``."""
    if likelihood.probabilistic:
        return likelihood.nll(params, truth)
    squared = (likelihood.point(params) - truth) ** 2
    return squared if spread is None else squared / spread**2


def mean_square_spread(residuals: Tensor) -> Tensor:
    """The root mean square of residuals ``[n, T]`` per target (a floor keeps it positive)."""
    return residuals.pow(2).mean(dim=0).sqrt().clamp(min=1e-12)
