"""Interrupted runs resume exactly, failures leave error.txt, and nothing earlier is lost."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict, read_write

from rnnlab.errors import ConfigError, NonFiniteLossError
from rnnlab.run.checkpoints import resume_checkpoint
from rnnlab.run.config import compose_config
from rnnlab.run.failures import job_guard
from rnnlab.run.hydra_callbacks import FailedJobsExit
from rnnlab.run.train import train
from rnnlab.rundir import ERROR as ERROR_FILE

ROOT = Path(__file__).resolve().parents[1]

# Dropout between two layers: a resumed run must also redraw the same dropout masks.
RESUMABLE = [
    "backbone=rnn", "model.backbone.hidden_size=8", "model.backbone.num_layers=2",
    "model.backbone.dropout=0.2", "trainer.max_epochs=8", "trainer.accelerator=cpu",
    "data.min_batches_per_epoch=20",  # two passes an epoch: the sampler resumes mid-pass-set
    "callbacks.progress_bar=null", "callbacks.figures=null", "callbacks.epoch_printer=null",
    "model.steps_per_execution=3",  # several optimizer steps per Lightning training step
    "callbacks.last_checkpoint.every_n_epochs=2",  # the resumed run repeats an epoch
]  # fmt: skip
EPOCHS, KILL_AFTER_EPOCHS = 8, 3


def start_train(run_dir: Path, *overrides: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(ROOT / "train.py"), *RESUMABLE, *overrides]
    return subprocess.Popen(
        [*cmd, f"hydra.run.dir={run_dir}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env, cwd=run_dir.parent,
    )  # fmt: skip


def history(run_dir: Path) -> list[dict[str, float]]:
    with (run_dir / "history.csv").open() as f:
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(f)]


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture
def one_thread():
    """The subprocesses run with OMP_NUM_THREADS=1; in-process runs use one thread too."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_to_the_same_test_mse(tmp_path, one_thread):
    cut_dir, full_dir, moved_dir = tmp_path / "cut", tmp_path / "full", tmp_path / "moved"
    cut = start_train(cut_dir)
    while cut.poll() is None:  # kill it hard once a few epochs are done, wherever it is then
        if (cut_dir / "history.csv").is_file() and len(history(cut_dir)) >= KILL_AFTER_EPOCHS:
            cut.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    cut.communicate(timeout=60)
    assert cut.returncode == -signal.SIGKILL
    assert not (cut_dir / "metrics.json").exists()
    first_events = set(cut_dir.glob("events.out.tfevents.*"))
    assert len(history(cut_dir)) < EPOCHS and first_events
    saved = tmp_path / "cut_last.ckpt"  # for ckpt_path=PATH into a new run dir
    shutil.copy(cut_dir / "checkpoints" / "last.ckpt", saved)

    resumed = start_train(cut_dir, "resume=true")  # the real command, in the same run dir
    reference = train(compose_config(full_dir, RESUMABLE))  # never interrupted
    moved = train(compose_config(moved_dir, [*RESUMABLE, f"ckpt_path={saved}"]))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]

    assert reference["epochs_trained"] == EPOCHS
    for result in (metrics(cut_dir), moved):
        assert result["epochs_trained"] == EPOCHS
        assert result["test_mse"] == pytest.approx(reference["test_mse"], abs=1e-6)
    # the whole curve matches, and the rows from before the kill are still there
    for ours, theirs in zip(history(cut_dir), history(full_dir), strict=True):
        assert ours.keys() == theirs.keys()
        for key, value in ours.items():
            assert value == pytest.approx(theirs[key], abs=1e-6), key
    assert first_events < set(cut_dir.glob("events.out.tfevents.*"))  # earlier events kept
    assert metrics(cut_dir)["best_val_mse"] == pytest.approx(reference["best_val_mse"], abs=1e-6)
    # the two train.py processes (working directory tmp_path) wrote only into hydra.run.dir
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut", "cut_last.ckpt", "full", "moved"]


def test_resume_continues_in_place_and_moves_old_results_aside(trained_run, tmp_path):
    source, overrides = trained_run.run_dir, trained_run.overrides
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    before = metrics(run_dir)
    (run_dir / ERROR_FILE).write_text("an earlier failure\n")

    # one epoch more than the shared run's 3; the figures are not what is tested here
    resumed = [*overrides, "resume=true", "trainer.max_epochs=4", "callbacks.figures=null"]
    after = train(compose_config(run_dir, resumed))

    assert after["epochs_trained"] == 4 and len(history(run_dir)) == 4
    assert json.loads((run_dir / "metrics.1.json").read_text()) == before
    assert (run_dir / "error.1.txt").read_text() == "an earlier failure\n"
    assert not (run_dir / ERROR_FILE).exists()
    assert history(run_dir)[:3] == history(source)


def test_resume_refuses_a_config_that_is_not_the_runs(trained_run, tmp_path):
    source, overrides = trained_run.run_dir, trained_run.overrides
    with pytest.raises(ConfigError) as info:
        resume_checkpoint(compose_config(source, [*overrides, "resume=true", "backbone=gru"]))
    message = str(info.value)
    assert message.startswith("resume=true: the config differs from the checkpoint's in ")
    assert "model.backbone._target_ (checkpoint: 'rnnlab.models.backbones.LSTM'" in message
    assert "(the checkpoint's backbone is backbone=lstm)" in message
    ckpt = source / "checkpoints" / "last.ckpt"
    other = compose_config(
        tmp_path / "new", [*overrides, f"ckpt_path={ckpt}", "model.backbone.hidden_size=16"]
    )
    with pytest.raises(ConfigError, match=r"^ckpt_path=.*differs .*model.backbone.hidden_size"):
        resume_checkpoint(other)
    with pytest.raises(ConfigError, match=r"resume=true and ckpt_path=.* are both set"):
        resume_checkpoint(compose_config(source, [*overrides, "resume=true", f"ckpt_path={ckpt}"]))


