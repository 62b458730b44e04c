"""A run directory: the names of what it holds, writing them safely, and what state it is in.

Every artefact a run leaves is named here once, so the code that writes it (``rnnlab.run``)
and the code that reads it (``rnnlab.report``) cannot drift apart::

    <run dir>/metrics.json      the finished run's numbers (its presence means "finished")
    <run dir>/error.txt         first line: why the run failed; then the traceback
    <run dir>/history.csv       per-epoch losses and learning rate
    <run dir>/predictions.csv   test targets and predictions
    <run dir>/forecast.csv      multi-step forecast errors per step
    <run dir>/plots/*.png       the run's figures
    <run dir>/checkpoints/      best.ckpt and last.ckpt
    <run dir>/.hydra/           Hydra's record of the composed config and the overrides

A leaf module: it imports nothing of rnnlab, so both wings use it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS = "metrics.json"
ERROR = "error.txt"
HISTORY = "history.csv"
PREDICTIONS = "predictions.csv"
FORECAST = "forecast.csv"
PLOTS = "plots"
CHECKPOINTS = "checkpoints"
LAST_CKPT = f"{CHECKPOINTS}/last.ckpt"
BEST_CKPT = f"{CHECKPOINTS}/best.ckpt"
HYDRA = ".hydra"
# Files Lightning's CSV logger would replace when a run continues in its directory.
CSV_LOG = "csv/metrics.csv"
# What marks a directory as holding an earlier run's results (a new run there would
# overwrite them): the finished run's numbers, or weights a run saved.
RESULTS = (METRICS, LAST_CKPT, BEST_CKPT)

FINISHED, FAILED, UNFINISHED = "finished", "failed", "unfinished"


def write_atomic(path: str | Path, text: str) -> None:
    """Write via a temporary file and a rename, so a run killed mid-write never leaves a
    half-written file (a half-written ``metrics.json`` would count as finished)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    """``data`` as indented JSON, written atomically."""
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A CSV table (a header row, then ``rows``), written atomically."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    write_atomic(path, text.getvalue())


def archive_previous(
    run_dir: str | Path, names: tuple[str, ...] = (METRICS, ERROR, CSV_LOG)
) -> list[Path]:
    """Move results of an earlier attempt aside (``metrics.json`` -> ``metrics.1.json``,
    then ``.2``...) before a run continues in the same directory; nothing is deleted."""
    moved = []
    for name in names:
        path = Path(run_dir) / name
        if not path.exists():
            continue
        n = 1
        while (target := path.with_name(f"{path.stem}.{n}{path.suffix}")).exists():
            n += 1
        path.rename(target)
        moved.append(target)
    return moved


def earlier_results(run_dir: str | Path) -> list[str]:
    """The files of ``RESULTS`` that ``run_dir`` already holds."""
    return [name for name in RESULTS if (Path(run_dir) / name).exists()]


@dataclass
class JobState:
    """What one run directory says about its job."""

    path: Path
    state: str  # FINISHED, FAILED or UNFINISHED
    metrics: dict[str, Any] | None = None
    error: str | None = None  # why it failed: the first line of error.txt, or the reason

    @property
    def reason(self) -> str:
        """One line for listings: the error, or why an unfinished job counts as such."""
        if self.state == UNFINISHED:
            return "no metrics.json and no error.txt"
        return self.error or ""


def read_state(run_dir: str | Path) -> JobState:
    """The state of the job in ``run_dir``.

    ``finished``: a readable ``metrics.json``. ``failed``: an ``error.txt``, or a
    ``metrics.json`` that cannot be read. ``unfinished``: neither (still running, or killed).
    """
    run_dir = Path(run_dir)
    metrics_path, error_path = run_dir / METRICS, run_dir / ERROR
    if metrics_path.is_file():
        try:
            metrics = json.loads(metrics_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            return JobState(run_dir, FAILED, error=f"unreadable {METRICS} ({e})")
        if isinstance(metrics, dict):
            return JobState(run_dir, FINISHED, metrics=metrics)
        return JobState(run_dir, FAILED, error=f"{METRICS} does not hold a JSON object")
    if error_path.is_file():
        lines = error_path.read_text().strip().splitlines()
        return JobState(run_dir, FAILED, error=lines[0].strip() if lines else f"{ERROR} is empty")
    return JobState(run_dir, UNFINISHED)


def job_dirs(sweep_dir: str | Path) -> list[Path]:
    """Every run directory of a sweep: those Hydra made (``.hydra/``) or a failure marked."""
    root = Path(sweep_dir)
    found = {p.parent for p in root.rglob(HYDRA) if p.is_dir()}
    found |= {p.parent for p in root.rglob(ERROR)}
    return sorted(found)
