"""What a failed run leaves behind, what the user sees, and why a sweep goes on.

A job that fails leaves its run directory **without** ``metrics.json`` and **with**
``error.txt``: the first line is the one-line message, then the traceback. The sweep
comparison (``rnnlab.compare``) lists such jobs by name.

Exit status of ``python train.py``:

* ``0``: the run, or every job of the multirun, finished;
* ``1``: the run failed (non-finite loss: one ``error:`` line; anything unexpected: the
  traceback), or, in a multirun, at least one job failed or never finished. The other jobs
  ran to the end and the comparison was written before the sweep exits with 1;
* ``2``: a bad setting (``ConfigError``) in a single run: one ``error:`` line, nothing trained.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)

ERROR_FILE = "error.txt"
METRICS_FILE = "metrics.json"


def one_line(exc: BaseException) -> str:
    """The message of an expected failure as is; other errors prefixed with their type."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if hasattr(exc, "exit_code"):  # ConfigError, NonFiniteLossError: written for the user
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def write_error(run_dir: str | Path, exc: BaseException) -> Path:
    """``error.txt``: the one-line message, then the full traceback. An ``error.txt`` of an
    earlier attempt is moved aside first (``error.1.txt``), never overwritten."""
    path = Path(run_dir) / ERROR_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    archive_previous(run_dir, (ERROR_FILE,))
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    path.write_text(f"{one_line(exc)}\n\n{trace}")
    return path


def write_atomic(path: str | Path, text: str) -> None:
    """Write via a temporary file and a rename, so a run killed mid-write never leaves a
    half-written ``metrics.json`` that would count as finished."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def archive_previous(
    run_dir: str | Path, names: tuple[str, ...] = (METRICS_FILE, ERROR_FILE, "csv/metrics.csv")
) -> list[Path]:
    """Move results of an earlier attempt aside (``metrics.json`` -> ``metrics.1.json``,
    then ``.2``...) before a run continues in the same directory; nothing is deleted.
    (Lightning's CSV logger would otherwise replace ``csv/metrics.csv`` on resume.)"""
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


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@dataclass
class JobOutcome:
    """What ``job_guard`` hands back: the job's return value, or the error it caught."""

    result: Any = None
    error: BaseException | None = None


@contextmanager
def job_guard(run_dir: str | Path) -> Iterator[JobOutcome]:
    """Run the body of a Hydra job; on failure write ``error.txt`` into ``run_dir``, then

    * in a multirun: log one line and return normally with ``result = None`` so the other
      jobs, the comparison and Optuna all go on (the Optuna sweeper records ``None`` as a
      failed trial; ``nan`` would crash the search);
    * in a single run: print ``error: <message>`` and exit with the error's ``exit_code``
      (2 for bad settings, 1 for a non-finite loss); re-raise anything else, traceback and all.
    """
    outcome = JobOutcome()
    try:
        yield outcome
    except Exception as exc:
        outcome.error = exc
        if (Path(run_dir) / METRICS_FILE).exists():
            # A finished run whose dir this attempt never got to change (e.g. a refused
            # resume=true): an error.txt beside its metrics.json would only mislead.
            path = None
            log.error("not continued: %s", one_line(exc))
        else:
            path = write_error(run_dir, exc)
        if _is_multirun():
            log.error("job failed: %s (details in %s)", one_line(exc), path)
            outcome.result = None
            return
        code = getattr(exc, "exit_code", None)
        if code is None:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr, flush=True)
        sys.exit(code)


def job_states(sweep_dir: str | Path) -> dict[str, list[Path]]:
    """Job directories of a sweep by state: ``finished``, ``failed``, ``unfinished``."""
    states: dict[str, list[Path]] = {"finished": [], "failed": [], "unfinished": []}
    root = Path(sweep_dir)
    dirs = {p.parent for p in root.rglob(".hydra")} | {p.parent for p in root.rglob(ERROR_FILE)}
    for job in sorted(dirs):
        if (job / METRICS_FILE).exists():
            states["finished"].append(job)
        elif (job / ERROR_FILE).exists():
            states["failed"].append(job)
        else:
            states["unfinished"].append(job)
    return states


class FailedJobsExit(Callback):
    """Ends a multirun with exit status 1 when a job failed or never finished.

    Register it before every other Hydra callback: Hydra calls ``on_multirun_end`` in
    reverse order, so it then runs last, after the comparison has been written.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        states = job_states(sweep_dir)
        bad = states["failed"] + states["unfinished"]
        if not bad:
            return
        total = sum(len(v) for v in states.values())
        for job in bad:
            first = (
                (job / ERROR_FILE).read_text().splitlines()[:1] if job in states["failed"] else []
            )
            why = first[0] if first else "unfinished (no metrics.json, no error.txt)"
            print(f"failed job {job.relative_to(sweep_dir)}: {why}", file=sys.stderr)
        print(
            f"error: {len(bad)} of {total} jobs failed; the others finished and their results "
            f"are in {sweep_dir}",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(1)
