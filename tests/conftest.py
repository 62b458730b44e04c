"""Shared fixtures: compose the real configs into a temporary run directory, and one tiny
trained run that every test needing a finished run reads (training it once per session)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from rnnlab.run.config import compose_config

# Small, quick settings shared by tests that train: a few epochs of one pass each, the CPU,
# no progress bar.
FAST = ["trainer.max_epochs=3", "data.min_batches_per_epoch=1", "trainer.accelerator=cpu",
        "callbacks.progress_bar=null"]  # fmt: skip

# The shared run: the default config (LSTM on the noisy sine, default callbacks with figures)
# made tiny, with both loggers so that one run shows TensorBoard events and the CSV log.
TRAINED_RUN = [*FAST, "model.backbone.hidden_size=8", "logger=many"]


@pytest.fixture
def fast() -> list[str]:
    """Overrides that make a training run quick: a few epochs, the CPU, no progress bar."""
    return list(FAST)


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """``make_cfg("backbone=gru", ...)`` -> composed config whose run dir is under tmp_path."""

    def _make(*overrides: str, run_dir: str = "run") -> DictConfig:
        return compose_config(tmp_path / run_dir, [*FAST, *overrides])

    yield _make
    GlobalHydra.instance().clear()


@dataclass(frozen=True)
class TrainedRun:
    """A finished run of ``TRAINED_RUN``: read it, never write into it (copy it first)."""

    run_dir: Path
    overrides: tuple[str, ...]
    cfg: DictConfig
    metrics: dict[str, Any]

    @property
    def last_ckpt(self) -> Path:
        return Path(self.metrics["last_ckpt_path"])


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """``train()`` of ``TRAINED_RUN`` once per session: metrics.json, checkpoints (best, last),
    history.csv, predictions.csv, plots/, TensorBoard events and csv/metrics.csv."""
    from rnnlab.run.train import train

    run_dir = tmp_path_factory.mktemp("trained_run") / "run"
    cfg = compose_config(run_dir, TRAINED_RUN)
    metrics = train(cfg)
    GlobalHydra.instance().clear()
    return TrainedRun(run_dir, tuple(TRAINED_RUN), cfg, metrics)
