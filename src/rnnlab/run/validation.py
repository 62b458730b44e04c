"""Config checks at the boundary: bad settings fail before any work, with one line.

``validate_config(cfg)`` runs first in ``python train.py`` and raises ``ConfigError`` whose
message names the setting by its config path, the value given and what is allowed::

    data.seq_len=0 is invalid: it must be an integer >= 1 (input window length)

Per-setting rules are one declarative table (``SETTINGS``); the checks that involve several
settings (split fractions, windows per split, backbone class) are functions below it.
A rule applies only where its key exists, so other datamodules and backbones with other
settings pass through. What only the data can tell (a missing file, a series too short)
is raised by the datamodule when it loads, inside ``data_errors``, as a ``ConfigError``.
Unknown config keys and unknown ``backbone=`` choices are refused earlier by Hydra itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rnnlab.errors import ConfigError, one_line
from rnnlab.models.forecaster import DECODERS, NORMALIZE
from rnnlab.models.heads import HEADS
from rnnlab.models.likelihoods import LIKELIHOODS
from rnnlab.models.module import SCHEDULER_INTERVALS, WHOLE_EPOCH
from rnnlab.models.scan import MODES, SCANS
from rnnlab.run.config import backbone_choices

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
    """An integer of ``integer``'s range, or the word ``word``."""

    integer: Integer
    word: str

    def accepts(self, value: Any) -> bool:
        return value == self.word or self.integer.accepts(value)

    def __str__(self) -> str:
        return f"{self.integer} or '{self.word}'"


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
    Setting("model.param_budget", Integer(1), "parameters the model is sized to", nullable=True),
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
    Setting("model.pool", OneOf(("last", "mean")), "which hidden states the classifier reads"),
    Setting("data.fill", OneOf(("error", "interpolate")), "what fills missing values"),
    Setting("data.season", Integer(1), "steps per seasonal cycle", nullable=True),
    Setting("data.horizon", Integer(1), "target steps per window"),
    Setting("model.horizon", Integer(1), "steps the model forecasts at once"),
    Setting("model.decoder", OneOf(DECODERS), "how the forecast steps are emitted"),
    Setting("model.loss", OneOf(tuple(LIKELIHOODS)), "what the forecaster's outputs mean"),
    Setting("model.normalize", OneOf(NORMALIZE), "per-window normalisation"),
    Setting("forecast.horizon", Integer(1), "steps of the multi-step forecast", nullable=True),
    Setting("callbacks.figures.dpi", Integer(1), "resolution of the figures"),
    Setting("callbacks.figures.max_panels", Integer(0), "units drawn one panel each"),
    Setting("trainer.max_epochs", Integer(1), "epochs to train"),
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


def _fits(n_points: int, seq_len: int, val_fraction: float, test_fraction: float) -> bool:
    """True when train, val and test all get at least one window (the datamodule's rule)."""
    from rnnlab.data.windows import chronological_splits

    if seq_len >= n_points:
        return False
    try:
        splits = chronological_splits(n_points, seq_len, val_fraction, test_fraction)
    except ValueError:
        return False
    return "val" in splits  # a val share that rounds to 0 windows silently drops the split


def _largest(ok: Any, low: int, high: int) -> int:
    """Largest x in [low, high] with ok(x), for ok true up to a point (ok(low) is true)."""
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if ok(mid) else (low, mid - 1)
    return low


def _smallest(ok: Any, low: int) -> int:
    """Smallest x >= low with ok(x), for ok false then (mostly) true."""
    high = max(low, 1)
    while not ok(high):
        high *= 2
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if ok(mid) else (mid + 1, high)
    while low > 1 and ok(low - 1):  # rounding can make ok non-monotone by a point or two
        low -= 1
    return low


