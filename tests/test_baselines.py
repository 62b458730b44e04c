"""Baselines: right targets, fit on training data only, original units, every horizon step."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from rnnlab.data import SineDataModule
from rnnlab.data.csv import CsvDataModule
from rnnlab.report.baselines import baseline_metrics, fit_linear_ar, worse_than
from rnnlab.run.train import train


def naive_last_mse(dm) -> float:
    return baseline_metrics(dm.frame())["naive_last_mse"]


def linear_ar_mse(dm) -> float:
    return baseline_metrics(dm.frame())["linear_ar_mse"]


def csv_dm(tmp_path: Path, values: list[float], name: str = "s.csv", seq_len: int = 8):
    path = tmp_path / name
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["v"])
        writer.writerows([v] for v in values)
    dm = CsvDataModule(path=str(path), target="v", seq_len=seq_len)
    dm.setup()
    return dm


def noisy_wave(n: int = 400, seed: int = 0) -> list[float]:
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, generator=gen, dtype=torch.float64) * 0.2
    return [math.sin(0.2 * i) + noise[i].item() for i in range(n)]


def test_naive_repeats_the_last_value_of_each_test_window():
    dm = SineDataModule(seed=3)
    dm.setup()
    test = dm.datasets["test"]
    idx = test.split.target_index
    expected = torch.mean((dm.series[idx] - dm.series[idx - 1]) ** 2).item()
    assert naive_last_mse(dm) == pytest.approx(expected, rel=1e-6)


def test_linear_ar_is_exact_on_a_signal_that_obeys_a_linear_recursion():
    # sin(w t) satisfies x_t = 2 cos(w dt) x_{t-1} - x_{t-2}: least squares must find it.
    dm = SineDataModule(noise_std=0.0)
    dm.setup()
    assert naive_last_mse(dm) > 1e-5
    assert linear_ar_mse(dm) < 1e-6 * naive_last_mse(dm)


def test_linear_ar_beats_naive_on_a_noisy_wave_and_lands_near_the_noise(tmp_path):
    dm = csv_dm(tmp_path, noisy_wave())
    ar, naive = linear_ar_mse(dm), naive_last_mse(dm)
    assert ar < naive
    assert 0.02 < ar < 0.08  # noise variance is 0.04


def test_fit_uses_only_the_training_windows(tmp_path):
    values = noisy_wave()
    dm = csv_dm(tmp_path, values, "a.csv")
    changed = list(values)
    for i in range(dm.splits["train"].stop, len(changed)):  # rewrite validation and test
        changed[i] = 5.0 * changed[i] + 3.0
    other = csv_dm(tmp_path, changed, "b.csv")
    assert torch.allclose(fit_linear_ar(dm.frame()), fit_linear_ar(other.frame()))
    assert linear_ar_mse(dm) != pytest.approx(linear_ar_mse(other))


def test_baselines_are_in_original_units(tmp_path):
    values = noisy_wave()
    small = baseline_metrics(csv_dm(tmp_path, values, "small.csv").frame())
    big = baseline_metrics(csv_dm(tmp_path, [1000.0 * v + 7.0 for v in values], "big.csv").frame())
    for key in ("naive_last_mse", "linear_ar_mse"):
        assert big[key] == pytest.approx(1e6 * small[key], rel=1e-5)


def test_training_stores_both_baselines(make_cfg):
    cfg = make_cfg(
        "backbone=rnn", "model.backbone.hidden_size=4", "trainer.max_epochs=1",
        "callbacks.figures=null",
    )  # fmt: skip
    metrics = train(cfg)
    dm = SineDataModule(**{k: v for k, v in cfg.data.items() if k != "_target_"})
    dm.setup()
    assert metrics["naive_last_mse"] == pytest.approx(naive_last_mse(dm))
    assert metrics["linear_ar_mse"] == pytest.approx(linear_ar_mse(dm))


def test_seasonal_naive_repeats_the_last_observed_cycle():
    dm = SineDataModule(seed=4, horizon=5, season=3)
    dm.setup()
    metrics = baseline_metrics(dm.frame())
    test = dm.datasets["test"]
    origin = test.split.target_index
    # steps 1-3 look back one season from the origin, steps 4-5 repeat that cycle again
    back = torch.tensor([3, 3, 3, 6, 6])
    steps = origin[:, None] + torch.arange(5)
    pred = dm.series[steps - back]
    expected = torch.mean((pred.double() - test.targets.double()) ** 2).item()
    assert metrics["seasonal_naive_mse"] == pytest.approx(expected, rel=1e-9)
    assert list(metrics) == ["naive_last_mse", "seasonal_naive_mse", "linear_ar_mse"]


def test_rolled_ar_stays_exact_over_many_steps_on_a_clean_sine():
    dm = SineDataModule(noise_std=0.0, horizon=40)
    dm.setup()
    metrics = baseline_metrics(dm.frame())
    assert metrics["linear_ar_mse"] < 1e-8 < metrics["naive_last_mse"]


def test_baselines_of_several_targets_use_each_targets_own_history(tmp_path):
    path = tmp_path / "two.csv"
    wave, other = noisy_wave(300, seed=1), noisy_wave(300, seed=2)
    path.write_text(
        "a,b\n" + "\n".join(f"{x},{100 + 10 * y}" for x, y in zip(wave, other, strict=True))
    )
    both = CsvDataModule(path=str(path), target=["a", "b"], inputs=["a"], seq_len=6, horizon=2)
    both.setup()
    one = {}
    for name in ("a", "b"):
        dm = CsvDataModule(path=str(path), target=name, seq_len=6, horizon=2)
        dm.setup()
        one[name] = baseline_metrics(dm.frame())
    # b is not a model input here, yet its baselines read its own past values
    for key, value in baseline_metrics(both.frame()).items():
        assert value == pytest.approx((one["a"][key] + one["b"][key]) / 2, rel=1e-9)


def test_worse_than_names_the_baselines_below_the_model():
    baselines = {"naive_last": 2.0, "seasonal_naive": None, "linear_ar": 0.5}
    assert worse_than(1.0, baselines) == ["linear_ar"]
    assert worse_than(0.1, baselines) == []
    assert worse_than(float("nan"), baselines) == ["naive_last", "linear_ar"]
