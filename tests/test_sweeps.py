"""Whole multiruns through ``train.py -m``: launchers, Optuna, failures, TensorBoard's HPARAMS.

Each sweep is a real subprocess with tiny models and 2 epochs; they are the slow tests, so
there are four and each checks all it can: the basic launcher (the table, the chart and
TensorBoard's HPARAMS), joblib (the same numbers), Optuna (a failed trial reported while
the others are aggregated, exit status 1) and submitit_local.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.slow

# Per-run figures are skipped: they cost more than these 2-epoch trainings.
SMALL = [
    "trainer.max_epochs=2",
    "data.min_batches_per_epoch=1",
    "trainer.accelerator=cpu",
    "callbacks.progress_bar=null",
    "callbacks.figures=null",
    "model.backbone.hidden_size=4",
]
GRID = ["backbone=rnn,gru", "seed=1,2"]
NO_CHART = "hydra.callbacks.sweep_report.plot=false"  # the basic sweep's test checks the chart
# What loky gives each of 2 parallel jobs (CPUs // n_jobs): the basic launcher's run uses the
# same number, so the two launchers compute with the same thread count.
THREADS_PER_JOB = max(1, joblib.cpu_count() // 2)


def run_sweep(
    sweep_dir: Path, *overrides: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python train.py -m ...`` writing into ``sweep_dir``; stdout and stderr merged."""
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "-m", *overrides, f"hydra.sweep.dir={sweep_dir}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        cwd=sweep_dir.parent,
        env=env or os.environ.copy(),
    )


def env_with(**values: str | None) -> dict[str, str]:
    env = os.environ.copy()
    for key, value in values.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def table(sweep_dir: Path, kind: str = "model") -> dict[str, dict[str, str]]:
    with (sweep_dir / "comparison.csv").open() as f:
        return {r["model"]: r for r in csv.DictReader(f) if r["kind"] == kind}


def job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p.parent for p in sweep_dir.glob("*/.hydra"))


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """2 backbones x 2 seeds through Hydra's basic (sequential) launcher."""
    sweep_dir = tmp_path_factory.mktemp("basic") / "sweep"
    result = run_sweep(sweep_dir, *SMALL, *GRID, env=env_with(OMP_NUM_THREADS=str(THREADS_PER_JOB)))
    assert result.returncode == 0, result.stdout[-3000:]
    return result, sweep_dir


def test_a_sweep_ends_with_the_comparison_table(basic_sweep):
    result, sweep_dir = basic_sweep
    jobs = job_dirs(sweep_dir)
    assert len(jobs) == 4 and all((j / "metrics.json").is_file() for j in jobs)
    assert all(j.name.startswith("backbone=") and ",seed=" in j.name for j in jobs)
    rows = table(sweep_dir)
    assert list(rows) == ["rnn", "gru"]  # launch order
    assert all(r["n_seeds"] == "2" and r["n_runs"] == "2" for r in rows.values())
    assert sum(r["best"] == "1" for r in rows.values()) == 1
    mse = [
        json.loads((j / "metrics.json").read_text())["test_mse"] for j in jobs if "gru" in j.name
    ]
    assert float(rows["gru"]["test_mse_mean"]) == pytest.approx(sum(mse) / 2)
    # printed by the Hydra callback at the end of the multirun, and written next to the jobs
    assert "4 of 4 jobs finished" in result.stdout and "| ★ |" in result.stdout
    assert (sweep_dir / "comparison.md").read_text() in result.stdout
    assert (sweep_dir / "comparison.png").stat().st_size > 10_000


