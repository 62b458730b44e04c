"""The shared training loop: K optimizer steps per Lightning training step change nothing
but how often Lightning's per-step machinery runs."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import pytest
import torch

from rnnlab.errors import ConfigError, NonFiniteLossError
from rnnlab.run.config import compose_config
from rnnlab.run.train import complete_run, prepare_run, train
from rnnlab.run.validation import validate_config

# Two layers with dropout: the random stream must also be drawn in the same order.
# 646 training windows in batches of 64: 11 batches, so K=3 ends each epoch on a short group.
SMALL = [
    "backbone=rnn", "model.backbone.hidden_size=6", "model.backbone.num_layers=2",
    "model.backbone.dropout=0.2", "trainer.max_epochs=3", "data.min_batches_per_epoch=1",
    "trainer.accelerator=cpu",
    "callbacks.progress_bar=null", "callbacks.figures=null", "callbacks.epoch_printer=null",
    "test_ckpt=last", "+callbacks.counter._target_=tests.test_loop.HookCounter",
]  # fmt: skip
BATCHES, EPOCHS = 11, 3


class HookCounter(L.Callback):
    """Counts per-batch and per-optimizer-step hooks and records global_step at each."""

    def __init__(self) -> None:
        self.batch_ends: list[tuple[int, int]] = []  # (batch_idx, global_step)
        self.optimizer_steps = 0
        self.backwards = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batch_ends.append((batch_idx, trainer.global_step))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.optimizer_steps += 1

    def on_after_backward(self, trainer, pl_module) -> None:
        self.backwards += 1


def _run(tmp_path: Path, k: str, *extra: str) -> tuple[dict, dict, HookCounter]:
    """train() with steps_per_execution=k, in its two halves so that the run's callbacks can
    be read afterwards; (metrics, last.ckpt, the counter)."""
    cfg = compose_config(tmp_path / k, [*SMALL, f"model.steps_per_execution={k}", *extra])
    validate_config(cfg)
    run = prepare_run(cfg)
    metrics = complete_run(run, cfg)
    ckpt = torch.load(metrics["last_ckpt_path"], map_location="cpu", weights_only=True)
    return metrics, ckpt, run.callbacks["counter"]


def test_k_steps_per_call_give_the_same_weights_steps_and_history(tmp_path):
    reference, ref_ckpt, ref_hooks = _run(tmp_path, "1")
    assert ref_ckpt["global_step"] == EPOCHS * BATCHES
    assert [i for i, _ in ref_hooks.batch_ends] == list(range(BATCHES)) * EPOCHS
    for k, per_epoch in (("3", [2, 5, 8, 10]), ("epoch", [BATCHES - 1])):
        metrics, ckpt, hooks = _run(tmp_path, k)
        # bit for bit: the same optimizer steps on the same batches in the same order
        assert ckpt["state_dict"].keys() == ref_ckpt["state_dict"].keys()
        for name, weight in ref_ckpt["state_dict"].items():
            assert torch.equal(ckpt["state_dict"][name], weight), (k, name)
        assert metrics["test_mse"] == reference["test_mse"]
        assert metrics["best_val_mse"] == reference["best_val_mse"]
        assert (tmp_path / k / "history.csv").read_text() == (
            tmp_path / "1" / "history.csv"
        ).read_text()
        # global_step counts optimizer steps; per-step hooks fire every step, batch hooks
        # once per call with the index of the call's last batch
        assert ckpt["global_step"] == EPOCHS * BATCHES
        assert hooks.optimizer_steps == hooks.backwards == EPOCHS * BATCHES
        assert [i for i, _ in hooks.batch_ends] == per_epoch * EPOCHS
        assert [s for _, s in hooks.batch_ends] == [
            e * BATCHES + i + 1 for e in range(EPOCHS) for i in per_epoch
        ]
        saved = json.loads((tmp_path / k / "metrics.json").read_text())
        assert saved["epochs_trained"] == EPOCHS
        # loggers plot every epoch's numbers against optimizer steps, whatever K
        steps = [BATCHES * e for e in range(1, EPOCHS + 1)]
        for tag, logged in logged_steps(tmp_path / k).items():
            assert logged == steps, (k, tag)


def logged_steps(run_dir: Path) -> dict[str, list[int]]:
    """The TensorBoard step of every epoch value of the training and validation scalars."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir)).Reload()
    tags = ("train/loss", "train/mse", "lr-Adam", "val/loss", "val/mse")
    assert set(tags) <= set(acc.Tags()["scalars"])
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in tags}


def test_a_lightning_max_steps_stops_inside_a_call(tmp_path):
    """train.py turns trainer.max_steps into whole epochs (rnnlab.run.build.step_budget); a
    Trainer built by hand with max_steps still stops the loop mid-epoch, mid-call."""
    cfg = compose_config(tmp_path / "run", [*SMALL, "model.steps_per_execution=epoch"])
    run = prepare_run(cfg)
    run.trainer.fit_loop.epoch_loop.max_steps = 15  # what Trainer(max_steps=15) sets
    run.trainer.fit(run.model, datamodule=run.datamodule)
    assert run.trainer.global_step == 15 and run.callbacks["counter"].optimizer_steps == 15


