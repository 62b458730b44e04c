"""Two baselines every run is measured against, on the same test targets as the model.

- ``naive_last_mse``: predict that the next value equals the last one seen.
- ``linear_ar_mse``: least-squares autoregression on the ``seq_len`` lags (plus an
  intercept), fit on the training windows only.

Both are reported in the original units of the series, like the model's ``test_mse``. A
model that does not beat them on a real series has not learned anything worth its cost.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab.data.windows import WindowDataModule


def _with_intercept(inputs: Tensor) -> Tensor:
    """``[N, L, 1]`` windows -> ``[N, L + 1]`` design matrix (lags and a column of ones)."""
    lags = inputs[..., 0].double()
    return torch.cat([lags, torch.ones(len(lags), 1, dtype=lags.dtype)], dim=1)


def fit_linear_ar(dm: WindowDataModule) -> Tensor:
    """Least-squares AR coefficients ``[L + 1]`` (lags oldest first, then the intercept)
    fit on the training windows, in model units."""
    train = dm.datasets["train"]
    design = _with_intercept(train.inputs.cpu())
    target = train.targets.cpu().double()
    # gelsd (SVD) gives the same digits in every process; the default driver's result
    # depends on memory alignment, which broke metrics.json determinism in the last digits.
    return torch.linalg.lstsq(design, target, driver="gelsd").solution[:, 0]


def _mse_original_units(dm: WindowDataModule, pred: Tensor, target: Tensor) -> float:
    pred, target = dm.to_original_units(pred), dm.to_original_units(target.double())
    return torch.mean((pred - target) ** 2).item()


def naive_last_mse(dm: WindowDataModule, split: str = "test") -> float:
    """MSE of repeating the last input value, in original units."""
    data = dm.datasets[split]
    return _mse_original_units(dm, data.inputs[:, -1].cpu().double(), data.targets.cpu())


def linear_ar_mse(dm: WindowDataModule, split: str = "test") -> float:
    """MSE of the least-squares AR model fit on the training windows, in original units."""
    data = dm.datasets[split]
    pred = _with_intercept(data.inputs.cpu()) @ fit_linear_ar(dm)
    return _mse_original_units(dm, pred[:, None], data.targets.cpu())


def baseline_metrics(dm: WindowDataModule) -> dict[str, float]:
    """Both baselines on the test split, keyed as they appear in ``metrics.json``."""
    dm.setup()
    return {"naive_last_mse": naive_last_mse(dm), "linear_ar_mse": linear_ar_mse(dm)}
