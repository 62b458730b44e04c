"""The noisy sine wave of the original walk-through, as a LightningDataModule.

    x(t) = sin(freq * t) + N(0, noise_std²),   t = linspace(0, t_max, sample_size)

The noise realisation has its own ``seed`` (``data.seed``), independent of the training
seed, so a sweep over ``seed`` compares initialisations on identical data. The noise is
drawn with NumPy's seeded legacy generator, as the walk-through did, so ``data.seed=42``
gives exactly the original series.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from rnnlab.data.series import WindowDataModule

_CHUNK = 1 << 20  # points per step of the generator: bounds its float64 temporaries


def sine_time(
    sample_size: int, t_max: float, start: int = 0, stop: int | None = None
) -> np.ndarray:
    """``linspace(0, t_max, sample_size)[start:stop]`` in float64, without the whole array."""
    stop = sample_size if stop is None else stop
    step = t_max / (sample_size - 1) if sample_size > 1 else 0.0
    t = np.arange(start, stop, dtype=np.float64) * step
    if stop == sample_size and stop > start:
        t[-1] = t_max  # linspace pins the last point exactly
    return t


def sine_series(sample_size: int, t_max: float, freq: float, noise_std: float, seed: int) -> Tensor:
    """The noisy series, float32 ``[sample_size]``.

    Built in chunks straight into the output, so memory grows by the series itself and
    not by float64 copies of it; the legacy generator draws the same numbers in chunks as
    in one call, so the values equal the walk-through's.
    """
    out = np.empty(sample_size, dtype=np.float32)
    rng = np.random.RandomState(seed)
    for start in range(0, sample_size, _CHUNK):
        stop = min(start + _CHUNK, sample_size)
        t = sine_time(sample_size, t_max, start, stop)
        out[start:stop] = np.sin(freq * t) + rng.normal(0.0, noise_std, stop - start)
    return torch.from_numpy(out)


class SineDataModule(WindowDataModule):
    """Windows of a noisy sine wave; every number is a config value (``conf/data/sine.yaml``).

    ``time`` and ``clean`` are computed when asked for (plots, the noise floor), so the
    datamodule holds one array: the series.
    """

    length_key = "data.sample_size"

    def __init__(
        self,
        sample_size: int = 1000,
        t_max: float = 100.0,
        freq: float = 0.1,
        noise_std: float = 0.1,
        seed: int = 42,
        **window_kwargs,
    ) -> None:
        super().__init__(**window_kwargs)
        self.sample_size = sample_size
        self.t_max = t_max
        self.freq = freq
        self.noise_std = noise_std
        self.seed = seed

    def build_series(self) -> None:
        self.series = sine_series(
            self.sample_size, self.t_max, self.freq, self.noise_std, self.seed
        )

    @property
    def time(self) -> Tensor:
        """The time of every point, float32 ``[N]``."""
        return torch.from_numpy(sine_time(self.sample_size, self.t_max)).float()

    @property
    def clean(self) -> Tensor:
        """The noise-free signal ``sin(freq · t)``, float32 ``[N]``."""
        t = sine_time(self.sample_size, self.t_max)
        return torch.from_numpy(np.sin(self.freq * t)).float()
