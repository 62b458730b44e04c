"""Multi-step forecasts: one story for a direct model and a one-step model.

    python train.py model.horizon=50                    # direct: 50 steps from one call
    python train.py forecast.horizon=50                 # one-step model rolled 50 steps
    python eval.py ckpt_path=PATH forecast.horizon=50   # either, for a saved checkpoint

``model.horizon`` is what the model was *trained* to emit; ``forecast.horizon`` is how far
the report looks ahead (by default ``model.horizon`` when that is above 1). A model with
``model.horizon=H`` forecasts up to H steps directly. A one-step model is rolled forward:
it predicts one step, the prediction is appended to its window (the oldest value dropped,
the known-future features of the new step filled in) and it predicts again. That needs
every observed input to be a target: a model that reads, say, wind to forecast temperature
has no wind forecast to feed itself, and must be trained with ``model.horizon``.

From every test window with ``forecast.horizon`` true values after it, ``forecast.csv`` holds
the MSE of each step for the model (``direct_mse`` or ``recursive_mse``) and for the
baselines on the same targets (``naive_last_mse``, ``seasonal_naive_mse`` with
``data.season``, ``linear_ar_mse`` rolled forward), plus the interval coverage and CRPS per
step for a probabilistic direct model. ``plots/forecast.png`` shows a forecast from the
first test window and one beyond the end of the data (with the prediction intervals as a
fan), above the error curves of every method.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab.data.windows import WindowDataModule
from rnnlab.report import baselines as base

FAN = (0.5, 0.8, 0.95)  # central intervals drawn for a Gaussian (quantiles: their own pairs)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def model_horizon(model: nn.Module) -> int:
    """Steps the model emits per call (1 for a one-step model)."""
    return int(getattr(model, "horizon", 1))


# ------------------------------------------------------------------------- roll-out
@torch.no_grad()
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
    for s in range(horizon):
        args = () if known is None else (known[:, s : s + 1].to(device),)
        nxt = model(window, *args)  # [B, L, F] -> [B, T]
        steps.append(nxt)
        row = torch.zeros_like(window[:, -1:])  # [B, 1, F]: every feature is filled below
        row[:, 0, list(target_features)] = nxt
        if n_known:
            row[:, 0, -n_known:] = known[:, s].to(device)
        window = torch.cat([window[:, 1:], row], dim=1)  # slide by one
    return torch.cat(steps, dim=1).cpu()


def why_not_recursive(model: nn.Module, dm: WindowDataModule) -> str | None:
    """None when ``model`` can be rolled forward on ``dm``; else the reason, one line."""
    if model_horizon(model) > 1:
        return f"the model forecasts {model_horizon(model)} steps directly"
    columns = dm.columns
    observed = [columns.names[i] for i in columns.inputs]
    targets = {columns.names[i] for i in columns.targets}
    extra = [name for name in observed if name not in targets]
    if extra:
        return (
            f"it reads observed columns that it does not forecast ({', '.join(extra)}); train "
            "it with model.horizon=H to forecast H steps directly"
        )
    return None


def _features(dm: WindowDataModule, idx: Tensor) -> Tensor:
    """Window features of the series rows ``idx`` (any shape), ``[..., F]``, model units."""
    series = dm.series.cpu()
    if series.ndim == 1:
        return series[idx][..., None]
    return series[idx][..., list(dm.columns.features)]


def _known(dm: WindowDataModule, idx: Tensor) -> Tensor | None:
    if not dm.columns.known or dm.series.ndim == 1:
        return None
    return dm.series.cpu()[idx][..., list(dm.columns.known)]


def recursive_paths(model: nn.Module, dm: WindowDataModule, starts: Tensor, steps: int) -> Tensor:
    """The one-step model rolled ``steps`` ahead from every origin: ``[n, steps, T]``."""
    reason = why_not_recursive(model, dm)
    if reason is not None:
        raise ValueError(f"forecast.horizon={steps} cannot roll this model forward: {reason}")
    context = _features(dm, starts[:, None] + torch.arange(-dm.seq_len, 0))  # [n, L, F]
    known = _known(dm, starts[:, None] + torch.arange(steps))  # [n, steps, K]
    features = list(dm.columns.features)
    target_features = tuple(features.index(c) for c in dm.columns.targets)
    out = roll_forward(model, context, steps, known, target_features)
    return out.unflatten(1, (steps, -1)).double()  # [n, steps·T] -> [n, steps, T]


# ------------------------------------------------------------------------- direct
@torch.no_grad()
def distribution(model: nn.Module, inputs: tuple[Tensor, ...], batch_size: int = 4096) -> Tensor:
    """The model's likelihood parameters for every window of ``inputs`` (``(x,)`` or
    ``(x, future)``), in model units; the point forecast for a model without ``distribution``."""
    was_training = model.training
    model.eval()
    device = _device(model)
    call = getattr(model, "distribution", model)
    try:
        chunks = [
            call(*(t[i : i + batch_size].to(device) for t in inputs)).cpu()
            for i in range(0, len(inputs[0]), max(batch_size, 1))
        ]
    finally:
        model.train(was_training)
    return torch.cat(chunks)


def _units(dm: WindowDataModule, steps: int) -> tuple[Tensor | float, Tensor | float]:
    """The datamodule's ``(loc, scale)`` over ``[..., steps·T]``."""
    if isinstance(dm.scale, Tensor):
        return dm.loc.double().repeat(steps), dm.scale.double().repeat(steps)
    return dm.loc, dm.scale


