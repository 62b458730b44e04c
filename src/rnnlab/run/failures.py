"""What a failed run leaves behind, what the user sees, and why a sweep goes on.

A job that fails leaves its run directory **without** ``metrics.json`` and **with**
``error.txt``: the first line is the one-line message, then the traceback. The sweep
comparison (``rnnlab.report.compare``) lists such jobs by name.

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

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from rnnlab import rundir
from rnnlab.errors import one_line
from rnnlab.run.ddp import process_rank
from rnnlab.rundir import archive_previous, write_atomic

log = logging.getLogger(__name__)


def write_error(run_dir: str | Path, exc: BaseException) -> Path:
    """``error.txt``: the one-line message, then the full traceback. An ``error.txt`` of an
    earlier attempt is moved aside first (``error.1.txt``), never overwritten."""
    path = Path(run_dir) / rundir.ERROR
    archive_previous(run_dir, (rundir.ERROR,))
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    write_atomic(path, f"{one_line(exc)}\n\n{trace}")
    return path


def is_multirun() -> bool:
    """True inside a job of a Hydra multirun (``-m`` or a sweep config)."""
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
        code = getattr(exc, "exit_code", None)
        if process_rank() > 0:
            # Another process of a multi-process run: rank 0 meets the same error (same
            # config, synced losses) and reports it; the shared dir gets one error.txt.
            if is_multirun():  # a SLURM task of a sweep job: end as rank 0 does
                log.error("rank %d: job failed: %s", process_rank(), one_line(exc))
                return
            if code is None:
                raise
            sys.exit(code)
        if (Path(run_dir) / rundir.METRICS).exists():
            # A finished run whose dir this attempt never got to change (e.g. a refused
            # resume=true): an error.txt beside its metrics.json would only mislead.
            path = None
            log.error("not continued: %s", one_line(exc))
        else:
            path = write_error(run_dir, exc)
        if is_multirun():
            log.error("job failed: %s (details in %s)", one_line(exc), path)
            outcome.result = None
            return
        if code is None:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr, flush=True)
        sys.exit(code)
