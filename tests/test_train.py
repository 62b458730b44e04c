"""Training through the real Hydra configs: metrics.json, checkpoints, TensorBoard, tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rnnlab.models import Forecaster
from rnnlab.run.train import train

from .conftest import ROOT

REQUIRED_KEYS = {
    "backbone", "seed", "test_ckpt", "test_mse", "test_rmse", "test_mae", "best_val_mse",
    "epochs_trained", "best_epoch", "n_params", "fit_seconds", "noise_floor_mse", "ckpt_path",
}  # fmt: skip


def scalars(run_dir: Path) -> dict[str, list[float]]:
    acc = EventAccumulator(str(run_dir)).Reload()
    return {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.parametrize("backbone", ["scratch", "rnn", "lstm", "gru"])
def test_every_backbone_trains_tests_and_logs(make_cfg, backbone):
    cfg = make_cfg(f"backbone={backbone}", "model.backbone.hidden_size=8")
    metrics = train(cfg)
    run_dir = Path(cfg.paths.output_dir)

    on_disk = json.loads((run_dir / "metrics.json").read_text())
    assert on_disk == metrics
    assert on_disk.keys() >= REQUIRED_KEYS
    assert on_disk["backbone"] == backbone and on_disk["epochs_trained"] == 3
    assert 0 < on_disk["test_mse"] < 1 and on_disk["noise_floor_mse"] > 0
    assert on_disk["test_rmse"] == pytest.approx(on_disk["test_mse"] ** 0.5, rel=1e-4)
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    history = (run_dir / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,train/loss,val/loss,lr" and len(history) == 4
    predictions = (run_dir / "predictions.csv").read_text().splitlines()
    assert predictions[0] == "index,time,target,prediction" and len(predictions) == 1 + 196
    assert predictions[1].startswith("804,")

    logged = scalars(run_dir)
    for tag in ("train/loss", "val/loss", "val/mse", "val/rmse", "val/mae", "val/r2", "test/mse"):
        assert tag in logged, tag
    assert len(logged["val/loss"]) == 3
    assert logged["test/mse"][-1] == pytest.approx(on_disk["test_mse"], rel=1e-5)
    # history.csv holds each epoch's own values (the same as the logged scalars)
    last_row = history[-1].split(",")
    assert float(last_row[1]) == pytest.approx(logged["train/loss"][-1], rel=1e-6)
    assert float(last_row[2]) == pytest.approx(logged["val/loss"][-1], rel=1e-6)
    assert all(row.split(",")[1] for row in history[1:])  # epoch 1 has its train loss too


def test_checkpoints_load_with_weights_only_and_carry_the_config(make_cfg):
    cfg = make_cfg("backbone=gru", "model.backbone.hidden_size=8")
    metrics = train(cfg)
    ckpt = torch.load(metrics["last_ckpt_path"], weights_only=True, map_location="cpu")
    assert ckpt["rnnlab"]["config"]["model"]["backbone"]["hidden_size"] == 8
    assert "backbone" not in ckpt["hyper_parameters"]
    # and Lightning's own loader accepts it once the modules are given back
    from hydra.utils import instantiate

    model = Forecaster.load_from_checkpoint(
        metrics["last_ckpt_path"],
        backbone=instantiate(cfg.model.backbone),
        optimizer=instantiate(cfg.model.optimizer),
        weights_only=True,
    )
    assert isinstance(model, Forecaster)


def _predict(ckpt_path: str, cfg, x: torch.Tensor) -> torch.Tensor:
    from hydra.utils import instantiate

    model = instantiate(cfg.model)
    state = torch.load(ckpt_path, weights_only=True, map_location="cpu")["state_dict"]
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("which", ["best", "last"])
def test_test_ckpt_selects_the_weights_that_are_tested(make_cfg, which):
    cfg = make_cfg(
        f"test_ckpt={which}", "trainer.max_epochs=8", "model.scheduler=null",
        "backbone=rnn", "model.backbone.hidden_size=8",
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["test_ckpt"] == which
    assert metrics["ckpt_path"] == metrics[f"{which}_ckpt_path"]

    from rnnlab.data import SineDataModule

    dm = SineDataModule(**{k: v for k, v in cfg.data.items() if k != "_target_"})
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
    # lr=0 means val/loss never improves: patience 2 must end the run after 3 epochs.
    cfg = make_cfg(
        "trainer.max_epochs=50", "model.optimizer.lr=0.0", "callbacks.early_stopping.patience=2",
        "backbone=rnn", "model.backbone.hidden_size=4",
    )  # fmt: skip
    metrics = train(cfg)
    assert metrics["epochs_trained"] == 3
    assert metrics["stopped_early"] is True
    assert metrics["best_epoch"] == 1


def test_cosine_schedule_steps_per_batch_and_ends_at_zero(make_cfg):
    cfg = make_cfg("backbone=rnn", "model.backbone.hidden_size=4", "trainer.max_epochs=2")
    metrics = train(cfg)
    ckpt = torch.load(metrics["last_ckpt_path"], weights_only=True, map_location="cpu")
    sched = ckpt["lr_schedulers"][0]
    steps = ckpt["global_step"]
    assert sched["last_epoch"] == steps > 2  # stepped every batch, not every epoch
    assert sched["_last_lr"][0] == pytest.approx(0.0, abs=1e-12)


def test_csv_and_many_loggers(make_cfg):
    cfg = make_cfg("logger=many", "backbone=rnn", "model.backbone.hidden_size=4")
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    assert (run_dir / "csv" / "metrics.csv").is_file()
    assert list(run_dir.glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_train_py_end_to_end_in_a_subprocess(tmp_path):
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "backbone=gru", "data.seq_len=30",
         "trainer.max_epochs=2", f"hydra.run.dir={run_dir}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["backbone"] == "gru" and metrics["epochs_trained"] == 2
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert "data.seq_len=30" in (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert "test_mse" in result.stdout
    assert not (tmp_path / "logs").exists()  # nothing written outside hydra.run.dir
