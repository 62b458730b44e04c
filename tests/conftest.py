"""Shared fixtures: compose the real configs into a temporary run directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"

# Small, quick settings shared by tests that train: a few epochs, no progress bar.
FAST = ["trainer.max_epochs=3", "trainer.accelerator=cpu", "callbacks.progress_bar=null"]


def compose_config(output_dir: Path, overrides: list[str]) -> DictConfig:
    """Compose ``conf/train.yaml`` as ``python train.py`` would, writing into ``output_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """``make_cfg("backbone=gru", ...)`` -> composed config whose run dir is under tmp_path."""

    def _make(*overrides: str, run_dir: str = "run") -> DictConfig:
        return compose_config(tmp_path / run_dir, [*FAST, *overrides])

    yield _make
    GlobalHydra.instance().clear()
