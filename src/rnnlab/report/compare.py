"""One results table (and one chart) for a whole sweep directory.

    python -m rnnlab.report.compare logs/train/multiruns/2026-11-25_13-20-00_123456
    python -m rnnlab.report.compare                 # the newest sweep under logs/train/multiruns
    make compare DIR=logs/train/multiruns/...

Every job of a Hydra multirun is a run directory with ``.hydra/overrides.yaml`` and, once it
finished, ``metrics.json``. Jobs are grouped by their overrides minus the seed; each group
becomes one row with mean ± std over its seeds. Writes ``comparison.csv``,
``comparison.md`` and ``comparison.png`` into the sweep directory. Failed jobs (``error.txt``)
and unfinished ones are listed by name; the finished ones are still aggregated.

What a table shows comes from each run's ``metrics.json`` (``rnnlab.report.summary``): the
task's ``metric`` (best row by ``metric_goal``), its ``table`` keys, and its ``baselines`` as
rows of their own. A sweep whose runs rank by different metrics (the memory benchmark:
``test_mse``, ``test_ce``, ``test_accuracy``) gets one table per metric. When the rows of a
table differ by ``backbone`` and one other setting, a second, compact table crosses the two;
a numeric ``data.seq_len`` is drawn as an axis (the metric against T per backbone, the
baselines as dashed lines).

Only the standard library is imported at module level: the Hydra callback that calls this
module is loaded by every ``python train.py``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab import rundir

# Columns every table ends with (after the task's metric and its own table keys).
RUN_COLUMNS = ("epochs_trained", "fit_seconds", "n_params")
SEED_KEYS = ("seed",)
MAX_PREDICTION_LINES = 8  # more lines than this make panel (b) unreadable
OUTPUT_NAMES = ("comparison.csv", "comparison.md", "comparison.png")
# Swept keys that draw as an axis (metric against it per backbone) when numeric.
AXIS_KEYS = ("data.seq_len",)


@dataclass
class Job:
    """One run directory of a sweep and what it left behind."""

    name: str  # path relative to the sweep dir, e.g. "backbone=gru,seed=1"
    path: Path
    overrides: dict[str, str]  # task overrides as written by Hydra, e.g. {"backbone": "gru"}
    num: int  # hydra.job.num: the order the sweeper launched it in
    state: rundir.JobState

    @property
    def metrics(self) -> dict[str, Any] | None:
        return self.state.metrics

    @property
    def status(self) -> str:
        return self.state.state


@dataclass
class Row:
    """One line of a table: a model configuration (or a baseline) over its seeds."""

    label: str
    keys: dict[str, str]  # the swept settings that identify the row
    jobs: list[Job]
    kind: str = "model"  # "model" or "baseline"
    baseline: str | None = None  # a baseline row's name in metrics.json's "baselines"
    stats: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (mean, std)
    counts: dict[str, str] = field(default_factory=dict)  # key of true/false values -> "k/n"
    seeds: list[Any] = field(default_factory=list)
    best: bool = False


@dataclass
class Section:
    """One table: the runs that rank by the same metric."""

    metric: str  # e.g. test_mse
    goal: str  # "min" or "max"
    tasks: list[str]
    columns: list[str]  # metric, the tasks' table keys, RUN_COLUMNS
    rows: list[Row]
    axis: str | None = None  # a numeric swept key the chart uses as x

    @property
    def models(self) -> list[Row]:
        return [r for r in self.rows if r.kind == "model"]


@dataclass
class Comparison:
    """Everything ``compare`` found in a sweep directory."""

    sweep_dir: Path
    jobs: list[Job]
    sections: list[Section]
    columns: list[str]  # swept keys other than the seed that tell the rows apart
    best_params: dict[str, Any] | None = None  # from an Optuna sweep's optimization_results.yaml
    written: list[Path] = field(default_factory=list)  # files compare() wrote
    unranked: list[Job] = field(default_factory=list)  # finished, but no "metric" in metrics.json

    @property
    def rows(self) -> list[Row]:
        return [row for section in self.sections for row in section.rows]

    @property
    def not_finished(self) -> list[Job]:
        return [job for job in self.jobs if job.status != "finished"]


# --------------------------------------------------------------------------- reading


def _parse_override(text: str) -> tuple[str, str] | None:
    text = text.lstrip("+~")
    if "=" not in text:
        return None  # a deletion such as ~callbacks.x changes no value we could group on
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


def _read_yaml(path: Path) -> Any:
    import yaml  # PyYAML comes with omegaconf; imported here to keep module import cheap

    with path.open() as f:
        return yaml.safe_load(f)


def _job_num(hydra_dir: Path) -> int:
    """hydra.job.num from .hydra/hydra.yaml (-1 if unreadable: those jobs sort first)."""
    try:
        return int(_read_yaml(hydra_dir / "hydra.yaml")["hydra"]["job"]["num"])
    except (OSError, KeyError, TypeError, ValueError):
        return -1


def read_job(sweep_dir: Path, run_dir: Path) -> Job:
    """Read one run directory: its overrides and its state (``rnnlab.rundir.read_state``)."""
    hydra_dir = run_dir / rundir.HYDRA
    overrides: dict[str, str] = {}
    if (hydra_dir / "overrides.yaml").is_file():
        for item in _read_yaml(hydra_dir / "overrides.yaml") or []:
            parsed = _parse_override(str(item))
            if parsed:
                overrides[parsed[0]] = parsed[1]
    name = run_dir.relative_to(sweep_dir).as_posix()
    return Job(
        name=name if name != "." else run_dir.name,
        path=run_dir,
        overrides=overrides,
        num=_job_num(hydra_dir),
        state=rundir.read_state(run_dir),
    )


def find_jobs(sweep_dir: Path) -> list[Job]:
    """Every run directory of ``sweep_dir`` (``rnnlab.rundir.job_dirs``), in launch order."""
    jobs = [read_job(sweep_dir, d) for d in rundir.job_dirs(sweep_dir)]
    return sorted(jobs, key=lambda j: (j.num, j.name))


# --------------------------------------------------------------------------- aggregating


def _value(metrics: dict[str, Any], key: str) -> float | None:
    """A number of ``metrics`` (a bool such as ``solved`` as 0 or 1), else None."""
    value = metrics.get(key)
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else math.nan


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (nan std for a single value: no spread known)."""
    if not values:
        return math.nan, math.nan
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return mean, std