def check_windows(
    n_points: int,
    seq_len: int,
    val_fraction: float,
    test_fraction: float,
    n_points_key: str = "data.sample_size",
) -> None:
    """Every split must get at least one window; otherwise say which settings to change.

    ``n_points_key`` names where the series length comes from, for the message.
    """
    if _fits(n_points, seq_len, val_fraction, test_fraction):
        return
    fits_len = lambda s: _fits(n_points, s, val_fraction, test_fraction)  # noqa: E731
    min_points = _smallest(lambda n: _fits(n, seq_len, val_fraction, test_fraction), seq_len + 1)
    for key, fraction, split in (
        ("data.val_fraction", val_fraction, "validation"),
        ("data.test_fraction", test_fraction, "test"),
    ):
        windows = n_points - 1  # the most windows the series can give (seq_len=1)
        if windows >= 1 and round(fraction * windows) < 1:
            larger = f"{key} >= {1 / windows:.3g}, or " if windows > 1 else ""
            raise ConfigError(
                f"{key}={fraction} is invalid for {n_points_key}={n_points}: the {split} split "
                f"gets no windows; allowed: {larger}{n_points_key} >= {min_points}"
            )
    fractions = f"data.val_fraction={val_fraction}, data.test_fraction={test_fraction}"
    if not fits_len(1):
        raise ConfigError(
            f"{n_points_key}={n_points} is invalid: too short for any window with {fractions}; "
            f"allowed: {n_points_key} >= {min_points} for data.seq_len={seq_len}"
        )
    max_len = _largest(fits_len, 1, n_points)
    raise ConfigError(
        f"data.seq_len={seq_len} with {n_points_key}={n_points} is invalid: with {fractions} "
        f"a split gets no windows; allowed: data.seq_len <= {max_len} for this series, or "
        f"{n_points_key} >= {min_points} for this seq_len"
    )


def check_splits(cfg: DictConfig) -> None:
    """Split fractions that leave room for training, and windows in every split."""
    val, test = _value(cfg, "data.val_fraction"), _value(cfg, "data.test_fraction")
    if val is _ABSENT or test is _ABSENT:
        return
    if val + test >= 1:
        raise ConfigError(
            f"data.val_fraction={val} with data.test_fraction={test} is invalid: they sum to "
            f"{val + test:g} and must sum to less than 1 (the rest is the training split)"
        )
    n_points, seq_len = _value(cfg, "data.sample_size"), _value(cfg, "data.seq_len")
    if n_points is not _ABSENT and seq_len is not _ABSENT:
        check_windows(n_points, seq_len, val, test)


def check_backbone(cfg: DictConfig) -> None:
    """``model.backbone._target_`` must name an importable class."""
    target = _value(cfg, "model.backbone._target_")
    if target is _ABSENT or target is None:
        return
    from hydra.utils import get_object

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
    from hydra.utils import get_object

    try:
        data_cls = get_object(str(_value(cfg, "data._target_")))
        model_cls = get_object(str(_value(cfg, "model._target_")))
    except Exception:
        return  # check_known_arguments and Hydra name targets that do not import
    # A datamodule that names no tasks is a series of windows: it serves forecasting.
    served = getattr(data_cls, "tasks", ("forecast",))
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


SERVER_SCHEMES = ("http://", "https://", "databricks")  # MLflow tracking servers


def check_trackers(cfg: DictConfig) -> None:
    """A tracker's package must be installed (one line naming the extra), and MLflow artifacts
    that would stay on this machine cannot go with a tracking server."""
    from importlib.util import find_spec

    from rnnlab.run.trackers import EXTRAS

    loggers = _value(cfg, "logger")
    if not OmegaConf.is_dict(loggers):
        return  # eval.py's config, or logger=none
    for name, node in loggers.items():
        target = node.get("_target_") if OmegaConf.is_dict(node) else None
        extra, modules = EXTRAS.get(target, (None, ()))
        for module in modules:
            if find_spec(module) is None:
                raise ConfigError(
                    f'logger={name} needs the {module} package: pip install -e ".[{extra}]"'
                )
        uri, location = node.get("tracking_uri"), node.get("artifact_location")
        here = bool(location) and ("://" not in str(location) or str(location).startswith("file:"))
        if extra == "mlflow" and str(uri).startswith(SERVER_SCHEMES) and here:
            raise ConfigError(
                f"logger.{name}.artifact_location={shown(location)} is invalid with "
                f"logger.{name}.tracking_uri={shown(uri)}: files in a folder here stay out of "
                f"the server's reach; add logger.{name}.artifact_location=null (the server "
                f"keeps them) or give a store it reads (e.g. s3://bucket/path)"
            )


@contextmanager
def data_errors() -> Iterator[None]:
    """Turn the one-line errors a datamodule raises while loading its data (a missing file
    or column, a series too short for its windows) into ``ConfigError``."""
    try:
        yield
    except (ValueError, FileNotFoundError, KeyError) as exc:
        raise ConfigError(one_line(exc, typed=False)) from None


def accepted_arguments(cls: type) -> set[str] | None:
    """Keyword arguments ``cls(...)`` takes, following ``**kwargs`` into base classes;
    ``None`` when a class in the chain takes any keyword."""
    import inspect

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