@dataclass
class Forecasts:
    """Forecasts in the series' units, ``[n, steps, T]`` each: the point forecast, and the
    central intervals by coverage (``{0.8: (lower, upper)}``; empty for a point model)."""

    point: Tensor
    bands: dict[float, tuple[Tensor, Tensor]]
    params: Tensor | None = None  # likelihood parameters in the series' units, [n, steps·T, P]


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


def to_forecasts(model: nn.Module, dm: WindowDataModule, params: Tensor, steps: int) -> Forecasts:
    """Parameters ``[n, H·T(, P)]`` (model units) -> ``Forecasts`` of the first ``steps``."""
    likelihood = getattr(model, "likelihood", None)
    horizon = params.shape[1] // dm.n_targets
    loc, scale = _units(dm, horizon)
    params = params.double()
    if likelihood is None or not likelihood.probabilistic:
        point = params * scale + loc
        cut = lambda v: v.unflatten(1, (horizon, -1))[:, :steps]  # noqa: E731
        return Forecasts(cut(point), {})
    params = likelihood.affine(params, loc, scale)
    cut = lambda v: v.unflatten(1, (horizon, -1))[:, :steps]  # noqa: E731
    bands = {
        c: tuple(cut(v) for v in likelihood.interval(params, c)) for c in fan_coverages(likelihood)
    }
    return Forecasts(cut(likelihood.point(params)), bands, params)


def predict_test(model: nn.Module, dm: WindowDataModule) -> Forecasts:
    """The model's forecasts for every test window (all its steps), series units."""
    dm.setup()
    test = dm.datasets["test"]
    params = distribution(model, test.model_inputs, getattr(dm, "eval_batch_size", 4096))
    return to_forecasts(model, dm, params, model_horizon(model))


# ------------------------------------------------------------------------- error curves
def start_points(dm: WindowDataModule, horizon: int) -> int:
    """Number of test windows followed by ``horizon`` true values (one-line error if none)."""
    dm.setup()
    n_windows = len(dm.datasets["test"])
    n = n_windows - (horizon - dm.horizon)
    if n < 1:
        longest = n_windows + dm.horizon - 1
        raise ValueError(
            f"forecast.horizon={horizon} is longer than the test split allows: it has "
            f"{longest} targets after its first window, so use forecast.horizon <= {longest}"
        )
    return min(n, n_windows)


