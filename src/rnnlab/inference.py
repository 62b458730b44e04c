"""From a trained model and its data to predictions: the one inference path of rnnlab.

Reports, ``eval.py`` and prediction on new data all go through here::

    forecasts = window_forecasts(model, frame)            # every test window, all its steps
    method, forecasts = forecast_paths(model, frame, 50)  # direct, or rolled forward
    time, forecasts = forecast_beyond(model, frame, 50)   # after the last point of the data
    probabilities = class_probabilities(model, dataset)   # a classifier, per sequence
    starts, rebuilt = rebuilt_windows(model, frame)       # an encoder-decoder's windows

A series comes as one ``SeriesFrame`` (``dm.frame()``; new data for a forecast beyond its
end: ``dm.history(model.statistics)``). Models work in model units; a forecast is converted
to the file's units once, in ``to_forecasts``, with its intervals: the model's conformal
calibration where it has one (``model.intervals=conformal``, ``rnnlab.models.conformal``),
else the likelihood's own. A model with
``model.horizon=H`` forecasts up to H steps directly; a one-step model is rolled forward:
its prediction is appended to its window (the oldest value dropped, the known-future
features of the new step filled in) and it predicts again. That needs every observed input
to be a target: a model that reads, say, wind to forecast temperature has no wind forecast
to feed itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab.data.frame import SeriesFrame

FAN = (0.5, 0.8, 0.95)  # central intervals drawn for a Gaussian (quantiles: their own pairs)
EVAL_BATCH = 4096


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def model_horizon(model: nn.Module) -> int:
    """Steps the model emits per call (1 for a one-step model)."""
    return int(getattr(model, "horizon", 1))


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode (no dropout) without gradients; its mode restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def outputs(
    model: nn.Module,
    inputs: tuple[Tensor, ...],
    batch_size: int = EVAL_BATCH,
    call: Callable[..., Tensor] | None = None,
) -> Tensor:
    """``call(*inputs)`` (default: the model itself) over every row of ``inputs``, in eval
    mode, ``batch_size`` rows at a time, on the model's device; the result on the CPU."""
    device = _device(model)
    call = call or model
    with eval_mode(model):
        chunks = [
            call(*(t[i : i + batch_size].to(device) for t in inputs)).cpu()
            for i in range(0, len(inputs[0]), max(batch_size, 1))
        ]
    return torch.cat(chunks)


def distribution(model: nn.Module, inputs: tuple[Tensor, ...], batch_size: int = EVAL_BATCH):
    """The likelihood's parameters for every window of ``inputs`` (``(x,)`` or
    ``(x, future)``), model units; the point forecast for a model without ``distribution``."""
    return outputs(model, inputs, batch_size, getattr(model, "distribution", model))


# ------------------------------------------------------------------------- sequences
def sequence_outputs(model: nn.Module, dataset: Any, batch_size: int = EVAL_BATCH) -> Tensor:
    """The model's raw outputs for every sequence of a ``SequenceDataset`` (its lengths
    passed on where the sequences differ in length)."""
    return outputs(model, dataset.model_inputs, batch_size)


def class_probabilities(model: nn.Module, dataset: Any, batch_size: int = EVAL_BATCH) -> Tensor:
    """Class probabilities ``[N, classes]`` of a classifier for every sequence of ``dataset``."""
    return torch.softmax(sequence_outputs(model, dataset, batch_size), -1)


# ------------------------------------------------------------------------- forecasts
@dataclass
class Forecasts:
    """Forecasts in the file's units, ``[n, steps, T]`` each: the point forecast, and the
    central intervals by coverage (``{0.8: (lower, upper)}``; empty for a point model)."""

    point: Tensor
    bands: dict[float, tuple[Tensor, Tensor]]
    params: Tensor | None = None  # likelihood parameters in the file's units, [n, steps·T, P]

    def first(self, n: int, steps: int) -> Forecasts:
        """The first ``n`` origins and ``steps`` steps."""
        cut = lambda v: v[:n, :steps]  # noqa: E731
        bands = {c: (cut(lo), cut(hi)) for c, (lo, hi) in self.bands.items()}
        params = self.params
        if params is not None:
            params = params.unflatten(1, (self.point.shape[1], -1))[:n, :steps].flatten(1, 2)
        return Forecasts(cut(self.point), bands, params)


