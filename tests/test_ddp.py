"""trainer=ddp_cpu: two real processes, one run directory, different batches per rank."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from rnnlab.data import SineDataModule

from .conftest import ROOT


class BatchProbe(L.Callback):
    """Test helper: each rank writes the targets of the batches it trained on in epoch 1."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.targets: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.current_epoch == 0:
            self.targets += batch[1].flatten().tolist()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            record = {"world_size": trainer.world_size, "targets": self.targets}
            (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


def test_extra_ranks_rerun_this_job_not_the_command_line(make_cfg):
    from rnnlab.run.ddp import child_command

    cfg = make_cfg("trainer=ddp_cpu", "seed=3")
    command = child_command(local_rank=1)
    assert "seed=3" in command and "trainer=ddp_cpu" in command
    assert "hydra.mode=RUN" in command and "hydra.output_subdir=null" in command
    assert f'hydra.run.dir="{cfg.paths.output_dir}"' in command
    hydra_args = command[command.index("--config-name=train") + 1 :]
    assert not {"-m", "--multirun"} & set(hydra_args)


@pytest.mark.slow
def test_ddp_cpu_trains_with_two_processes_into_one_run_dir(tmp_path):
    run_dir, probe = tmp_path / "run", tmp_path / "probe"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "trainer=ddp_cpu", "trainer.max_epochs=2",
         "data.batch_size=19", "backbone=gru", "model.backbone.hidden_size=8",
         "callbacks.progress_bar=null", "callbacks.figures=null",
         "+callbacks.batch_probe._target_=tests.test_ddp.BatchProbe",
         f"+callbacks.batch_probe.out_dir={probe}", f"hydra.run.dir={run_dir}"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    # one run directory (nothing else under the working directory), one of everything in it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe", "run"]
    assert [p.relative_to(run_dir) for p in run_dir.rglob("metrics.json")] == [Path("metrics.json")]
    assert sorted(p.name for p in run_dir.rglob("*.log")) == ["train.log"]
    assert len(list(run_dir.rglob("config.yaml"))) == 1
    assert result.stdout.count("naive_last_mse") == 1  # the summary table, printed by rank 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 2 and 0 < metrics["test_mse"] < 1

    # both ranks trained, on different halves of the epoch's batches
    ranks = [json.loads((probe / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    seen = [set(r["targets"]) for r in ranks]
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    dm = SineDataModule(seq_len=20)
    dm.setup()
    train_targets = set(dm.datasets["train"].targets.flatten().tolist())
    assert seen[0] | seen[1] == train_targets
    assert len(ranks[0]["targets"]) == len(ranks[1]["targets"]) == len(train_targets) // 2
    assert torch.isfinite(torch.tensor(metrics["val_mse"]))