def model_paths(model: nn.Module, dm: WindowDataModule, horizon: int) -> tuple[str, Forecasts]:
    """``(method, forecasts)`` of ``horizon`` steps from the test origins: ``direct`` for a
    model with ``model.horizon >= horizon``, else ``recursive``."""
    H = model_horizon(model)
    n = start_points(dm, horizon)
    if H > 1:
        if horizon > H:
            raise ValueError(
                f"forecast.horizon={horizon} is longer than the model's model.horizon={H}: "
                f"use forecast.horizon <= {H} (or null), or train with model.horizon={horizon}"
            )
        forecasts = predict_test(model, dm)
        cut = lambda v: v[:n, :horizon]  # noqa: E731
        bands = {c: (cut(lo), cut(hi)) for c, (lo, hi) in forecasts.bands.items()}
        params = forecasts.params
        if params is not None:
            params = params.unflatten(1, (H, -1))[:n, :horizon].flatten(1, 2)
        return "direct", Forecasts(cut(forecasts.point), bands, params)
    starts = base.origins(dm, "test", horizon)
    pred = recursive_paths(model, dm, starts, horizon)
    return "recursive", Forecasts(dm.to_original_units(pred), {})


def step_mse(dm: WindowDataModule, point: Tensor, truth: Tensor) -> Tensor:
    """MSE per step ``[steps, T]`` of forecasts in series units against model-unit truth."""
    return ((point - dm.to_original_units(truth)) ** 2).mean(dim=0)


def horizon_mse(model: nn.Module, dm: WindowDataModule, horizon: int) -> Tensor:
    """The model's MSE of step ``1..horizon`` over all test origins (mean over targets), in
    original units: ``[horizon]``."""
    _, forecasts = model_paths(model, dm, horizon)
    starts = base.origins(dm, "test", horizon)
    return step_mse(dm, forecasts.point, base.future_values(dm, starts, horizon)).mean(dim=1)


def naive_horizon_mse(dm: WindowDataModule, horizon: int) -> Tensor:
    """The same curve for repeating the last value of each window."""
    starts = base.origins(dm, "test", horizon)
    truth = base.future_values(dm, starts, horizon)
    return base.squared_errors(dm, base.naive_last(dm, starts, horizon), truth).mean(dim=(0, 2))


def forecast_beyond(
    model: nn.Module, dm: WindowDataModule, horizon: int
) -> tuple[Tensor, Forecasts]:
    """``(time, forecasts [1, horizon, T])`` after the last observed point; the time axis
    continues with the series' last time step (calendar features follow it)."""
    dm.setup()
    n = len(dm.series)
    time = dm.time.double()
    step = (time[-1] - time[-2]).item() if len(time) > 1 else 1.0
    future_time = time[-1] + step * torch.arange(1, horizon + 1, dtype=torch.float64)
    context = _features(dm, torch.arange(n - dm.seq_len, n))[None]  # [1, L, F]
    known = dm.future_known(future_time) if dm.columns.known else None
    H = model_horizon(model)
    if H > 1:
        inputs = (context,) if known is None else (context, known[None, :H].float())
        if known is not None and len(known) < H:  # the model needs all H steps' features
            known = dm.future_known(time[-1] + step * torch.arange(1, H + 1, dtype=torch.float64))
            inputs = (context, known[None].float())
        return future_time, to_forecasts(model, dm, distribution(model, inputs), horizon)
    features = list(dm.columns.features)
    target_features = tuple(features.index(c) for c in dm.columns.targets)
    known = None if known is None else known[None].float()
    out = roll_forward(model, context, horizon, known, target_features)
    point = dm.to_original_units(out.double()).unflatten(1, (horizon, -1))
    return future_time, Forecasts(point, {})


def _column(name: str, target: str | None) -> str:
    return name if target is None else f"{name}/{target}"


