"""Predict with a trained model on new data; the body of ``python predict.py``.

    python predict.py run_dir=logs/train/runs/<stamp>                     # beyond the run's data
    python predict.py run_dir=RUN data.path=next_month.csv                # beyond a new file
    python predict.py ckpt_path=RUN/checkpoints/best.ckpt horizon=24 data.path=new.csv

The model and the data set-up come from the checkpoint (``run_dir=`` reads the weights the run
tested, ``ckpt_path=`` any checkpoint); ``data.*`` settings are merged over the stored data
config. The task's report writes the predictions (``TaskReport.predict``): a forecaster
``predictions/forecast.csv`` beyond the end of the data, in the file's units, scaled with the
statistics stored at training time (never refitted on the new file), with interval columns;
a classifier the class probabilities of every sequence. Everything goes into a new run
directory (``logs/predict/runs/<stamp>``). Data that does not match the training set-up
(other columns, a history shorter than the window, gaps without ``data.fill``) or a
checkpoint this rnnlab cannot use ends with one ``error:`` line (exit status 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from rnnlab import rundir
from rnnlab.errors import ConfigError, one_line
from rnnlab.models.module import CHECKPOINT_KEY
from rnnlab.run.build import BUDGETS, build_data, build_model, build_report, setting_errors
from rnnlab.run.checkpoints import load_checkpoint
from rnnlab.run.config import CONF_DIR
from rnnlab.run.failures import job_guard
from rnnlab.run.validation import validate_config

PREDICTIONS = "predictions"  # the folder of the predictions in the new run directory
# Settings of the windows a new file keeps from a generated series' data config (the rest
# describes how the series was generated).
WINDOW_KEYS = ("seq_len", "horizon", "val_fraction", "test_fraction", "batch_size",
               "eval_batch_size", "season", "fill")  # fmt: skip
CSV_TARGET = "rnnlab.data.csv.CsvDataModule"
TRAINING_ONLY = ("callbacks", "logger", "trainer")  # config nodes a prediction never reads


def table_data_config(run_cfg: DictConfig, model: Any, path: str) -> dict[str, Any]:
    """The data config that reads the file at ``path`` as the model's training data was
    read: a CSV run keeps its own config (the path replaced); a generated series (the sine)
    becomes a CSV of the model's columns (``value``), its window settings kept."""
    data = OmegaConf.to_container(run_cfg.data, resolve=True)
    if data.get("_target_") == CSV_TARGET:
        return {**data, "path": path}
    columns = dict(model.hparams.get("columns") or {})
    known = set(columns.get("known") or [])
    inputs = [n for n in columns.get("inputs") or ["value"] if n not in known]
    kept = {k: data[k] for k in WINDOW_KEYS if k in data}
    targets = list(model.target_names)
    return {"_target_": CSV_TARGET, **kept, "path": path, "target": targets, "inputs": inputs}


def data_config(run_cfg: DictConfig, model: Any, given: dict[str, Any]) -> DictConfig:
    """The run's data config with the user's ``data.*`` settings over it; a new file for a
    forecaster of a generated series is read as a CSV (``table_data_config``)."""
    if not given:
        return run_cfg.data
    data = OmegaConf.to_container(run_cfg.data, resolve=True)
    # a model that scales with stored statistics forecasts a series (the sine: no file)
    generated = "path" not in data and bool(getattr(model, "statistics", None))
    if given.get("path") and generated:
        data = table_data_config(run_cfg, model, str(given["path"]))
    return OmegaConf.create({**data, **given})  # plain dicts: a merge costs milliseconds


