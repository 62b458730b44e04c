"""Training through the real Hydra configs: metrics.json, checkpoints, TensorBoard, tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnnlab.models import Forecaster
from rnnlab.run.train import train

REQUIRED_KEYS = {
    "backbone", "seed", "test_ckpt", "test_mse", "test_rmse", "test_mae", "best_val_mse",
    "epochs_trained", "best_epoch", "n_params", "fit_seconds", "noise_floor_mse", "ckpt_path",
}  # fmt: skip
# Runs made here only for their numbers skip the figures (test_plots checks those, on the
# shared run and on untrained models of every backbone).
NO_FIGURES = "callbacks.figures=null"


def scalars(run_dir: Path) -> dict[str, list[float]]:
    acc = EventAccumulator(str(run_dir)).Reload()
    return {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def assert_trained_tested_and_logged(run_dir: Path, metrics: dict, backbone: str, epochs: int):
    """What every finished sine run leaves: metrics.json, checkpoints, history.csv,
    predictions.csv on the true time axis, and the same numbers in TensorBoard."""
    on_disk = json.loads((run_dir / "metrics.json").read_text())
    assert on_disk == metrics
    assert on_disk.keys() >= REQUIRED_KEYS
    assert on_disk["backbone"] == backbone and on_disk["epochs_trained"] == epochs
    assert 0 < on_disk["test_mse"] < 1 and on_disk["noise_floor_mse"] > 0
    assert on_disk["test_rmse"] == pytest.approx(on_disk["test_mse"] ** 0.5, rel=1e-4)
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    history = (run_dir / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,train/loss,val/loss,lr" and len(history) == 1 + epochs
    predictions = (run_dir / "predictions.csv").read_text().splitlines()
    # the mse default's conformal 80 % interval beside each prediction
    assert predictions[0] == "index,time,target,prediction,lower80,upper80"
    assert len(predictions) == 1 + 196
    assert predictions[1].startswith("804,")

    logged = scalars(run_dir)
    for tag in ("train/loss", "val/loss", "val/mse", "val/rmse", "val/mae", "val/r2", "test/mse"):
        assert tag in logged, tag
    assert len(logged["val/loss"]) == epochs
    assert logged["test/mse"][-1] == pytest.approx(on_disk["test_mse"], rel=1e-5)
    # history.csv holds each epoch's own values (the same as the logged scalars)
    last_row = history[-1].split(",")
    assert float(last_row[1]) == pytest.approx(logged["train/loss"][-1], rel=1e-6)
    assert float(last_row[2]) == pytest.approx(logged["val/loss"][-1], rel=1e-6)
    assert all(row.split(",")[1] for row in history[1:])  # epoch 1 has its train loss too


def test_the_shared_run_trained_tested_and_logged_to_both_loggers(trained_run):
    assert_trained_tested_and_logged(trained_run.run_dir, trained_run.metrics, "lstm", epochs=3)
    # logger=many: the CSV logger beside TensorBoard
    assert (trained_run.run_dir / "csv" / "metrics.csv").is_file()
    assert list(trained_run.run_dir.glob("events.out.tfevents.*"))


# lstm, the default backbone, is the shared run above.
@pytest.mark.parametrize("backbone", ["scratch", "rnn", "gru"])
def test_every_backbone_trains_tests_and_logs(make_cfg, backbone):
    cfg = make_cfg(f"backbone={backbone}", "model.backbone.hidden_size=8", NO_FIGURES)
    metrics = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert_trained_tested_and_logged(run_dir, metrics, backbone, epochs=3)
    assert not (run_dir / "plots").exists()  # callbacks.figures=null switches the figures off


def test_checkpoints_load_with_weights_only_and_carry_the_config(trained_run):
    cfg, last = trained_run.cfg, trained_run.metrics["last_ckpt_path"]
    ckpt = torch.load(last, weights_only=True, map_location="cpu")
    assert ckpt["rnnlab"]["config"]["model"]["backbone"]["hidden_size"] == 8
    assert "backbone" not in ckpt["hyper_parameters"]
    # and Lightning's own loader accepts it once the modules are given back
    from hydra.utils import instantiate

    model = Forecaster.load_from_checkpoint(
        last,
        backbone=instantiate(cfg.model.backbone),
        optimizer=instantiate(cfg.model.optimizer),
        weights_only=True,
    )
    assert isinstance(model, Forecaster)


def _predict(ckpt_path: str, cfg, x: torch.Tensor) -> torch.Tensor:
    from rnnlab.run.build import build_model

    model = build_model(cfg)
    state = torch.load(ckpt_path, weights_only=True, map_location="cpu")["state_dict"]
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("which", ["best", "last"])
def test_test_ckpt_selects_the_weights_that_are_tested(make_cfg, which):
    cfg = make_cfg(
        f"test_ckpt={which}", "trainer.max_epochs=8", "model.scheduler=null",
        "backbone=rnn", "model.backbone.hidden_size=8", NO_FIGURES,
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["test_ckpt"] == which
    assert metrics["ckpt_path"] == metrics[f"{which}_ckpt_path"]

    from rnnlab.run.build import build_data

    dm = build_data(cfg.data)
    dm.setup("test")
    test = dm.datasets["test"]
    pred = _predict(metrics["ckpt_path"], cfg, test.inputs)
    expected_mse = torch.mean((pred - test.targets) ** 2).item()
    assert metrics["test_mse"] == pytest.approx(expected_mse, rel=1e-5)
    other = "last" if which == "best" else "best"
    other_pred = _predict(metrics[f"{other}_ckpt_path"], cfg, test.inputs)
    # With a constant learning rate this seeded run's best epoch is not its last, so the two
    # checkpoints really hold different weights and the choice is visible.
    assert metrics["best_epoch"] < metrics["epochs_trained"]
    assert not torch.allclose(pred, other_pred)


def test_early_stopping_really_stops(make_cfg):
    # lr=0 means val/loss never improves: patience 2 must end the run after 3 epochs, and the
    # weights training started from stay the best (the tested ones).
    cfg = make_cfg(
        "trainer.max_epochs=50", "model.optimizer.lr=0.0", "callbacks.early_stopping.patience=2",
        "backbone=rnn", "model.backbone.hidden_size=4", NO_FIGURES,
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["epochs_trained"] == 3
    assert metrics["stopped_early"] is True
    assert metrics["best_epoch"] == 0


def test_cosine_schedule_steps_per_batch_and_ends_at_zero(trained_run):
    ckpt = torch.load(trained_run.last_ckpt, weights_only=True, map_location="cpu")
    sched = ckpt["lr_schedulers"][0]
    steps = ckpt["global_step"]
    assert sched["last_epoch"] == steps > 2  # stepped every batch, not every epoch
    assert sched["_last_lr"][0] == pytest.approx(0.0, abs=1e-12)
