"""Hand a finished run's files and final numbers to the experiment trackers (MLflow, W&B).

    python train.py logger=mlflow     # SQLite store under logs/mlflow (conf/logger/mlflow.yaml)
    python train.py logger=wandb      # offline W&B run under <run dir>/wandb

Lightning's loggers already record the params (train.py's flat config) and the per-epoch
metrics while the run goes. What only exists once the run is over is added here, by
``log_run_files``, which ``train`` calls once, on rank 0, after ``metrics.json`` is written:
the final numbers of ``metrics.json``, the figures ``plots/*.png``, the checkpoints, and the
run's record (``metrics.json``, ``.hydra/``); MLflow also gets a forecaster's tested weights as
a pyfunc model, ``runs:/<run id>/model`` (``rnnlab.run.pyfunc``). Other loggers (TensorBoard,
CSV) are left alone: they have the figures already (``RunFigures``) and take no files.

``MlflowStore`` is a Hydra callback that ``conf/logger/mlflow.yaml`` adds: it makes the
store and the experiment before the jobs of a parallel sweep race to make them.
Hydra instantiates it for single runs too, so this module imports nothing heavy.
"""

from __future__ import annotations

import math
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from rnnlab import rundir

MLFLOW_LOGGER = "lightning.pytorch.loggers.MLFlowLogger"
WANDB_LOGGER = "lightning.pytorch.loggers.WandbLogger"
# Loggers whose packages come with an optional extra: _target_ -> (extra, modules it brings).
# tracker_problem stops a run that lacks them (before any work), naming the extra.
EXTRAS = {
    MLFLOW_LOGGER: ("mlflow", ("mlflow", "sqlalchemy", "alembic")),
    WANDB_LOGGER: ("wandb", ("wandb",)),
}
SERVER_SCHEMES = ("http://", "https://", "databricks")  # MLflow tracking servers


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    return find_spec(module) is not None


def tracker_problem(name: str, node: Any) -> str | None:
    """None when the logger ``logger.<name>`` can work; else one line saying why not: its
    package is missing (naming the extra), or MLflow artifacts that would stay on this
    machine while the runs go to a tracking server."""
    target = node.get("_target_") if OmegaConf.is_dict(node) else None
    extra, modules = EXTRAS.get(target, (None, ()))
    for module in modules:
        if not installed(module):
            return f'logger={name} needs the {module} package: pip install -e ".[{extra}]"'
    uri, location = node.get("tracking_uri"), node.get("artifact_location")
    here = bool(location) and ("://" not in str(location) or str(location).startswith("file:"))
    if extra == "mlflow" and str(uri).startswith(SERVER_SCHEMES) and here:
        return (
            f"logger.{name}.artifact_location={location!r} is invalid with "
            f"logger.{name}.tracking_uri={uri!r}: files in a folder here stay out of "
            f"the server's reach; add logger.{name}.artifact_location=null (the server "
            f"keeps them) or give a store it reads (e.g. s3://bucket/path)"
        )
    return None


# Numbers of metrics.json that are settings, not results (the tracker has them as params).
NOT_RESULTS = ("seed", "data_seed")


def final_numbers(metrics: dict[str, Any]) -> dict[str, float]:
    """The results of ``metrics.json`` a tracker can chart: finite ints and floats, with
    ``{"baselines": {"naive_last": x}}`` flattened to ``baselines/naive_last``."""
    numbers: dict[str, float] = {}
    for key, value in metrics.items():
        if key in NOT_RESULTS:
            continue
        if isinstance(value, dict):
            numbers.update(final_numbers({f"{key}/{k}": v for k, v in value.items()}))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers[key] = float(value)
    return {key: value for key, value in numbers.items() if math.isfinite(value)}


