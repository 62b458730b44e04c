"""Where the Hydra configs live, and composing them from Python.

``python train.py`` composes ``conf/`` through ``@hydra.main``; tests, notebooks and
benchmarks use ``compose_config`` to get the very same config without a command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def compose_config(
    output_dir: str | Path, overrides: Sequence[str] = (), config_name: str = "train"
) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with ``overrides`` as the command line would.

    The run directory is ``output_dir``, and Hydra's runtime config is set, so
    ``${hydra:...}`` interpolations (run dir, backbone choice) resolve as in a real run.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg
