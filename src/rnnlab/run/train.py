"""Train, test and log one forecaster; the body of ``python train.py``.

    python train.py                                   # LSTM on the noisy sine wave
    python train.py backbone=gru data.seq_len=30 trainer.max_epochs=50
    python train.py -m backbone=scratch,rnn,lstm,gru seed=1,2,3

Every artefact of a run lands in its Hydra run directory: ``metrics.json``, checkpoints,
TensorBoard events, ``.hydra/`` (the composed config and the overrides).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from rnnlab import rundir
from rnnlab.run.config import CONF_DIR, backbone_name
from rnnlab.rundir import write_json

# Columns of TensorBoard's HPARAMS tab, logged once with the final values.
HP_METRICS = ("test_mse", "test_mse_ratio", "test_mae", "val_mse", "best_val_mse", "epochs_trained")


def _ckpt_epoch(path: str) -> int | None:
    if not path or not Path(path).is_file():
        return None
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"]) + 1


def print_config_tree(cfg: DictConfig, save_to: Path | None = None) -> None:
    """Print the composed config as a tree (and save the text next to the run)."""
    import rich
    import rich.syntax
    import rich.tree

    tree = rich.tree.Tree("config", guide_style="dim")
    for key, value in cfg.items():
        body = (
            OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        )
        tree.add(str(key)).add(rich.syntax.Syntax(body, "yaml", theme="ansi_dark"))
    rich.print(tree)
    if save_to is not None:
        save_to.write_text(OmegaConf.to_yaml(cfg, resolve=True))


def print_summary(metrics: dict[str, Any]) -> None:
    """A short table of the run's headline numbers."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{metrics['backbone']} (seed {metrics['seed']})", show_header=False)
    rows = ["test_mse", "test_mse_ratio", "test_rmse", "test_mae", "test_r2", "noise_floor_mse",
            "naive_last_mse", "linear_ar_mse", "forecast_mse_step1", "forecast_mse_last_step",
            "val_mse", "best_val_mse", "epochs_trained", "best_epoch", "test_ckpt",
            "fit_seconds", "n_params"]  # fmt: skip
    if metrics.get("task", "forecast") == "forecast":  # its further baselines and table keys
        keys = ("seasonal_naive_mse", *metrics.get("table", []), "worse_than_baselines")
        rows[8:8] = [k for k in dict.fromkeys(keys) if k in metrics and k not in rows]
    else:  # the task's own metric and baselines
        name = metrics["metric"].removeprefix("test_")
        rows = [metrics["metric"], *metrics.get("table", []), f"val_{name}", "best_val_loss",
                *rows[-5:]]  # fmt: skip
        for baseline, value in metrics.get("baselines", {}).items():
            rows.insert(1, f"baselines.{baseline}")
            metrics = {**metrics, f"baselines.{baseline}": value}
    for key in rows:
        value = metrics.get(key)
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    Console().print(table)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test the checkpoint ``cfg.test_ckpt`` names, write the run's artefacts and
    ``metrics.json`` (last: its presence means the run finished); return the metrics."""
    import lightning as L

    from rnnlab.report.summary import test_summary, validation_summary
    from rnnlab.run.artifacts import tidy_lightning_logging, write_artifacts
    from rnnlab.run.build import build_run
    from rnnlab.run.checkpoints import resume_checkpoint
    from rnnlab.run.trackers import log_run_files

    tidy_lightning_logging()
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    run = build_run(cfg)  # writes nothing yet; fills in what the data decides (input sizes...)
    # Compared after the build, so that settings the data fills in are compared as filled in.
    ckpt_path = resume_checkpoint(cfg)  # ckpt_path=PATH, or last.ckpt of this dir (resume=true)
    trainer, model, dm = run.trainer, run.model, run.datamodule

    start = time.perf_counter()
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    fit_seconds = time.perf_counter() - start
    fit_metrics = {k: v.item() for k, v in trainer.callback_metrics.items()}

    best_cb = run.callbacks.get("model_checkpoint")
    last_cb = run.callbacks.get("last_checkpoint")
    best_path = best_cb.best_model_path if best_cb else ""
    last_path = last_cb.best_model_path if last_cb else ""
    # Without last_checkpoint, `last` tests the weights in memory: the same final weights.
    test_path = best_path if cfg.test_ckpt == "best" else last_path
    test_metrics = trainer.test(model, datamodule=dm, ckpt_path=test_path or None, verbose=False)[0]

    best_score = best_cb.best_model_score if best_cb else None
    best_loss = best_score.item() if best_score is not None else None
    summary = test_summary(model, test_metrics, dm)  # task, metric, test_*, baselines
    metrics: dict[str, Any] = {
        "backbone": backbone_name(cfg),
        "seed": int(cfg.seed),
        "data_seed": cfg.data.get("seed"),
        "test_ckpt": str(cfg.test_ckpt),
        **summary,
        # val_<metric> (val_mse...) of the tested weights, and of the best checkpoint
        **validation_summary(model, summary, fit_metrics, best_loss, dm, cfg.test_ckpt),
        "epochs_trained": int(trainer.current_epoch),
        "best_epoch": _ckpt_epoch(best_path),
        "stopped_early": bool(trainer.should_stop and trainer.current_epoch < trainer.max_epochs),
        "n_params": model.n_params,
        "hidden_size": OmegaConf.select(cfg, "model.backbone.hidden_size", default=None),
        "param_budget": OmegaConf.select(cfg, "model.param_budget", default=None),
        "fit_seconds": round(fit_seconds, 3),
        "ckpt_path": test_path or None,
        "best_ckpt_path": best_path or None,
        "last_ckpt_path": last_path or None,
        "run_dir": str(output_dir),
    }
    if trainer.is_global_zero:
        metrics.update(write_artifacts(model, dm, cfg, output_dir))
    _log_hparams(run.loggers, cfg, metrics)
    if trainer.is_global_zero:
        write_json(output_dir / rundir.METRICS, metrics)
        log_run_files(run.loggers, metrics, output_dir)  # figures, checkpoints: MLflow, W&B
    return metrics


def _log_hparams(loggers: list, cfg: DictConfig, metrics: dict[str, Any]) -> None:
    """The run's settings, paired with its final numbers where the logger can (TensorBoard's
    HPARAMS tab)."""
    from lightning.pytorch.loggers import TensorBoardLogger

    # The task's own metric and table keys too (bools such as "solved" as 0/1).
    name = str(metrics.get("metric", "test_mse")).removeprefix("test_")
    keys = dict.fromkeys([*HP_METRICS, metrics.get("metric"), *metrics.get("table", []),
                          f"val_{name}"])  # fmt: skip
    hp_metrics = {
        f"hp/{k}": float(v) if isinstance(v, bool) else v
        for k in keys
        if isinstance(v := metrics.get(k), (int, float))
    }
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(_flat_hparams(cfg), hp_metrics)
        else:
            logger.log_hyperparams(_flat_hparams(cfg))


def _flat_hparams(cfg: DictConfig) -> dict[str, Any]:
    """The run's settings as flat ``a.b.c`` keys with plain values, for the HPARAMS tab."""
    flat: dict[str, Any] = {"backbone": backbone_name(cfg), "seed": cfg.seed}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if not str(k).startswith("_"):
                    walk(v, f"{prefix}{k}.")
        elif isinstance(node, (int, float, str, bool)):
            flat[prefix[:-1]] = node

    resolved = OmegaConf.to_container(cfg, resolve=True)
    for group in ("data", "model", "trainer"):
        walk(resolved.get(group), f"{group}.")
    return flat


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns ``cfg.optimized_metric`` for sweepers.

    Settings are validated before any work. A failure leaves ``error.txt`` in the run dir;
    a bad setting ends a single run with one ``error:`` line (exit 2), and a failed job of
    a multirun lets the others go on (see ``rnnlab.run.failures`` for exit statuses).
    """
    from hydra.core.hydra_config import HydraConfig

    from rnnlab.run.failures import job_guard
    from rnnlab.run.validation import validate_config

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with job_guard(run_dir) as job:
        validate_config(cfg)
        # Under trainer=ddp* every rank runs main(); only rank 0 prints and saves the tree.
        from lightning.pytorch.utilities import rank_zero_only

        if rank_zero_only.rank == 0:
            print_config_tree(cfg, run_dir / "config_tree.yaml")
        metrics = train(cfg)
        if rank_zero_only.rank == 0:
            print_summary(metrics)
        key = cfg.get("optimized_metric")
        job.result = metrics.get(key) if key else None
    return job.result  # None for a failed job (job_guard): Optuna records a failed trial


if __name__ == "__main__":
    main()
