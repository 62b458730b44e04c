"""Several processes per run (rnnlab.run.ddp): which configs start ranks, what ranks > 0 may
write, and (slow) two real processes per job of a sweep, in one run directory per job."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

from rnnlab.data import SineDataModule
from rnnlab.errors import ConfigError
from rnnlab.run.ddp import DDPProcesses, child_command, local_processes, process_rank
from rnnlab.run.failures import job_guard

ROOT = Path(__file__).resolve().parents[1]


class BatchProbe(L.Callback):
    """Test helper: each rank writes the targets of the batches it trained on in epoch 1."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.targets: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # (the batch the step took when model.steps_per_execution=1; the last of K otherwise)
        if trainer.current_epoch == 0:
            self.targets += batch[1].flatten().tolist()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            record = {"world_size": trainer.world_size, "targets": self.targets}
            (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


@pytest.fixture
def rank_env(monkeypatch):
    """Set this process's rank as a launcher would (``rank_env(1)``); undone after the test."""
    for key in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)

    def _set(rank: int) -> None:
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("LOCAL_RANK", str(rank))

    return _set


@pytest.mark.parametrize(
    ("overrides", "processes"),
    [
        ([], 1),
        (["trainer=ddp_cpu"], 2),
        (["trainer=ddp_cpu", "trainer.devices=3"], 3),
        (["trainer=ddp_cpu", "trainer.strategy=ddp_spawn"], 1),  # Lightning starts those
        (["trainer=cpu", "trainer.devices=2"], 2),  # strategy auto: Lightning's ddp
    ],
)
def test_processes_started_for_each_trainer(make_cfg, overrides, processes):
    assert local_processes(make_cfg(*overrides).trainer) == processes


def test_ddp_on_gpus_starts_one_process_per_visible_gpu(make_cfg):
    # None where there is no GPU: Lightning then says so when the Trainer is built.
    assert local_processes(make_cfg("trainer=ddp").trainer) == max(torch.cuda.device_count(), 1)


def test_extra_ranks_rerun_this_job_not_the_command_line(make_cfg):
    cfg = make_cfg("trainer=ddp_cpu", "seed=3", "hydra.sweep.dir=/elsewhere", "hydra.verbose=true")
    command = child_command()
    assert "seed=3" in command and "trainer=ddp_cpu" in command
    assert "hydra.verbose=true" in command  # the job's own Hydra settings travel along
    assert "hydra.mode=RUN" in command and not any("hydra.sweep" in c for c in command)
    assert f'hydra.run.dir="{cfg.paths.output_dir}"' in command
    hydra_args = command[command.index("--config-name=train") + 1 :]  # after the entry point
    assert not {"-m", "--multirun"} & set(hydra_args)


def test_ranks_above_zero_leave_hydra_files_and_the_log_to_rank_zero(make_cfg, rank_env, tmp_path):
    cfg = make_cfg("trainer=ddp_cpu")
    root = logging.getLogger()
    file_handler = logging.FileHandler(tmp_path / "train.log")
    console = logging.StreamHandler()
    saved = root.handlers[:]  # pytest's own, kept away from the test
    root.handlers = [file_handler, console]
    try:
        rank_env(1)
        callback = DDPProcesses()
        callback.on_run_start(config=cfg)
        callback.on_job_start(config=cfg)
        assert cfg.hydra.output_subdir is None  # no second .hydra/ write
        assert file_handler not in root.handlers and console.level == logging.WARNING
        assert callback.procs == []  # a rank > 0 starts nobody
    finally:
        root.handlers = saved
        file_handler.close()


@pytest.mark.parametrize("rank", [0, 1])
def test_only_rank_zero_reports_an_error(make_cfg, tmp_path, rank_env, capsys, rank):
    make_cfg()  # a single run (not a multirun)
    rank_env(rank)
    assert process_rank() == rank
    with pytest.raises(SystemExit) as info, job_guard(tmp_path):
        raise ConfigError("data.seq_len=0 is invalid")
    assert info.value.code == 2
    printed = capsys.readouterr().err
    assert (printed.count("error: data.seq_len=0") == 1) == (rank == 0)
    assert (tmp_path / "error.txt").exists() == (rank == 0)