def _short(key: str, value: str) -> str:
    """``model.optimizer.lr=0.0211...`` -> ``lr=0.0211`` for labels (the CSV keeps it all)."""
    try:
        number = float(value)
        if not number.is_integer() and math.isfinite(number):
            value = f"{number:.3g}"
    except ValueError:
        pass
    if key in ("backbone", "model/backbone"):
        return value
    return f"{key.rsplit('.', 1)[-1]}={value}"


def _group_key(job: Job, seed_keys: Iterable[str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in job.overrides.items() if k not in seed_keys))


def _seed_of(job: Job, seed_keys: Sequence[str]) -> Any:
    for key in seed_keys:
        if job.metrics and key in job.metrics:
            return job.metrics[key]
        if key in job.overrides:
            return job.overrides[key]
    return None


def _display_columns(jobs: list[Job], seed_keys: Sequence[str]) -> list[str]:
    """Swept keys whose value differs between jobs (in the order Hydra lists them)."""
    order: list[str] = []
    values: dict[str, set[str]] = {}
    for job in jobs:
        for key, value in job.overrides.items():
            if key in seed_keys:
                continue
            if key not in values:
                order.append(key)
                values[key] = set()
            values[key].add(value)
    everywhere = {k for k in order if all(k in j.overrides for j in jobs)}
    varying = [k for k in order if len(values[k]) > 1 or k not in everywhere]
    if varying:
        # "backbone" first: it is what most tables are about
        return sorted(varying, key=lambda k: (k != "backbone", order.index(k)))
    return sorted(order, key=lambda k: (k != "backbone", order.index(k)))


