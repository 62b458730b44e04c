"""The synthetic trend-plus-season series: its formula, its scaling, and its extrapolation test."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.data.synthetic import SyntheticDataModule
from rnnlab.report.baselines import noise_floor_mse


def test_the_clean_signal_is_the_formula_and_the_noise_has_its_own_seed():
    dm = SyntheticDataModule(sample_size=50, level=3.0, trend=0.5, periods=[7.0],
                             amplitudes=[2.0], noise_std=0.0, seq_len=5)  # fmt: skip
    dm.setup()
    for t in (0, 7, 10, 49):
        expected = 3.0 + 0.5 * t + 2.0 * math.sin(2 * math.pi * t / 7)
        assert dm.clean[t].item() == pytest.approx(expected, rel=1e-6)
    original = dm.frame().to_file_units(dm.series.double())
    assert torch.allclose(original, dm.clean.double(), atol=1e-4)
    noisy = [SyntheticDataModule(sample_size=50, seed=s, seq_len=5) for s in (1, 1, 2)]
    for d in noisy:
        d.setup()
    assert torch.equal(noisy[0].series, noisy[1].series)
    assert not torch.equal(noisy[0].series, noisy[2].series)


def test_scaled_with_training_statistics_so_the_test_segment_lies_above_them():
    dm = SyntheticDataModule(seq_len=20)  # the default: a trend of 0.05 per step
    dm.setup()
    train = dm.splits["train"]
    raw = dm.frame().to_file_units(dm.series.double())
    segment = raw[train.start : train.stop]
    assert dm.loc == pytest.approx(segment.mean().item(), rel=1e-5)
    assert dm.scale == pytest.approx(segment.std().item(), rel=1e-5)
    test = dm.datasets["test"]
    assert test.targets.min() > dm.series[train.start : train.stop].max() - 1.0
    assert noise_floor_mse(dm.frame()) == pytest.approx(1.0, rel=0.2)  # noise_std 1
