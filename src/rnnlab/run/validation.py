"""Config checks at the boundary: bad settings fail before any work, with one line.

``validate_config(cfg)`` runs first in ``python train.py`` and raises ``ConfigError`` whose
message names the setting by its config path, the value given and what is allowed::

    data.seq_len=0 is invalid: it must be an integer >= 1 (input window length)

Per-setting rules are one declarative table (``SETTINGS``); a rule applies only where its key
exists, so other datamodules and backbones with other settings pass through. Rules that
involve several settings belong to whoever owns them, and are asked here: the windows'
split plan (``rnnlab.data.windows``), the trackers (``rnnlab.run.trackers``). What only the
built objects can tell (a missing file, a series too short, settings a model cannot combine)
is raised while building (``rnnlab.run.build``), still before any training. Unknown config
keys and unknown ``backbone=`` choices are refused earlier by Hydra itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from rnnlab.data.anomalies import TRAIN_ON
from rnnlab.data.panel import SCALINGS
from rnnlab.data.windows import fractions_problem, split_problem
from rnnlab.errors import ConfigError, one_line
from rnnlab.models.heads import HEADS
from rnnlab.models.highway import INITS
from rnnlab.models.likelihoods import LIKELIHOODS
from rnnlab.models.loop import WHOLE_EPOCH
from rnnlab.models.module import SCHEDULER_INTERVALS
from rnnlab.models.scan import MODES, SCANS
from rnnlab.models.tasks.anomaly import SCORERS
from rnnlab.models.tasks.forecast import DECODERS, INTERVALS, NORMALIZE
from rnnlab.models.tasks.panel import OBJECTIVES
from rnnlab.run.build import BUILD_ONLY, accepted_arguments
from rnnlab.run.config import backbone_choices
from rnnlab.run.trackers import tracker_problem

MAX_SEED = 2**32 - 1  # numpy's legacy generator (the sine noise) takes seeds below 2**32


@dataclass(frozen=True)
class Integer:
    """An int (not a bool, not a float) in ``[low, high]``."""

    low: int | None = None
    high: int | None = None

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, int) or isinstance(value, bool):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"an integer >= {self.low}"
        return f"an integer in [{self.low}, {self.high}]"


@dataclass(frozen=True)
class Number:
    """A finite int or float between ``low`` and ``high`` (each bound open or closed)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        if self.high is None:
            return f"a number {'>' if self.low_open else '>='} {self.low:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"a number in {left}{self.low:g}, {self.high:g}{right}"


@dataclass(frozen=True)
class OneOf:
    """One of a few fixed values."""

    choices: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        return value in self.choices

    def __str__(self) -> str:
        return "one of " + ", ".join(str(c) for c in self.choices)


@dataclass(frozen=True)
class Boolean:
    """``true`` or ``false``."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def __str__(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class IntegerOr:
    """An integer of ``integer``'s range, or one special value ``word`` (``'epoch'``, -1)."""

    integer: Integer
    word: str | int

    def accepts(self, value: Any) -> bool:
        same = value == self.word and type(value) is type(self.word)
        return same or self.integer.accepts(value)

    def __str__(self) -> str:
        return f"{self.integer} or {self.word!r}"


@dataclass(frozen=True)
class Setting:
    """One config key, what values it takes, and what it means (for the message)."""

    path: str
    allowed: Integer | Number | OneOf | Boolean | IntegerOr
    meaning: str
    nullable: bool = False


