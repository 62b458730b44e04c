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

from rnnlab.data.windows import WindowDataModule

BASELINE_NAMES = ("naive_last", "seasonal_naive", "linear_ar")


def _history(dm: WindowDataModule) -> Tensor:
    """Every target over the whole series in model units, float64 ``[N, T]``."""
    return dm.target_series(original_units=False).double()


def _lag_windows(values: Tensor, seq_len: int) -> Tensor:
    """``[S]`` -> every run of ``seq_len + 1`` consecutive values, ``[S - L, L + 1]``."""
    return values.unfold(0, seq_len + 1, 1)


def _with_intercept(lags: Tensor) -> Tensor:
    """``[N, L]`` lags -> ``[N, L + 1]`` design matrix (lags oldest first, then ones)."""
    return torch.cat([lags, torch.ones(len(lags), 1, dtype=lags.dtype)], dim=1)


def fit_linear_ar(dm: WindowDataModule) -> Tensor:
    """Least-squares AR coefficients ``[L + 1, T]`` per target (lags oldest first, then the
    intercept), fit one step ahead on the training segment, in model units."""
    dm.setup()
    train = dm.splits["train"]
    history = _history(dm)[train.start : train.stop]
    coefs = []
    for t in range(history.shape[1]):
        rows = _lag_windows(history[:, t], dm.seq_len)  # [W, L + 1]
        design, target = _with_intercept(rows[:, :-1]), rows[:, -1:]
        # gelsd (SVD) gives the same digits in every process; the default driver's result
        # depends on memory alignment, which broke metrics.json determinism in the last digits.
        coefs.append(torch.linalg.lstsq(design, target, driver="gelsd").solution[:, 0])
    return torch.stack(coefs, dim=1)


def origins(dm: WindowDataModule, split: str = "test", steps: int | None = None) -> Tensor:
    """Series index of the first target of every window of ``split`` that has ``steps``
    true values from there on inside the split (default: the data's horizon)."""
    dm.setup()
    s = dm.splits[split]
    first = s.start + s.seq_len
    steps = dm.horizon if steps is None else steps
    return torch.arange(first, s.stop - steps + 1)


def future_values(dm: WindowDataModule, starts: Tensor, steps: int) -> Tensor:
    """The true values from every origin on, ``[n, steps, T]``, model units (float64)."""
    idx = starts[:, None] + torch.arange(steps)  # [n, steps]
    return _history(dm)[idx]


def naive_last(dm: WindowDataModule, starts: Tensor, steps: int) -> Tensor:
    """The last value before each origin, repeated: ``[n, steps, T]``, model units."""
    last = _history(dm)[starts - 1]  # [n, T]
    return last[:, None, :].expand(-1, steps, -1)


def seasonal_naive(dm: WindowDataModule, starts: Tensor, steps: int, season: int) -> Tensor:
    """The value ``season`` steps before each target, from the last observed cycle."""
    if int(starts.min()) < season:
        raise ValueError(
            f"data.season={season} is longer than the history before the first forecast "
            f"({int(starts.min())} points): use a shorter season or a longer series"
        )
    h = torch.arange(steps)
    back = season * (h // season + 1)  # step h (0-based) looks back to the last observed cycle
    return _history(dm)[starts[:, None] + h - back]


@torch.no_grad()
def linear_ar(dm: WindowDataModule, starts: Tensor, steps: int) -> Tensor:
    """The AR model of ``fit_linear_ar`` rolled ``steps`` ahead: ``[n, steps, T]``."""
    coef = fit_linear_ar(dm)  # [L + 1, T]
    history = _history(dm)
    lags = history[starts[:, None] + torch.arange(-dm.seq_len, 0)]  # [n, L, T]
    out = []
    for _ in range(steps):
        # per target: [n, L + 1] @ [L + 1] -> [n]
        nxt = torch.stack(
            [_with_intercept(lags[..., t]) @ coef[:, t] for t in range(lags.shape[-1])], dim=-1
        )
        out.append(nxt)
        lags = torch.cat([lags[:, 1:], nxt[:, None]], dim=1)
    return torch.stack(out, dim=1)


def baseline_paths(dm: WindowDataModule, starts: Tensor, steps: int) -> dict[str, Tensor]:
    """Every baseline's forecasts from ``starts``, ``{name: [n, steps, T]}``, model units."""
    paths = {"naive_last": naive_last(dm, starts, steps)}
    if getattr(dm, "season", None):
        paths["seasonal_naive"] = seasonal_naive(dm, starts, steps, int(dm.season))
    paths["linear_ar"] = linear_ar(dm, starts, steps)
    return paths


def squared_errors(dm: WindowDataModule, pred: Tensor, target: Tensor) -> Tensor:
    """Squared errors in the series' units of ``[n, steps, T]`` forecasts (model units)."""
    return (dm.to_original_units(pred) - dm.to_original_units(target)) ** 2


def baseline_metrics(dm: WindowDataModule) -> dict[str, float]:
    """Every baseline's test MSE over the model's test windows and horizon, keyed as in
    ``metrics.json`` (``naive_last_mse``, ``seasonal_naive_mse``, ``linear_ar_mse``)."""
    starts = origins(dm, "test")
    truth = future_values(dm, starts, dm.horizon)
    return {
        f"{name}_mse": squared_errors(dm, path, truth).mean().item()
        for name, path in baseline_paths(dm, starts, dm.horizon).items()
    }


def naive_last_mse(dm: WindowDataModule, split: str = "test") -> float:
    """MSE of repeating the last value, in original units."""
    starts = origins(dm, split)
    truth = future_values(dm, starts, dm.horizon)
    return squared_errors(dm, naive_last(dm, starts, dm.horizon), truth).mean().item()


def linear_ar_mse(dm: WindowDataModule, split: str = "test") -> float:
    """MSE of the (rolled) least-squares AR model, in original units."""
    starts = origins(dm, split)
    truth = future_values(dm, starts, dm.horizon)
    return squared_errors(dm, linear_ar(dm, starts, dm.horizon), truth).mean().item()


def worse_than(test_mse: float, baselines: dict[str, float | None]) -> list[str]:
    """Names of the baselines whose MSE is below ``test_mse`` (NaN counts as worse)."""
    return [
        name
        for name, value in baselines.items()
        if value is not None and (math.isnan(test_mse) or value < test_mse)
    ]
