"""``task=forecast``: the next value(s) of a series from a window of past values; its report
is ``rnnlab.report.tasks.forecast``.

The model is ``normalize -> backbone -> head [-> decoder] -> likelihood -> un-normalize``:
``model.normalize`` maps each window to its own level (``level``, ``window``: RevIN-style,
``difference``), so a model trained on one range forecasts another; ``model.head`` reads the
hidden sequence and, with ``model.horizon=H``, emits H steps at once (``decoder=seq2seq``:
through a small GRU); known-future columns enter at the forecast steps; ``model.loss`` is
``mse``, ``gaussian`` or ``quantile``. ``model(x[, future])`` is the point forecast
``[B, H·T]``; ``distribution`` the likelihood's parameters. ``model.intervals=conformal``
calibrates the intervals on the validation windows (``rnnlab.models.conformal``). The model
keeps the file statistics of its columns (``data_loc``, ``data_scale``) and that calibration
as buffers, so predictions on new data and exported models use what training used.
docs/forecasting.md has it all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torchmetrics import MetricCollection

from rnnlab.models.conformal import Conformal, model_interval
from rnnlab.models.epoch_sums import EpochSums
from rnnlab.models.forecast_metrics import forecast_metrics
from rnnlab.models.heads import HEADS, Seq2SeqDecoder
from rnnlab.models.highway import INITS, ARHighway
from rnnlab.models.likelihoods import make_likelihood
from rnnlab.models.module import SequenceModel

DECODERS = ("linear", "seq2seq")
NORMALIZE = ("none", "level", "window", "difference")
WINDOW_EPS = 1e-5  # added to a window's variance: a flat window must not divide by zero
INTERVALS = ("conformal", "model", "none")


def resolve_intervals(intervals: str | None, loss: str) -> str:
    """``model.intervals`` with its default filled in: ``conformal`` for ``loss=mse`` (it has no
    interval of its own), ``model`` (the likelihood's own) for the probabilistic losses."""
    if intervals is None:
        return "conformal" if loss == "mse" else "model"
    if intervals not in INTERVALS:
        raise ValueError(f"model.intervals={intervals!r} is invalid: one of {', '.join(INTERVALS)}")
    if intervals == "model" and loss == "mse":
        raise ValueError(
            "model.intervals=model is invalid with model.loss=mse: a point forecast has no "
            "interval of its own; use model.intervals=conformal (or a probabilistic model.loss)"
        )
    return intervals


class WindowNormalizer:
    """Per-window normalisation of the observed features (the first ``n_observed``).

    ``encode(x)`` returns the normalised window and the ``(shift, scale)`` that map a
    forecast back, per target and step (``[B, H·T]``; ``scale`` None for ``difference``).
    """

    def __init__(self, mode: str, n_observed: int, target_features: Sequence[int], horizon: int):
        self.mode = mode
        self.n_observed = n_observed
        self.targets = list(target_features)
        self.horizon = horizon
        # Adjacent target columns are a slice: fewer nodes than a gather in an exported graph.
        first, n = (self.targets or [0])[0], len(self.targets)
        adjacent = self.targets == list(range(first, first + n))
        self.pick: slice | list[int] = slice(first, first + n) if adjacent else self.targets

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        if self.mode == "none":
            return x, None, None
        observed, known = x[..., : self.n_observed], x[..., self.n_observed :]
        if self.mode == "window":
            level = observed.mean(dim=1, keepdim=True)  # [B, 1, F_obs]
            spread = (observed.var(dim=1, keepdim=True, unbiased=False) + WINDOW_EPS).sqrt()
            observed = (observed - level) / spread
            shift, scale = level[:, 0, self.pick], spread[:, 0, self.pick]  # [B, T]
        elif self.mode == "level":
            level = observed.mean(dim=1, keepdim=True)  # [B, 1, F_obs]
            observed = observed - level
            shift, scale = level[:, 0, self.pick], None
        else:  # difference
            shift, scale = observed[:, -1, self.pick], None
            steps = observed.diff(dim=1)  # [B, L - 1, F_obs]
            observed = torch.cat((torch.zeros_like(observed[:, :1]), steps), dim=1)
        x = torch.cat((observed, known), dim=-1) if known.shape[-1] else observed
        tile = lambda v: v if v is None or self.horizon == 1 else v.repeat(1, self.horizon)  # noqa: E731
        return x, tile(shift), tile(scale)  # [B, T] -> [B, H·T], step-major


class Forecaster(SequenceModel):
    """A backbone and a forecasting head, trained on the next ``horizon`` values.

    Args:
        backbone, optimizer, scheduler, scheduler_interval: see ``SequenceModel``; further
            settings of the shared training loop (``loop_settings``) pass through to it.
        head: ``last`` (linear layer on the last hidden state) or ``attention`` (learned
            attention pooling over all hidden states); see ``rnnlab.models.heads``.
        horizon: steps forecast at once (1: the next value only).
        decoder: ``linear`` (one layer emits every step) or ``seq2seq`` (a GRU decoder).
        loss: ``mse``, ``gaussian`` or ``quantile`` (``rnnlab.models.likelihoods``).
        quantiles: the levels of ``loss=quantile``.
        normalize: ``none``, ``level``, ``window`` or ``difference`` (module docstring).
        highway: ``p`` adds a linear map of the window's last ``p`` steps to the outputs
            (an autoregressive highway, ``rnnlab.models.highway``); None: no highway.
        highway_init: ``zero``, or ``ar``: the highway starts as the least-squares fit of the
            training windows and the recurrent path's outputs at zero (``on_fit_start``).
        columns: names of the input features, targets and known-future features
            (``{"inputs": [...], "targets": [...], "known": [...]}``, known features last in
            ``inputs``); filled in from the data by ``build_model``. None: one series, both
            input and target.
        intervals: ``conformal`` (calibrated on the validation windows), ``model`` (the
            likelihood's own) or ``none``; None: ``conformal`` for ``mse``, else ``model``.

    Metrics (not the loss) are computed in the original units of the series: ``setup``
    reads ``loc``/``scale`` from the datamodule.
    """

    task = "forecast"

    def __init__(
        self,
        backbone: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "step",
        head: str = "last",
        horizon: int = 1,
        decoder: str = "linear",
        loss: str = "mse",
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        normalize: str = "none",
        columns: dict[str, list[str]] | None = None,
        highway: int | None = None,
        highway_init: str = "zero",
        intervals: str | None = None,
        **loop_settings: Any,
    ) -> None:
        # Plain lists and dicts (not the config's containers): checkpoints must load with
        # torch.load(weights_only=True), and hparams are read from these very names.
        quantiles = [float(q) for q in quantiles]
        columns = {str(k): [str(n) for n in v] for k, v in columns.items()} if columns else None
        super().__init__(backbone, optimizer, scheduler, scheduler_interval, **loop_settings)
        self.save_plain_hyperparameters()
        inputs = list((columns or {}).get("inputs") or ["value"])
        self.target_names = list((columns or {}).get("targets") or inputs[:1])
        self.known_names = list((columns or {}).get("known") or [])
        self.horizon = horizon
        self.n_targets, self.n_known = len(self.target_names), len(self.known_names)
        self.likelihood = make_likelihood(loss, quantiles)
        out_per_step = self.n_targets * self.likelihood.n_params
        hidden = backbone.output_size
        # The head is built first: with the defaults the parameters (and the random numbers
        # drawn for them) are those of a plain linear head.
        if decoder == "seq2seq":
            self.head = HEADS[head](hidden, hidden)
            self.decoder = Seq2SeqDecoder(hidden, horizon, self.n_known, out_per_step)
        else:
            self.head = HEADS[head](hidden, horizon * out_per_step)
            self.decoder = None
            if self.n_known:
                self.future_head = nn.Linear(horizon * self.n_known, horizon * out_per_step)
        n_observed = len(inputs) - self.n_known
        missing = [t for t in self.target_names if t not in inputs[:n_observed]]
        if normalize != "none" and missing:
            raise ValueError(
                f"model.normalize={normalize} needs every target among the observed inputs; "
                f"{', '.join(missing)} is not (add it to data.inputs)"
            )
        positions = [inputs.index(t) for t in self.target_names if t in inputs]
        self.normalizer = WindowNormalizer(normalize, n_observed, positions, horizon)
        # Built after the other layers, and drawing no random numbers: they start the same.
        self.highway = (
            ARHighway(highway, len(inputs), horizon * self.n_targets) if highway else None
        )
        if highway_init not in INITS:
            raise ValueError(f"model.highway_init={highway_init!r} is invalid: one of {INITS}")
        self.highway_init = highway_init
        self.intervals = resolve_intervals(intervals, loss)
        self.conformal = Conformal(horizon * self.n_targets)
        # The file statistics of the observed columns (and targets), float64, NaN until the
        # data gives them: file units = model units · scale + loc. Predictions on new data and
        # exported models scale with these, never with statistics of the new data.
        self.data_columns = list(dict.fromkeys([*inputs[:n_observed], *self.target_names]))
        stats = torch.full((len(self.data_columns),), math.nan, dtype=torch.float64)
        self.register_buffer("data_loc", stats.clone())
        self.register_buffer("data_scale", stats.clone())
        # model units -> original units for metrics; set from the datamodule in setup().
        self.target_loc: float | Tensor = 0.0
        self.target_scale: float | Tensor = 1.0
        self.simple = self.likelihood.name == "mse" and self.n_targets == 1
        # Per-step work kept to a few tensor ops; with one target and MSE the loss is the
        # squared error itself, otherwise the errors are counted in the series' units.
        self.train_tracker = EpochSums() if self.simple else _PointSums(self)

    # ---------------------------------------------------------------- the network
    def distribution(self, x: Tensor, future: Tensor | None = None) -> Tensor:
        """The likelihood's parameters for windows ``x [B, L, F]`` (and the known-future
        features ``future [B, H, K]``), in the units of the training data."""
        if self.n_known and future is None:
            raise ValueError(
                f"this forecaster reads known-future features ({', '.join(self.known_names)}): "
                "call it as model(x, future)"
            )
        params = self._network(x, future)
        if self.highway is not None:  # the linear AR term moves the location
            params = self.likelihood.affine(params, self.highway(x), None)  # [B, L, F] -> [B, H·T]
        return params

    def _network(self, x: Tensor, future: Tensor | None) -> Tensor:
        """The likelihood's parameters from the recurrent path alone (no highway)."""
        x, shift, scale = self.normalizer.encode(x)
        hidden = self.backbone(x)  # [B, L, F] -> [B, L, D]
        if self.decoder is not None:
            raw = self.decoder(self.head(hidden), future)  # [B, D] -> [B, H·T·P]
        else:
            raw = self.head(hidden)  # [B, L, D] -> [B, H·T·P]
            if self.n_known:
                raw = raw + self.future_head(future.flatten(1))  # [B, H, K] -> [B, H·K]
        params = self.likelihood.params(raw)
        if shift is None:
            return params
        return self.likelihood.affine(params, shift, scale)

    def forward(self, x: Tensor, future: Tensor | None = None) -> Tensor:
        """The point forecast ``[B, H·T]`` (step-major: step h, target t at h·T + t)."""
        return self.likelihood.point(self.distribution(x, future))

    def step(self, batch: Any) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss, parameters, target)`` of a batch ``(x, y[, future])``."""
        x, y = batch[0], batch[1]
        output = self.distribution(x, *batch[2:])
        return self.loss(output, y), output, y

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self(batch[0], *batch[2:])

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return self.likelihood.loss(output, target)

    # ---------------------------------------------------------------- the start
    def on_fit_start(self) -> None:
        """With ``highway_init=ar``, start from the least-squares fit of the training windows
        (once: a resumed run keeps its weights)."""
        self.store_statistics(self.trainer.datamodule)  # after a checkpoint was restored
        if self.highway is None or self.highway_init != "ar" or bool(self.highway.fitted):
            return
        x, y, *future = self.trainer.datamodule.datasets["train"].all
        self.start_from_ar(
            x.to(self.device), y.to(self.device), *(f.to(self.device) for f in future)
        )

    @torch.no_grad()
    def start_from_ar(self, x: Tensor, y: Tensor, future: Tensor | None = None) -> None:
        """Zero the outputs of the recurrent path and fit the highway by least squares to what
        the rest of the model then misses of ``y [N, H·T]`` from the windows ``x [N, L, F]``:
        the model starts as the linear AR fit (on the window's own lags, with an intercept,
        whatever the normalisation)."""
        if self.decoder is not None:
            last = self.decoder.out
        else:  # the attention head's output layer, or the linear head itself
            last = getattr(self.head, "out", self.head)
        for layer in (last, getattr(self, "future_head", None)):
            if layer is not None:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        was_training = self.training
        self.eval()
        rest = self.likelihood.point(self._network(x, future))  # [N, H·T]
        self.train(was_training)
        self.highway.fit(x, y - rest)

    # ---------------------------------------------------------------- metrics and units
    def make_metrics(self, prefix: str) -> MetricCollection:
        return forecast_metrics(prefix, self.likelihood, self.target_names)

    def _units(self, like: Tensor) -> tuple[Tensor | float, Tensor | float]:
        """``(loc, scale)`` broadcastable over ``[B, H·T]``."""
        loc, scale = self.target_loc, self.target_scale
        if isinstance(scale, Tensor):  # one per target, tiled over the steps
            loc = loc.to(like).repeat(self.horizon)
            scale = scale.to(like).repeat(self.horizon)
        return loc, scale

    def metric_inputs(self, output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        loc, scale = self._units(target)
        if self.simple:
            return output * scale + loc, target * scale + loc
        return self.likelihood.affine(output, loc, scale), target * scale + loc

    def original_units(self, params: Tensor) -> Tensor:
        """Likelihood parameters in the series' own units."""
        loc, scale = self._units(params)
        return self.likelihood.affine(params, loc, scale)

    def val_loss_as_mse(self, value: float) -> float | None:
        """A validation loss as the MSE in the series' units, where it is one (MSE loss,
        one target); None otherwise."""
        if not self.simple:
            return None
        return value * self.target_scale**2

    def setup(self, stage: str) -> None:
        super().setup(stage)
        dm = getattr(self.trainer, "datamodule", None)
        self.store_statistics(dm)
        loc, scale = getattr(dm, "loc", 0.0), getattr(dm, "scale", 1.0)
        if isinstance(scale, Tensor):
            self.target_loc, self.target_scale = loc.float(), scale.float()
        else:
            self.target_loc, self.target_scale = float(loc), float(scale)
            if self.simple:
                self.train_tracker.scale = self.target_scale

    # ---------------------------------------------------------------- what leaves the run
    def store_statistics(self, dm: Any) -> None:
        """Copy the data's file statistics (``dm.statistics()``: column name -> ``(loc,
        scale)``) into ``data_loc``/``data_scale``; columns it lacks stay NaN."""
        statistics = getattr(dm, "statistics", None)
        if not callable(statistics):
            return
        stats = statistics()
        for i, name in enumerate(self.data_columns):
            if name in stats:
                self.data_loc[i], self.data_scale[i] = (float(v) for v in stats[name])

    @property
    def statistics(self) -> dict[str, tuple[float, float]]:
        """The stored file statistics by column name (empty when the checkpoint has none)."""
        loc, scale = self.data_loc.tolist(), self.data_scale.tolist()
        if any(math.isnan(v) for v in loc + scale):
            return {}
        return {n: (a, b) for n, a, b in zip(self.data_columns, loc, scale, strict=True)}

    @torch.no_grad()
    def calibration(self) -> Tensor | None:
        """The conformal ``q`` of the current weights on the validation windows of the
        trainer's datamodule (``rnnlab.models.conformal``); None when the intervals are not
        conformal or there are no validation windows."""
        dm = getattr(self._trainer, "datamodule", None)
        val = getattr(dm, "datasets", {}).get("val")
        if self.intervals != "conformal" or val is None or len(val) == 0:
            return None
        x, y, *future = val.all
        was_training = self.training
        self.eval()
        try:
            params = torch.cat([
                self.distribution(*(t[i : i + 4096].to(self.device) for t in (x, *future)))
                for i in range(0, len(x), 4096)
            ])  # fmt: skip
        finally:
            self.train(was_training)
        interval = lambda c: model_interval(self.likelihood, params, c)  # noqa: E731
        return self.conformal.quantiles(interval, y.to(params.device))

    def on_test_start(self) -> None:
        """Calibrate the tested weights (what the report's coverage and the figures use)."""
        q = self.calibration()
        if q is not None:
            self.conformal.q.copy_(q)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store, with the weights a checkpoint holds, their own calibration."""
        super().on_save_checkpoint(checkpoint)
        weights = checkpoint.get("state_dict")
        if self.intervals != "conformal" or weights is None:
            return
        raw = checkpoint.get("current_model_state")
        if raw is not None:  # callbacks.ema: the raw weights, in the model now, get theirs too
            q = self.calibration()
            if q is not None:
                raw["conformal.q"] = q.clone()
        swapped = raw is not None  # callbacks.ema saves the average
        if swapped:
            own = {k: v.clone() for k, v in self.state_dict().items()}
            self.load_state_dict(weights)
        try:
            q = self.calibration()
        finally:
            if swapped:
                self.load_state_dict(own)
        if q is not None:
            weights["conformal.q"] = q.clone()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        for name in ("data_loc", "data_scale"):  # an older checkpoint: statistics unknown
            state_dict.setdefault(prefix + name, torch.full_like(self.data_loc, math.nan))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class _PointSums(EpochSums):
    """Training-epoch sums of the point forecast's errors in the series' units, the loss
    (whatever it is) kept as its own sum."""

    def __init__(self, model: Forecaster) -> None:
        super().__init__(scale=1.0, loss_is_mse=False)
        self.model = model

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor, loss: Tensor) -> None:
        params, target = self.model.metric_inputs(pred, target)
        super().update(self.model.likelihood.point(params), target, loss)
