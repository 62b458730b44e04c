"""Whole processes: start-up, one ``python train.py`` at defaults, sweeps, and quality.

Each figure runs ``train.py`` exactly as a user types it, in a subprocess whose runs go to a
temporary log directory (``RNNLAB_LOG_DIR``), and reads the run directories it leaves.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT

BACKBONES = ("scratch", "rnn", "lstm", "gru")
QUALITY_SEEDS = (42, 1, 2, 3)


def _env(log_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["RNNLAB_LOG_DIR"] = str(log_dir)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "benchmarks"), *filter(None, [env.get("PYTHONPATH")])]
    )
    return env


def run_train(args: list[str], log_dir: Path, timeout: float = 3600) -> float:
    """Wall seconds of ``python train.py <args>``; raises with the output's tail if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT, env=_env(log_dir), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise RuntimeError(f"train.py {' '.join(args)} failed (exit {proc.returncode}):\n{tail}")
    return wall


def read_metrics(root: Path) -> list[dict]:
    """Every ``metrics.json`` under ``root``."""
    return [json.loads(p.read_text()) for p in sorted(root.rglob("metrics.json"))]


def _clock(stamp: Path) -> str:
    """The override that adds ``FirstStepClock`` writing to ``stamp``."""
    return f"+callbacks.first_step_clock={{_target_:first_step.FirstStepClock,path:'{stamp}'}}"


def measure_startup(log_dir: Path, repeats: int = 3, extra: list[str] | None = None) -> dict:
    """Seconds from launching ``python train.py`` to its first training step (median)."""
    times = []
    for i in range(repeats):
        stamp = log_dir / f"first_step_{i}.txt"
        start = time.time()
        run_train(["trainer.max_epochs=1", _clock(stamp), *(extra or [])], log_dir / "startup")
        times.append(float(stamp.read_text()) - start)
    return {"startup_seconds": statistics.median(times), "startup_runs": times}


def measure_train(log_dir: Path, extra: list[str] | None = None) -> dict:
    """One ``python train.py`` at defaults: wall seconds, start-up seconds and its metrics.

    The only addition to the defaults is ``FirstStepClock`` (one flag test per step).
    """
    stamp = log_dir / "first_step_train.txt"
    start = time.time()
    wall = run_train([_clock(stamp), *(extra or [])], log_dir / "train")
    metrics = read_metrics(log_dir / "train")
    return {"train_wall_seconds": wall, "train_fit_seconds": metrics[0]["fit_seconds"],
            "startup_seconds": float(stamp.read_text()) - start,
            "train_metrics": metrics[0]}  # fmt: skip


def measure_sweeps(
    log_dir: Path, seeds: str = "1,2,3", extra: list[str] | None = None, backbones=BACKBONES
) -> dict:
    """The backbone × seed sweep, once sequential and once with the joblib launcher."""
    out = {}
    for name, launcher in (("sequential", []), ("joblib", ["hydra/launcher=joblib"])):
        sweep_dir = log_dir / f"sweep_{name}"
        args = ["-m", f"backbone={','.join(backbones)}", f"seed={seeds}",
                f"hydra.sweep.dir={sweep_dir}", *launcher, *(extra or [])]  # fmt: skip
        out[f"sweep_wall_seconds_{name}"] = run_train(args, log_dir)
        out[f"sweep_metrics_{name}"] = read_metrics(sweep_dir)
        out[f"sweep_jobs_{name}"] = len(out[f"sweep_metrics_{name}"])
    return out


def measure_quality(
    log_dir: Path,
    seeds=QUALITY_SEEDS,
    extra: list[str] | None = None,
    reuse: list[dict] = (),
    launcher: str = "joblib",
) -> dict:
    """``test_mse / noise_floor_mse`` per backbone: each seed's value and their mean.

    Runs every (backbone, seed) at defaults as one joblib sweep, except the pairs already in
    ``reuse`` (metrics of runs at the same settings, e.g. the single default run).
    """
    have = {(m["backbone"], int(m["seed"])): m for m in reuse}
    todo_backbones = [b for b in BACKBONES if any((b, s) not in have for s in seeds)]
    sweep_dir = log_dir / "quality"
    wall = 0.0
    if todo_backbones:
        args = ["-m", f"backbone={','.join(todo_backbones)}",
                f"seed={','.join(str(s) for s in seeds)}", f"hydra/launcher={launcher}",
                f"hydra.sweep.dir={sweep_dir}", *(extra or [])]  # fmt: skip
        wall = run_train(args, log_dir)
    for m in read_metrics(sweep_dir):
        have.setdefault((m["backbone"], int(m["seed"])), m)
    quality = {}
    for backbone in BACKBONES:
        per_seed = {str(s): have[(backbone, s)]["test_mse_ratio"] for s in seeds}
        quality[backbone] = {"mean": statistics.fmean(per_seed.values()), "per_seed": per_seed}
    return {"quality": quality, "quality_sweep_wall_seconds": wall}