def fan_coverages(likelihood: Any) -> tuple[float, ...]:
    """The central intervals a fan shows: the Gaussian's ``FAN``, or every symmetric pair of
    quantile levels."""
    if likelihood is None or not likelihood.probabilistic:
        return ()
    if likelihood.name == "gaussian":
        return FAN
    levels = likelihood.levels
    pairs = {round(1 - 2 * q, 6) for q in levels if q < 0.5 and any(abs(p - (1 - q)) < 1e-9
             for p in levels)}  # fmt: skip
    return tuple(sorted(pairs, reverse=True)) or (0.8,)


def calibration(model: nn.Module) -> Any:
    """The model's conformal calibration when its intervals use one and it is calibrated
    (``model.intervals=conformal``); None otherwise."""
    conformal = getattr(model, "conformal", None)
    if getattr(model, "intervals", None) != "conformal" or conformal is None:
        return None
    return conformal if conformal.calibrated else None


def _units(frame: SeriesFrame, steps: int) -> tuple[Tensor | float, Tensor | float]:
    """The frame's ``(loc, scale)`` over ``[..., steps·T]``."""
    if isinstance(frame.scale, Tensor):
        return frame.loc.double().repeat(steps), frame.scale.double().repeat(steps)
    return frame.loc, frame.scale


def to_forecasts(model: nn.Module, frame: SeriesFrame, params: Tensor, steps: int) -> Forecasts:
    """Parameters ``[n, H·T(, P)]`` in model units -> ``Forecasts`` of the first ``steps``,
    in the file's units."""
    likelihood = getattr(model, "likelihood", None)
    horizon = params.shape[1] // frame.n_targets
    loc, scale = _units(frame, horizon)
    params = params.double()
    cut = lambda v: v.unflatten(1, (horizon, -1))[:, :steps]  # noqa: E731
    conformal = calibration(model)
    if likelihood is None or not likelihood.probabilistic:
        point = params * scale + loc
        bands = {}
        if conformal is not None:  # the point ± the calibrated absolute residual
            bands = {
                c: tuple(cut(v) for v in conformal.widen(point, point, c, scale))
                for c in conformal.levels
            }
        return Forecasts(cut(point), bands)
    params = likelihood.affine(params, loc, scale)
    if conformal is not None:
        bands = {
            c: tuple(cut(v) for v in conformal.widen(*likelihood.interval(params, c), c, scale))
            for c in conformal.levels
        }
    elif getattr(model, "intervals", "model") == "none":
        bands = {}
    else:
        bands = {
            c: tuple(cut(v) for v in likelihood.interval(params, c))
            for c in fan_coverages(likelihood)
        }
    return Forecasts(cut(likelihood.point(params)), bands, params)


def window_forecasts(model: nn.Module, frame: SeriesFrame, split: str = "test") -> Forecasts:
    """The model's forecasts for every window of ``split`` (all the steps it emits)."""
    params = distribution(model, frame.windows(split).model_inputs, frame.batch_size)
    return to_forecasts(model, frame, params, model_horizon(model))


def rebuilt_windows(
    model: nn.Module, frame: SeriesFrame, split: str = "test"
) -> tuple[Tensor, Forecasts]:
    """``(starts, rebuilt)`` for a model that rebuilds its input windows (an encoder-decoder
    whose output spans the window): every window of ``seq_len`` points inside ``split``, by
    the series index of its first point ``[n]``, and the model's rebuilding of its targets,
    ``[n, seq_len, T]`` in the file's units."""
    s = frame.splits[split]
    starts = torch.arange(s.start, s.stop - frame.seq_len + 1)
    x = frame.features(starts[:, None] + torch.arange(frame.seq_len))  # [n, L, F]
    params = distribution(model, (x,), frame.batch_size)
    return starts, to_forecasts(model, frame, params, frame.seq_len)


def roll_forward(
    model: nn.Module,
    context: Tensor,
    horizon: int,
    known: Tensor | None = None,
    target_features: tuple[int, ...] = (0,),
) -> Tensor:
    """Roll a one-step model ``horizon`` steps after each window of ``context [B, L, F]``.

    ``known [B, horizon, K]`` are the known-future features of the forecast steps (the last
    K features of a window); ``target_features`` are the window features the targets fill.
    Returns ``[B, horizon·T]`` (step-major) in model units.
    """
    device = _device(model)
    window = context.to(device)
    n_known = 0 if known is None else known.shape[-1]
    steps = []
    with eval_mode(model):
        for s in range(horizon):
            args = () if known is None else (known[:, s : s + 1].to(device),)
            nxt = model(window, *args)  # [B, L, F] -> [B, T]
            steps.append(nxt)
            row = torch.zeros_like(window[:, -1:])  # [B, 1, F]: every feature filled below
            row[:, 0, list(target_features)] = nxt
            if n_known:
                row[:, 0, -n_known:] = known[:, s].to(device)
            window = torch.cat([window[:, 1:], row], dim=1)  # slide by one
    return torch.cat(steps, dim=1).cpu()


