"""Everything the config describes, built in one place with ``hydra.utils.instantiate``.

Keeping all ``instantiate`` calls here means that restricting targets (Hydra 1.4's
allow-list) or adding a new kind of object is a change to this file only. What only the
built objects can tell (a file that cannot be read, a series too short for its windows,
settings that contradict each other) surfaces here as a one-line ``ConfigError``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from rnnlab.errors import ConfigError, one_line
from rnnlab.models.module import SequenceModel
from rnnlab.models.sizing import fit_hidden_size
from rnnlab.report.task import TaskReport
from rnnlab.run.config import plain_config

log = logging.getLogger(__name__)

# What data and models raise for settings that cannot work (one-line messages).
USER_ERRORS = (ValueError, FileNotFoundError, KeyError)
# Keys that this module reads itself instead of passing them to the class.
BUILD_ONLY = {"model": ("param_budget",)}


@dataclass
class Run:
    """The objects of one training run, in the order data flows through them."""

    datamodule: L.LightningDataModule
    model: SequenceModel
    report: TaskReport
    callbacks: dict[str, L.Callback]  # by config key, e.g. "model_checkpoint"
    loggers: list
    trainer: L.Trainer


@contextmanager
def setting_errors() -> Iterator[None]:
    """Turn the one-line errors that data and models raise while they are built (a missing
    file or column, a series too short for its windows, settings that do not fit together)
    into ``ConfigError``."""
    try:
        yield
    except InstantiationException as exc:  # Hydra's wrapper of what the constructor raised
        cause = exc.__cause__
        if isinstance(cause, ConfigError):
            raise cause from None
        if isinstance(cause, USER_ERRORS):
            raise ConfigError(one_line(cause, typed=False)) from None
        raise
    except USER_ERRORS as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(one_line(exc, typed=False)) from None


def accepted_arguments(cls: type) -> set[str] | None:
    """Keyword arguments ``cls(...)`` takes, following ``**kwargs`` into base classes;
    ``None`` when a class in the chain takes any keyword."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names - {"self"}
        if klass.__module__.split(".")[0] in ("lightning", "torch"):
            return None  # their **kwargs are open-ended
    return None


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
    with setting_errors():
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
    with setting_errors():
        model = instantiate(_model_node(cfg))
    model.run_config = plain_config(cfg)
    return model


def build_report(cfg: DictConfig) -> TaskReport:
    """The task's report (``cfg.report``, set by the task's config)."""
    if OmegaConf.select(cfg, "report._target_") is None:
        raise ConfigError(
            "report is missing: the task's config names its report (report._target_, "
            "see conf/task/); a checkpoint without one was written by an older rnnlab"
        )
    return instantiate(cfg.report)


def _model_node(cfg: DictConfig, hidden_size: int | None = None) -> DictConfig:
    """``cfg.model`` without the keys read here (``BUILD_ONLY``)."""
    if not any(key in cfg.model for key in BUILD_ONLY["model"]):
        return cfg.model
    node = OmegaConf.to_container(cfg.model, resolve=True)  # resolved against the whole cfg
    for key in BUILD_ONLY["model"]:
        node.pop(key, None)
    if hidden_size is not None:
        node["backbone"]["hidden_size"] = hidden_size
    return OmegaConf.create(node)


def fit_param_budget(cfg: DictConfig) -> int:
    """Set ``cfg.model.backbone.hidden_size`` so that the whole model's parameter count is
    the closest to ``model.param_budget`` (``rnnlab.models.sizing``); the checkpoint, the
    logged settings and ``metrics.json`` then record the size used. Returns it."""
    budget = int(cfg.model.param_budget)
    if OmegaConf.select(cfg, "model.backbone.hidden_size") is None:
        raise ConfigError(
            f"model.param_budget={budget} is invalid with model.backbone._target_="
            f"{cfg.model.backbone.get('_target_')!r}: it sizes the model through the "
            "backbone's hidden_size, which this backbone does not take"
        )
    try:
        hidden, n_params = fit_hidden_size(lambda h: instantiate(_model_node(cfg, h)), budget)
    except ValueError as exc:
        raise ConfigError(
            f"model.param_budget={budget} is invalid: {one_line(exc, typed=False)}"
        ) from None
    cfg.model.backbone.hidden_size = hidden
    log.info("model.param_budget=%d: hidden_size=%d gives %d parameters", budget, hidden, n_params)
    return hidden


def build_run(cfg: DictConfig) -> Run:
    """Instantiate data, model, report, callbacks, loggers and trainer from a composed config."""
    datamodule = build_data(cfg.data)
    model = build_model(cfg, datamodule)
    report = build_report(cfg)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = list(instantiate_group(cfg.get("logger")).values())
    trainer = instantiate(cfg.trainer, callbacks=list(callbacks.values()), logger=loggers or False)
    return Run(datamodule, model, report, callbacks, loggers, trainer)