UNIT = Number(0.0, 1.0, low_open=True, high_open=True)
SETTINGS: tuple[Setting, ...] = (
    Setting("seed", Integer(0, MAX_SEED), "training seed"),
    Setting("test_ckpt", OneOf(("best", "last")), "which weights are tested"),
    Setting("resume", Boolean(), "continue from <run dir>/checkpoints/last.ckpt"),
    Setting("data.seq_len", Integer(1), "input window length"),
    Setting("data.val_fraction", UNIT, "share of windows for validation"),
    Setting("data.test_fraction", UNIT, "share of windows for testing"),
    Setting("data.batch_size", Integer(1), "windows per training batch"),
    Setting("data.eval_batch_size", Integer(1), "windows per evaluation batch"),
    Setting("data.num_workers", Integer(0), "DataLoader worker processes"),
    Setting("data.sample_size", Integer(1), "points in the series"),
    Setting("data.noise_std", Number(0.0), "standard deviation of the noise"),
    Setting("data.t_max", Number(0.0, low_open=True), "end of the time axis"),
    Setting("data.freq", Number(), "frequency of the sine"),
    Setting("data.seed", Integer(0, MAX_SEED), "seed of the noise"),
    Setting("data.n_train", Integer(1), "training sequences"),
    Setting("data.n_val", Integer(1), "validation sequences"),
    Setting("data.n_test", Integer(1), "test sequences"),
    Setting("data.n_symbols", Integer(2, 100), "symbols of the alphabet"),
    Setting("data.n_recall", Integer(1), "symbols to recall"),
    Setting("data.order", OneOf(("rows", "pixels", "permuted")), "how an image becomes a sequence"),
    Setting("data.standardize", Boolean(), "scale channels by training statistics"),
    Setting("model.backbone.input_size", Integer(1), "features per time step"),
    Setting("model.backbone.hidden_size", Integer(1), "hidden units per layer"),
    Setting("model.backbone.num_layers", Integer(1), "stacked recurrent layers"),
    Setting("model.backbone.dropout", Number(0.0, 1.0, high_open=True), "dropout between layers"),
    Setting("model.backbone.bidirectional", Boolean(), "also read windows backwards"),
    Setting("model.backbone.mode", OneOf(MODES), "how a scan-trained cell runs over time"),
    Setting("model.backbone.scan", OneOf(SCANS), "the parallel scan of minGRU/minLSTM"),
    Setting("model.backbone.chunk", Integer(1), "chunk length of the chunked scan", nullable=True),
    Setting("model.backbone.state_size", Integer(1), "LRU complex state units", nullable=True),
    Setting("model.backbone.r_min", Number(0.0, 1.0, high_open=True), "LRU ring: smallest |λ|"),
    Setting("model.backbone.r_max", Number(0.0, 1.0, high_open=True), "LRU ring: largest |λ|"),
    Setting("model.backbone.max_phase", Number(0.0), "LRU: largest initial phase of λ"),
    Setting("model.backbone.block", OneOf(("residual", "bare")), "minGRU/minLSTM/LRU layer form"),
    Setting("model.backbone.mlp_expansion", Number(0.0, low_open=True), "MLP width / hidden_size"),
    Setting("model.param_budget", Integer(1), "parameters the model is sized to", nullable=True),
    Setting("model.flop_budget", Integer(1), "training FLOPs per sequence", nullable=True),
    Setting("model.optimizer.lr", Number(0.0, low_open=True), "learning rate"),
    Setting("model.optimizer.weight_decay", Number(0.0), "weight decay"),
    Setting("model.scheduler.warmup_steps", Integer(0), "linear warm-up steps"),
    Setting("model.scheduler.min_lr_ratio", Number(0.0, 1.0), "final lr / initial lr"),
    Setting("model.scheduler_interval", OneOf(SCHEDULER_INTERVALS), "when the lr schedule steps"),
    Setting("model.head", OneOf(tuple(HEADS)), "what reads the hidden sequence"),
    Setting(
        "model.steps_per_execution",
        IntegerOr(Integer(1), WHOLE_EPOCH),
        "optimizer steps per Lightning training step",
    ),
    Setting("model.gradient_clip_val", Number(0.0), "gradient clip", nullable=True),
    Setting("model.gradient_clip_algorithm", OneOf(("norm", "value")), "how gradients clip"),
    Setting("model.highway", Integer(1), "steps the linear AR highway reads", nullable=True),
    Setting("model.highway_init", OneOf(INITS), "how the AR highway starts"),
    Setting("model.pool", OneOf(("last", "mean")), "which hidden states the classifier reads"),
    Setting("data.fill", OneOf(("error", "interpolate")), "what fills missing values"),
    Setting("data.season", Integer(1), "steps per seasonal cycle", nullable=True),
    Setting("data.horizon", Integer(1), "target steps per window"),
    Setting("model.horizon", Integer(1), "steps the model forecasts at once"),
    Setting("model.decoder", OneOf(DECODERS), "how the forecast steps are emitted"),
    Setting("model.loss", OneOf(tuple(LIKELIHOODS)), "what the forecaster's outputs mean"),
    Setting("model.normalize", OneOf(NORMALIZE), "per-window normalisation"),
    Setting("model.intervals", OneOf(INTERVALS), "what the intervals are", nullable=True),
    Setting("model.objective", OneOf(tuple(OBJECTIVES)), "what the panel model minimises"),
    Setting("model.id_embedding", Integer(0), "size of the learned series embedding"),
    Setting("data.min_history", Integer(1), "fewest real points in a window", nullable=True),
    Setting("data.scaling", OneOf(SCALINGS), "how each series of a panel is scaled"),
    Setting("data.balance", Boolean(), "draw training windows equally from every series"),
    Setting("data.refit", Boolean(), "train a panel on its validation horizon too"),
    Setting("data.windows_per_series", Integer(1), "windows per series and pass (balance)"),
    Setting("report.max_stats_series", Integer(0), "most series statsforecast fits"),
    Setting("report.panels", Integer(0), "series drawn in plots/forecasts.png"),
    Setting("report.horizon", Integer(1), "steps of the multi-step forecast", nullable=True),
    Setting("model.scorer", OneOf(SCORERS), "what scores a point: its forecast or its window"),
    Setting("model.smooth", Integer(1), "points the score is averaged over"),
    Setting("model.window", Integer(1), "points a reconstructed window holds", nullable=True),
    Setting("data.count", Integer(1), "injected anomalies of each kind"),
    Setting("data.length", Integer(1), "points of an injected anomaly"),
    Setting("data.magnitude", Number(0.0, low_open=True), "size of a spike or a shift"),
    Setting("data.ratio", Number(0.0, low_open=True), "speed-up of a frequency change"),
    Setting("data.train_fraction", UNIT, "share of the series that is the training part"),
    Setting("data.contaminate", Boolean(), "anomalies in the training part too"),
    Setting("data.train_on", OneOf(TRAIN_ON), "which training windows are trained on"),
    Setting("data.train_end", Integer(1), "first point after the training part", nullable=True),
    Setting("data.number", Integer(1), "the UCR archive file's number", nullable=True),
    Setting("report.threshold_quantile", UNIT, "validation-score quantile that flags points"),
    Setting("report.vus_buffer", Integer(0), "largest VUS-PR buffer, points"),
    Setting("report.ar_order", Integer(1), "lags of the AR-residual baseline"),
    Setting("report.zscore_window", Integer(2), "past points of the rolling z-score"),
    Setting("report.stomp_window", Integer(4), "subsequence length of the STOMP discord"),
    Setting("report.aeon_baselines", Boolean(), "run aeon's STOMP and DWT-MLEAD"),
    Setting("horizon", Integer(1), "steps predict.py forecasts beyond the data", nullable=True),
    Setting("format", OneOf(("onnx", "torchscript")), "what export.py writes"),
    Setting("callbacks.figures.dpi", Integer(1), "resolution of the figures"),
    Setting("callbacks.figures.max_panels", Integer(0), "units drawn one panel each"),
    Setting("trainer.max_epochs", Integer(1), "epochs to train", nullable=True),
    Setting("trainer.max_steps", IntegerOr(Integer(1), -1), "optimizer steps (-1: no limit)"),
    Setting("data.min_batches_per_epoch", Integer(1), "fewest training batches per epoch"),
    Setting("trainer.check_val_every_n_epoch", Integer(1), "epochs between validations"),
    Setting("callbacks.early_stopping.patience", Integer(0), "epochs without improvement"),
)

