"""Hydra callbacks (registered in ``conf/hydra/default.yaml``) that make sweeps self-reporting.

``SweepReport`` runs in two places:

* in every job's process (``on_job_start``): caps torch's threads to the CPUs the launcher
  gives a job, and lets DataLoader workers start inside joblib's workers (a failed job's
  ``error.txt`` is train.py's business: ``rnnlab.failures``);
* in the process that launched the sweep (``on_multirun_end``): writes and prints the
  comparison table of the sweep directory (``rnnlab.compare``).

Hydra instantiates callbacks for single runs too, so this module imports nothing heavy.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_job(launcher: DictConfig | None) -> int | None:
    """How many torch threads one job of this launcher should use (None: leave torch's default).

    * submitit (local and SLURM): ``cpus_per_task`` when set. On SLURM the job's CPU mask
      already limits torch; submitit_local starts every job at once on the same machine.
    * joblib: nothing to do here. Its loky workers start with OMP_NUM_THREADS =
      CPUs // n_jobs (unless the user exported it), which torch honours.
    * the basic launcher runs one job at a time: torch's default (all cores) is right.
    """
    if launcher is None:
        return None
    cpus = launcher.get("cpus_per_task")
    return int(cpus) if cpus else None


class SweepReport(Callback):
    """A thread cap per job; the comparison table at the end of a multirun.

    Args:
        compare: write comparison.csv/.md/.png into the sweep dir after a multirun.
        plot: include comparison.png (matplotlib) in that.
    """

    def __init__(self, compare: bool = True, plot: bool = True) -> None:
        self.compare = compare
        self.plot = plot

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        import multiprocessing

        import torch  # the job imports it next anyway

        in_loky_worker = multiprocessing.get_start_method(allow_none=True) == "loky"
        if in_loky_worker and sys.platform.startswith("linux"):
            # A joblib worker: its "loky" start method cannot pickle what a DataLoader hands
            # its worker processes (data.num_workers > 0 then dies with Lightning's "Please
            # call iter(combined_loader) first"). Plain fork, as in any other process, works.
            multiprocessing.set_start_method("fork", force=True)

        threads = threads_per_job(config.hydra.get("launcher"))
        if threads and "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(min(threads, _available_cpus()))
        log.info("torch threads in this job: %d", torch.get_num_threads())

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.compare:
            return
        from rnnlab.compare import compare, markdown

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            comparison = compare(sweep_dir, make_plot=self.plot)
        except Exception as e:  # the jobs' results are safe on disk; say so and carry on
            log.error("comparison of %s failed: %s: %s", sweep_dir, type(e).__name__, e)
            log.error("retry with: python -m rnnlab.compare %s", sweep_dir)
            return
        print(markdown(comparison), end="", flush=True)
        print(f"\nwrote {', '.join(p.name for p in comparison.written)} in {sweep_dir}", flush=True)
