"""Hydra callbacks: they act around jobs, where the job's own code cannot.

* ``KeepEarlierResults`` (every run, ``conf/hydra/default.yaml``): refuses a run directory
  that already holds a run's results, before Hydra writes anything into it.
* ``FailedJobsExit`` (``conf/train.yaml``): a sweep with a failed job exits with status 1.
* ``SweepReport`` (``conf/hydra/default.yaml``) runs in every job's process
  (``on_job_start``: caps torch's threads to the CPUs the launcher gives a job, and lets
  DataLoader workers start inside joblib's workers) and in the process that launched the
  sweep (``on_multirun_end``: writes and prints the comparison table of the sweep
  directory, ``rnnlab.report.compare``).

Hydra instantiates callbacks for single runs too, so this module imports nothing heavy.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from rnnlab import rundir
from rnnlab.report.compare import compare, markdown
from rnnlab.run.ddp import available_cpus, process_rank, refuse

log = logging.getLogger(__name__)


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


class KeepEarlierResults(Callback):
    """Refuses to start a run in a directory that holds an earlier run's results.

    A second ``python train.py hydra.run.dir=D`` would overwrite D's ``metrics.json``,
    checkpoints, history and plots and mix two runs' TensorBoard events. This check runs
    before Hydra writes ``.hydra/`` or the log there, so nothing of the earlier run changes.
    ``resume=true`` (continue that run) is the one way to reuse such a directory.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if process_rank() > 0:  # the other processes of a multi-process run share rank 0's dir
            return
        run_dir = Path(config.hydra.run.dir)
        found = rundir.earlier_results(run_dir)
        if found and not config.get("resume", False):
            ways = "continue it with resume=true, or " if "resume" in config else ""
            refuse(
                f"hydra.run.dir={run_dir} already holds a run ({', '.join(found)}); "
                f"{ways}choose another directory: hydra.run.dir=<new dir>"
            )

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir() or config.get("resume", False):
            return
        done = [d for d in rundir.job_dirs(sweep_dir) if rundir.earlier_results(d)]
        if done:
            ways = "continue it with resume=true, or " if "resume" in config else ""
            refuse(
                f"hydra.sweep.dir={sweep_dir} already holds a sweep ({len(done)} jobs with "
                f"results); {ways}choose another directory: hydra.sweep.dir=<new dir>"
            )


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
        import torch  # the job imports it next anyway

        in_loky_worker = multiprocessing.get_start_method(allow_none=True) == "loky"
        if in_loky_worker and sys.platform.startswith("linux"):
            # A joblib worker: its "loky" start method cannot pickle what a DataLoader hands
            # its worker processes (data.num_workers > 0 then dies with Lightning's "Please
            # call iter(combined_loader) first"). Plain fork, as in any other process, works.
            multiprocessing.set_start_method("fork", force=True)

        threads = threads_per_job(config.hydra.get("launcher"))
        if threads and "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(min(threads, available_cpus()))
        log.info("torch threads in this job: %d", torch.get_num_threads())

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.compare:
            return

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            comparison = compare(sweep_dir, make_plot=self.plot)
        except Exception as e:  # the jobs' results are safe on disk; say so and carry on
            log.error("comparison of %s failed: %s: %s", sweep_dir, type(e).__name__, e)
            log.error("retry with: python -m rnnlab.report.compare %s", sweep_dir)
            return
        print(markdown(comparison), end="", flush=True)
        print(f"\nwrote {', '.join(p.name for p in comparison.written)} in {sweep_dir}", flush=True)


class FailedJobsExit(Callback):
    """Ends a multirun with exit status 1 when a job failed or never finished.

    Register it before every other Hydra callback: Hydra calls ``on_multirun_end`` in
    reverse order, so it then runs last, after the comparison has been written.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        states = [rundir.read_state(d) for d in rundir.job_dirs(sweep_dir)]
        bad = [job for job in states if job.state != rundir.FINISHED]
        if not bad:
            return
        total = len(states)
        for job in bad:
            name = job.path.relative_to(sweep_dir)
            print(f"{job.state} job {name}: {job.reason}", file=sys.stderr)
        print(
            f"error: {len(bad)} of {total} jobs failed; the others finished and their results "
            f"are in {sweep_dir}",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(1)