def _stats(row: Row, keys: Iterable[str]) -> None:
    finished = [j for j in row.jobs if j.metrics is not None]
    for key in keys:
        values = [v for j in finished if (v := _value(j.metrics, key)) is not None]
        row.stats[key] = mean_std(values)
        flags = [j.metrics[key] for j in finished if isinstance(j.metrics.get(key), bool)]
        if flags and len(flags) == len(values):
            row.counts[key] = f"{sum(flags)}/{len(flags)}"


def _data_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if c == "data" or c.startswith(("data.", "data/"))]


def _baseline_rows(jobs: list[Job], columns: list[str], metric: str) -> list[Row]:
    """One row per baseline named in ``metrics.json`` (and per swept data setting, since
    baselines depend on the data), its value in the table's metric."""
    data_cols = _data_columns(columns)
    names = list(dict.fromkeys(name for j in jobs for name in (j.metrics.get("baselines") or {})))
    rows = []
    for name in names:
        having = [j for j in jobs if _value(j.metrics.get("baselines") or {}, name) is not None]
        groups: dict[tuple[str, ...], list[Job]] = {}
        for job in having:
            groups.setdefault(tuple(job.overrides.get(c, "") for c in data_cols), []).append(job)
        for data_values, members in groups.items():
            keys = dict(zip(data_cols, data_values, strict=True))
            suffix = ", ".join(_short(k, v) for k, v in keys.items())
            row = Row(
                label=f"{name} (baseline{', ' + suffix if suffix else ''})",
                keys=keys,
                jobs=members,
                kind="baseline",
                baseline=name,
            )
            values = [_value(j.metrics["baselines"], name) for j in members]
            row.stats = {metric: mean_std(values)}
            if metric == "test_mse":  # a forecast's baselines also as a ratio to the noise floor
                ratios = [
                    v / j.metrics["noise_floor_mse"]
                    for v, j in zip(values, members, strict=True)
                    if j.metrics.get("noise_floor_mse")
                ]
                row.stats["test_mse_ratio"] = mean_std(ratios)
                maes = [v for j in members if (v := _value(j.metrics, f"{name}_mae")) is not None]
                if maes:
                    row.stats["test_mae"] = mean_std(maes)
            for stat, (mean, std) in row.stats.items():
                if not std > 1e-9 * abs(mean):  # same data, same baseline: no spread to show
                    row.stats[stat] = (mean, math.nan)
            row.seeds = sorted({s for j in members if (s := j.metrics.get("seed")) is not None})
            rows.append(row)
    return rows


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _axis(models: list[Row], columns: list[str]) -> str | None:
    """The swept key of ``AXIS_KEYS`` whose values are numbers and differ between rows."""
    for key in AXIS_KEYS:
        values = {row.keys.get(key) for row in models}
        if key in columns and len(values) > 1 and all(_number(v) is not None for v in values):
            return key
    return None


def _section(
    metric: str, members: list[Job], columns: list[str], seed_keys: Sequence[str]
) -> Section:
    goal = str(members[0].metrics.get("metric_goal", "min"))
    tasks = list(dict.fromkeys(str(j.metrics.get("task", "?")) for j in members))
    table = [k for j in members for k in (j.metrics.get("table") or []) if k != metric]
    keys = list(dict.fromkeys([metric, *table, *RUN_COLUMNS]))
    groups: dict[tuple[tuple[str, str], ...], list[Job]] = {}
    for job in members:
        groups.setdefault(_group_key(job, seed_keys), []).append(job)
    rows = []
    for jobs in groups.values():
        row_keys = {c: jobs[0].overrides.get(c, "") for c in columns}
        label = ", ".join(_short(k, v) for k, v in row_keys.items() if v) or "defaults"
        row = Row(label=label, keys=row_keys, jobs=jobs)
        _stats(row, keys)
        row.seeds = sorted({s for j in jobs if (s := _seed_of(j, seed_keys)) is not None}, key=str)
        rows.append(row)
    scored = [r for r in rows if not math.isnan(r.stats[metric][0])]
    if scored:
        pick = max if goal == "max" else min
        pick(scored, key=lambda r: r.stats[metric][0]).best = True
    section = Section(metric, goal, tasks, keys, rows + _baseline_rows(members, columns, metric))
    section.axis = _axis(rows, columns)
    return section