def run_files(metrics: dict[str, Any], run_dir: Path) -> dict[str, list[Path]]:
    """What a tracker keeps of the run, by its folder in the run dir (and in the tracker)."""
    checkpoints = {metrics.get(k) for k in ("best_ckpt_path", "last_ckpt_path")} - {None}
    files = {
        rundir.PLOTS: sorted((run_dir / rundir.PLOTS).glob("*.png")),
        rundir.CHECKPOINTS: sorted(Path(p) for p in checkpoints),
        rundir.HYDRA: sorted((run_dir / rundir.HYDRA).glob("*.yaml")),
        "": [run_dir / rundir.METRICS],
    }
    return {folder: [p for p in paths if p.is_file()] for folder, paths in files.items()}


def log_run_files(loggers: list, metrics: dict[str, Any], run_dir: str | Path) -> None:
    """Add the final numbers and the run's files to each logger that keeps files."""
    from lightning.pytorch.loggers import MLFlowLogger, WandbLogger

    run_dir = Path(run_dir)
    for logger in loggers:
        if isinstance(logger, MLFlowLogger):
            _to_mlflow(logger, metrics, run_dir)
        elif isinstance(logger, WandbLogger):
            _to_wandb(logger, metrics, run_dir)


def _to_mlflow(logger: Any, metrics: dict[str, Any], run_dir: Path) -> None:
    # Lightning has ended the MLflow run after testing; its client still adds to a
    # finished run, and the run keeps its FINISHED status.
    logger.log_metrics(final_numbers(metrics))
    client, run_id = logger.experiment, logger.run_id
    for folder, paths in run_files(metrics, run_dir).items():
        for path in paths:
            client.log_artifact(run_id, str(path), folder or None)
    if metrics.get("ckpt_path"):  # the tested weights, as a model mlflow.pyfunc loads
        from rnnlab.run.pyfunc import log_pyfunc

        log_pyfunc(client, run_id, metrics["ckpt_path"])


def _to_wandb(logger: Any, metrics: dict[str, Any], run_dir: Path) -> None:
    import wandb

    run = logger.experiment
    run.summary.update(final_numbers(metrics))
    files = run_files(metrics, run_dir)
    if files[rundir.PLOTS]:
        run.log({f"figures/{p.stem}": wandb.Image(str(p)) for p in files[rundir.PLOTS]})
    artifact = wandb.Artifact(f"run-{run.id}", type="run-files")
    for folder, paths in files.items():
        for path in paths:
            artifact.add_file(str(path), name=f"{folder}/{path.name}" if folder else path.name)
    run.log_artifact(artifact)
    # wandb keeps one run per process and Lightning reuses it: a second train() in this
    # process (a notebook, a test, a threaded sweep) must start its own.
    run.finish()


class MlflowStore(Callback):
    """Makes the MLflow store and each job's experiment before a parallel sweep's jobs do.

    Jobs that start together on a new SQLite store all create its tables, and on a new
    experiment all create it; all but one then fail (``table ... already exists``). The
    tables are made once, in the process that launches the jobs (``on_multirun_start``);
    each job then makes its experiment or takes the one another job made a moment earlier
    (``on_job_start``). Without the mlflow package it does nothing: each job's config check
    names the extra.
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from mlflow.tracking import MlflowClient

        for node in _mlflow_nodes(config):
            uri = str(node.tracking_uri)
            if uri.startswith("sqlite:"):
                MlflowClient(uri).search_experiments(max_results=1)  # creates the tables

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            return  # a single run has nothing to race with
        for node in _mlflow_nodes(config):
            experiment_id(
                str(node.tracking_uri), str(node.experiment_name), node.get("artifact_location")
            )


def _mlflow_nodes(config: DictConfig) -> list[DictConfig]:
    if not installed("mlflow"):
        return []
    loggers = OmegaConf.select(config, "logger") or {}
    return [
        n for n in loggers.values() if OmegaConf.is_dict(n) and n.get("_target_") == MLFLOW_LOGGER
    ]


def experiment_id(tracking_uri: str, name: str, artifact_location: str | None = None) -> str:
    """The id of experiment ``name``, made if it does not exist, by this process or another."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:
        found = client.get_experiment_by_name(name)  # another job made it in between
        if found is None:
            raise
        return found.experiment_id
