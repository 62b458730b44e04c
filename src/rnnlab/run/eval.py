"""Test a saved checkpoint on the data it was trained on; the body of ``python eval.py``.

    python eval.py ckpt_path=logs/train/runs/<stamp>/checkpoints/last.ckpt
    python eval.py ckpt_path=PATH +data.seed=7          # another noise draw of the same wave
    python eval.py ckpt_path=PATH +report.horizon=50    # and a 50-step forecast

The run's config comes from the checkpoint (``checkpoint["rnnlab"]["config"]``), so no
overrides need repeating. Results go to a *new* run directory (``logs/eval/runs/<stamp>``):
``metrics.json``, ``predictions.csv``, ``plots/``. The checkpoint is read with
``torch.load(weights_only=True)``; a missing, truncated or corrupt file, or one that is not
an rnnlab checkpoint, ends with one ``error:`` line (exit status 2).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from rnnlab import rundir
from rnnlab.errors import ConfigError
from rnnlab.models.module import CHECKPOINT_KEY
from rnnlab.report.task import summarize_test
from rnnlab.run.build import build_data, build_model, build_report
from rnnlab.run.callbacks import RunFigures
from rnnlab.run.checkpoints import load_checkpoint
from rnnlab.run.config import CONF_DIR, backbone_name
from rnnlab.run.failures import job_guard
from rnnlab.run.train import quiet_loop_notes, tidy_lightning_logging
from rnnlab.run.validation import validate_config
from rnnlab.rundir import write_json

log = logging.getLogger(__name__)


def load_run(
    ckpt: dict[str, Any],
    data_overrides: DictConfig | dict | None = None,
    report_overrides: DictConfig | dict | None = None,
) -> tuple:
    """``(model, datamodule, report, run_config)`` rebuilt from a loaded checkpoint, weights
    in place. ``data_overrides`` and ``report_overrides`` are merged over the stored
    ``data`` and ``report`` configs."""
    run_cfg = OmegaConf.create(ckpt[CHECKPOINT_KEY]["config"])
    if data_overrides:
        run_cfg.data = OmegaConf.merge(run_cfg.data, data_overrides)
    if report_overrides:
        run_cfg.report = OmegaConf.merge(run_cfg.get("report") or {}, report_overrides)
    datamodule = build_data(run_cfg.data)
    model = build_model(run_cfg, datamodule)
    model.load_state_dict(ckpt["state_dict"])
    return model, datamodule, build_report(run_cfg), run_cfg


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test ``cfg.ckpt_path`` and write the results into ``cfg.paths.output_dir``."""
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise ConfigError(
            "ckpt_path is required: python eval.py ckpt_path=<run dir>/checkpoints/last.ckpt"
        )
    tidy_lightning_logging()
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(cfg.ckpt_path)
    model, dm, report, run_cfg = load_run(ckpt, cfg.get("data"), cfg.get("report"))
    trained_in = OmegaConf.select(run_cfg, "paths.output_dir", default=None)

    callbacks = []
    if cfg.get("figures"):  # the same pictures as the training run's, of these weights
        history = Path(trained_in) / rundir.HISTORY if trained_in else None
        callbacks.append(RunFigures(report, str(output_dir / rundir.PLOTS), history_path=history))
    # The same test loop as training's trainer.test: identical metrics, in original units.
    trainer = L.Trainer(
        accelerator=cfg.accelerator, devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=output_dir,
        callbacks=callbacks,
    )  # fmt: skip
    with quiet_loop_notes():
        tested = trainer.test(model, datamodule=dm, verbose=False)[0]
    metrics: dict[str, Any] = {
        "ckpt_path": str(Path(cfg.ckpt_path).resolve()),
        "ckpt_epoch": int(ckpt.get("epoch", -1)) + 1,
        "ckpt_global_step": int(ckpt.get("global_step", 0)),
        "backbone": backbone_name(run_cfg),
        "seed": run_cfg.get("seed"),
        "data_seed": OmegaConf.select(run_cfg, "data.seed", default=None),
        **summarize_test(report, model, tested, dm),  # task, metric, test_*, baselines
        "n_test": len(dm.datasets["test"]),
        "trained_in": trained_in,
        "run_dir": str(output_dir),
    }
    metrics.update(report.write(model, dm, output_dir))
    write_json(output_dir / rundir.METRICS, metrics)
    return metrics


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few numbers ``eval.py`` prints: backbone, epoch, the task's metric and the first
    of its table keys."""
    keys = ("backbone", "ckpt_epoch", metrics["metric"], *metrics.get("table", [])[:1])
    return {k: metrics[k] for k in keys if k in metrics}


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="eval")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the task's test metric (the test MSE of a forecast). Errors
    follow ``rnnlab.run.failures``."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with job_guard(run_dir) as job:
        validate_config(cfg)
        metrics = evaluate(cfg)
        print(json.dumps(headline(metrics)), f"\nwritten to {run_dir}", flush=True)
        job.result = metrics[metrics["metric"]]
    return job.result


if __name__ == "__main__":
    main()
