"""A budget that does not shrink with the data, and a network that starts where the linear
model ends: epochs of whole passes, a step budget, the AR start, the start as a candidate."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch

from rnnlab.data import SineDataModule
from rnnlab.data.windows import BatchIndexSampler
from rnnlab.models.backbones import GRU
from rnnlab.models.tasks.forecast import Forecaster
from rnnlab.report.baselines import baseline_metrics
from rnnlab.run.build import build_data
from rnnlab.run.train import train


def test_an_epoch_is_the_fewest_whole_passes_that_give_enough_batches():
    one = BatchIndexSampler(10, 4, shuffle=True, seed=3)
    sampler = BatchIndexSampler(10, 4, shuffle=True, seed=3, min_batches=7)
    assert len(one) == 3 and len(sampler) == 9  # 3 passes of 3 batches
    for epoch in (0, 5):
        one.set_epoch(epoch)
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert [len(b) for b in batches] == [4, 4, 2] * 3
        passes = [torch.cat(batches[i : i + 3]) for i in (0, 3, 6)]
        assert all(sorted(p.tolist()) == list(range(10)) for p in passes)  # whole passes
        assert torch.equal(passes[0], torch.cat(list(one)))  # the first is the one-pass order
        assert not torch.equal(passes[0], passes[1])
    again = BatchIndexSampler(10, 4, shuffle=True, seed=3, min_batches=7)
    again.set_epoch(5)
    assert all(torch.equal(a, b) for a, b in zip(again, batches, strict=True))
    big = BatchIndexSampler(1000, 64, shuffle=False, min_batches=7)
    assert len(big) == 16  # more batches than asked in one pass: one pass


def test_a_step_budget_trains_whole_epochs_closest_to_it_at_any_size(make_cfg):
    """Whole epochs, so that every checkpoint (and a resume) comes at an epoch's end."""
    for n, run in ((1000, "long"), (150, "short")):
        cfg = make_cfg("trainer.max_epochs=null", "trainer.max_steps=120",
                       "data.min_batches_per_epoch=20", f"data.sample_size={n}",
                       "model.backbone.hidden_size=4", "callbacks.figures=null", "logger=none",
                       run_dir=run)  # fmt: skip
        batches = build_data(cfg.data).batches_per_epoch()
        metrics = train(cfg)
        ckpt = torch.load(metrics["last_ckpt_path"], map_location="cpu", weights_only=True)
        assert ckpt["global_step"] % batches == 0
        assert abs(ckpt["global_step"] - 120) <= batches / 2
        history = (Path(cfg.paths.output_dir) / "history.csv").read_text().splitlines()
        assert float(history[-1].split(",")[-1]) == pytest.approx(0.0, abs=1e-9)  # lr decayed


def test_the_ar_start_is_the_least_squares_fit_and_the_recurrent_path_starts_at_zero():
    dm = SineDataModule(seed=7)
    dm.setup()
    torch.manual_seed(0)
    model = Forecaster(GRU(1, 6), partial(torch.optim.Adam), highway=20, highway_init="ar")
    x, y = dm.datasets["train"].all
    model.start_from_ar(x, y)
    assert bool(model.highway.fitted) and not model.head.weight.any() and not model.head.bias.any()
    test = dm.datasets["test"]
    with torch.no_grad():
        mse = torch.mean((model.eval()(test.inputs) - test.targets) ** 2).item()
    # with no normalisation of the window, the highway is the AR baseline itself
    assert mse == pytest.approx(baseline_metrics(dm.frame())["linear_ar_mse"], rel=1e-5)
    # the same numbers from the weights alone: a second fit changes nothing
    weight = model.highway.linear.weight.clone()
    model.start_from_ar(x, y)
    assert torch.allclose(weight, model.highway.linear.weight)


def test_training_must_beat_the_start_on_validation_to_replace_it(make_cfg):
    """On a clean sine the AR start is exact; training at a high rate only moves away from
    it, so best.ckpt keeps the start and the tested model is the linear fit."""
    cfg = make_cfg("data.noise_std=0.0", "model.highway=${data.seq_len}",
                   "model.highway_init=ar", "model.normalize=none", "model.optimizer.lr=0.05",
                   "test_ckpt=best", "model.backbone.hidden_size=4", "callbacks.figures=null",
                   "logger=none")  # fmt: skip
    metrics = train(cfg)
    best = torch.load(metrics["best_ckpt_path"], map_location="cpu", weights_only=True)
    assert best["global_step"] == 0 and metrics["best_epoch"] == 0  # saved before any step
    # testing best.ckpt restores the checkpoint callback's state: it must hold the start's score
    assert metrics["best_val_mse"] == pytest.approx(metrics["val_mse"], rel=1e-5)
    assert metrics["test_mse"] == pytest.approx(metrics["linear_ar_mse"], rel=1e-3, abs=1e-9)
