"""Train, test and report one run; the body of ``python train.py``.

    python train.py                                   # LSTM on the noisy sine wave
    python train.py backbone=gru data.seq_len=30 trainer.max_steps=4000
    python train.py -m backbone=scratch,rnn,lstm,gru seed=1,2,3

Every artefact of a run lands in its Hydra run directory: ``metrics.json``, checkpoints,
TensorBoard events, ``.hydra/`` (the composed config and the overrides).
"""

from __future__ import annotations

import logging
import resource
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import rich
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.tree import Tree

from rnnlab import rundir
from rnnlab.models.compute import training_flops
from rnnlab.report.task import TaskReport, console_rows, summarize_test
from rnnlab.run.build import Run, build_report, build_run
from rnnlab.run.checkpoints import resume_checkpoint
from rnnlab.run.config import CONF_DIR, backbone_name, flat_settings
from rnnlab.run.failures import job_guard
from rnnlab.run.trackers import log_run_files
from rnnlab.run.validation import validate_config
from rnnlab.rundir import write_json

# Columns of TensorBoard's HPARAMS tab beside the task's metric and table keys.
HP_METRICS = ("epochs_trained",)
# Lightning calls the `dataloader_iter` form of training_step experimental and warns that
# hooks then see the index of the step's last batch: the shared loop is built on both
# (rnnlab.models.loop; tested: the same weights for every steps_per_execution).
LOOP_NOTES = ("You are using the `dataloader_iter` step flavor", "Found `dataloader_iter` argument")


@contextmanager
def quiet_loop_notes() -> Iterator[None]:
    """Lightning's notes on the ``dataloader_iter`` step flavour left out (``LOOP_NOTES``)."""
    with warnings.catch_warnings():
        for note in LOOP_NOTES:
            warnings.filterwarnings("ignore", message=note)
        yield


def step_cost(model: Any, dm: Any) -> dict[str, int]:
    """FLOPs per sequence of a training step (``rnnlab.models.compute``), measured once on a
    training batch of the run; empty for a datamodule that cannot give one."""
    try:
        batch = dm.train_examples(dm.batch_size)
    except (AttributeError, NotImplementedError):
        return {}
    flops = training_flops(model, batch)
    return {"flops_per_sequence": flops["total"], "flops_per_sequence_matmul": flops["matmul"]}


def peak_memory_mb(model: Any) -> float:
    """The most memory the run held: the accelerator's allocations on a GPU, else the peak
    resident size of the whole process (Python and torch included)."""
    if model.device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(model.device) / 2**20, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def _ckpt_epoch(path: str) -> int | None:
    """Epochs of training in a checkpoint (0: the weights training started from)."""
    if not path or not Path(path).is_file():
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return 0 if ckpt["global_step"] == 0 else int(ckpt["epoch"]) + 1


def print_config_tree(cfg: DictConfig, save_to: Path | None = None) -> None:
    """Print the composed config as a tree (and save the text next to the run)."""
    tree = Tree("config", guide_style="dim")
    for key, value in cfg.items():
        body = (
            OmegaConf.to_yaml(value, resolve=True) if isinstance(value, DictConfig) else str(value)
        )
        tree.add(str(key)).add(Syntax(body, "yaml", theme="ansi_dark"))
    rich.print(tree)
    if save_to is not None:
        save_to.write_text(OmegaConf.to_yaml(cfg, resolve=True))


def print_summary(report: TaskReport, metrics: dict[str, Any]) -> None:
    """A short table of the run's headline numbers (the task report chooses them)."""
    table = Table(title=f"{metrics['backbone']} (seed {metrics['seed']})", show_header=False)
    for key, value in console_rows(report, metrics):
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    Console().print(table)


def tidy_lightning_logging() -> None:
    """One line per message, in the run's log too: ``import lightning`` gives its loggers
    console handlers of their own, and stops them from passing messages on when it is
    imported before Hydra set up logging (as the entry points import it); Hydra's root
    handlers print and write ``train.log``. Also drop the advert for a hosted logging
    service that Lightning logs on every fit."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(
        lambda record: "Tip: For seamless" not in record.getMessage()
    )


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit, test the checkpoint ``cfg.test_ckpt`` names, write the run's artefacts and
    ``metrics.json`` (last: its presence means the run finished); return the metrics."""
    return complete_run(prepare_run(cfg), cfg)


def prepare_run(cfg: DictConfig) -> Run:
    """The run's objects, seeded and built (nothing is written yet; what the data decides,
    such as input sizes, is filled into ``cfg``)."""
    tidy_lightning_logging()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    return build_run(cfg)