def run_forecast(model: nn.Module, dm: WindowDataModule, horizon: int, out_dir: Path) -> dict:
    """Write ``forecast.csv`` and ``plots/forecast.png`` under ``out_dir``; return summary
    numbers for ``metrics.json``."""
    import csv
    import io

    from rnnlab import rundir

    was_training = model.training
    model.eval()
    try:
        method, forecasts = model_paths(model, dm, horizon)
        starts = base.origins(dm, "test", horizon)
        truth = base.future_values(dm, starts, horizon)  # [n, steps, T] model units
        curves = {method: step_mse(dm, forecasts.point, truth)}  # name -> [steps, T]
        for name, path in base.baseline_paths(dm, starts, horizon).items():
            curves[name] = base.squared_errors(dm, path, truth).mean(dim=0)
        extra = _interval_curves(model, dm, forecasts, truth)
        names = dm.target_names if dm.n_targets > 1 else [None]
        header = ["step"]
        columns = []
        for key, values in [*((f"{k}_mse", v) for k, v in curves.items()), *extra.items()]:
            header.append(key)
            columns.append(values.mean(dim=1))
            if len(names) > 1:
                for t, target in enumerate(names):
                    header.append(_column(key, target))
                    columns.append(values[:, t])
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(header)
        for s in range(horizon):
            writer.writerow([s + 1, *(float(c[s]) for c in columns)])
        rundir.write_atomic(Path(out_dir) / rundir.FORECAST, text.getvalue())
        plots_dir = Path(out_dir) / rundir.PLOTS
        plots_dir.mkdir(parents=True, exist_ok=True)
        mean_curves = {name: v.mean(dim=1) for name, v in curves.items()}
        fig = forecast_figure(model, dm, horizon, method, forecasts, mean_curves, len(starts))
        fig.savefig(plots_dir / "forecast.png", dpi=100)
    finally:
        model.train(was_training)
    mse = mean_curves[method]
    summary = {
        "forecast_horizon": horizon,
        "forecast_method": method,
        "forecast_start_points": len(starts),
        "forecast_mse_step1": mse[0].item(),
        "forecast_mse_last_step": mse[-1].item(),
        "forecast_mse_mean": mse.mean().item(),
    }
    for name, values in mean_curves.items():
        if name != method:
            summary[f"forecast_{name}_mse_mean"] = values.mean().item()
    return summary


def _interval_curves(
    model: nn.Module, dm: WindowDataModule, forecasts: Forecasts, truth: Tensor
) -> dict[str, Tensor]:
    """Coverage of the 80 % interval and CRPS per step ``[steps, T]`` for a probabilistic
    direct forecast; empty otherwise."""
    likelihood = getattr(model, "likelihood", None)
    if forecasts.params is None or likelihood is None:
        return {}
    from rnnlab.models.likelihoods import CENTRAL

    steps = truth.shape[1]
    target = dm.to_original_units(truth).flatten(1)  # [n, steps·T]
    lower, upper = likelihood.interval(forecasts.params, CENTRAL)
    covered = ((target >= lower) & (target <= upper)).double()
    crps = likelihood.crps(forecasts.params, target)
    per_step = lambda v: v.unflatten(1, (steps, -1)).mean(dim=0)  # noqa: E731
    return {"direct_coverage80": per_step(covered), "direct_crps": per_step(crps)}