_ABSENT = object()


def shown(value: Any) -> str:
    """A value the way a user would type it in an override."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


def _value(cfg: DictConfig, path: str) -> Any:
    return OmegaConf.select(cfg, path, default=_ABSENT, throw_on_missing=False)


def check_settings(cfg: DictConfig, settings: tuple[Setting, ...] = SETTINGS) -> None:
    """Every rule of ``settings`` whose key is in ``cfg``; raises on the first bad value."""
    for setting in settings:
        value = _value(cfg, setting.path)
        if value is _ABSENT or (value is None and setting.nullable):
            continue
        if OmegaConf.is_config(value) or not setting.allowed.accepts(value):
            raise ConfigError(
                f"{setting.path}={shown(value)} is invalid: it must be {setting.allowed}"
                f"{' or null' if setting.nullable else ''} ({setting.meaning})"
            )


def check_required(cfg: DictConfig) -> None:
    """Settings left at ``???`` (e.g. ``data.path`` of ``data=csv``) must be given."""
    missing = sorted(
        key
        for group in ("data", "model", "trainer")
        if group in cfg
        for key in OmegaConf.missing_keys(cfg[group])
    )
    if missing:
        raise ConfigError(
            f"{missing[0]} is required and has no value: give it on the command line, "
            f"e.g. {missing[0]}=..."
        )


def check_splits(cfg: DictConfig) -> None:
    """Split fractions that leave room for training and, where the config holds the series
    length, windows in every split (the windows' own split plan says so)."""
    val, test = _value(cfg, "data.val_fraction"), _value(cfg, "data.test_fraction")
    if val is _ABSENT or test is _ABSENT:
        return
    problem = fractions_problem(val, test)
    n_points, seq_len = _value(cfg, "data.sample_size"), _value(cfg, "data.seq_len")
    if problem is None and n_points is not _ABSENT and seq_len is not _ABSENT:
        horizon = _value(cfg, "data.horizon")
        horizon = horizon if isinstance(horizon, int) else 1
        problem = split_problem(n_points, seq_len, val, test, horizon, "data.sample_size")
    if problem is not None:
        raise ConfigError(problem)


def check_backbone(cfg: DictConfig) -> None:
    """``model.backbone._target_`` must name an importable class."""
    target = _value(cfg, "model.backbone._target_")
    if target is _ABSENT or target is None:
        return
    try:
        get_object(str(target))
    except Exception as exc:  # Hydra wraps the import error in its own type
        raise ConfigError(
            f"model.backbone._target_={shown(target)} is invalid: it cannot be imported "
            f"({one_line(exc.__cause__ or exc)}); the backbones in conf/backbone are "
            f"{', '.join(backbone_choices())} (choose one with backbone=NAME)"
        ) from None


def check_task(cfg: DictConfig) -> None:
    """The task must be one the data serves (a datamodule's ``tasks``), and a recall task
    (the copy tasks: memory of the past) takes no backbone that also reads backwards."""
    data_target, model_target = _value(cfg, "data._target_"), _value(cfg, "model._target_")
    if not isinstance(data_target, str) or not isinstance(model_target, str):
        return  # eval.py's config: the checkpoint's data and model
    try:
        data_cls, model_cls = get_object(data_target), get_object(model_target)
    except Exception:
        return  # check_known_arguments and Hydra name targets that do not import
    served = getattr(data_cls, "tasks", ())  # a datamodule that names no tasks serves any
    task = getattr(model_cls, "task", None)
    if served and task not in served:
        raise ConfigError(
            f"task={task} is invalid for {data_cls.__name__}: this data serves "
            f"{' or '.join(f'task={t}' for t in served)} (drop task= to use it)"
        )
    if getattr(data_cls, "recall", False) and _value(cfg, "model.backbone.bidirectional") is True:
        raise ConfigError(
            f"model.backbone.bidirectional=true is invalid for task={task}: a recall task "
            "measures memory of the past, so the backbone must read forwards only "
            "(model.backbone.bidirectional=false)"
        )


def check_trainer(cfg: DictConfig) -> None:
    """Settings of Lightning's automatic loop that the shared (manual) loop replaces."""
    clip = _value(cfg, "trainer.gradient_clip_val")
    if clip is not _ABSENT and clip is not None:
        raise ConfigError(
            f"trainer.gradient_clip_val={shown(clip)} is invalid: it must be null; the "
            f"gradient clip is model.gradient_clip_val (e.g. model.gradient_clip_val={shown(clip)})"
        )
    accumulate = _value(cfg, "trainer.accumulate_grad_batches")
    if accumulate is not _ABSENT and accumulate not in (None, 1):
        raise ConfigError(
            f"trainer.accumulate_grad_batches={shown(accumulate)} is invalid: the shared loop "
            "takes one optimizer step per batch; use a larger data.batch_size instead"
        )


def check_callbacks(cfg: DictConfig) -> None:
    """``test_ckpt=best`` needs the checkpoint callback that writes best.ckpt."""
    if _value(cfg, "test_ckpt") == "best" and not _value(cfg, "callbacks.model_checkpoint"):
        raise ConfigError(
            "test_ckpt='best' is invalid without callbacks.model_checkpoint (it writes "
            "best.ckpt): use test_ckpt=last or keep the callback"
        )


def check_trackers(cfg: DictConfig) -> None:
    """Every logger must be able to work (``rnnlab.run.trackers.tracker_problem``)."""
    loggers = _value(cfg, "logger")
    if not OmegaConf.is_dict(loggers):
        return  # eval.py's config, or logger=none
    for name, node in loggers.items():
        problem = tracker_problem(str(name), node)
        if problem is not None:
            raise ConfigError(problem)


def check_known_arguments(cfg: DictConfig) -> None:
    """Keys added with ``+`` (Hydra lets them through) must be arguments of the class."""
    for node_path in ("data", "model", "model.backbone"):
        target = _value(cfg, f"{node_path}._target_")
        if not isinstance(target, str):
            continue
        try:
            accepted = accepted_arguments(get_object(target))
        except Exception:
            continue  # check_backbone names import problems; builtins have no signature
        if accepted is None:
            continue
        node = OmegaConf.select(cfg, node_path)
        for key in node:
            if key in BUILD_ONLY.get(node_path, ()):
                continue
            if not str(key).startswith("_") and key not in accepted:
                raise ConfigError(
                    f"{node_path}.{key} is invalid: {target} takes no setting {key!r}; it takes "
                    f"{', '.join(sorted(accepted))}"
                )


# Settings that were renamed: old path -> new path (the old one stops with a one-line error).
RENAMED = {"data.column": "data.target"}


def check_renamed(cfg: DictConfig) -> None:
    """A renamed setting given by its old name gets its new name, before anything else
    (the new one would otherwise be reported missing)."""
    for old, new in RENAMED.items():
        value = _value(cfg, old)
        if value is not _ABSENT and value is not None:
            raise ConfigError(
                f"{old}={shown(value)} is no longer read: the setting is now {new} "
                f"(use {new}={shown(value) if isinstance(value, str) else '...'})"
            )


def _names(value: Any) -> list[Any] | None:
    """A list setting as a plain list; a single string as a one-element list."""
    if value is _ABSENT or value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(OmegaConf.to_container(value)) if OmegaConf.is_config(value) else list(value)


def check_horizons(cfg: DictConfig) -> None:
    """The windows hold as many target steps as the model forecasts, and a direct model's
    report looks no further ahead than the model forecasts."""
    model_h, data_h = _value(cfg, "model.horizon"), _value(cfg, "data.horizon")
    if isinstance(model_h, int) and model_h > 1 and data_h is _ABSENT:
        raise ConfigError(
            f"model.horizon={model_h} is invalid with data._target_="
            f"{shown(_value(cfg, 'data._target_'))}: its config passes no horizon to the "
            "windows (add `horizon: ${oc.select:model.horizon,1}` to the data config)"
        )
    if data_h is not _ABSENT and model_h is not _ABSENT and data_h != model_h:
        raise ConfigError(
            f"data.horizon={data_h} is invalid with model.horizon={model_h}: the windows must "
            "hold as many target steps as the model forecasts (leave data.horizon at "
            "${oc.select:model.horizon,1})"
        )
    report_h = _value(cfg, "report.horizon")
    direct = isinstance(model_h, int) and model_h > 1
    if direct and isinstance(report_h, int) and report_h > model_h:
        raise ConfigError(
            f"report.horizon={report_h} is invalid with model.horizon={model_h}: a direct "
            f"model forecasts at most {model_h} steps (report.horizon <= {model_h}, or null)"
        )


def validate_config(cfg: DictConfig) -> None:
    """All checks, cheapest first; raises ``ConfigError`` on the first bad setting."""
    check_renamed(cfg)
    check_required(cfg)
    check_settings(cfg)
    check_splits(cfg)
    check_horizons(cfg)
    check_backbone(cfg)
    check_known_arguments(cfg)
    check_task(cfg)
    check_trainer(cfg)
    check_callbacks(cfg)
    check_trackers(cfg)
