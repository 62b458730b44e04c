"""Baselines every forecast is measured against, on the same targets as the model.

- ``naive_last``: every future value equals the last one seen.
- ``seasonal_naive`` (with ``data.season=m``): every future value equals the value one
  season (m steps) before it, the latest such one that was observed.
- ``linear_ar``: least-squares autoregression of each target on its own ``seq_len`` lags
  (plus an intercept), fit one step ahead on the training segment only, and rolled forward
  on its own predictions for later steps.

Each works from the target's own history in the series, whatever columns the model reads.
All are reported in the original units of the series, like the model's ``test_mse``: over
every test window and every step of the model's horizon. A model that does not beat them
has not learned anything worth its cost.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlab.data.frame import SeriesFrame

BASELINE_NAMES = ("naive_last", "seasonal_naive", "linear_ar")


def _history(frame: SeriesFrame) -> Tensor:
    """Every target over the whole series in model units, float64 ``[N, T]``."""
    return frame.targets(file_units=False).double()


def noise_floor_mse(frame: SeriesFrame) -> float | None:
    """MSE of the clean signal against the noisy test targets, where the clean signal is
    known: the practical floor of the test MSE (None otherwise)."""
    clean = frame.clean
    if clean is None:
        return None
    idx = frame.splits["test"].target_index
    if frame.horizon > 1:  # every (window, step) pair the test MSE averages over
        idx = (idx[:, None] + torch.arange(frame.horizon)).flatten()
    series = frame.to_file_units(frame.series[idx])
    return torch.mean((clean[idx] - series) ** 2).item()


def _lag_windows(values: Tensor, seq_len: int) -> Tensor:
    """``[S]`` -> every run of ``seq_len + 1`` consecutive values, ``[S - L, L + 1]``."""
    return values.unfold(0, seq_len + 1, 1)


def _with_intercept(lags: Tensor) -> Tensor:
    """``[N, L]`` lags -> ``[N, L + 1]`` design matrix (lags oldest first, then ones)."""
    return torch.cat([lags, torch.ones(len(lags), 1, dtype=lags.dtype)], dim=1)


def fit_linear_ar(frame: SeriesFrame) -> Tensor:
    """Least-squares AR coefficients ``[L + 1, T]`` per target (lags oldest first, then the
    intercept), fit one step ahead on the training segment, in model units."""
    train = frame.splits["train"]
    history = _history(frame)[train.start : train.stop]
    coefs = []
    for t in range(history.shape[1]):
        rows = _lag_windows(history[:, t], frame.seq_len)  # [W, L + 1]
        design, target = _with_intercept(rows[:, :-1]), rows[:, -1:]
        # gelsd (SVD) gives the same digits in every process; the default driver's result
        # depends on memory alignment, which broke metrics.json determinism in the last digits.
        coefs.append(torch.linalg.lstsq(design, target, driver="gelsd").solution[:, 0])
    return torch.stack(coefs, dim=1)


def future_values(frame: SeriesFrame, starts: Tensor, steps: int) -> Tensor:
    """The true values from every origin on, ``[n, steps, T]``, model units (float64)."""
    idx = starts[:, None] + torch.arange(steps)  # [n, steps]
    return _history(frame)[idx]


def naive_last(frame: SeriesFrame, starts: Tensor, steps: int) -> Tensor:
    """The last value before each origin, repeated: ``[n, steps, T]``, model units."""
    last = _history(frame)[starts - 1]  # [n, T]
    return last[:, None, :].expand(-1, steps, -1)


def seasonal_naive(frame: SeriesFrame, starts: Tensor, steps: int, season: int) -> Tensor:
    """The value ``season`` steps before each target, from the last observed cycle."""
    if int(starts.min()) < season:
        raise ValueError(
            f"data.season={season} is longer than the history before the first forecast "
            f"({int(starts.min())} points): use a shorter season or a longer series"
        )
    h = torch.arange(steps)
    back = season * (h // season + 1)  # step h (0-based) looks back to the last observed cycle
    return _history(frame)[starts[:, None] + h - back]


@torch.no_grad()
def linear_ar(frame: SeriesFrame, starts: Tensor, steps: int) -> Tensor:
    """The AR model of ``fit_linear_ar`` rolled ``steps`` ahead: ``[n, steps, T]``."""
    coef = fit_linear_ar(frame)  # [L + 1, T]
    history = _history(frame)
    lags = history[starts[:, None] + torch.arange(-frame.seq_len, 0)]  # [n, L, T]
    out = []
    for _ in range(steps):
        # per target: [n, L + 1] @ [L + 1] -> [n]
        nxt = torch.stack(
            [_with_intercept(lags[..., t]) @ coef[:, t] for t in range(lags.shape[-1])], dim=-1
        )
        out.append(nxt)
        lags = torch.cat([lags[:, 1:], nxt[:, None]], dim=1)
    return torch.stack(out, dim=1)


def baseline_paths(frame: SeriesFrame, starts: Tensor, steps: int) -> dict[str, Tensor]:
    """Every baseline's forecasts from ``starts``, ``{name: [n, steps, T]}``, model units."""
    paths = {"naive_last": naive_last(frame, starts, steps)}
    if frame.season:
        paths["seasonal_naive"] = seasonal_naive(frame, starts, steps, int(frame.season))
    paths["linear_ar"] = linear_ar(frame, starts, steps)
    return paths


def squared_errors(frame: SeriesFrame, pred: Tensor, target: Tensor) -> Tensor:
    """Squared errors in the file's units of ``[n, steps, T]`` forecasts (model units)."""
    return (frame.to_file_units(pred) - frame.to_file_units(target)) ** 2


def baseline_metrics(frame: SeriesFrame, split: str = "test") -> dict[str, float]:
    """Every baseline's MSE over the model's windows of ``split`` and its horizon, keyed as
    in ``metrics.json`` (``naive_last_mse``, ``seasonal_naive_mse``, ``linear_ar_mse``)."""
    starts = frame.origins(split)
    truth = future_values(frame, starts, frame.horizon)
    return {
        f"{name}_mse": squared_errors(frame, path, truth).mean().item()
        for name, path in baseline_paths(frame, starts, frame.horizon).items()
    }


def worse_than(test_mse: float, baselines: dict[str, float | None]) -> list[str]:
    """Names of the baselines whose MSE is below ``test_mse`` (NaN counts as worse)."""
    return [
        name
        for name, value in baselines.items()
        if value is not None and (math.isnan(test_mse) or value < test_mse)
    ]