def test_joblib_launcher_gives_the_same_numbers(basic_sweep, tmp_path):
    _, basic_dir = basic_sweep
    sweep_dir = tmp_path / "sweep"
    result = run_sweep(
        sweep_dir,
        *SMALL,
        *GRID,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        # DataLoader workers inside joblib's workers used to die ("Please call
        # iter(combined_loader) first"); batches are the same with or without them.
        "data.num_workers=1",
        NO_CHART,
        env=env_with(OMP_NUM_THREADS=None),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout
    sequential, parallel = table(basic_dir), table(sweep_dir)
    assert list(parallel) == ["rnn", "gru"]
    for model, row in sequential.items():
        for key in (
            "test_mse_mean",
            "test_mse_std",
            "test_mae_mean",
            "val_mse_mean",
            "epochs_trained_mean",
            "n_params_mean",
            "best",
        ):
            assert parallel[model][key] == row[key], (model, key)
    # no oversubscription: each of the 2 parallel jobs got its share of the CPUs
    for job in job_dirs(sweep_dir):
        assert f"torch threads in this job: {THREADS_PER_JOB}\n" in (job / "train.log").read_text()


def test_tensorboard_sees_every_run_by_name_with_hparams(basic_sweep):
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    _, sweep_dir = basic_sweep
    mux = EventMultiplexer().AddRunsFromDirectory(str(sweep_dir))
    mux.Reload()
    names = {j.name for j in job_dirs(sweep_dir)}
    assert set(mux.Runs()) == names  # `tensorboard --logdir <sweep dir>` names runs by overrides
    hparams = mux.PluginRunToTagToContent("hparams")
    assert set(hparams) == names
    for run, tags in hparams.items():
        data = {tag: plugin_data_pb2.HParamsPluginData.FromString(c) for tag, c in tags.items()}
        experiment = data["_hparams_/experiment"].experiment
        assert {"hp/test_mse", "hp/val_mse", "hp/test_mse_ratio"} <= {
            m.name.tag for m in experiment.metric_infos
        }
        values = data["_hparams_/session_start_info"].session_start_info.hparams
        assert f"backbone={values['backbone'].string_value}," in run
        assert f"seed={values['seed'].number_value:.0f}" in run
        assert values["model.backbone.hidden_size"].number_value == 4
        metrics = json.loads((sweep_dir / run / "metrics.json").read_text())
        for key in ("test_mse", "val_mse"):
            event = mux.Tensors(run, f"hp/{key}")[-1]
            logged = tensor_util.make_ndarray(event.tensor_proto).item()
            assert logged == pytest.approx(metrics[key], rel=1e-6)


def test_optuna_search_reports_a_failed_trial_and_aggregates_the_others(tmp_path):
    sweep_dir = tmp_path / "sweep"
    small = [o for o in SMALL if "hidden_size" not in o]  # hidden_size is searched
    result = run_sweep(
        sweep_dir,
        *small,
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=3",
        # data.seq_len=5000 is longer than the series: trials drawing it fail at once. With
        # this sampler seed the three trials draw 20, 5000, 20.
        "data.seq_len=choice(20,5000)",
        "hydra.sweeper.sampler.seed=7",
        NO_CHART,
        env=env_with(OMP_NUM_THREADS="1"),
    )
    assert result.returncode == 1, result.stdout[-3000:]  # 1: a job failed (rnnlab.run.failures)
    trials = [sweep_dir / f"trial_{n}" for n in range(3)]
    finished = [t for t in trials if (t / "metrics.json").is_file()]
    (failed,) = [t for t in trials if (t / "error.txt").is_file()]
    assert len(finished) == 2
    assert "data.seq_len=5000" in (failed / ".hydra" / "overrides.yaml").read_text()
    saved = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    tuned = {
        "backbone",
        "model.optimizer.lr",
        "model.backbone.hidden_size",
        "model.backbone.num_layers",
        "model.backbone.dropout",
    }
    assert set(saved["best_params"]) == tuned | {"data.seq_len"}
    metrics = [json.loads((t / "metrics.json").read_text()) for t in finished]
    # Optuna minimised the validation MSE, never the test MSE
    best = min(range(2), key=lambda i: metrics[i]["val_mse"])
    assert saved["best_value"] == pytest.approx(metrics[best]["val_mse"])
    best_overrides = yaml.safe_load((finished[best] / ".hydra" / "overrides.yaml").read_text())
    for key, value in saved["best_params"].items():
        assert f"{key}={value}" in best_overrides
    assert "Best parameters:" in result.stdout
    # the failed trial is reported, the finished ones are compared, and all is printed at
    # the end of the multirun (before the exit status 1)
    assert not (failed / "metrics.json").exists()
    md = (sweep_dir / "comparison.md").read_text()
    assert "Best trial of the search" in md and "2 of 3 jobs finished" in md
    assert f"- `{failed.name}`: failed: data.seq_len=5000" in md
    assert md in result.stdout
    rows = table(sweep_dir)
    assert len(rows) == 2 and all(r["n_runs"] == "1" for r in rows.values())


def test_submitit_local_sweep_of_two_jobs(tmp_path):
    sweep_dir = tmp_path / "sweep"
    launcher = [
        "hydra/launcher=submitit_local",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.timeout_min=5",
    ]
    result = run_sweep(
        sweep_dir,
        *SMALL,
        "backbone=gru",
        "seed=1,2",
        *launcher,
        NO_CHART,
        env=env_with(OMP_NUM_THREADS=None),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert (sweep_dir / ".submitit").is_dir()
    jobs = job_dirs(sweep_dir)
    assert len(jobs) == 2 and all((j / "metrics.json").is_file() for j in jobs)
    for job in jobs:  # torch was capped to the job's cpus_per_task
        assert "torch threads in this job: 1\n" in (job / "train.log").read_text()
    (row,) = table(sweep_dir).values()
    assert row["n_seeds"] == "2"
