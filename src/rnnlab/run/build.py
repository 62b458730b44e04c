"""Everything the config describes, built in one place with ``hydra.utils.instantiate``.

Keeping all ``instantiate`` calls here means that restricting targets (Hydra 1.4's
allow-list) or adding a new kind of object is a change to this file only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from rnnlab.models.module import SequenceModel
from rnnlab.run.config import plain_config
from rnnlab.run.validation import data_errors


@dataclass
class Run:
    """The objects of one training run, in the order data flows through them."""

    datamodule: L.LightningDataModule
    model: SequenceModel
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


def build_data(data_cfg: DictConfig) -> Any:
    """The datamodule, its data loaded: a file or series that cannot work is a ``ConfigError``."""
    with data_errors():
        datamodule = instantiate(data_cfg)
        datamodule.load()
    return datamodule


def apply_model_settings(cfg: DictConfig, datamodule: Any) -> None:
    """Write what the data decides about the model (``datamodule.model_settings()``: e.g.
    ``backbone.input_size``, ``num_classes``) into ``cfg.model``, where the key exists, so
    the config stored in checkpoints holds the values the model was built with."""
    settings = getattr(datamodule, "model_settings", None)
    if settings is None:
        return
    from omegaconf import OmegaConf, open_dict

    with open_dict(cfg):
        for path, value in settings().items():
            if OmegaConf.select(cfg.model, path, default="<absent>") != "<absent>":
                OmegaConf.update(cfg.model, path, value)


def build_model(cfg: DictConfig, datamodule: Any = None) -> SequenceModel:
    """The task's LightningModule with its backbone, carrying the run's plain config; with
    ``datamodule``, sized to its data first (``apply_model_settings``)."""
    if datamodule is not None:
        apply_model_settings(cfg, datamodule)
    if cfg.model.get("param_budget") is not None:
        fit_param_budget(cfg)
    model = instantiate(_model_node(cfg))
    model.run_config = plain_config(cfg)
    return model


def _model_node(cfg: DictConfig, hidden_size: int | None = None) -> DictConfig:
    """``cfg.model`` without ``param_budget`` (read here, not a LightningModule argument)."""
    from omegaconf import OmegaConf

    if "param_budget" not in cfg.model:
        return cfg.model
    node = OmegaConf.to_container(cfg.model, resolve=True)  # resolved against the whole cfg
    del node["param_budget"]
    if hidden_size is not None:
        node["backbone"]["hidden_size"] = hidden_size
    return OmegaConf.create(node)


def fit_param_budget(cfg: DictConfig) -> int:
    """Set ``cfg.model.backbone.hidden_size`` so that the whole model's parameter count is
    the closest to ``model.param_budget`` (``rnnlab.models.sizing``); the checkpoint, the
    logged settings and ``metrics.json`` then record the size used. Returns it."""
    import logging

    from rnnlab.errors import ConfigError, one_line
    from rnnlab.models.sizing import fit_hidden_size

    budget = int(cfg.model.param_budget)
    try:
        hidden, n_params = fit_hidden_size(lambda h: instantiate(_model_node(cfg, h)), budget)
    except ValueError as exc:
        raise ConfigError(
            f"model.param_budget={budget} is invalid: {one_line(exc, typed=False)}"
        ) from None
    cfg.model.backbone.hidden_size = hidden
    logging.getLogger(__name__).info(
        "model.param_budget=%d: hidden_size=%d gives %d parameters", budget, hidden, n_params
    )
    return hidden


def build_run(cfg: DictConfig) -> Run:
    """Instantiate data, model, callbacks, loggers and trainer from a composed config."""
    datamodule = build_data(cfg.data)
    model = build_model(cfg, datamodule)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = list(instantiate_group(cfg.get("logger")).values())
    trainer = instantiate(cfg.trainer, callbacks=list(callbacks.values()), logger=loggers or False)
    return Run(datamodule, model, callbacks, loggers, trainer)