def aggregate(sweep_dir: str | Path, seed_keys: Sequence[str] = SEED_KEYS) -> Comparison:
    """Group the jobs of ``sweep_dir`` into tables, one per metric (nothing is written)."""
    sweep_dir = Path(sweep_dir)
    jobs = find_jobs(sweep_dir)
    columns = _display_columns(jobs, seed_keys)
    finished = [j for j in jobs if j.metrics is not None]
    by_metric: dict[str, list[Job]] = {}
    unranked = []
    for job in finished:
        metric = job.metrics.get("metric")
        if isinstance(metric, str):
            by_metric.setdefault(metric, []).append(job)
        else:
            unranked.append(job)
    sections = [_section(m, members, columns, seed_keys) for m, members in by_metric.items()]
    comparison = Comparison(sweep_dir, jobs, sections, columns, unranked=unranked)
    results = sweep_dir / "optimization_results.yaml"
    if results.is_file():
        comparison.best_params = _read_yaml(results)
    return comparison


# --------------------------------------------------------------------------- writing


def _decimals(mean: float, key: str) -> int | None:
    """Decimal places that show ``mean`` to 4 significant digits (None: use %g instead)."""
    if key in ("epochs_trained", "n_params"):
        return 0 if float(mean).is_integer() else 1
    if key == "fit_seconds":
        return 2
    if key == "test_mse_ratio":
        return 3
    if mean == 0:
        return 4
    places = 3 - math.floor(math.log10(abs(mean)))
    return max(places, 0) if places <= 8 else None


def _cell(row: Row, key: str, seeds: bool = False) -> str:
    """``mean ± std`` with both numbers to the same decimal place, e.g. ``0.01122 ± 0.00009``
    (``k/n`` for true/false values such as ``solved``); ``seeds`` adds ``(n)``."""
    if key in row.counts:
        return row.counts[key]
    mean, std = row.stats.get(key, (math.nan, math.nan))
    if math.isnan(mean):
        return "—"
    places = _decimals(mean, key)
    fmt = (lambda v: f"{v:.4g}") if places is None else (lambda v: f"{v:.{places}f}")
    text = fmt(mean) if math.isnan(std) or key == "n_params" else f"{fmt(mean)} ± {fmt(std)}"
    if seeds and row.kind == "model" and len(row.jobs) > 1:
        text += f" ({len(row.jobs)})"
    return text


def _all_keys(comparison: Comparison) -> list[str]:
    return list(dict.fromkeys(k for section in comparison.sections for k in section.columns))


def write_csv(comparison: Comparison, path: Path) -> None:
    """Machine-readable table: one column per statistic, plain numbers; ``metric`` names the
    table each row belongs to."""
    keys = _all_keys(comparison)
    header = ["model", "kind", "metric", *comparison.columns, "n_seeds", "n_runs", "best"]
    for key in keys:
        header += [f"{key}_mean", f"{key}_std"]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for section in comparison.sections:
            for row in section.rows:
                line: list[Any] = [row.label, row.kind, section.metric]
                line += [row.keys.get(c, "") for c in comparison.columns]
                line += [len(row.seeds), len(row.jobs), int(row.best)]
                for key in keys:
                    mean, std = row.stats.get(key, (math.nan, math.nan))
                    line += [
                        "" if math.isnan(mean) else repr(mean),
                        "" if math.isnan(std) else repr(std),
                    ]
                writer.writerow(line)


def _ordered(values: Iterable[str]) -> list[str]:
    """Distinct values in order: numerically when all are numbers, else as first seen."""
    distinct = list(dict.fromkeys(values))
    if all(_number(v) is not None for v in distinct):
        return sorted(distinct, key=lambda v: _number(v))
    return distinct


