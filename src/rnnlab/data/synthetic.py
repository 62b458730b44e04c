"""A synthetic series with a level, a linear trend, seasons and noise, known exactly.

    x(t) = level + trend · t + Σ_k amplitude_k · sin(2π t / period_k) + N(0, noise_std²)

for ``t = 0, 1, …, sample_size - 1`` (think of days). Real series drift; a series whose test
segment continues above everything seen in training shows whether a model can extrapolate.
The clean signal is known, so the noise floor is reported as for the sine wave.

The series is standardised with the training segment's mean and standard deviation, as a
user's CSV file would be; metrics are reported in the series' own units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.series import WindowDataModule


def synthetic_signal(
    sample_size: int,
    level: float,
    trend: float,
    periods: Sequence[float],
    amplitudes: Sequence[float],
) -> np.ndarray:
    """The clean signal, float64 ``[sample_size]``."""
    t = np.arange(sample_size, dtype=np.float64)
    signal = level + trend * t
    for period, amplitude in zip(periods, amplitudes, strict=True):
        signal = signal + amplitude * np.sin(2 * np.pi * t / period)
    return signal


class SyntheticDataModule(WindowDataModule):
    """Windows of a trend-plus-seasons series (``conf/data/seasonal.yaml``).

    Args:
        sample_size: points in the series (one per time step).
        level, trend: value at t = 0 and its change per step.
        periods, amplitudes: one seasonal sine wave per pair (steps per cycle, height).
        noise_std: standard deviation of the Gaussian noise.
        seed: the noise realisation (NumPy's seeded generator), independent of the training seed.
    """

    length_key = "data.sample_size"

    def __init__(
        self,
        sample_size: int = 900,
        level: float = 10.0,
        trend: float = 0.05,
        periods: Sequence[float] = (7.0,),
        amplitudes: Sequence[float] = (2.0,),
        noise_std: float = 1.0,
        seed: int = 0,
        **window_kwargs,
    ) -> None:
        super().__init__(**window_kwargs)
        self.sample_size = sample_size
        self.level = level
        self.trend = trend
        self.periods = tuple(periods)
        self.amplitudes = tuple(amplitudes)
        self.noise_std = noise_std
        self.seed = seed

    def _signal(self) -> np.ndarray:
        return synthetic_signal(
            self.sample_size, self.level, self.trend, self.periods, self.amplitudes
        )

    def build_series(self) -> None:
        noise = np.random.RandomState(self.seed).normal(0.0, self.noise_std, self.sample_size)
        raw = self._signal() + noise
        splits = self.make_splits(len(raw))
        train = raw[splits["train"].start : splits["train"].stop]
        # Training statistics only: the test segment's level must not leak into the scaling.
        self.loc, self.scale = float(train.mean()), float(train.std(ddof=1))
        self.series = torch.from_numpy((raw - self.loc) / self.scale).float()

    @property
    def time(self) -> Tensor:
        """The step index of every point, ``[N]``."""
        return torch.arange(self.sample_size, dtype=torch.float64)

    @property
    def clean(self) -> Tensor:
        """The noise-free signal in the series' units, ``[N]``."""
        return torch.from_numpy(self._signal()).float()
