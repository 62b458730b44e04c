"""Several processes (DDP) for one run, in one Hydra run directory, through public API only.

    python train.py trainer=ddp_cpu               # two CPU processes (gloo)
    python train.py trainer=ddp                   # one process per GPU of this machine (NCCL)
    python train.py -m trainer=ddp_cpu seed=1,2   # each job of a sweep: its own processes
    torchrun --standalone --nproc_per_node=4 train.py trainer=ddp hydra.run.dir=logs/x

Lightning's ``ddp`` left to itself re-runs the command line for each rank, which under Hydra
repeats the sweep and makes a run directory per rank. So the ranks are started as
``torchrun`` starts them (``DDPProcesses``, a Hydra callback): the job's own overrides, one
run directory, and Lightning, seeing ``LOCAL_RANK``, launches nothing. Rank 0 alone writes
the run's files and log. Why not ``ddp_spawn``/``ddp_fork``, and the measured times: docs/ddp.md.
This module imports nothing heavy: Hydra instantiates the callback for every run.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)

# What the rank processes are told, as torchrun tells them; set for the job, then restored.
RANK_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "WORLD_SIZE", "RANK", "LOCAL_RANK")
# Lightning's strategy names whose launcher would run the command line again.
SCRIPT_STRATEGIES = ("ddp", "ddp_find_unused_parameters_true", "ddp_find_unused_parameters_false")
# Hydra overrides that a rank process must not repeat: it is one run in the job's own dir.
_NOT_REPEATED = ("hydra.mode", "hydra.run.dir", "hydra.sweep.", "hydra.output_subdir")


def process_rank() -> int:
    """This process's global rank in a multi-process run (0 outside one).

    From the environment, so it is known before Lightning or torch are imported: ``RANK``
    (torchrun, and the ranks ``DDPProcesses`` starts), else ``SLURM_PROCID`` (srun), else
    LSF's ``JSM_NAMESPACE_RANK``, else ``LOCAL_RANK``.
    """
    for key in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK", "LOCAL_RANK"):
        value = os.environ.get(key, "")
        if value.strip():
            return int(value)
    return 0


def started_externally() -> bool:
    """True where the rank processes exist already: ``LOCAL_RANK`` set by whoever started
    them, or a scheduler Lightning recognises (torchrun, SLURM's srun, LSF's jsrun)."""
    if "LOCAL_RANK" in os.environ:
        return True
    # Lightning decides, asked only where a scheduler's variable is set: importing it here
    # would delay starting the other ranks by seconds.
    hints = {
        "TORCHELASTIC_RUN_ID": "TorchElasticEnvironment",
        "SLURM_NTASKS": "SLURMEnvironment",
        "LSB_JOBID": "LSFEnvironment",
    }
    found = [name for key, name in hints.items() if key in os.environ]
    if not found:
        return False
    from lightning.fabric.plugins import environments

    return any(getattr(environments, name).detect() for name in found)


def _uses_script_launcher(strategy: Any) -> bool:
    """Whether Lightning's strategy setting starts its extra ranks by re-running the command."""
    if strategy is None or isinstance(strategy, str):
        return strategy in (None, "auto", *SCRIPT_STRATEGIES)
    target = strategy.get("_target_") if isinstance(strategy, (dict, DictConfig)) else None
    if not target:
        return False
    from lightning.pytorch.strategies import DDPStrategy

    cls = get_class(target)
    start = strategy.get("start_method", "popen")
    return issubclass(cls, DDPStrategy) and start == "popen"


def local_processes(trainer: DictConfig | dict | None) -> int:
    """How many processes per machine the trainer config asks Lightning's ``ddp`` for.

    1 for anything else: one device, a spawning strategy (``ddp_spawn``, ``ddp_fork``:
    Lightning starts those itself), or GPUs asked for where there are none (Lightning
    then says so when the Trainer is built).
    """
    devices = trainer.get("devices", "auto") if trainer else 1
    if str(devices) == "1" or not _uses_script_launcher(trainer.get("strategy")):
        return 1
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator == "cpu" and str(devices).isdigit():
        return int(devices)  # decided without importing torch: the ranks start sooner
    import torch
    from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator

    try:
        if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
            if not torch.cuda.is_available():
                return 1
            if devices == "auto":
                return CUDAAccelerator.auto_device_count()
            return len(CUDAAccelerator.parse_devices(devices) or [])
        if accelerator in ("cpu", "auto"):
            return 1 if devices == "auto" else CPUAccelerator.parse_devices(devices)
    except Exception:  # a setting Lightning refuses: it says why when the Trainer is built
        return 1
    return 1  # TPUs and others: Lightning's own launchers


