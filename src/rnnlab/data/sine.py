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

from rnnlab.data.windows import WindowDataModule


def sine_series(
    sample_size: int, t_max: float, freq: float, noise_std: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(t, clean, noisy)``, each float32 ``[sample_size]``."""
    t = np.linspace(0.0, t_max, sample_size)
    clean = np.sin(freq * t)
    noisy = clean + np.random.RandomState(seed).normal(0.0, noise_std, sample_size)
    return tuple(torch.from_numpy(a).float() for a in (t, clean, noisy))


class SineDataModule(WindowDataModule):
    """Windows of a noisy sine wave; every number is a config value (``conf/data/sine.yaml``)."""

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
        self.time, self.clean, self.series = sine_series(
            self.sample_size, self.t_max, self.freq, self.noise_std, self.seed
        )