def test_torchrun_needs_one_run_dir_for_all_ranks(make_cfg, rank_env, monkeypatch, capsys):
    rank_env(0)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "test")
    monkeypatch.setenv("WORLD_SIZE", "2")
    cfg = make_cfg("trainer=ddp_cpu")
    raw_dir = OmegaConf.to_container(cfg.hydra.run, resolve=False)["dir"]
    assert "${now:" in raw_dir  # the default: each rank would stamp its own
    with pytest.raises(SystemExit) as info:
        DDPProcesses().on_run_start(config=cfg)
    assert info.value.code == 2 and "hydra.run.dir=<dir>" in capsys.readouterr().err
    DDPProcesses().on_run_start(config=make_cfg("trainer=ddp_cpu", "hydra.run.dir=/shared"))
    with pytest.raises(SystemExit):  # every rank would run the whole sweep
        DDPProcesses().on_multirun_start(config=cfg)


@pytest.mark.slow
def test_ddp_cpu_jobs_of_a_sweep_train_two_processes_each_in_one_run_dir(tmp_path):
    sweep_dir, probe = tmp_path / "sweep", tmp_path / "probe"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT"):
        env.pop(key, None)
    # Two jobs one after the other in one process: the second only starts its ranks if the
    # first left nothing behind (environment, process group). The first takes one optimizer
    # step per Lightning step, so the probe sees every batch; the second runs the default
    # (the whole epoch in one Lightning step) and must end with the same weights.
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "-m", "model.steps_per_execution=1,epoch",
         "trainer=ddp_cpu",
         "trainer.max_epochs=2", "data.batch_size=19", "data.min_batches_per_epoch=1",
         "backbone=gru",
         "model.backbone.hidden_size=8", "callbacks.progress_bar=null", "callbacks.figures=null",
         "+callbacks.batch_probe._target_=tests.test_ddp.BatchProbe",
         f"+callbacks.batch_probe.out_dir={probe}/k" + "${model.steps_per_execution}",
         "hydra.callbacks.sweep_report.compare=false", f"hydra.sweep.dir={sweep_dir}",
         "hydra.sweep.subdir=k${model.steps_per_execution}"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    # one directory per job (nothing else under the working directory), one of everything
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe", "sweep"]
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert [p.name for p in jobs] == ["k1", "kepoch"]
    assert result.stdout.count("naive_last_mse") == 2  # each job's summary, printed by rank 0
    dm = SineDataModule(seq_len=20)
    dm.setup()
    train_targets = set(dm.datasets["train"].targets.flatten().tolist())
    for job in jobs:
        assert [p.relative_to(job) for p in job.rglob("metrics.json")] == [Path("metrics.json")]
        assert sorted(p.name for p in job.rglob("*.log")) == ["train.log"]
        assert len(list(job.rglob("config.yaml"))) == 1
        log = (job / "train.log").read_text()
        assert "GLOBAL_RANK: 0" in log and "GLOBAL_RANK: 1" not in log  # rank 1 wrote none
        metrics = json.loads((job / "metrics.json").read_text())
        assert metrics["epochs_trained"] == 2 and 0 < metrics["test_mse"] < 1
        assert torch.isfinite(torch.tensor(metrics["best_val_mse"]))

        ranks = [json.loads((probe / job.name / f"rank{r}.json").read_text()) for r in (0, 1)]
        assert [r["world_size"] for r in ranks] == [2, 2]

    # both ranks trained, on different halves of the epoch's batches (seen one by one at K=1)
    ranks = [json.loads((probe / "k1" / f"rank{r}.json").read_text()) for r in (0, 1)]
    seen = [set(r["targets"]) for r in ranks]
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert seen[0] | seen[1] == train_targets
    assert len(ranks[0]["targets"]) == len(ranks[1]["targets"]) == len(train_targets) // 2
    # the same optimizer steps in the same order, gradients averaged across ranks alike
    k1, kepoch = (json.loads((job / "metrics.json").read_text()) for job in jobs)
    assert kepoch["test_mse"] == k1["test_mse"] and kepoch["best_val_mse"] == k1["best_val_mse"]