def forecast_figure(
    model: nn.Module,
    dm: WindowDataModule,
    horizon: int,
    method: str,
    forecasts: Forecasts,
    curves: dict[str, Tensor],
    n_starts: int,
) -> Any:
    """Per target: the series near the test split with a forecast from the first test
    window and one beyond the data (intervals as a fan); below, the MSE of every method per
    step."""
    from rnnlab.report import plots

    time = dm.time.double()
    test = dm.splits["test"]
    first = test.start + test.seq_len  # series index of the first test target
    future_time, beyond = forecast_beyond(model, dm, horizon)
    observed = dm.target_series()  # [N, T] series units
    names = dm.target_names
    fig = plots.new_figure("forecast")
    # Per target: a view of the first test window's forecast and one of the forecast beyond
    # the data, each with the window the model read; the error curves span the bottom row.
    grid = fig.add_gridspec(len(names) + 1, 2, height_ratios=[3] * len(names) + [2.5])
    step = float(time[1] - time[0]) if len(time) > 1 else 1.0
    context = dm.seq_len * step
    first_view = (float(time[first]) - context - step, float(time[first + horizon - 1]) + step)
    end_view = (float(time[-1]) - context, float(future_time[-1]) + step)
    for t, name in enumerate(names):

        def band(f: Forecasts, t: int = t) -> dict[float, tuple[Tensor, Tensor]]:
            return {c: (lo[0, :, t], hi[0, :, t]) for c, (lo, hi) in f.bands.items()}

        views = [
            (  # (title, label, (time, values), forecasts, view)
                "From the first test window",
                f"{horizon}-step {method} forecast from the first test window",
                (time[first : first + horizon], forecasts.point[0, :, t]),
                forecasts,
                first_view,
            ),
            (
                "Beyond the data",
                f"{horizon}-step forecast beyond the data",
                (future_time, beyond.point[0, :, t]),
                beyond,
                end_view,
            ),
        ]
        for col, (title, label, path, shown, view) in enumerate(views):
            plots.forecast_paths(
                fig.add_subplot(grid[t, col]),
                time,
                observed[:, t],
                float(time[test.start]),
                {label: path},
                bands={label: band(shown)},
                ylabel=name,
                dates=getattr(dm, "time_is_date", False),
                xlim=view,
                title=title + (f": {name}" if len(names) > 1 else ""),
                color_offset=2 + col,
            )
    errors = fig.add_subplot(grid[-1, :])
    labels = {"direct": "model (direct)", "recursive": "model (rolled forward)",
              "naive_last": "repeat last value", "linear_ar": "linear AR (rolled)",
              "seasonal_naive": f"seasonal naive (season {dm.season})"}  # fmt: skip
    plots.forecast_errors(
        errors, {labels.get(k, k): v for k, v in curves.items()}, start_points=n_starts
    )
    return fig


def write_forecast_predictions(model: nn.Module, dm: WindowDataModule, path: Path) -> None:
    """``predictions.csv``: every test window's first target, the model's forecast of it
    and, for a probabilistic model, the 80 % interval; in the series' units, per target."""
    import csv
    import io

    from rnnlab.rundir import write_atomic

    forecasts = predict_test(model, dm)
    test = dm.datasets["test"]
    idx = test.split.target_index
    truth = dm.target_series()[idx]  # [n, T]
    names = dm.target_names
    suffix = (lambda n: f"/{n}") if len(names) > 1 else (lambda n: "")
    header = ["index", "time"]
    columns = []
    for t, name in enumerate(names):
        header += [f"target{suffix(name)}", f"prediction{suffix(name)}"]
        columns += [truth[:, t], forecasts.point[:, 0, t]]
        if 0.8 in forecasts.bands:
            lower, upper = forecasts.bands[0.8]
            header += [f"lower80{suffix(name)}", f"upper80{suffix(name)}"]
            columns += [lower[:, 0, t], upper[:, 0, t]]
    times = dm.time[idx].tolist()
    if getattr(dm, "time_is_date", False):  # dates as dates, not day numbers
        from rnnlab.data.csv import dates_of

        stamps = dates_of(dm.time[idx])
        daily = bool((stamps == stamps.normalize()).all())
        times = list(stamps.strftime("%Y-%m-%d" if daily else "%Y-%m-%dT%H:%M:%S"))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    rows = zip(idx.tolist(), times, *(c.tolist() for c in columns), strict=True)
    writer.writerows(rows)
    write_atomic(path, text.getvalue())
