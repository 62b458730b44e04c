"""Same seed, same numbers (CPU); runs started together never share a directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

import pytest

from rnnlab.report.figures import FIGURE_NAMES
from rnnlab.run.config import compose_config
from rnnlab.run.train import train

ROOT = Path(__file__).resolve().parents[1]

# Dropout on: the random stream matters, not only the initial weights and batch order.
MODEL = [
    "backbone=lstm", "model.backbone.hidden_size=6", "model.backbone.num_layers=2",
    "model.backbone.dropout=0.3", "trainer.accelerator=cpu", "data.min_batches_per_epoch=1",
]  # fmt: skip
SMALL = [*MODEL, "trainer.max_epochs=2", "callbacks.progress_bar=null", "callbacks.figures=null"]
# What legitimately differs between two runs: wall time and where files went.
NOT_COMPARED = {"fit_seconds", "run_dir", "ckpt_path", "best_ckpt_path", "last_ckpt_path"}


def assert_same_numbers(first: dict, second: dict) -> None:
    """Everything in metrics.json but times and paths is bit-identical."""
    assert {k: v for k, v in first.items() if k not in NOT_COMPARED} == {
        k: v for k, v in second.items() if k not in NOT_COMPARED
    }


def test_the_same_seed_gives_identical_metrics(tmp_path):
    first = train(compose_config(tmp_path / "a", [*SMALL, "seed=7"]))
    second = train(compose_config(tmp_path / "b", [*SMALL, "seed=7"]))
    other = train(compose_config(tmp_path / "c", [*SMALL, "seed=8"]))
    assert_same_numbers(first, second)
    assert (tmp_path / "a" / "history.csv").read_text() == (
        tmp_path / "b" / "history.csv"
    ).read_text()
    assert other["test_mse"] != first["test_mse"]  # the seed does reach the numbers


@pytest.mark.slow
def test_train_py_twice_at_once_end_to_end(tmp_path):
    """``python train.py`` as a user types it (default callbacks: progress bar, figures),
    started twice at the same moment: both finish, each in its own run directory under
    ``paths.log_dir``, with the same numbers. The second run skips the figures, which must
    not change a number (and would only repeat the first run's)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(ROOT / "train.py"), *MODEL, "data.seq_len=30",
           "trainer.max_epochs=2", f"paths.log_dir={tmp_path / 'logs'}"]  # fmt: skip
    procs = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=PIPE, stderr=PIPE, text=True)
        for command in (cmd, [*cmd, "callbacks.figures=null"])
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        assert "test_mse" in out  # the summary table
    runs = sorted((tmp_path / "logs" / "train" / "runs").iterdir())
    assert len(runs) == 2  # stamped to the microsecond: no collision, nothing overwritten
    # nothing written outside the two run directories
    outside = [p for p in tmp_path.rglob("*") if not any(r == p or r in p.parents for r in runs)]
    assert sorted(str(p.relative_to(tmp_path)) for p in outside) == [
        "logs", "logs/train", "logs/train/runs",
    ]  # fmt: skip
    first, second = (json.loads((r / "metrics.json").read_text()) for r in runs)
    for run, metrics in zip(runs, (first, second), strict=True):
        assert metrics["backbone"] == "lstm" and metrics["epochs_trained"] == 2
        assert metrics["run_dir"] == str(run)
        assert (run / ".hydra" / "config.yaml").is_file()
        assert "data.seq_len=30" in (run / ".hydra" / "overrides.yaml").read_text()
    (drawn,) = (run for run in runs if (run / "plots").is_dir())  # the run with figures
    assert {png.stem for png in (drawn / "plots").glob("*.png")} == set(FIGURE_NAMES)
    assert_same_numbers(first, second)
