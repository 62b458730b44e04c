"""Heads: the last-step head and attention pooling, in the Forecaster and in checkpoints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from rnnlab.errors import ConfigError
from rnnlab.models import GRU, Forecaster
from rnnlab.models.heads import AttentionHead, LastStepHead, attention_weights
from rnnlab.run.validation import validate_config


def forecaster(head: str) -> Forecaster:
    torch.manual_seed(0)
    return Forecaster(GRU(hidden_size=6), torch.optim.Adam, head=head)


def test_last_step_head_reads_only_the_last_state():
    head = LastStepHead(5)
    hidden = torch.randn(3, 7, 5)
    expected = hidden[:, -1] @ head.weight.T + head.bias
    assert torch.allclose(head(hidden), expected)
    changed = hidden.clone()
    changed[:, :-1] = 0.0  # earlier states do not matter
    assert torch.allclose(head(changed), expected)
    assert set(dict(head.named_parameters())) == {"weight", "bias"}


def test_attention_pools_every_state_with_weights_that_sum_to_one():
    torch.manual_seed(0)
    head = AttentionHead(5)
    hidden = torch.randn(3, 7, 5)
    weights = head.weights(hidden)
    assert weights.shape == (3, 7)
    assert torch.allclose(weights.sum(dim=1), torch.ones(3))
    assert (weights > 0).all()
    pooled = (weights[..., None] * hidden).sum(dim=1)
    assert torch.allclose(head(hidden), head.out(pooled), atol=1e-6)
    changed = hidden.clone()
    changed[:, 0] += 1.0  # the first state matters, unlike with the last-step head
    assert not torch.allclose(head(changed), head(hidden))


def test_attention_gradients_reach_the_scores():
    head = AttentionHead(4)
    head(torch.randn(2, 5, 4)).sum().backward()
    for name, param in head.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_unknown_head_is_refused_with_the_choices(make_cfg):
    message = "model.head='mean' is invalid: it must be one of last, attention"
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(make_cfg("model.head=mean"))


@pytest.mark.parametrize("head", ["last", "attention"])
def test_forecaster_uses_the_chosen_head(head):
    model = forecaster(head)
    assert model.hparams.head == head
    x = torch.randn(4, 9, 1)
    assert model(x).shape == (4, 1)
    if head == "attention":
        weights = attention_weights(model, x)
        assert weights.shape == (4, 9)
    else:
        with pytest.raises(ValueError, match=re.escape("model.head=attention")):
            attention_weights(model, x)


def test_attention_run_checkpoints_and_plots_its_weights(make_cfg):
    from rnnlab.run.build import build_model
    from rnnlab.run.train import train

    cfg = make_cfg(
        "model.head=attention", "backbone=gru", "model.backbone.hidden_size=4",
        "trainer.max_epochs=2",
    )  # fmt: skip
    metrics = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    png = run_dir / "plots" / "attention.png"
    assert png.is_file()
    import matplotlib.image

    assert matplotlib.image.imread(str(png)).std() > 0.05
    ckpt = torch.load(metrics["last_ckpt_path"], weights_only=True, map_location="cpu")
    assert ckpt["hyper_parameters"]["head"] == "attention"
    assert any(k.startswith("head.score.") for k in ckpt["state_dict"])
    model = build_model(cfg)
    model.load_state_dict(ckpt["state_dict"])
    assert isinstance(model.head, AttentionHead) and not isinstance(model.head, nn.Linear)
