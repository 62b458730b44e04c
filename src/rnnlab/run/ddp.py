"""Multi-process (DDP) training that leaves one Hydra run directory.

Lightning's ``ddp`` strategy starts ranks 1..N-1 by running the user's command again. Under
Hydra that command would repeat ``-m`` and the sweep (every rank a whole sweep), and each
rank would write its own log file. ``HydraDDPStrategy`` starts them instead as plain
single runs of *this job*: the job's own overrides, forced into Hydra's RUN mode, inside
the same run directory, writing no ``.hydra/`` copy and no log file of their own. Rank 0
alone writes ``metrics.json``, ``predictions.csv`` and checkpoints (``train.py`` checks
``trainer.is_global_zero``).

Used by ``conf/trainer/ddp_cpu.yaml`` (two CPU processes, gloo) and ``conf/trainer/ddp.yaml``
(one process per GPU, nccl). Where a cluster starts the processes itself (SLURM), Lightning
sees that and no process is started here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher


def child_command(local_rank: int) -> list[str]:
    """The command that runs the current Hydra job again as rank ``local_rank``."""
    from hydra.core.hydra_config import HydraConfig

    import __main__

    hc = HydraConfig.get()
    spec = getattr(__main__, "__spec__", None)
    if spec is None:
        command = [sys.executable, str(Path(sys.argv[0]).resolve())]
    else:
        command = [sys.executable, "-m", spec.name]
    return [
        *command,
        f"--config-name={hc.job.config_name}",
        *hc.overrides.task,  # this job's overrides, never the sweep of a multirun
        "hydra.mode=RUN",
        # quoted: sweep dirs such as backbone=gru,seed=1 hold "=" and ","
        f'hydra.run.dir="{hc.runtime.output_dir}"',
        "hydra.output_subdir=null",  # rank 0 already saved .hydra/
        "hydra/job_logging=stdout",  # no second log file in the run dir
        f"hydra.job.name={hc.job.name}_rank{local_rank}",
    ]


# Environment variables that make Lightning believe the processes already exist.
_RANK_ENV = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_PORT")
_launched_in_this_process = False


def _forget_previous_job() -> None:
    """Undo what starting ranks for an earlier job of this process left behind.

    In a multirun the next job runs in the same process; with ``LOCAL_RANK`` still set it
    would wait for ranks nobody starts, and it would reuse the old process group.
    """
    global _launched_in_this_process
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    for key in _RANK_ENV:
        os.environ.pop(key, None)
    _launched_in_this_process = False


class _HydraJobLauncher(_SubprocessScriptLauncher):
    """Starts the other local ranks with ``child_command`` (Lightning's own launcher
    otherwise: same environment variables, same process observer)."""

    def launch(self, function, *args, trainer=None, **kwargs):
        # A fresh launcher (new job) in a process that started ranks before: a new job of
        # a multirun. fit and test of one job share a launcher, whose procs are set.
        if _launched_in_this_process and not self.procs:
            _forget_previous_job()
        return super().launch(function, *args, trainer=trainer, **kwargs)

    def _call_children_scripts(self) -> None:
        global _launched_in_this_process
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():  # not under Hydra: Lightning's default
            super()._call_children_scripts()
            return
        self._check_can_spawn_children()
        self.procs = []
        env = self.cluster_environment
        os.environ.update(
            MASTER_ADDR=env.main_address,
            MASTER_PORT=str(env.main_port),
            NODE_RANK=str(env.node_rank()),
            LOCAL_RANK=str(env.local_rank()),
            WORLD_SIZE=str(self.num_processes * self.num_nodes),
        )
        for local_rank in range(1, self.num_processes):
            child_env = {**os.environ, "LOCAL_RANK": str(local_rank)}
            self.procs.append(subprocess.Popen(child_command(local_rank), env=child_env))
        _launched_in_this_process = True


class HydraDDPStrategy(DDPStrategy):
    """``DDPStrategy`` whose extra processes are single runs of the current Hydra job."""

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if type(self._launcher) is _SubprocessScriptLauncher:
            self._launcher = _HydraJobLauncher(
                self.cluster_environment, self.num_processes, self.num_nodes
            )
