"""Pictures of a run, as pure functions: arrays in, drawn onto the axes or figure given.

    fig = plots.new_figure("scatter")
    plots.actual_vs_predicted(fig.subplots(), target, prediction)
    fig.savefig("scatter.png", dpi=100)

Functions that draw one panel take an ``Axes``; those that lay out several take the
``Figure``. Figures are ``matplotlib.figure.Figure`` objects, never ``pyplot``: they render
with Agg anywhere (no display, no backend switch), nothing is kept in a global figure list,
and the saved size is exactly ``FIGSIZE[name] × dpi`` pixels. This module imports
matplotlib, so the training code imports it only once plotting starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = [
    "FIGSIZE",
    "SPLIT_COLORS",
    "actual_vs_predicted",
    "attention_window",
    "confusion_matrix",
    "date_axis",
    "forecast_errors",
    "forecast_paths",
    "hidden_state_evolution",
    "interval_bands",
    "loss_curves",
    "new_figure",
    "predictions_over_time",
    "recall_examples",
]

# Width × height in inches of each figure; the PNG is this × dpi pixels.
FIGSIZE: dict[str, tuple[float, float]] = {
    "predictions": (10.0, 6.0),
    "scatter": (6.0, 6.0),
    "loss": (8.0, 4.5),
    "hidden_states": (10.0, 7.0),
    "forecast": (10.0, 7.0),
    "attention": (8.0, 5.0),
    "confusion": (7.0, 6.0),
    "recall": (12.0, 7.0),
}
SPLIT_COLORS = {"train": "tab:blue", "val": "tab:orange", "test": "tab:green"}
SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test"}
STATE_NAMES = {"h": "hidden state $h_t$", "c": "cell state $c_t$"}


def new_figure(name: str) -> Figure:
    """An empty figure of the size ``FIGSIZE[name]``, with constrained layout."""
    return Figure(figsize=FIGSIZE[name], layout="constrained")


def _np(values: Any) -> np.ndarray:
    """Tensor, list or array -> 1-D float numpy array (tensors may live on a GPU)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=float).reshape(-1)


def _np2(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"expected a [steps, units] array, got shape {arr.shape}")
    return arr


