"""Shared fixtures: compose the real configs into a temporary run directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from rnnlab.run.config import CONF_DIR, compose_config

__all__ = ["CONF_DIR", "FAST", "ROOT", "compose_config"]

ROOT = Path(__file__).resolve().parents[1]

# Small, quick settings shared by tests that train: a few epochs, no progress bar.
FAST = ["trainer.max_epochs=3", "trainer.accelerator=cpu", "callbacks.progress_bar=null"]


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """``make_cfg("backbone=gru", ...)`` -> composed config whose run dir is under tmp_path."""

    def _make(*overrides: str, run_dir: str = "run") -> DictConfig:
        return compose_config(tmp_path / run_dir, [*FAST, *overrides])

    yield _make
    GlobalHydra.instance().clear()