def complete_run(run: Run, cfg: DictConfig) -> dict[str, Any]:
    """Fit and test the objects ``prepare_run`` built from ``cfg`` and report them (see
    ``train``)."""
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # Compared after the build, so that settings the data fills in are compared as filled in.
    ckpt_path = resume_checkpoint(cfg)  # ckpt_path=PATH, or last.ckpt of this dir (resume=true)
    trainer, model, dm, report = run.trainer, run.model, run.datamodule, run.report

    cost = step_cost(model, dm)
    start = time.perf_counter()
    with quiet_loop_notes():
        trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    fit_seconds = time.perf_counter() - start
    items_trained = model.items_trained  # before testing loads a checkpoint's count

    best_cb = run.callbacks.get("model_checkpoint")
    last_cb = run.callbacks.get("last_checkpoint")
    best_path = best_cb.best_model_path if best_cb else ""
    last_path = last_cb.best_model_path if last_cb else ""
    # Without last_checkpoint, `last` tests the weights in memory: the same final weights.
    test_path = best_path if cfg.test_ckpt == "best" else last_path
    with quiet_loop_notes():
        tested = trainer.test(model, datamodule=dm, ckpt_path=test_path or None, verbose=False)

    # The tested weights are in the model now: their validation numbers, whichever they are.
    scores = model.score(dm.val_dataloader()) if dm.val_dataloader() else {}
    best_score = best_cb.best_model_score if best_cb else None
    best_loss = best_score.item() if best_score is not None else None
    summary = summarize_test(report, model, tested[0], dm)  # task, metric, test_*, baselines
    metrics: dict[str, Any] = {
        "backbone": backbone_name(cfg),
        "seed": int(cfg.seed),
        "data_seed": cfg.data.get("seed"),
        "test_ckpt": str(cfg.test_ckpt),
        **summary,
        # val_<metric> (val_mse...) of the tested weights, and the best validation loss
        **report.validation(model, summary, scores, best_loss, dm),
        "epochs_trained": int(trainer.current_epoch),
        "best_epoch": _ckpt_epoch(best_path),
        "stopped_early": bool(trainer.should_stop and trainer.current_epoch < trainer.max_epochs),
        "n_params": model.n_params,
        "hidden_size": OmegaConf.select(cfg, "model.backbone.hidden_size", default=None),
        "param_budget": OmegaConf.select(cfg, "model.param_budget", default=None),
        "fit_seconds": round(fit_seconds, 3),
        "peak_memory_mb": peak_memory_mb(model),
        **cost,
        "train_flops": cost["flops_per_sequence"] * items_trained if cost else None,
        "ckpt_path": test_path or None,
        "best_ckpt_path": best_path or None,
        "last_ckpt_path": last_path or None,
        "run_dir": str(output_dir),
    }
    if trainer.is_global_zero:
        metrics.update(report.write(model, dm, output_dir))
    _log_hparams(run.loggers, cfg, metrics)
    if trainer.is_global_zero:
        write_json(output_dir / rundir.METRICS, metrics)
        log_run_files(run.loggers, metrics, output_dir)  # figures, checkpoints: MLflow, W&B
    return metrics


def _log_hparams(loggers: list, cfg: DictConfig, metrics: dict[str, Any]) -> None:
    """The run's settings, paired with its final numbers where the logger can (TensorBoard's
    HPARAMS tab): the task's metric, its table keys and ``val_<metric>`` (true/false as 0/1)."""
    name = str(metrics["metric"]).removeprefix("test_")
    keys = dict.fromkeys([metrics["metric"], *metrics.get("table", []), f"val_{name}",
                          *HP_METRICS])  # fmt: skip
    hp_metrics = {
        f"hp/{k}": float(v) if isinstance(v, bool) else v
        for k in keys
        if isinstance(v := metrics.get(k), (int, float))
    }
    settings = {"backbone": backbone_name(cfg), "seed": cfg.seed, **flat_settings(cfg)}
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(settings, hp_metrics)
        else:
            logger.log_hyperparams(settings)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns ``cfg.optimized_metric`` for sweepers.

    Settings are validated before any work. A failure leaves ``error.txt`` in the run dir;
    a bad setting ends a single run with one ``error:`` line (exit 2), and a failed job of
    a multirun lets the others go on (see ``rnnlab.run.failures`` for exit statuses).
    """
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with job_guard(run_dir) as job:
        validate_config(cfg)
        # Under trainer=ddp* every rank runs main(); only rank 0 prints and saves the tree.
        if rank_zero_only.rank == 0:
            print_config_tree(cfg, run_dir / "config_tree.yaml")
        metrics = train(cfg)
        if rank_zero_only.rank == 0:
            print_summary(build_report(cfg), metrics)
        key = cfg.get("optimized_metric")
        job.result = metrics.get(key) if key else None
    return job.result  # None for a failed job (job_guard): Optuna records a failed trial


if __name__ == "__main__":
    main()
