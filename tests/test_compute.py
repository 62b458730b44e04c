"""What a training step costs (FLOPs per sequence) against a hand count, and sizing a model to
a FLOP budget."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import torch

from rnnlab.data.windows import chronological_splits
from rnnlab.models.backbones import ElmanRNN
from rnnlab.models.compute import flop_counter, training_flops
from rnnlab.models.tasks.regress import Regressor
from rnnlab.run.train import train


def test_the_elman_training_step_costs_what_a_hand_count_says():
    """Matrix products of one step of an Elman RNN (F inputs, H units, L steps) under a
    linear head, per sequence: the input projection forward and its weight gradient
    (2·L·F·H each), the recurrence forward, its backward recursion and its weight gradient
    (2·(L-1)·H² each), and the head forward, its weight gradient and its input gradient
    (2·H each)."""
    L, F, H, B = 4, 2, 3, 5
    torch.manual_seed(0)
    model = Regressor(ElmanRNN(F, H), partial(torch.optim.Adam))
    batch = (torch.randn(B, L, F), torch.randn(B, 1))
    flops = training_flops(model, batch)
    assert flops["matmul"] == 4 * L * F * H + 6 * (L - 1) * H * H + 6 * H  # 276
    assert flops["total"] == flops["matmul"] + flops["elementwise"] > flops["matmul"]
    # measuring draws no random number and stores no gradient
    state = torch.random.get_rng_state()
    training_flops(model, batch)
    assert torch.equal(state, torch.random.get_rng_state())
    assert all(p.grad is None for p in model.parameters())


def test_element_wise_arithmetic_counts_one_per_element():
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    counter = flop_counter()
    with counter:
        torch.addcmul(torch.sigmoid(a) * b + a, a, b)  # sigmoid, mul, add: 1 each; addcmul: 2
    assert counter.get_total_flops() == 5 * 12


def test_a_flop_budget_sizes_each_backbone_to_equal_compute(make_cfg):
    sizes = {}
    for backbone in ("rnn", "gru"):
        cfg = make_cfg(f"backbone={backbone}", "model.flop_budget=300000", "trainer.max_epochs=1",
                       "callbacks.figures=null", "logger=none", run_dir=backbone)  # fmt: skip
        metrics = train(cfg)
        saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
        assert saved["flops_per_sequence"] == metrics["flops_per_sequence"]
        assert abs(metrics["flops_per_sequence"] - 300_000) < 0.1 * 300_000
        windows = chronological_splits(1000, 20, 0.1, 0.2)["train"].n_windows  # one epoch
        assert metrics["train_flops"] == metrics["flops_per_sequence"] * windows
        sizes[backbone] = metrics["hidden_size"]
    assert sizes["rnn"] > sizes["gru"]  # a GRU step costs about three Elman steps
