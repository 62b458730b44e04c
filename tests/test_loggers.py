"""Experiment trackers: an MLflow run read back with MLflow's own client, W&B offline (or the
one-line error that names the extra), and the checks made before any work."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch

from rnnlab.errors import ConfigError
from rnnlab.run import trackers
from rnnlab.run.config import compose_config
from rnnlab.run.trackers import MlflowStore, experiment_id
from rnnlab.run.train import train
from rnnlab.run.validation import check_trackers, validate_config

# Tiny and quick: the figures are kept (they are artifacts), the series is short.
TINY = ["backbone=rnn", "model.backbone.hidden_size=3", "trainer.max_epochs=2",
        "data.sample_size=300", "data.seq_len=8"]  # fmt: skip


def test_mlflow_run_has_params_metrics_figures_and_checkpoints(make_cfg, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # the default store, logs/mlflow, relative to where one runs
    cfg = make_cfg("logger=mlflow", *TINY)
    validate_config(cfg)
    MlflowStore().on_multirun_start(cfg)  # what a sweep does first: the store's tables
    assert (tmp_path / "logs" / "mlflow" / "mlflow.db").is_file()
    metrics = train(cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "run"]  # nothing elsewhere

    client = MlflowClient(cfg.logger.mlflow.tracking_uri)
    assert cfg.logger.mlflow.tracking_uri == "sqlite:///logs/mlflow/mlflow.db"
    experiment = client.get_experiment_by_name("rnnlab-sine")
    (run,) = client.search_runs([experiment.experiment_id])
    run_id = run.info.run_id
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    assert run.data.tags["run_dir"] == str(tmp_path / "run")
    # The final numbers are metrics.json's own, to the last bit; the seed is a param.
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert run.data.metrics["test_mse"] == written["test_mse"] == metrics["test_mse"]
    assert run.data.metrics["baselines/naive_last"] == written["baselines"]["naive_last"]
    assert "seed" not in run.data.metrics
    assert run.data.params["model.backbone.hidden_size"] == "3"
    assert run.data.params["backbone"] == "rnn" and run.data.params["seed"] == "42"
    assert len(client.get_metric_history(run_id, "val/loss")) == 2  # one per epoch

    listed = {
        a.path for folder in ("plots", "checkpoints") for a in client.list_artifacts(run_id, folder)
    }
    figures = {f"plots/{p.name}" for p in (tmp_path / "run" / "plots").glob("*.png")}
    assert "plots/predictions.png" in figures and figures <= listed
    assert {"checkpoints/last.ckpt", "checkpoints/best.ckpt"} <= listed
    assert "metrics.json" in {a.path for a in client.list_artifacts(run_id)}
    assert Path(experiment.artifact_location) == tmp_path / "logs" / "mlflow" / "artifacts"
    ckpt = client.download_artifacts(run_id, "checkpoints/last.ckpt", str(tmp_path / "down"))
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["epoch"] == 1  # the run's last checkpoint (epochs count from 0)

    # The tested weights as a pyfunc model (rnnlab.run.pyfunc): a table of history in, the
    # forecast of predict.py beyond it out.
    import mlflow.pyfunc
    import pandas as pd

    from rnnlab.run.build import build_data
    from rnnlab.run.predict import load_model

    uri = cfg.logger.mlflow.tracking_uri
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        pyfunc = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    finally:
        mlflow.set_tracking_uri(previous)
    frame = build_data(cfg.data).frame()
    history = pd.DataFrame({"value": frame.series[-20:].double().numpy()})
    forecast = pyfunc.predict(history, params={"horizon": 2})
    assert list(forecast["step"]) == [1, 2] and "upper80" in forecast
    model, _ = load_model(metrics["ckpt_path"])
    with torch.no_grad():
        first = model(frame.series[-8:][None, :, None].float())  # the last window of 8
    assert forecast["forecast"][0] == pytest.approx(float(first[0, 0]), abs=1e-5)

    # Two sweep jobs making the same new experiment: the one that loses takes the other's.
    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", _not_found_once(MlflowClient))
    assert experiment_id(uri, "rnnlab-sine") == experiment.experiment_id


def _not_found_once(client_class):
    original, calls = client_class.get_experiment_by_name, []

    def lookup(self, name):
        calls.append(name)
        return None if len(calls) == 1 else original(self, name)

    return lookup


@pytest.mark.parametrize("tracker", ["mlflow", "wandb"])
def test_tracker_without_its_package_stops_with_one_line_naming_the_extra(
    tracker, make_cfg, monkeypatch
):
    monkeypatch.setattr(trackers, "installed", lambda module: module != tracker)
    cfg = make_cfg(f"logger={tracker}")
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    assert str(info.value) == (
        f'logger={tracker} needs the {tracker} package: pip install -e ".[{tracker}]"'
    )


def test_wandb_offline_run_or_the_missing_extra(make_cfg, tmp_path, monkeypatch):
    """With wandb installed: an offline run under the run dir, figures included; without
    (make install leaves it out): the one-line error, before any work."""
    cfg = make_cfg("logger=wandb", *TINY)
    if find_spec("wandb") is None:
        with pytest.raises(ConfigError, match=r'needs the wandb package: .*"\.\[wandb\]"'):
            validate_config(cfg)
        return
    for name in ("WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home"))  # not the user's home
    validate_config(cfg)
    train(cfg)
    (offline,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    assert list(offline.glob("run-*.wandb"))
    # W&B names a logged image <key>_<step>_<hash>.png
    logged = {p.stem.rsplit("_", 2)[0] for p in offline.rglob("media/images/figures/*.png")}
    drawn = {p.stem for p in (tmp_path / "run" / "plots").glob("*.png")}
    assert drawn and logged == drawn


@pytest.mark.parametrize(("config_name", "overrides"), [("train", ["logger=none"]),
                                                      ("eval", ["ckpt_path=x.ckpt"])])  # fmt: skip
def test_configs_without_trackers_pass_the_tracker_check(
    tmp_path, config_name, overrides, monkeypatch
):
    monkeypatch.setattr(trackers, "installed", lambda module: False)  # no tracker installed
    check_trackers(compose_config(tmp_path / "run", overrides, config_name=config_name))
    with pytest.raises(ConfigError, match=r"logger=mlflow needs the mlflow package"):
        check_trackers(compose_config(tmp_path / "run", ["logger=mlflow"]))


def test_mlflow_server_with_a_local_artifact_folder_is_refused(make_cfg):
    cfg = make_cfg("logger=mlflow", "logger.mlflow.tracking_uri=http://127.0.0.1:5000")
    with pytest.raises(ConfigError, match=r"logger.mlflow.artifact_location=null"):
        validate_config(cfg)
    validate_config(make_cfg("logger=mlflow", "logger.mlflow.tracking_uri=http://127.0.0.1:5000",
                             "logger.mlflow.artifact_location=null"))  # fmt: skip
