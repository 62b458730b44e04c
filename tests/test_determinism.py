"""Same seed, same numbers (CPU); runs started together never share a directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rnnlab.run.train import train

from .conftest import ROOT, compose_config

# Dropout on: the random stream matters, not only the initial weights and batch order.
SMALL = [
    "backbone=lstm", "model.backbone.hidden_size=6", "model.backbone.num_layers=2",
    "model.backbone.dropout=0.3", "trainer.max_epochs=2", "trainer.accelerator=cpu",
    "callbacks.progress_bar=null", "callbacks.figures=null",
]  # fmt: skip
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
def test_two_runs_started_together_get_their_own_dirs_and_the_same_numbers(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(ROOT / "train.py"), *SMALL, "trainer.max_epochs=1",
           f"paths.log_dir={tmp_path / 'logs'}"]  # fmt: skip
    procs = [
        subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    runs = sorted((tmp_path / "logs" / "train" / "runs").iterdir())
    assert len(runs) == 2  # stamped to the microsecond: no collision, nothing overwritten
    first, second = (json.loads((r / "metrics.json").read_text()) for r in runs)
    assert first["run_dir"] != second["run_dir"]
    assert_same_numbers(first, second)
