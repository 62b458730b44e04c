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
from rnnlab.models.sizing import count_parameters, fit_hidden_size, flops_of
from rnnlab.report.task import TaskReport
from rnnlab.run.config import plain_config

log = logging.getLogger(__name__)

# What data and models raise for settings that cannot work (one-line messages).
USER_ERRORS = (ValueError, FileNotFoundError, KeyError)
# Keys that this module reads itself instead of passing them to the class.
BUILD_ONLY = {"model": ("param_budget", "flop_budget")}
# Budgets a model is sized to (model.<key>): what each counts, and how.
BUDGETS = {"param_budget": "parameters", "flop_budget": "training FLOPs per sequence"}


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


def build_data(data_cfg: DictConfig, load: bool = True) -> Any:
    """The datamodule, its data loaded (``load=False``: not yet, e.g. for ``history``): a file
    or series that cannot work is a ``ConfigError``."""
    with setting_errors():
        datamodule = instantiate(data_cfg)
        if load:
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
    budgets = [key for key in BUDGETS if cfg.model.get(key) is not None]
    if len(budgets) > 1:
        raise ConfigError(
            "model.param_budget and model.flop_budget are both set: a model is sized to one "
            "budget; set the other to null"
        )
    if budgets:
        fit_budget(cfg, budgets[0], datamodule)
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


def fit_budget(cfg: DictConfig, key: str, datamodule: Any = None) -> int:
    """Set ``cfg.model.backbone.hidden_size`` so that the whole model's size (``key``:
    ``param_budget``, parameters; ``flop_budget``, training FLOPs per sequence measured on a
    training batch of ``datamodule``) is the closest to ``model.<key>``
    (``rnnlab.models.sizing``); the checkpoint, the logged settings and ``metrics.json`` then
    record the size used. Returns it."""
    budget = int(cfg.model[key])
    if OmegaConf.select(cfg, "model.backbone.hidden_size") is None:
        raise ConfigError(
            f"model.{key}={budget} is invalid with model.backbone._target_="
            f"{cfg.model.backbone.get('_target_')!r}: it sizes the model through the "
            "backbone's hidden_size, which this backbone does not take"
        )
    measure = count_parameters
    if key == "flop_budget":
        if datamodule is None or not hasattr(datamodule, "train_examples"):
            raise ConfigError(f"model.{key}={budget} needs the data: FLOPs depend on it")
        measure = flops_of(datamodule.train_examples(datamodule.batch_size))
    try:
        hidden, size = fit_hidden_size(lambda h: instantiate(_model_node(cfg, h)), budget, measure)
    except ValueError as exc:
        raise ConfigError(
            f"model.{key}={budget} is invalid: {one_line(exc, typed=False)}"
        ) from None
    cfg.model.backbone.hidden_size = hidden
    log.info("model.%s=%d: hidden_size=%d gives %d %s", key, budget, hidden, size, BUDGETS[key])
    return hidden


def step_budget(trainer_cfg: DictConfig, datamodule: Any) -> dict[str, int]:
    """``trainer.max_steps=N`` as whole epochs: the number of epochs whose optimizer steps
    come closest to N (at least one; ``trainer.max_epochs``, if given, still caps it), for
    Lightning's ``max_epochs``, with its ``max_steps`` left at -1.

    Lightning resumes a run with ``max_steps`` set as if its checkpoint came from inside an
    epoch; the shared loop's checkpoints come at epoch ends, so an epoch budget is what lets
    ``resume=true`` continue exactly. Empty when no step budget is set."""
    steps = trainer_cfg.get("max_steps", -1)
    batches = getattr(datamodule, "batches_per_epoch", None)
    if steps is None or steps < 0 or batches is None:
        return {}
    epochs = max(1, round(steps / max(batches(), 1)))
    cap = trainer_cfg.get("max_epochs")
    return {"max_epochs": epochs if cap is None else min(cap, epochs), "max_steps": -1}


def build_run(cfg: DictConfig) -> Run:
    """Instantiate data, model, report, callbacks, loggers and trainer from a composed config."""
    datamodule = build_data(cfg.data)
    model = build_model(cfg, datamodule)
    report = build_report(cfg)
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = list(instantiate_group(cfg.get("logger")).values())
    budget = step_budget(cfg.trainer, datamodule)
    trainer = instantiate(cfg.trainer, callbacks=list(callbacks.values()), logger=loggers or False,
                          **budget)  # fmt: skip
    return Run(datamodule, model, report, callbacks, loggers, trainer)