def crossed(section: Section, columns: list[str]) -> list[str]:
    """The table's metric by backbone (rows) × the one other setting its rows differ in
    (columns), baselines below; empty when the rows differ in anything else."""
    models = section.models
    varying = [c for c in columns if len({r.keys.get(c, "") for r in models}) > 1]
    if "backbone" not in varying or len(varying) != 2 or len(models) < 2:
        return []
    other = next(c for c in varying if c != "backbone")
    across = _ordered(r.keys.get(other, "") for r in models)
    cells: dict[tuple[str, str], str] = {}
    for row in models:
        cells[row.keys["backbone"], row.keys.get(other, "")] = _cell(row, section.metric, True)
    for row in section.rows:
        if row.kind == "baseline" and other in row.keys:
            cells[f"{row.baseline} (baseline)", row.keys[other]] = _cell(row, section.metric)
    lines = ["| " + " | ".join([f"{section.metric}", *(_short(other, v) for v in across)]) + " |",
             "|:--" + "|--:" * len(across) + "|"]  # fmt: skip
    for name in dict.fromkeys(k[0] for k in cells):
        lines.append("| " + " | ".join([name, *(cells.get((name, v), "—") for v in across)]) + " |")
    return lines


def markdown(comparison: Comparison) -> str:
    """The tables as GitHub markdown (one per metric), followed by the jobs that did not
    finish."""
    finished = sum(j.status == "finished" for j in comparison.jobs)
    lines = [
        f"# Comparison of {comparison.sweep_dir.name}",
        "",
        f"{finished} of {len(comparison.jobs)} jobs finished. Mean ± sample std over seeds; "
        "★ = best mean of the table's metric.",
    ]
    for section in comparison.sections:
        best = "lowest" if section.goal == "min" else "highest"
        note = f"★ = {best} mean {section.metric}"
        if "test_mse_ratio" in section.columns:
            note += "; test_mse_ratio = test_mse / noise_floor_mse"
        if len(comparison.sections) > 1:
            lines += ["", f"## {section.metric} ({', '.join(section.tasks)})"]
        lines += ["", note + ".", ""]
        pivot = crossed(section, comparison.columns)
        if pivot:
            lines += [*pivot, "", "(n) = seeds when more than one.", ""]
        header = ["", "model", "seeds", *section.columns]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join([":-:", ":--"] + ["--:"] * (len(header) - 2)) + "|")
        for row in section.rows:
            cells = ["★" if row.best else "", row.label.replace("|", "\\|"), str(len(row.seeds))]
            cells += [_cell(row, key) for key in section.columns]
            lines.append("| " + " | ".join(cells) + " |")
    if not comparison.sections:
        lines += ["", "| | model | seeds |", "|:-:|:--|--:|", "| | (no finished job) | |"]
    if comparison.unranked:
        lines += ["", f"## Finished without a metric to rank by ({len(comparison.unranked)})", ""]
        for job in comparison.unranked:
            lines.append(
                f"- `{job.name}`: metrics.json names no `metric` (made by an older rnnlab?)"
            )
    failed = comparison.not_finished
    if failed:
        lines += ["", f"## Jobs that did not finish ({len(failed)})", ""]
        for job in failed:
            lines.append(f"- `{job.name}`: {job.status}: {job.state.reason}")
    if comparison.best_params:
        lines += ["", "## Best trial of the search (optimization_results.yaml)", ""]
        lines.append(f"- best value: {comparison.best_params.get('best_value')}")
        for key, value in (comparison.best_params.get("best_params") or {}).items():
            lines.append(f"- `{key}`: {value}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- plotting


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _floats(rows: list[dict[str, str]], key: str) -> list[float]:
    return [float(r[key]) if r.get(key) not in (None, "") else math.nan for r in rows]


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def validation_panel(
    ax: Any, models: list[Row], color: dict[int, Any], ylabel: str = "val/loss"
) -> None:
    """(a) Validation loss per epoch: mean over the seeds that reached each epoch, with the
    min-max band over seeds."""
    import numpy as np

    for row in models:
        curves: dict[float, list[float]] = {}
        for job in row.jobs:
            history = _read_csv(job.path / rundir.HISTORY)
            for epoch, loss in zip(
                _floats(history, "epoch"), _floats(history, "val/loss"), strict=True
            ):
                if not math.isnan(loss):
                    curves.setdefault(epoch, []).append(loss)
        if not curves:
            continue
        epochs = np.array(sorted(curves))
        values = [curves[e] for e in epochs]
        mean = np.array([np.mean(v) for v in values])
        ax.plot(epochs, mean, color=color[id(row)], lw=1.5, label=_clip(row.label, 40),
                marker="o" if len(epochs) < 5 else None)  # fmt: skip
        if len(row.jobs) > 1:
            low, high = [min(v) for v in values], [max(v) for v in values]
            ax.fill_between(epochs, low, high, color=color[id(row)], alpha=0.2, lw=0)
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
    """(c) The table's metric per model: mean ± std and one dot per seed; baselines in grey.
    Markers, not bars: models near the noise floor sit close together, and bars from zero
    would hide the gaps."""
    import numpy as np

    metric = section.metric
    points = section.models + [r for r in section.rows if r.kind == "baseline"]
    for i, row in enumerate(points):
        mean, std = row.stats[metric]
        c = color.get(id(row), "0.45")
        ax.errorbar(i, mean, yerr=0.0 if math.isnan(std) else std, fmt="D" if row.best else "o",
                    color=c, ms=9 if row.best else 7, capsize=5, lw=1.5, zorder=2)  # fmt: skip
        if row.kind == "baseline":
            continue  # the same value for every seed: the marker says it all
        seeds = [v for j in row.jobs if (v := _value(j.metrics, metric)) is not None]
        jitter = np.linspace(-0.12, 0.12, len(seeds)) if len(seeds) > 1 else np.zeros(len(seeds))
        ax.scatter(i + 0.25 + jitter, seeds, s=10, color=c, alpha=0.7, zorder=3)
    jobs = [j for r in section.models for j in r.jobs]
    floors = [f for j in jobs if metric == "test_mse" and (f := j.metrics.get("noise_floor_mse"))]
    if floors:
        floor = float(np.mean(floors))
        ax.axhline(floor, color="crimson", ls="--", lw=1, label=f"noise floor {floor:.4g}")
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
        name = ", ".join(_short(k, v) for k, v in row.keys.items() if v and k != axis)
        lines.setdefault(name or "model", []).append(row)
    values = []
    for k, (name, rows) in enumerate(lines.items()):
        rows = sorted(rows, key=lambda r: _number(r.keys[axis]))
        x = [_number(r.keys[axis]) for r in rows]
        y = [r.stats[metric][0] for r in rows]
        err = [0.0 if math.isnan(r.stats[metric][1]) else r.stats[metric][1] for r in rows]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=4, lw=1.6, label=_clip(name, 30),
                    color=color.get(id(rows[0]), f"C{k % 10}"))  # fmt: skip
        values += y
    styles = ["--", ":", "-."]
    for k, name in enumerate(dict.fromkeys(r.baseline for r in section.rows if r.baseline)):
        rows = [r for r in section.rows if r.baseline == name and axis in r.keys]
        rows.sort(key=lambda r: _number(r.keys[axis]))
        x = [_number(r.keys[axis]) for r in rows]
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