def why_not_recursive(model: nn.Module, frame: SeriesFrame) -> str | None:
    """None when ``model`` can be rolled forward on ``frame``; else the reason, one line."""
    if model_horizon(model) > 1:
        return f"the model forecasts {model_horizon(model)} steps directly"
    extra = frame.observed_not_forecast()
    if extra:
        return (
            f"it reads observed columns that it does not forecast ({', '.join(extra)}); train "
            "it with model.horizon=H to forecast H steps directly"
        )
    return None


def recursive_paths(model: nn.Module, frame: SeriesFrame, starts: Tensor, steps: int) -> Tensor:
    """The one-step model rolled ``steps`` ahead from every origin: ``[n, steps, T]``, model
    units (float64)."""
    reason = why_not_recursive(model, frame)
    if reason is not None:
        raise ValueError(f"forecast.horizon={steps} cannot roll this model forward: {reason}")
    context = frame.features(starts[:, None] + torch.arange(-frame.seq_len, 0))  # [n, L, F]
    known = frame.known(starts[:, None] + torch.arange(steps))  # [n, steps, K]
    out = roll_forward(model, context, steps, known, frame.target_features)
    return out.unflatten(1, (steps, -1)).double()  # [n, steps·T] -> [n, steps, T]


def forecast_origins(frame: SeriesFrame, steps: int, split: str = "test") -> Tensor:
    """Origins of the windows of ``split`` followed by ``steps`` true values (one-line
    error if there are none)."""
    starts = frame.origins(split, steps)
    if len(starts) < 1:
        n_windows = frame.splits[split].n_windows
        longest = n_windows + frame.horizon - 1
        raise ValueError(
            f"forecast.horizon={steps} is longer than the {split} split allows: it has "
            f"{longest} targets after its first window, so use forecast.horizon <= {longest}"
        )
    return starts


def forecast_paths(
    model: nn.Module, frame: SeriesFrame, steps: int, split: str = "test"
) -> tuple[str, Forecasts]:
    """``(method, forecasts [n, steps, T])`` from every origin of ``split`` with ``steps``
    true values after it: ``direct`` for a model with ``model.horizon >= steps``, else
    ``recursive`` (a one-step model rolled forward)."""
    H = model_horizon(model)
    starts = forecast_origins(frame, steps, split)
    if H > 1:
        if steps > H:
            raise ValueError(
                f"forecast.horizon={steps} is longer than the model's model.horizon={H}: "
                f"use forecast.horizon <= {H} (or null), or train with model.horizon={steps}"
            )
        return "direct", window_forecasts(model, frame, split).first(len(starts), steps)
    point = frame.to_file_units(recursive_paths(model, frame, starts, steps))
    return "recursive", Forecasts(point, {})


def forecast_beyond(model: nn.Module, frame: SeriesFrame, steps: int) -> tuple[Tensor, Forecasts]:
    """``(time, forecasts [1, steps, T])`` after the last observed point; the time axis
    continues with the series' last time step (calendar features follow it)."""
    n = frame.n_points
    future_time = frame.future_time(steps)
    context = frame.features(torch.arange(n - frame.seq_len, n))[None]  # [1, L, F]
    known = frame.future_known(future_time)
    H = model_horizon(model)
    if H > 1:
        if known is not None and len(known) < H:  # the model needs all H steps' features
            known = frame.future_known(frame.future_time(H))
        inputs = (context,) if known is None else (context, known[None, :H].float())
        return future_time, to_forecasts(model, frame, distribution(model, inputs), steps)
    known = None if known is None else known[None].float()
    out = roll_forward(model, context, steps, known, frame.target_features)
    point = frame.to_file_units(out.double()).unflatten(1, (steps, -1))
    # The first step is the model's own one-step forecast: its interval holds; later steps
    # read the model's predictions and have none (NaN).
    first = (context,) if known is None else (context, known[:, :1])
    direct = to_forecasts(model, frame, distribution(model, first), 1)
    pad = lambda v: torch.cat([v, v.new_full((1, steps - 1, v.shape[2]), torch.nan)], 1)  # noqa: E731
    bands = {c: (pad(lo), pad(hi)) for c, (lo, hi) in direct.bands.items()}
    return future_time, Forecasts(point, bands)