def mse_r2(target: Any, prediction: Any) -> tuple[float, float]:
    """Mean squared error and coefficient of determination R² of ``prediction``."""
    y, p = _np(target), _np(prediction)
    mse = float(np.mean((y - p) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((y - p) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    return mse, r2


def predictions_over_time(
    fig: Figure,
    time: Any,
    series: Any,
    regions: Mapping[str, tuple[float, float]],
    target_time: Any,
    target: Any,
    prediction: Any,
    *,
    clean: Any | None = None,
    bands: Mapping[float, tuple[Any, Any]] | None = None,
    dates: bool = False,
    title: str = "Test predictions on the true time axis",
) -> None:
    """The whole series faintly with its splits shaded (top), and the test predictions where
    they are (bottom), drawn onto ``fig``; ``bands``: prediction intervals of the test
    predictions (``interval_bands``); ``dates``: the time axis holds date numbers.

    Args:
        time, series: the time axis and the (noisy) series, ``[N]``.
        regions: ``{"train": (t_start, t_end), "val": ..., "test": ...}`` to shade.
        target_time, target, prediction: time and value of every test target and the model's
            prediction for it, ``[n_test]``.
        clean: the noise-free signal ``[N]``, drawn in the zoomed panel when known.
    """
    time, series = _np(time), _np(series)
    t_test, y, p = _np(target_time), _np(target), _np(prediction)
    mse, _ = mse_r2(y, p)
    top, zoom = fig.subplots(2, 1, height_ratios=[1, 1.2])

    top.plot(time, series, color="0.55", lw=0.7, alpha=0.6, label="series")
    for name, (t0, t1) in regions.items():
        top.axvspan(
            t0,
            t1,
            color=SPLIT_COLORS.get(name, "0.8"),
            alpha=0.12,
            label=f"{SPLIT_NAMES.get(name, name)} split",
        )
    top.plot(t_test, p, color="tab:red", lw=1.2, label="prediction")
    top.set(xlabel="time t", ylabel="value", title="Whole series")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    top.margins(x=0.01)

    if clean is not None:
        inside = (time >= t_test.min()) & (time <= t_test.max())
        zoom.plot(
            time[inside], _np(clean)[inside], color="0.3", lw=1.0, ls="--", label="clean signal"
        )
    if bands:
        interval_bands(zoom, t_test, bands, "tab:red")
        covered = {
            c: float(((y >= _np(lo)) & (y <= _np(hi))).mean()) for c, (lo, hi) in bands.items()
        }
        coverage = ", ".join(f"{c:.0%}: {covered[c]:.1%}" for c in sorted(bands))
        coverage = f"coverage of the intervals {coverage}"
    zoom.plot(t_test, y, "o", color="black", ms=3, alpha=0.6, label="actual (test target)")
    zoom.plot(t_test, p, color="tab:red", lw=1.6, label="prediction")
    zoom.set(
        xlabel="time t",
        ylabel="value",
        title=f"Test split: t = {t_test.min():.1f} … {t_test.max():.1f}  (MSE {mse:.4g})"
        + (f"\n{coverage}" if bands else ""),
    )
    zoom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    zoom.margins(x=0.01)
    if dates:
        for ax in (top, zoom):
            date_axis(ax)
        zoom.set_title(f"Test split (MSE {mse:.4g})" + (f"\n{coverage}" if bands else ""))
    fig.suptitle(title)


def actual_vs_predicted(
    ax: Axes, target: Any, prediction: Any, *, title: str = "Test split"
) -> None:
    """Scatter of prediction against actual value, with the identity line; MSE and R² on top."""
    y, p = _np(target), _np(prediction)
    mse, r2 = mse_r2(y, p)
    ax.scatter(y, p, s=14, alpha=0.6, color="tab:blue", edgecolors="none", label="test window")
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot(
        [lo - pad, hi + pad],
        [lo - pad, hi + pad],
        color="black",
        lw=1,
        ls="--",
        label="identity (perfect prediction)",
    )
    ax.set(
        xlim=(lo - pad, hi + pad),
        ylim=(lo - pad, hi + pad),
        aspect="equal",
        xlabel="actual value",
        ylabel="predicted value",
        title=f"{title}: MSE {mse:.4g}, R² {r2:.3f}",
    )
    ax.legend(loc="upper left", fontsize="small")


def loss_curves(
    ax: Axes,
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str = "Loss per epoch",
    ylabel: str = "MSE loss",
    log_y: bool = True,
    mark_min: bool = True,
    floor: float | None = None,
) -> None:
    """One line per ``label -> (epochs, values)``; the minimum of each curve is marked.

    Missing values (NaN) are skipped, so a curve may be shorter than another. ``floor`` draws
    the noise floor (the MSE no model can beat) as a dashed line.
    """
    for label, (epochs, values) in curves.items():
        x, v = _np(epochs), _np(values)
        keep = np.isfinite(v)
        if not keep.any():
            continue
        x, v = x[keep], v[keep]
        (line,) = ax.plot(x, v, lw=1.4, label=label, marker="." if len(x) < 30 else None)
        if mark_min:
            i = int(np.argmin(v))
            ax.plot(
                x[i],
                v[i],
                "o",
                color=line.get_color(),
                ms=7,
                mfc="none",
                label=f"{label} min {v[i]:.4g} (epoch {x[i]:g})",
            )
    if floor is not None and ax.has_data():
        ax.axhline(floor, color="0.3", ls="--", lw=1, label=f"noise floor {floor:.4g}")
    if log_y and ax.has_data():
        ax.set_yscale("log")
    ax.set(xlabel="epoch", ylabel=ylabel, title=title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")


def _channels_strip(ax: Any, steps: np.ndarray, inputs: np.ndarray) -> None:
    """Inputs of several channels ``[L, F]``: a line each up to four, else an image."""
    if inputs.shape[1] <= 4:
        for j in range(inputs.shape[1]):
            ax.plot(steps, inputs[:, j], marker=".", lw=1.2, label=f"input channel {j}")
        ax.legend(loc="best", fontsize="small")
        ax.set(ylabel="value", title="input sequence")
        return
    ax.imshow(inputs.T, aspect="auto", cmap="Greys", interpolation="nearest", origin="lower",
              extent=(steps[0] - 0.5, steps[-1] + 0.5, -0.5, inputs.shape[1] - 0.5))  # fmt: skip
    ax.set(ylabel="channel", title=f"input sequence ({inputs.shape[1]} channels)")


def _input_strip(ax: Any, steps: np.ndarray, inputs: Any, target: float | None) -> None:
    if hasattr(inputs, "detach"):
        inputs = inputs.detach().cpu().numpy()
    if np.ndim(inputs) == 2 and np.shape(inputs)[1] > 1:
        _channels_strip(ax, steps, np.asarray(inputs, dtype=float))
        return
    ax.plot(steps, _np(inputs), color="black", marker=".", lw=1.2, label="input $x_t$")
    if target is not None:
        ax.plot(
            [steps[-1] + 1],
            [float(target)],
            "*",
            color="tab:red",
            ms=11,
            label="target (next value)",
        )
    ax.set(ylabel="value", title="input window")
    ax.legend(loc="best", fontsize="small")


def _unit_panels(
    fig: Figure,
    arrays: Mapping[str, np.ndarray],
    steps: np.ndarray,
    labels: Sequence[str],
    inputs: Any,
    target: float | None,
) -> None:
    units = next(iter(arrays.values())).shape[1]
    cols = min(units, 4)
    rows_per_state = math.ceil(units / cols)
    # One grid: the input strip spans the top row, then a block of unit panels per state.
    ratios = ([1.0] if inputs is not None else []) + [1.4] * (rows_per_state * len(arrays))
    grid = fig.add_gridspec(len(ratios), cols, height_ratios=ratios)
    first = 0
    shared = None
    if inputs is not None:
        shared = fig.add_subplot(grid[0, :])
        _input_strip(shared, steps, inputs, target)
        first = 1
    bottom_row = len(ratios) - 1
    for k, (name, values) in enumerate(arrays.items()):
        symbol = {"h": "$h_t$", "c": "$c_t$"}.get(name, name)
        state_axes = []
        for u in range(units):
            row = first + k * rows_per_state + u // cols
            ax = fig.add_subplot(
                grid[row, u % cols], sharex=shared, sharey=state_axes[0] if state_axes else None
            )
            shared = shared or ax
            state_axes.append(ax)
            ax.axhline(0.0, color="0.8", lw=0.8)
            ax.plot(steps, values[:, u], color=f"C{u % 10}", lw=1.5, marker=".", ms=4)
            ax.set_title(f"{symbol}, {labels[u]}", fontsize="small")
            if u % cols == 0:
                ax.set_ylabel(STATE_NAMES.get(name, name).split(" $")[0], fontsize="small")
            if row == bottom_row or (u + cols >= units and k == len(arrays) - 1):
                ax.set_xlabel("time step t")
            else:
                ax.tick_params(labelbottom=False)
        if name == "h":  # tanh keeps h in [-1, 1]; a fixed scale shows how saturated it is
            state_axes[0].set_ylim(-1.05, 1.05)
    shared.xaxis.set_major_locator(MaxNLocator(integer=True))
    shared.set_xlim(steps[0] - 0.5, steps[-1] + (1.5 if target is not None else 0.5))


def _heat_maps(
    fig: Figure,
    arrays: Mapping[str, np.ndarray],
    steps: np.ndarray,
    labels: Sequence[str],
    inputs: Any,
    target: float | None,
) -> None:
    # One grid for every row, colour bars in their own column, so all time axes line up.
    rows = ([1.0] if inputs is not None else []) + [2.4] * len(arrays)
    grid = fig.add_gridspec(len(rows), 2, height_ratios=rows, width_ratios=[1.0, 0.025])
    axes = []
    first = 0
    if inputs is not None:
        ax = fig.add_subplot(grid[0, 0])
        _input_strip(ax, steps, inputs, target)
        axes.append(ax)
        first = 1
    for row, (name, values) in enumerate(arrays.items(), start=first):
        ax = fig.add_subplot(grid[row, 0], sharex=axes[0] if axes else None)
        limit = float(np.abs(values).max()) or 1.0
        image = ax.imshow(
            values.T,
            aspect="auto",
            cmap="RdBu_r",
            vmin=-limit,
            vmax=limit,
            interpolation="nearest",
            origin="lower",
            extent=(steps[0] - 0.5, steps[-1] + 0.5, -0.5, values.shape[1] - 0.5),
        )
        ax.set(
            ylabel=f"unit (of {values.shape[1]})",
            title=STATE_NAMES.get(name, name) + ": every unit (rows) over the window",
        )
        if labels and labels[0].startswith("fwd"):
            half = values.shape[1] // 2
            ax.axhline(half - 0.5, color="black", lw=0.8)
            ax.set_yticks([half / 2 - 0.5, half + half / 2 - 0.5], ["forward", "backward"])
        fig.colorbar(image, cax=fig.add_subplot(grid[row, 1]), label="activation")
        axes.append(ax)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xlabel("time step t")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_xlim(steps[0] - 0.5, steps[-1] + (1.5 if target is not None else 0.5))


def hidden_state_evolution(
    fig: Figure,
    states: Mapping[str, Any],
    *,
    inputs: Any | None = None,
    target: float | None = None,
    unit_labels: Sequence[str] | None = None,
    max_panels: int = 8,
    title: str = "Hidden-state evolution over one test window",
) -> None:
    """Activation of every hidden unit at every step of one window, drawn onto ``fig``.

    Args:
        states: ``{"h": [L, units]}``, plus ``{"c": [L, units]}`` for an LSTM (second panel).
        inputs: the window's inputs ``[L]`` (or ``[L, F]``: a line per channel up to four, an
            image beyond), drawn on top so the states can be read against them.
        target: the value after the window (what the model predicts), drawn at step ``L + 1``.
        unit_labels: a name per unit (default ``unit 0`` …).
        max_panels: up to this many units get one small panel each; more become a heat-map.
    """
    if not states:
        raise ValueError("hidden_state_evolution: no states given")
    arrays = {name: _np2(v) for name, v in states.items()}
    length, units = next(iter(arrays.values())).shape
    steps = np.arange(1, length + 1)
    labels = list(unit_labels) if unit_labels else [f"unit {i}" for i in range(units)]
    if units > max_panels:
        _heat_maps(fig, arrays, steps, labels, inputs, target)
    else:
        _unit_panels(fig, arrays, steps, labels, inputs, target)
    fig.suptitle(title)


def date_axis(ax: Axes) -> None:
    """Format ``ax``'s x axis for date numbers (days since 1970), with few, short labels."""
    locator = AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def interval_bands(
    ax: Axes, time: Any, bands: Mapping[float, tuple[Any, Any]], color: Any, label: str = ""
) -> None:
    """Central prediction intervals as shaded bands, the widest palest (a fan when the bands
    span several steps); ``bands`` maps a coverage (0.8) to ``(lower, upper)``."""
    t = _np(time)
    for k, (coverage, (lower, upper)) in enumerate(sorted(bands.items(), reverse=True)):
        alpha = 0.15 + 0.2 * k / max(len(bands) - 1, 1)
        ax.fill_between(t, _np(lower), _np(upper), color=color, alpha=alpha, lw=0,
                        label=f"{label}{coverage:.0%} interval")  # fmt: skip


def forecast_paths(
    ax: Axes,
    time: Any,
    observed: Any,
    test_start: float,
    paths: Mapping[str, tuple[Any, Any]],
    *,
    bands: Mapping[str, Mapping[float, tuple[Any, Any]]] | None = None,
    ylabel: str = "value",
    dates: bool = False,
    xlim: tuple[float, float] | None = None,
    title: str = "Multi-step forecasts",
    color_offset: int = 2,
) -> None:
    """The observed series, the test split shaded, and multi-step forecast paths over it.

    ``paths`` maps a label to ``(time, values)``; a label ending in ``beyond the data`` is
    drawn dashed (nothing to compare it with), the others solid. ``bands`` maps a path's label
    to its prediction intervals (``interval_bands``), drawn as a fan. ``xlim``: the view
    (default: from a little before the test split to the end of the paths); ``dates``: the
    time axis holds date numbers.
    """
    time, observed = _np(time), _np(observed)
    ax.plot(time, observed, "o-", color="tab:blue", lw=1, ms=2, label="observed")
    ax.axvspan(test_start, time[-1], color="grey", alpha=0.12, label="test split")
    for k, (label, (t, v)) in enumerate(paths.items()):
        dashed = label.endswith("beyond the data")
        color = f"C{k + color_offset}"
        if bands and bands.get(label):
            interval_bands(ax, t, bands[label], color)
        ax.plot(_np(t), _np(v), color=color, lw=2, ls="--" if dashed else "-", label=label)
    ax.axvline(time[-1], color="black", lw=0.8)
    if xlim is None:
        ends = [float(_np(t)[-1]) for t, _ in paths.values()] + [float(time[-1])]
        xlim = (test_start - 0.15 * (time[-1] - test_start), max(ends))
    ax.set_xlim(*xlim)
    inside = (time >= xlim[0]) & (time <= xlim[1])
    if inside.any():  # the y range of what is in view, forecasts and bands included
        shown = [observed[inside]] + [_np(v) for _, v in paths.values()]
        for fan in (bands or {}).values():
            shown += [_np(b) for pair in fan.values() for b in pair]
        low, high = min(float(np.min(a)) for a in shown), max(float(np.max(a)) for a in shown)
        pad = 0.05 * (high - low or 1.0)
        ax.set_ylim(low - pad, high + pad)
    ax.set(xlabel="time", ylabel=ylabel, title=title)
    if dates:
        date_axis(ax)
    ax.legend(loc="best", fontsize=7)


def forecast_errors(ax: Axes, curves: Mapping[str, Any], *, start_points: int) -> None:
    """Test MSE per horizon step, one line per method (``label -> [horizon]``)."""
    markers = "osD^v<>"
    for k, (label, mse) in enumerate(curves.items()):
        values = _np(mse)
        steps = np.arange(1, len(values) + 1)
        # the first curve (the model) solid, every baseline dashed in its own colour
        style = f"{markers[k % len(markers)]}{'-' if k == 0 else '--'}"
        ax.plot(steps, values, style, ms=3, lw=2 if k == 0 else 1.2, color=f"C{k}", label=label)
    ax.set(
        xlabel="steps ahead",
        ylabel="test MSE (original units)",
        title=f"Error per horizon step over {start_points} test start points",
    )
    ax.legend(loc="best")


def attention_window(
    fig: Figure,
    time: Any,
    window: Any,
    target: float,
    prediction: float,
    weights: Any,
    *,
    title: str = "Attention over one test window",
) -> None:
    """One input window with its target and prediction (top) above the attention weight the
    head gave each step (bottom), drawn onto ``fig``. ``time`` has one point more than
    ``window``: the target's."""
    time, values, weights = _np(time), _np(window), _np(weights)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    top.plot(time[:-1], values, "o-", color="tab:blue", label="input window")
    top.plot(time[-1:], [target], "o", color="black", label="target")
    top.plot(time[-1:], [prediction], "x", color="tab:red", ms=10, label="prediction")
    top.set(ylabel="value", title=title)
    top.legend(loc="best")
    step = time[1] - time[0] if len(time) > 1 else 1.0
    bottom.bar(time[:-1], weights, width=0.8 * step, color="tab:orange")
    bottom.axhline(1.0 / len(weights), color="grey", ls="--", label="uniform")
    bottom.set(xlabel="time", ylabel="attention weight")
    bottom.legend(loc="upper left")


def confusion_matrix(
    ax: Axes, counts: Any, class_names: Sequence[str], *, title: str = "Test confusion matrix"
) -> None:
    """Counts of (true class, predicted class) ``[C, C]`` as an image, numbers written in for
    up to 20 classes; the accuracy in the title."""
    counts = np.asarray(counts.detach().cpu() if hasattr(counts, "detach") else counts, float)
    total = counts.sum()
    accuracy = np.trace(counts) / total if total else float("nan")
    image = ax.imshow(counts, cmap="Blues", interpolation="nearest")
    n = counts.shape[0]
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    light = counts[i, j] > counts.max() / 2
                    ax.text(j, i, f"{counts[i, j]:.0f}", ha="center", va="center",
                            fontsize="small", color="white" if light else "black")  # fmt: skip
    ticks = range(n)
    ax.set_xticks(ticks, list(class_names), rotation=45 if n > 8 else 0, fontsize="small")
    ax.set_yticks(ticks, list(class_names), fontsize="small")
    ax.set(xlabel="predicted class", ylabel="true class",
           title=f"{title}: accuracy {accuracy:.3f} ({total:.0f} sequences)")  # fmt: skip
    ax.figure.colorbar(image, ax=ax, label="sequences")


def recall_examples(
    fig: Figure,
    inputs: Any,
    truth: Any,
    recalled: Any,
    n_symbols: int,
    *,
    title: str = "Recall on test sequences",
) -> None:
    """For a few test sequences of a copy task: the input tokens (symbols in colour, blank
    white, delimiter black), and below them the symbols to recall against those recalled,
    wrong ones marked.

    Args:
        inputs: token ids ``[k, L]`` (``0 .. n_symbols-1`` symbols, ``n_symbols`` blank,
            ``n_symbols + 1`` delimiter).
        truth, recalled: the symbols to output and the model's outputs, ``[k, n_recall]``.
    """
    inputs, truth, recalled = (np.asarray(v.cpu() if hasattr(v, "cpu") else v, dtype=int)
                               for v in (inputs, truth, recalled))  # fmt: skip
    colours = [f"C{i % 10}" for i in range(n_symbols)] + ["white", "black"]
    cmap = ListedColormap(colours)
    k = inputs.shape[0]
    grid = fig.add_gridspec(k, 2, width_ratios=[3.0, 1.0])
    for i in range(k):
        top = fig.add_subplot(grid[i, 0])
        top.imshow(inputs[i][None], cmap=cmap, vmin=-0.5, vmax=n_symbols + 1.5, aspect="auto",
                   interpolation="nearest")  # fmt: skip
        top.set_yticks([])
        top.set(title=f"test sequence {i}: input ({inputs.shape[1]} steps)", xlabel="step")
        right = fig.add_subplot(grid[i, 1])
        both = np.stack((truth[i], recalled[i]))  # [2, n_recall]
        right.imshow(both, cmap=cmap, vmin=-0.5, vmax=n_symbols + 1.5, aspect="auto",
                     interpolation="nearest")  # fmt: skip
        for j, (t, r) in enumerate(zip(truth[i], recalled[i], strict=True)):
            right.text(j, 0, str(t), ha="center", va="center", fontsize="small")
            right.text(j, 1, str(r) if r < n_symbols else "_", ha="center", va="center",
                       fontsize="small", color="black" if r == t else "red",
                       fontweight="normal" if r == t else "bold")  # fmt: skip
        right.set_yticks([0, 1], ["truth", "recalled"])
        right.set_xticks([])
        correct = int((truth[i] == recalled[i]).sum())
        right.set_title(f"{correct}/{len(truth[i])} recalled", fontsize="small")
    fig.suptitle(title)