@pytest.mark.parametrize("k", ["4", "epoch"])
def test_the_nan_guard_names_the_step_when_a_call_takes_several(tmp_path, k):
    cfg = compose_config(tmp_path / "run", [
        *SMALL[:-1], f"model.steps_per_execution={k}", "callbacks.last_checkpoint.every_n_epochs=1",
        "+callbacks.poison._target_=tests.test_resume.PoisonWeights",
        "+callbacks.poison.at_epoch=2",
    ])  # fmt: skip
    with pytest.raises(
        NonFiniteLossError,
        match=r"^training stopped: train/loss is nan at step 1 "
        r"of epoch 2; the last good checkpoint is .*last.ckpt \(after epoch 1\)",
    ):
        train(cfg)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.steps_per_execution=0", r"^model.steps_per_execution=0 is invalid: it must be an "
         r"integer >= 1 or 'epoch' \(optimizer steps per Lightning training step\)$"),
        ("model.steps_per_execution=batch", r"^model.steps_per_execution='batch' is invalid"),
        ("trainer.gradient_clip_val=0.5", r"^trainer.gradient_clip_val=0.5 is invalid: it must be "
         r"null; the gradient clip is model.gradient_clip_val "
         r"\(e.g. model.gradient_clip_val=0.5\)"),
        ("+trainer.accumulate_grad_batches=2", r"^trainer.accumulate_grad_batches=2 is invalid"),
    ],
)  # fmt: skip
def test_loop_settings_that_cannot_work_are_one_line_errors(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(compose_config(tmp_path / "run", [override]))


EMA_ON = ["+callbacks.ema._target_=rnnlab.run.ema.EMA", "+callbacks.ema.decay=0.9"]


def test_ema_is_the_same_for_every_k_and_testing_uses_the_averaged_weights(tmp_path):
    first, ckpt_1, _ = _run(tmp_path, "1", *EMA_ON)
    second, ckpt_e, _ = _run(tmp_path, "epoch", *EMA_ON)
    assert first["test_mse"] == second["test_mse"]
    for key in ("state_dict", "current_model_state"):  # averaged, raw
        for name, weight in ckpt_1[key].items():
            assert torch.equal(ckpt_e[key][name], weight), (key, name)
    assert int(ckpt_1["averaging_state"]["n_averaged"]) == EPOCHS * BATCHES
    averaged, raw = ckpt_1["state_dict"], ckpt_1["current_model_state"]
    assert any(not torch.equal(averaged[n], raw[n]) for n in averaged)
    # the tested weights are the averaged ones: the test MSE follows from them alone
    from rnnlab.run.build import build_data, build_model

    cfg = compose_config(tmp_path / "again", [*SMALL[:-1], *EMA_ON])
    model, dm = build_model(cfg), build_data(cfg.data)
    model.load_state_dict(averaged)
    dm.setup("test")
    x, y = dm.datasets["test"].inputs, dm.datasets["test"].targets
    with torch.no_grad():
        model.eval()
        mse = torch.mean((dm.frame().to_file_units(model(x)) - dm.frame().to_file_units(y)) ** 2)
    assert mse.item() == pytest.approx(first["test_mse"], rel=1e-5)


def test_a_resumed_run_restores_the_average_and_the_raw_weights(tmp_path):
    constant_lr = ["model.scheduler=null", "callbacks.model_checkpoint=null", *EMA_ON]
    _, full, _ = _run(tmp_path, "3", "trainer.max_epochs=4", *constant_lr)
    cfg = compose_config(tmp_path / "cut", [*SMALL[:-1], "trainer.max_epochs=2", *constant_lr])
    train(cfg)
    resumed = train(compose_config(tmp_path / "cut", [
        *SMALL[:-1], "trainer.max_epochs=4", "resume=true", *constant_lr,
    ]))  # fmt: skip
    ckpt = torch.load(resumed["last_ckpt_path"], map_location="cpu", weights_only=True)
    for key in ("state_dict", "current_model_state"):
        for name, weight in full[key].items():
            assert torch.equal(ckpt[key][name], weight), (key, name)


def test_the_ar_highway_starts_from_the_recurrent_model_and_learns(tmp_path):
    from rnnlab.run.build import build_model

    cfg = compose_config(tmp_path / "b", ["model.backbone.hidden_size=4", "model.highway=5"])
    torch.manual_seed(0)
    plain = build_model(compose_config(tmp_path / "a", ["model.backbone.hidden_size=4"]))
    torch.manual_seed(0)
    with_highway = build_model(cfg)
    x = torch.randn(3, 20, 1)
    assert torch.equal(plain(x), with_highway(x))  # zero-initialised, the same other weights
    assert with_highway.highway(x[:, :2]).shape == (3, 1)  # a short window is padded
    cfg = compose_config(tmp_path / "c", [*SMALL[:-1], "model.highway=5", "trainer.max_epochs=1"])
    train(cfg)
    ckpt = torch.load(tmp_path / "c" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["state_dict"]["highway.linear.weight"].abs().sum() > 0