def predictions_panel(ax: Any, models: list[Row], color: dict[int, Any]) -> None:
    """(b) Test predictions of each model's median-seed run over the actual test series
    (the ``MAX_PREDICTION_LINES`` lowest-MSE models)."""
    shown = sorted(models, key=lambda r: r.stats["test_mse"][0])[:MAX_PREDICTION_LINES]
    drew_target = False
    for row in sorted(shown, key=models.index):
        ranked = sorted(
            (j for j in row.jobs if (j.path / rundir.PREDICTIONS).is_file()),
            key=lambda j: _value(j.metrics, "test_mse") or math.inf,
        )
        if not ranked:
            continue
        job = ranked[(len(ranked) - 1) // 2]
        pred = _read_csv(job.path / rundir.PREDICTIONS)
        time_axis = _floats(pred, "time")
        if not drew_target:
            ax.plot(time_axis, _floats(pred, "target"), ".", color="0.4", ms=3,
                    label="actual (test)")  # fmt: skip
            drew_target = True
        mse = _value(job.metrics, "test_mse")
        label = f"{_clip(row.label, 40)} (seed {_seed_of(job, SEED_KEYS)}, MSE {mse:.4g})"
        ax.plot(time_axis, _floats(pred, "prediction"), color=color[id(row)], lw=1.2, label=label)
    title = "(b) test predictions on the true time axis (median-seed run of each model)"
    if len(models) > len(shown):
        title += f"; the {len(shown)} lowest-MSE of {len(models)} models"
    ax.set(title=title, xlabel="time", ylabel="value")
    ax.grid(alpha=0.3)
    if drew_target:
        ax.legend(fontsize=8, ncols=2)


def plot(comparison: Comparison, path: Path) -> None:
    """comparison.png. A forecast sweep: validation loss, test MSE per model and the test
    predictions. Otherwise one row per table: its metric against the axis (or per model),
    and the validation loss."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    sections = [s for s in comparison.sections if s.models]
    models = [r for s in sections for r in s.models]
    colors = colormaps["tab10" if len(models) <= 10 else "tab20"]
    color = {id(r): colors(i % colors.N) for i, r in enumerate(models)}
    only = sections[0] if len(sections) == 1 else None
    if only is not None and only.tasks == ["forecast"] and only.axis is None:
        fig = Figure(figsize=(13, 9.5), layout="constrained")
        grid = fig.add_gridspec(2, 2)
        validation_panel(fig.add_subplot(grid[0, 0]), only.models, color,
                         "val/loss (MSE in the units the model sees)")  # fmt: skip
        score_panel(fig.add_subplot(grid[0, 1]), only, color)
        predictions_panel(fig.add_subplot(grid[1, :]), only.models, color)
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


# --------------------------------------------------------------------------- entry points


def compare(
    sweep_dir: str | Path, seed_keys: Sequence[str] = SEED_KEYS, make_plot: bool = True
) -> Comparison:
    """Aggregate ``sweep_dir`` and write comparison.csv/.md (and .png) into it."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(f"sweep directory {str(sweep_dir)!r} does not exist")
    comparison = aggregate(sweep_dir, seed_keys)
    if not comparison.jobs:
        raise ValueError(
            f"no run directories (with .hydra/) under {str(sweep_dir)!r}: "
            "pass the directory of a multirun, e.g. logs/train/multiruns/<time>"
        )
    csv_path, md_path, png_path = (sweep_dir / name for name in OUTPUT_NAMES)
    write_csv(comparison, csv_path)
    md_path.write_text(markdown(comparison))
    comparison.written = [csv_path, md_path]
    if make_plot and any(r.kind == "model" for r in comparison.rows):
        plot(comparison, png_path)
        comparison.written.append(png_path)
    return comparison


def latest_sweep(log_dir: str | Path | None = None) -> Path:
    """The newest sweep directory under ``<log dir>/*/multiruns`` (RNNLAB_LOG_DIR or logs)."""
    root = Path(log_dir or os.environ.get("RNNLAB_LOG_DIR", "logs"))
    sweeps = [p for p in root.glob("*/multiruns/*") if p.is_dir()]
    if not sweeps:
        raise FileNotFoundError(f"no sweep under {str(root)!r}/*/multiruns: pass DIR explicitly")
    return max(sweeps, key=lambda p: p.stat().st_mtime)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rnnlab.report.compare [DIR]`` / ``rnnlab-compare [DIR]``."""
    parser = argparse.ArgumentParser(prog="rnnlab-compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", nargs="?", help="sweep directory (default: the newest)")
    parser.add_argument(
        "--seed-key",
        action="append",
        dest="seed_keys",
        metavar="KEY",
        help="override key averaged over (repeatable; default: seed)",
    )
    parser.add_argument("--no-plot", action="store_true", help="skip comparison.png")
    args = parser.parse_args(argv)
    try:
        sweep_dir = Path(args.sweep_dir) if args.sweep_dir else latest_sweep()
        comparison = compare(sweep_dir, tuple(args.seed_keys or SEED_KEYS), not args.no_plot)
    except (FileNotFoundError, ValueError) as e:
        print(f"rnnlab-compare: error: {e}", file=sys.stderr)
        return 2
    print(markdown(comparison), end="")
    print(f"\nwrote {', '.join(p.name for p in comparison.written)} in {sweep_dir}")
    return 0 if any(r.kind == "model" for r in comparison.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