def child_command() -> list[str]:
    """The command that runs the current Hydra job again as one more rank.

    This job's overrides (never the sweep of a multirun), as one single run (RUN mode) in
    this job's run directory; the config files found where the job found them. The rank
    itself travels in the environment (``RANK``, ``LOCAL_RANK``).
    """
    import __main__

    hc = HydraConfig.get()
    spec = getattr(__main__, "__spec__", None)
    if spec is None:
        command = [sys.executable, str(Path(sys.argv[0]).resolve())]
    else:
        command = [sys.executable, "-m", spec.name]
    for source in hc.runtime.config_sources:
        if source.schema != "file":
            continue
        if source.provider == "main":
            command.append(f"--config-path={source.path}")
        elif source.provider == "command-line":
            command.append(f"--config-dir={source.path}")
    hydra_overrides = [
        o for o in hc.overrides.hydra if not o.lstrip("+~").startswith(_NOT_REPEATED)
    ]
    return [
        *command,
        f"--config-name={hc.job.config_name}",
        *hydra_overrides,  # e.g. hydra.searchpath: the job's config groups
        *hc.overrides.task,
        "hydra.mode=RUN",
        # quoted: sweep dirs such as backbone=gru,seed=1 hold "=" and ","
        f'hydra.run.dir="{hc.runtime.output_dir}"',
    ]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def refuse(message: str) -> None:
    """End the process with exit status 2 and one ``error:`` line (printed by rank 0)."""
    if process_rank() == 0:
        print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def _check_torchrun(config: DictConfig, what: str) -> None:
    """torchrun starts every rank with a Hydra run (or sweep) of its own: unless the
    command names the directory, each would stamp its own start time on it."""
    if "TORCHELASTIC_RUN_ID" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return
    if what == "sweep":
        refuse("a sweep starts the processes of each job itself; run it without torchrun: "
                "python train.py -m trainer=ddp ...")  # fmt: skip
    raw = OmegaConf.to_container(config.hydra.run, resolve=False)["dir"]
    if "${now:" in str(raw):
        refuse("torchrun starts every rank with its own Hydra run; give them one directory: "
                "hydra.run.dir=<dir>")  # fmt: skip


class DDPProcesses(Callback):
    """Starts and ends the other ranks of a multi-process job; keeps ranks > 0 from
    writing Hydra's files or repeating log lines.

    * In a job whose trainer asks Lightning's ``ddp`` for N > 1 processes on this machine and
      where nobody else started them: starts ranks 1..N-1 at the start of the job as single
      runs of this job (its overrides, never the sweep; the same run directory;
      ``child_command``); at its end waits for them and undoes what the job set
      (environment, process group), so the next job of a multirun starts clean.
    * In every process of rank > 0 (its own, ``torchrun``'s, SLURM's): leaves ``.hydra/`` and
      the log file to rank 0, prints warnings and errors only, and leaves the one ``error:``
      line and ``error.txt`` to rank 0 (``rnnlab.run.failures``).
    * Refuses ``torchrun`` without one run directory for all ranks (``hydra.run.dir=``).
    """

    def __init__(self, grace_seconds: float = 120.0) -> None:
        self.grace_seconds = grace_seconds
        self.procs: list[subprocess.Popen] = []
        self._saved_env: dict[str, str | None] = {}
        self._saved_threads: int | None = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_torchrun(config, "run")
        if process_rank() > 0:  # rank 0 saves .hydra/ for the run
            with read_write(config.hydra), open_dict(config.hydra):
                config.hydra.output_subdir = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_torchrun(config, "sweep")

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if process_rank() > 0:
            _quiet_logging()
            return
        try:
            n = local_processes(config.get("trainer"))
            if n > 1 and not started_externally():
                self._start(n, int(config.trainer.get("num_nodes", 1) or 1))
        except Exception as exc:
            # Hydra would turn this into a warning, and Lightning would then start the
            # ranks by running the whole command line again: stop here instead.
            self._finish()
            print(f"error: could not start this job's other processes: "
                  f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)  # fmt: skip
            sys.exit(1)

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        self._finish(report=job_return.status == JobStatus.COMPLETED)

    def _start(self, n: int, num_nodes: int) -> None:
        self._saved_env = {key: os.environ.get(key) for key in RANK_ENV}
        # Set by hand for several machines without a scheduler, as for Lightning itself.
        node_rank = int(os.environ.get("NODE_RANK", "0"))
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        os.environ.update(NODE_RANK=str(node_rank), WORLD_SIZE=str(n * num_nodes))
        child_env = dict(os.environ)
        threads = None
        if "OMP_NUM_THREADS" not in os.environ:  # the cores are shared by n processes
            threads = max(1, available_cpus() // n)
            child_env["OMP_NUM_THREADS"] = str(threads)
        command = child_command()
        for local_rank in range(1, n):
            rank = str(node_rank * n + local_rank)
            env = {**child_env, "LOCAL_RANK": str(local_rank), "RANK": rank}
            self.procs.append(subprocess.Popen(command, env=env))
        os.environ.update(LOCAL_RANK="0", RANK=str(node_rank * n))
        atexit.register(self._finish)  # a job that ends the process (sys.exit) skips on_job_end
        if threads is not None:
            import torch

            self._saved_threads = torch.get_num_threads()
            torch.set_num_threads(threads)
        log.info("started %d more processes for this job (ranks 1-%d)", n - 1, n - 1)

    def _finish(self, report: bool = False) -> None:
        """Wait for this job's other ranks, then undo what starting them set; ``report``
        a rank that failed (only worth saying where this process did not fail itself)."""
        if not self.procs and not self._saved_env:
            return
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            # Ranks still waiting in a collective for this process (it failed) stop now.
            dist.destroy_process_group()
        else:
            # This process failed before the ranks met: the others can only wait for it.
            for proc in self.procs:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=self.grace_seconds)
            except subprocess.TimeoutExpired:
                log.error("rank process %d did not end; stopping it", proc.pid)
                proc.kill()
                proc.wait()
            if proc.returncode and report:
                log.error("rank process %d ended with status %d", proc.pid, proc.returncode)
        self.procs = []
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}
        if self._saved_threads is not None:
            import torch

            torch.set_num_threads(self._saved_threads)
            self._saved_threads = None
        atexit.unregister(self._finish)


def _quiet_logging() -> None:
    """On ranks > 0: no log file (rank 0 writes the run's), warnings and errors only."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
        else:
            handler.setLevel(max(handler.level, logging.WARNING))
