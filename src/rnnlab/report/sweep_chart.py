"""``comparison.png``: a sweep's rows drawn from the numbers ``rnnlab.report.sweep`` read.

A sweep with one table whose runs left predictions on a time axis (a forecast): (a) the
validation loss per epoch, (b) the test predictions of each model's median-seed run, (c) the
table's metric per model. Otherwise one row of panels per table: its metric against the
swept axis (or per model), and the validation loss. Only the drawing happens here; every
file was read into the rows before (``sweep.load_traces``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from rnnlab.report.sweep import (
    SEED_KEYS,
    Comparison,
    Row,
    Section,
    as_number,
    seed_of,
    short_label,
    value_of,
)

MAX_PREDICTION_LINES = 8  # more lines than this make panel (b) unreadable


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def validation_panel(
    ax: Any, models: list[Row], color: dict[int, Any], ylabel: str = "val/loss"
) -> None:
    """(a) Validation loss per epoch: mean over the seeds that reached each epoch, with the
    min-max band over seeds."""
    for row in models:
        curve = row.curve
        if curve is None:
            continue
        ax.plot(curve.epochs, curve.mean, color=color[id(row)], lw=1.5, label=_clip(row.label, 40),
                marker="o" if len(curve.epochs) < 5 else None)  # fmt: skip
        if len(row.jobs) > 1:
            ax.fill_between(curve.epochs, curve.low, curve.high, color=color[id(row)], alpha=0.2,
                            lw=0)  # fmt: skip
    ax.set(
        title="(a) validation loss (mean over seeds, band = min–max)",
        xlabel="epoch",
        ylabel=ylabel,
        yscale="log",
    )
    ax.grid(alpha=0.3)
    if 0 < len(models) <= 12 and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def score_panel(ax: Any, section: Section, color: dict[int, Any]) -> None:
    """(c) The table's metric per model: mean ± std and one dot per seed; baselines in grey;
    the best value the data allows (``metric_floor``) as a dashed line. Markers, not bars:
    models near the floor sit close together, and bars from zero would hide the gaps."""
    metric = section.metric
    points = section.models + [r for r in section.rows if r.kind == "baseline"]
    for i, row in enumerate(points):
        mean, std = row.stats[metric]
        c = color.get(id(row), "0.45")
        ax.errorbar(i, mean, yerr=0.0 if math.isnan(std) else std, fmt="D" if row.best else "o",
                    color=c, ms=9 if row.best else 7, capsize=5, lw=1.5, zorder=2)  # fmt: skip
        if row.kind == "baseline":
            continue  # the same value for every seed: the marker says it all
        seeds = [v for j in row.jobs if (v := value_of(j.metrics, metric)) is not None]
        jitter = np.linspace(-0.12, 0.12, len(seeds)) if len(seeds) > 1 else np.zeros(len(seeds))
        ax.scatter(i + 0.25 + jitter, seeds, s=10, color=c, alpha=0.7, zorder=3)
    jobs = [j for r in section.models for j in r.jobs]
    floors = [f for j in jobs if (f := value_of(j.metrics, "metric_floor")) is not None]
    if floors:
        floor = float(np.mean(floors))
        ax.axhline(floor, color="crimson", ls="--", lw=1, label=f"floor {floor:.4g}")
        ax.legend(fontsize=8)
    ticks = [("★ " if r.best else "") + _clip(r.label, 28) for r in points]
    ax.set_xticks(range(len(points)), ticks, fontsize=8)
    if len(points) > 4:
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
    ax.set_xlim(-0.6, len(points) - 0.4)
    better = "lower" if section.goal == "min" else "higher"
    ax.set(title=f"(c) {metric} per model (mean ± std; dots = seeds; {better} is better)",
           ylabel=metric)  # fmt: skip
    ax.grid(axis="y", alpha=0.3)


def trend_panel(ax: Any, section: Section, color: dict[int, Any]) -> None:
    """The table's metric against ``section.axis`` (e.g. the delay T), one line per model
    configuration (mean ± std over seeds), each baseline as a dashed grey line."""
    axis, metric = section.axis, section.metric
    lines: dict[str, list[Row]] = {}
    for row in section.models:
        name = ", ".join(short_label(k, v) for k, v in row.keys.items() if v and k != axis)
        lines.setdefault(name or "model", []).append(row)
    values = []
    for k, (name, rows) in enumerate(lines.items()):
        rows = sorted(rows, key=lambda r: as_number(r.keys[axis]))
        x = [as_number(r.keys[axis]) for r in rows]
        y = [r.stats[metric][0] for r in rows]
        err = [0.0 if math.isnan(r.stats[metric][1]) else r.stats[metric][1] for r in rows]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=4, lw=1.6, label=_clip(name, 30),
                    color=color.get(id(rows[0]), f"C{k % 10}"))  # fmt: skip
        values += y
    styles = ["--", ":", "-."]
    for k, name in enumerate(dict.fromkeys(r.baseline for r in section.rows if r.baseline)):
        rows = [r for r in section.rows if r.baseline == name and axis in r.keys]
        rows.sort(key=lambda r: as_number(r.keys[axis]))
        x = [as_number(r.keys[axis]) for r in rows]
        y = [r.stats[metric][0] for r in rows]
        ax.plot(x, y, styles[k % 3], color="0.35", lw=1.4, label=f"{name} (baseline)")
        values += y
    positive = [v for v in values if not math.isnan(v)]
    if section.goal == "min" and positive and min(positive) > 0:
        ax.set_yscale("log")
    better = "lower" if section.goal == "min" else "higher"
    ax.set(title=f"{metric} against {axis} ({better} is better; bars = std over seeds)",
           xlabel=axis, ylabel=metric)  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def predictions_panel(ax: Any, section: Section, color: dict[int, Any]) -> None:
    """(b) Test predictions of each model's median-seed run over the actual test values
    (the ``MAX_PREDICTION_LINES`` best models by the table's metric)."""
    models = [r for r in section.models if r.trace is not None]
    sign = -1.0 if section.goal == "max" else 1.0
    shown = sorted(models, key=lambda r: sign * r.stats[section.metric][0])[:MAX_PREDICTION_LINES]
    for k, row in enumerate(sorted(shown, key=models.index)):
        trace = row.trace
        if k == 0:
            ax.plot(trace.time, trace.target, ".", color="0.4", ms=3, label="actual (test)")
        score = value_of(trace.job.metrics, section.metric)
        label = (f"{_clip(row.label, 40)} (seed {seed_of(trace.job, SEED_KEYS)}, "
                 f"{section.metric} {score:.4g})")  # fmt: skip
        ax.plot(trace.time, trace.prediction, color=color[id(row)], lw=1.2, label=label)
    title = "(b) test predictions on the true time axis (median-seed run of each model)"
    if len(models) > len(shown):
        title += f"; the {len(shown)} best of {len(models)} models"
    ax.set(title=title, xlabel="time", ylabel="value")
    ax.grid(alpha=0.3)
    if shown:
        ax.legend(fontsize=8, ncols=2)


def plot(comparison: Comparison, path: Path) -> None:
    """Draw ``comparison.png`` (see the module docstring)."""
    sections = [s for s in comparison.sections if s.models]
    models = [r for s in sections for r in s.models]
    colors = colormaps["tab10" if len(models) <= 10 else "tab20"]
    color = {id(r): colors(i % colors.N) for i, r in enumerate(models)}
    only = sections[0] if len(sections) == 1 else None
    if only is not None and only.axis is None and any(r.trace for r in only.models):
        fig = Figure(figsize=(13, 9.5), layout="constrained")
        grid = fig.add_gridspec(2, 2)
        validation_panel(fig.add_subplot(grid[0, 0]), only.models, color)
        score_panel(fig.add_subplot(grid[0, 1]), only, color)
        predictions_panel(fig.add_subplot(grid[1, :]), only, color)
    else:
        fig = Figure(figsize=(13, 4.8 * len(sections)), layout="constrained")
        grid = fig.add_gridspec(len(sections), 2)
        for i, section in enumerate(sections):
            if section.axis is not None:
                trend = {}
                for row in section.models:  # one colour per line, not per row
                    name = tuple(v for key, v in row.keys.items() if key != section.axis)
                    trend.setdefault(name, colors(len(trend) % colors.N))
                    trend[id(row)] = trend[name]
                trend_panel(fig.add_subplot(grid[i, 0]), section, trend)
            else:
                score_panel(fig.add_subplot(grid[i, 0]), section, color)
            validation_panel(fig.add_subplot(grid[i, 1]), section.models, color)
    fig.suptitle(f"{comparison.sweep_dir.name}: {len(models)} models")
    fig.savefig(path, dpi=110)


def sensitivity(comparison: Comparison, path: Path) -> None:
    """``sensitivity.png``: per table and data set, the validation score against the
    learning rate (log scale), one line per backbone through its mean, each seed a dot, the
    chosen rate ringed."""
    panels = [(s, d) for s in comparison.sections if s.rates
              for d in dict.fromkeys(c.dataset for c in s.rates)]  # fmt: skip
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(5.2 * cols, 4.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (section, dataset) in zip(axes, panels, strict=False):
        val = "val_" + section.metric.removeprefix("test_")
        for k, choice in enumerate(c for c in section.rates if c.dataset == dataset):
            rates = [r for r, v in choice.val_by_rate.items() if v]
            means = [float(np.mean(choice.val_by_rate[r])) for r in rates]
            color = f"C{k % 10}"
            ax.plot(rates, means, "-", color=color, lw=1.5, label=choice.backbone)
            for r in rates:
                seeds = choice.val_by_rate[r]
                ax.scatter([r] * len(seeds), seeds, s=10, color=color, alpha=0.6)
            ax.plot([choice.rate], [choice.val.mean], "o", ms=11, mfc="none", color=color)
        title = ", ".join(short_label(k, v) for k, v in dataset) or section.metric
        better = "lower" if section.goal == "min" else "higher"
        ax.set(xscale="log", xlabel="learning rate", ylabel=val,
               title=f"{title} ({better} is better; ○ = chosen)")  # fmt: skip
        here = [v for c in section.rates if c.dataset == dataset
                for vs in c.val_by_rate.values() for v in vs]  # fmt: skip
        # a log axis only where the scores span a decade (a diverged rate beside good ones)
        if section.goal == "min" and here and min(here) > 0 and max(here) > 10 * min(here):
            ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"{comparison.sweep_dir.name}: validation score against learning rate")
    fig.savefig(path, dpi=110)
