"""Everything the config describes, built in one place with ``hydra.utils.instantiate``.

Keeping all ``instantiate`` calls here means that restricting targets (Hydra 1.4's
allow-list) or adding a new kind of object is a change to this file only.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from rnnlab.data.windows import WindowDataModule
from rnnlab.models.forecaster import Forecaster


@dataclass
class Run:
    """The objects of one training run, in the order data flows through them."""

    datamodule: WindowDataModule
    model: Forecaster
    callbacks: dict[str, L.Callback]  # by config key, e.g. "model_checkpoint"
    loggers: list
    trainer: L.Trainer


def instantiate_group(group: DictConfig | None) -> dict:
    """Build every entry of a group such as ``callbacks`` or ``logger`` (null entries skipped)."""
    if not group:
        return {}
    return {
        str(name): instantiate(node)
        for name, node in group.items()
        if node is not None and "_target_" in node
    }


def plain_config(cfg: DictConfig) -> dict:
    """The run's config as plain, resolved containers (no ``hydra`` node): safe to pickle
    into checkpoints that must load with ``weights_only=True``."""
    return {
        key: OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
        for key, value in cfg.items_ex(resolve=True)
        if key != "hydra"
    }


def build_run(cfg: DictConfig) -> Run:
    """Instantiate data, model, callbacks, loggers and trainer from a composed config."""
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    model.run_config = plain_config(cfg)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = list(instantiate_group(cfg.get("logger")).values())
    trainer = instantiate(cfg.trainer, callbacks=list(callbacks.values()), logger=loggers or False)
    return Run(datamodule, model, callbacks, loggers, trainer)