def checkpoint_path(run_dir: str | None, ckpt_path: str | None) -> str:
    """The checkpoint ``run_dir=`` or ``ckpt_path=`` names: a run directory gives the weights
    its ``metrics.json`` says were tested, else ``best.ckpt``, else ``last.ckpt``."""
    if bool(run_dir) == bool(ckpt_path):
        raise ConfigError(
            "give one of run_dir=<train run dir> or ckpt_path=<checkpoint file> "
            f"(now run_dir={run_dir}, ckpt_path={ckpt_path})"
        )
    if ckpt_path:
        return str(ckpt_path)
    run = Path(run_dir).expanduser()
    if not run.is_dir():
        raise ConfigError(f"run_dir={run_dir}: no such directory")
    tested = (rundir.read_state(run).metrics or {}).get("ckpt_path")
    names = [f"{rundir.CHECKPOINTS}/{Path(tested).name}"] if tested else []
    for name in (*names, rundir.BEST_CKPT, rundir.LAST_CKPT):
        if (run / name).is_file():
            return str(run / name)
    raise ConfigError(
        f"run_dir={run_dir} holds no checkpoint ({rundir.BEST_CKPT} or {rundir.LAST_CKPT})"
    )


def load_model(path: str, setting: str = "ckpt_path") -> tuple[Any, DictConfig]:
    """``(model, run config)`` of a checkpoint: the model built from the config stored in it
    (the sizes the data decided are stored there too, so no data is read), its weights in
    place, in eval mode, on the CPU."""
    ckpt = load_checkpoint(path, setting)
    # The stored config is resolved: the nodes of training alone are left out (each node
    # costs time to wrap, and predict.py is timed end to end).
    stored = ckpt[CHECKPOINT_KEY]["config"]
    run_cfg = OmegaConf.create({k: v for k, v in stored.items() if k not in TRAINING_ONLY})
    with open_dict(run_cfg):
        for key in BUDGETS:  # the hidden size they chose is stored; do not size it again
            run_cfg.model.pop(key, None)
    model = build_model(run_cfg)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise ConfigError(
            f"{setting}={path}: its weights do not fit the model its config describes "
            f"({one_line(exc, limit=80, typed=False)}): a checkpoint of another rnnlab version?"
        ) from None
    return model.eval(), run_cfg


def predict(cfg: DictConfig) -> dict[str, Any]:
    """Write the predictions of ``cfg``'s checkpoint on its data (or ``cfg.data``'s) into
    ``cfg.paths.output_dir/predictions``; returns what was written."""
    given = {k: v for k, v in (cfg.get("data") or {}).items() if v is not None}
    # the settings the user gave (null: the checkpoint's); a copy of cfg would cost more
    validate_config(OmegaConf.create({"data": given, "horizon": cfg.get("horizon")}))
    path = checkpoint_path(cfg.get("run_dir"), cfg.get("ckpt_path"))
    model, run_cfg = load_model(path, "run_dir" if cfg.get("run_dir") else "ckpt_path")
    data_cfg = data_config(run_cfg, model, given)
    trained_len = OmegaConf.select(run_cfg, "data.seq_len", default=None)
    if data_cfg.get("seq_len") != trained_len:
        raise ConfigError(
            f"data.seq_len={data_cfg.get('seq_len')} is invalid: the model was trained on "
            f"windows of {trained_len}; leave data.seq_len as the checkpoint has it"
        )
    dm = build_data(data_cfg, load=False)
    trained = build_data(run_cfg.data, load=False) if given else dm
    report = build_report(run_cfg)
    out_dir = Path(cfg.paths.output_dir) / PREDICTIONS
    try:
        with setting_errors():
            files = report.predict(model, dm, out_dir, horizon=cfg.get("horizon"), trained=trained)
    except NotImplementedError:
        raise ConfigError(
            f"task={model.task} writes no predictions on new data (its report has no predict)"
        ) from None
    return {"ckpt_path": str(Path(path).resolve()), "files": [str(f) for f in files]}


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="predict")
def main(cfg: DictConfig) -> None:
    """Hydra entry point; errors follow ``rnnlab.run.failures`` (one ``error:`` line, exit 2
    for input that does not match the training set-up)."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with job_guard(run_dir):
        written = predict(cfg)
        print(json.dumps(written), flush=True)


if __name__ == "__main__":
    main()
