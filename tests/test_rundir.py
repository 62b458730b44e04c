"""The run directory: its state read the same way everywhere, and earlier results kept safe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rnnlab import rundir
from rnnlab.report.compare import aggregate

ROOT = Path(__file__).resolve().parents[1]


def job(sweep: Path, name: str, **files: str) -> Path:
    path = sweep / name
    (path / rundir.HYDRA).mkdir(parents=True)
    (path / rundir.HYDRA / "overrides.yaml").write_text(yaml.safe_dump([name]))
    for file, text in files.items():
        (path / file.replace("__", ".")).write_text(text)
    return path


def test_states_of_finished_failed_broken_and_unfinished_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    job(sweep, "seed=1", metrics__json=json.dumps({"test_mse": 0.1}))
    job(sweep, "seed=2", error__txt="data.seq_len=0 is invalid\n\ntraceback\n")
    job(sweep, "seed=3", metrics__json='{"test_mse": 0.')  # cut off while written
    job(sweep, "seed=4")
    states = {p.name: rundir.read_state(p) for p in rundir.job_dirs(sweep)}
    assert {k: s.state for k, s in states.items()} == {
        "seed=1": "finished", "seed=2": "failed", "seed=3": "failed", "seed=4": "unfinished",
    }  # fmt: skip
    assert states["seed=1"].metrics == {"test_mse": 0.1}
    assert states["seed=2"].reason == "data.seq_len=0 is invalid"
    assert states["seed=3"].reason.startswith("unreadable metrics.json")
    assert states["seed=4"].reason == "no metrics.json and no error.txt"
    # The comparison table reads the very same states.
    assert {j.name: j.status for j in aggregate(sweep).jobs} == {
        k: s.state for k, s in states.items()
    }


def test_write_atomic_leaves_the_old_file_until_the_new_one_is_complete(tmp_path, monkeypatch):
    path = tmp_path / "history.csv"
    rundir.write_atomic(path, "epoch\n1\n")

    def broken_replace(self, target):
        raise OSError("killed")

    monkeypatch.setattr(Path, "replace", broken_replace)
    with pytest.raises(OSError):
        rundir.write_atomic(path, "epoch\n1\n2\n")
    assert path.read_text() == "epoch\n1\n"


def test_archive_moves_results_aside_and_never_overwrites(tmp_path):
    (tmp_path / rundir.METRICS).write_text("first")
    (tmp_path / "metrics.1.json").write_text("older")
    moved = rundir.archive_previous(tmp_path)
    assert [p.name for p in moved] == ["metrics.2.json"]
    assert (tmp_path / "metrics.1.json").read_text() == "older"
    assert (tmp_path / "metrics.2.json").read_text() == "first"
    assert not (tmp_path / rundir.METRICS).exists()


@pytest.mark.slow
def test_a_second_run_into_a_finished_run_dir_is_refused_and_changes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "train.py", f"hydra.run.dir={run_dir}", "trainer.max_epochs=1",
               "data.min_batches_per_epoch=1", "logger=csv", "callbacks.progress_bar=null",
               "callbacks.figures=null"]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=300)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    again = subprocess.run(
        [*command, "seed=7"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 2
    last = again.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: hydra.run.dir={run_dir} already holds a run (metrics.json")
    assert "resume=true" in last and "hydra.run.dir=<new dir>" in last
    after = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert after == before  # not even .hydra/ or the log was touched