# Keys that rnnlab.run.build reads itself instead of passing them to the class.
BUILD_ONLY = {"model": ("param_budget",)}


def check_scan_cells(cfg: DictConfig) -> None:
    """The LRU's ring must be a ring, and ``model.param_budget`` needs a ``hidden_size``."""
    r_min, r_max = _value(cfg, "model.backbone.r_min"), _value(cfg, "model.backbone.r_max")
    if r_min is not _ABSENT and r_max is not _ABSENT and r_min > r_max:
        raise ConfigError(
            f"model.backbone.r_min={r_min} with model.backbone.r_max={r_max} is invalid: "
            "the ring needs r_min <= r_max"
        )
    budget = _value(cfg, "model.param_budget")
    if budget not in (None, _ABSENT) and _value(cfg, "model.backbone.hidden_size") is _ABSENT:
        raise ConfigError(
            f"model.param_budget={budget} is invalid with model.backbone._target_="
            f"{shown(_value(cfg, 'model.backbone._target_'))}: it sizes the model through "
            "the backbone's hidden_size, which this backbone does not take"
        )


def check_known_arguments(cfg: DictConfig) -> None:
    """Keys added with ``+`` (Hydra lets them through) must be arguments of the class."""
    from hydra.utils import get_object

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


def check_forecast(cfg: DictConfig) -> None:
    """The forecasting settings that involve several keys: the window's horizon is the
    model's, quantile levels that give the central 80 % interval, calendar features the
    reader knows, targets the per-window normalisation can map back, and a report horizon
    a direct model can serve."""
    from rnnlab.data.csv import CALENDAR

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
    quantiles = _names(_value(cfg, "model.quantiles"))
    if quantiles is not None and _value(cfg, "model.loss") == "quantile":
        ok = all(isinstance(q, (int, float)) and not isinstance(q, bool) and 0 < q < 1
                 for q in quantiles)  # fmt: skip
        if not ok or sorted(set(quantiles)) != quantiles or not quantiles:
            raise ConfigError(
                f"model.quantiles={quantiles} is invalid: it must be increasing levels in (0, 1), "
                "e.g. [0.1,0.5,0.9]"
            )
        if quantiles[0] > 0.1 or quantiles[-1] < 0.9:
            raise ConfigError(
                f"model.quantiles={quantiles} is invalid: the levels must reach 0.1 and 0.9 or "
                "beyond (every probabilistic run reports the central 80 % interval)"
            )
    calendar = _names(_value(cfg, "data.calendar"))
    for name in calendar or []:
        if name not in CALENDAR:
            raise ConfigError(
                f"data.calendar={calendar} is invalid: {shown(name)} is not one of "
                f"{', '.join(CALENDAR)}"
            )
    if calendar and _value(cfg, "data.time_column") in (None, _ABSENT):
        raise ConfigError(
            f"data.calendar={calendar} needs data.time_column: the column of dates the "
            "calendar features are computed from"
        )
    normalize = _value(cfg, "model.normalize")
    inputs, targets = _names(_value(cfg, "data.inputs")), _names(_value(cfg, "data.target"))
    if normalize not in (_ABSENT, "none") and inputs is not None and targets is not None:
        missing = [t for t in targets if t not in inputs]
        if missing:
            raise ConfigError(
                f"model.normalize={normalize} is invalid with data.inputs={inputs}: it maps "
                f"each forecast back with its target's own window, and {', '.join(missing)} "
                "is not an input (add it to data.inputs, or model.normalize=none)"
            )
    report_h = _value(cfg, "forecast.horizon")
    direct = isinstance(model_h, int) and model_h > 1
    if direct and isinstance(report_h, int) and report_h > model_h:
        raise ConfigError(
            f"forecast.horizon={report_h} is invalid with model.horizon={model_h}: a direct "
            f"model forecasts at most {model_h} steps (forecast.horizon <= {model_h}, or null)"
        )


def validate_config(cfg: DictConfig) -> None:
    """All checks, cheapest first; raises ``ConfigError`` on the first bad setting."""
    check_renamed(cfg)
    check_required(cfg)
    check_settings(cfg)
    check_splits(cfg)
    check_forecast(cfg)
    check_backbone(cfg)
    check_known_arguments(cfg)
    check_scan_cells(cfg)
    check_task(cfg)
    check_trainer(cfg)
    check_callbacks(cfg)
    check_trackers(cfg)
