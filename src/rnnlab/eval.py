"""Test a saved checkpoint on the data it was trained on; the body of ``python eval.py``.

    python eval.py ckpt_path=logs/train/runs/<stamp>/checkpoints/last.ckpt
    python eval.py ckpt_path=PATH +data.seed=7          # another noise draw of the same wave
    python eval.py ckpt_path=PATH forecast.horizon=50   # and a 50-step forecast

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
from omegaconf import DictConfig, OmegaConf

from rnnlab.config import CONF_DIR

log = logging.getLogger(__name__)


def load_run(ckpt: dict[str, Any], data_overrides: DictConfig | dict | None = None) -> tuple:
    """``(model, datamodule, run_config)`` rebuilt from a loaded checkpoint, weights in place.

    ``data_overrides`` are merged over the stored data config.
    """
    from hydra.utils import instantiate

    from rnnlab.checkpoints import CHECKPOINT_KEY

    run_cfg = OmegaConf.create(ckpt[CHECKPOINT_KEY]["config"])
    if data_overrides:
        run_cfg.data = OmegaConf.merge(run_cfg.data, data_overrides)
    datamodule = instantiate(run_cfg.data)
    model = instantiate(run_cfg.model)
    model.load_state_dict(ckpt["state_dict"])
    model.run_config = OmegaConf.to_container(run_cfg)
    return model, datamodule, run_cfg


def backbone_of(run_cfg: DictConfig) -> str:
    """The ``backbone=`` name the run used (its class name when not one of conf/backbone)."""
    from rnnlab.checkpoints import backbone_choice

    target = str(OmegaConf.select(run_cfg, "model.backbone._target_", default="") or "")
    return backbone_choice(target) or target.rsplit(".", 1)[-1].lower()


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test ``cfg.ckpt_path`` and write the results into ``cfg.paths.output_dir``."""
    import lightning as L

    from rnnlab.checkpoints import load_checkpoint
    from rnnlab.reporting import test_summary, tidy_lightning_logging, write_predictions
    from rnnlab.validation import ConfigError

    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise ConfigError(
            "ckpt_path is required: python eval.py ckpt_path=<run dir>/checkpoints/last.ckpt"
        )
    tidy_lightning_logging()
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(cfg.ckpt_path)
    model, dm, run_cfg = load_run(ckpt, cfg.get("data"))

    # The same test loop as training's trainer.test: identical metrics, in original units.
    trainer = L.Trainer(
        accelerator=cfg.accelerator, devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=output_dir,
    )  # fmt: skip
    tested = trainer.test(model, datamodule=dm, verbose=False)[0]
    metrics: dict[str, Any] = {
        "ckpt_path": str(Path(cfg.ckpt_path).resolve()),
        "ckpt_epoch": int(ckpt.get("epoch", -1)) + 1,
        "ckpt_global_step": int(ckpt.get("global_step", 0)),
        "backbone": backbone_of(run_cfg),
        "seed": run_cfg.get("seed"),
        "data_seed": OmegaConf.select(run_cfg, "data.seed", default=None),
        **test_summary(tested, dm),  # test_*, noise floor, ratio, baselines
        "n_test": len(dm.datasets["test"]),
        "trained_in": OmegaConf.select(run_cfg, "paths.output_dir", default=None),
        "run_dir": str(output_dir),
    }
    write_predictions(model, dm, output_dir / "predictions.csv")
    horizon = (cfg.get("forecast") or {}).get("horizon")
    if horizon:
        from rnnlab.forecast import run_forecast

        metrics.update(run_forecast(model, dm, horizon, output_dir))
    if cfg.get("figures"):
        _write_figures(model, dm, metrics["trained_in"], output_dir)
    from rnnlab.failures import write_atomic

    write_atomic(output_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    return metrics


def _write_figures(model: Any, dm: Any, trained_in: str | None, output_dir: Path) -> None:
    from rnnlab.figures import make_run_figures, read_history, save_figures

    history_path = Path(trained_in) / "history.csv" if trained_in else None
    history = read_history(history_path) if history_path and history_path.is_file() else None
    figures = make_run_figures(model, dm, history)
    save_figures(figures, output_dir / "plots")
    import matplotlib.pyplot as plt

    for figure in figures.values():
        plt.close(figure)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="eval")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the test MSE. Errors follow ``rnnlab.failures``."""
    from hydra.core.hydra_config import HydraConfig

    from rnnlab.failures import job_guard

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with job_guard(run_dir) as job:
        metrics = evaluate(cfg)
        shown = {k: metrics[k] for k in ("backbone", "ckpt_epoch", "test_mse", "test_mse_ratio")}
        print(json.dumps(shown), f"\nwritten to {run_dir}", flush=True)
        job.result = metrics["test_mse"]
    return job.result


if __name__ == "__main__":
    main()