def test_resume_without_a_checkpoint(tmp_path):
    cfg = compose_config(tmp_path / "fresh", ["resume=true"])
    with pytest.raises(ConfigError, match=r"^resume=true: no checkpoint at .*hydra.run.dir"):
        resume_checkpoint(cfg)
    # a job of a resumed sweep that never saved a checkpoint simply starts from scratch
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.mode = RunMode.MULTIRUN
    HydraConfig.instance().set_config(cfg)
    assert resume_checkpoint(cfg) is None


class PoisonWeights(L.Callback):
    """Turns the head's bias into NaN when epoch ``at_epoch`` (1-based) starts."""

    def __init__(self, at_epoch: int) -> None:
        self.at_epoch = at_epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch + 1 == self.at_epoch:
            with torch.no_grad():
                next(p for n, p in pl_module.named_parameters() if "bias" in n).fill_(math.nan)


@pytest.mark.parametrize(
    ("every_step", "found"),
    [(True, "train/loss is nan at step 1 of epoch 3"), (False, "val/loss is nan in epoch 3")],
)
def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, every_step, found):
    run_dir = tmp_path / "run"
    cfg = compose_config(run_dir, [
        "backbone=rnn", "model.backbone.hidden_size=4", "trainer.max_epochs=6",
        "trainer.accelerator=cpu", "callbacks.progress_bar=null", "callbacks.figures=null",
        "+callbacks.poison._target_=tests.test_resume.PoisonWeights",
        "+callbacks.poison.at_epoch=3",
        f"callbacks.nonfinite_guard.check_every_step={every_step}",
        "callbacks.last_checkpoint.every_n_epochs=1",
    ])  # fmt: skip
    with pytest.raises(NonFiniteLossError) as info:
        train(cfg)
    message = str(info.value)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert message.startswith(f"training stopped: {found}")
    assert f"the last good checkpoint is {last} (after epoch 2)" in message
    ckpt = torch.load(last, weights_only=True, map_location="cpu")
    assert ckpt["epoch"] == 1  # saved at the end of epoch 2 (0-based 1), never after
    assert all(torch.isfinite(w).all() for w in ckpt["state_dict"].values())
    assert len(history(run_dir)) == 2  # the non-finite epoch is not recorded
    assert not (run_dir / "metrics.json").exists()


def _set_mode(tmp_path: Path, mode: RunMode) -> None:
    cfg = compose_config(tmp_path / "job", [])
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.mode = mode
    HydraConfig.instance().set_config(cfg)


def test_a_failing_job_of_a_multirun_writes_error_txt_and_lets_the_sweep_go_on(tmp_path):
    _set_mode(tmp_path, RunMode.MULTIRUN)
    with job_guard(tmp_path / "job") as job:
        raise RuntimeError("boom\nsecond line")
    assert job.result is None and isinstance(job.error, RuntimeError)
    text = (tmp_path / "job" / ERROR_FILE).read_text()
    assert text.splitlines()[0] == "RuntimeError: boom"
    assert "Traceback (most recent call last)" in text


def test_a_single_run_exits_with_the_errors_status(tmp_path, capsys):
    _set_mode(tmp_path, RunMode.RUN)
    with pytest.raises(SystemExit) as info, job_guard(tmp_path / "job"):
        raise ConfigError("data.seq_len=0 is invalid: it must be an integer >= 1")
    assert info.value.code == 2
    assert (
        capsys.readouterr().err == "error: data.seq_len=0 is invalid: it must be an integer >= 1\n"
    )
    with pytest.raises(ZeroDivisionError), job_guard(tmp_path / "job"):  # a bug: traceback
        _ = 1 / 0
    assert (tmp_path / "job" / ERROR_FILE).read_text().startswith("ZeroDivisionError: ")
    assert (tmp_path / "job" / "error.1.txt").read_text().startswith("data.seq_len=0 is invalid")
    # a finished run that an attempt never got to change gets no error.txt beside metrics.json
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "metrics.json").write_text("{}")
    with pytest.raises(SystemExit), job_guard(tmp_path / "done"):
        raise ConfigError("resume=true: the config differs")
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["metrics.json"]


def test_a_sweep_with_a_failed_or_unfinished_job_exits_with_1(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    for name, files in {"seed=1": ["metrics.json"], "seed=2": [ERROR_FILE], "seed=3": []}.items():
        (sweep / name / ".hydra").mkdir(parents=True)
        for file in files:
            text = "{}" if file == "metrics.json" else "bad value\n\ntraceback\n"
            (sweep / name / file).write_text(text)
    config = compose_config(tmp_path / "job", [])
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.sweep.dir = str(sweep)
    with pytest.raises(SystemExit) as info:
        FailedJobsExit().on_multirun_end(config)
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "failed job seed=2: bad value\n" in err
    assert "unfinished job seed=3: no metrics.json and no error.txt\n" in err
    assert f"error: 2 of 3 jobs failed; the others finished and their results are in {sweep}" in err
    for name in ("seed=2", "seed=3"):
        shutil.rmtree(sweep / name)
    FailedJobsExit().on_multirun_end(config)  # all finished: returns, exit status 0
