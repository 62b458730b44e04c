"""A sweep directory read back: its jobs, grouped into rows, with statistics over seeds.

Every job of a Hydra multirun is a run directory with ``.hydra/overrides.yaml`` and, once it
finished, ``metrics.json``. Jobs are grouped by their overrides minus the seed; each group
becomes one row with mean ± std over its seeds. What a row holds comes from the generic keys
of each run's ``metrics.json`` (``rnnlab.report.task``): the task's ``metric`` (the best row
by ``metric_goal``), its ``table`` keys, and its ``baselines`` as rows of their own. A sweep
whose runs rank by different metrics gets one section per metric.

``aggregate`` reads the numbers; ``load_traces`` adds what a chart draws (validation curves,
test predictions over time), so the chart (``rnnlab.report.sweep_chart``) opens no file.
Nothing heavy is imported (the standard library and PyYAML): the Hydra callback that reports
a sweep is loaded by every ``python train.py``.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from rnnlab import rundir
from rnnlab.report.fair import Choice, Entry, Interval, choose_rates, judge, t_interval

# Columns every table ends with (after the task's metric and its own table keys).
# Compute beside every score: time, memory, size and training FLOPs (rnnlab.models.compute).
RUN_COLUMNS = ("epochs_trained", "fit_seconds", "peak_memory_mb", "n_params",
               "flops_per_sequence", "train_flops")  # fmt: skip
SEED_KEYS = ("seed",)
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
    intervals: dict[str, Interval] = field(default_factory=dict)  # key -> 95 % interval
    counts: dict[str, str] = field(default_factory=dict)  # key of true/false values -> "k/n"
    seeds: list[Any] = field(default_factory=list)
    best: bool = False
    curve: Curve | None = None  # validation loss per epoch over the seeds (load_traces)
    trace: Trace | None = None  # the median-seed run's test predictions (load_traces)


@dataclass
class Section:
    """One table: the runs that rank by the same metric."""

    metric: str  # e.g. test_mse
    goal: str  # "min" or "max"
    tasks: list[str]
    columns: list[str]  # metric, the tasks' table keys, RUN_COLUMNS
    rows: list[Row]
    axis: str | None = None  # a numeric swept key the chart uses as x
    rates: list[Choice] = field(default_factory=list)  # a learning-rate sweep's choices

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


def value_of(metrics: dict[str, Any], key: str) -> float | None:
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


def short_label(key: str, value: str) -> str:
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


def seed_of(job: Job, seed_keys: Sequence[str]) -> Any:
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
        values = [v for j in finished if (v := value_of(j.metrics, key)) is not None]
        row.stats[key] = mean_std(values)
        row.intervals[key] = t_interval([v for v in values if not math.isnan(v)])
        flags = [j.metrics[key] for j in finished if isinstance(j.metrics.get(key), bool)]
        if flags and len(flags) == len(values):
            row.counts[key] = f"{sum(flags)}/{len(flags)}"


def _data_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if c == "data" or c.startswith(("data.", "data/"))]


def _baseline_rows(jobs: list[Job], columns: list[str], metric: str) -> list[Row]:
    """One row per baseline named in ``metrics.json`` (and per swept data setting, since
    baselines depend on the data), its value in the table's metric and in the other columns
    its ``baseline_columns`` give."""
    data_cols = _data_columns(columns)
    names = list(dict.fromkeys(name for j in jobs for name in (j.metrics.get("baselines") or {})))
    rows = []
    for name in names:
        having = [j for j in jobs if value_of(j.metrics.get("baselines") or {}, name) is not None]
        groups: dict[tuple[str, ...], list[Job]] = {}
        for job in having:
            groups.setdefault(tuple(job.overrides.get(c, "") for c in data_cols), []).append(job)
        for data_values, members in groups.items():
            keys = dict(zip(data_cols, data_values, strict=True))
            suffix = ", ".join(short_label(k, v) for k, v in keys.items())
            row = Row(
                label=f"{name} (baseline{', ' + suffix if suffix else ''})",
                keys=keys,
                jobs=members,
                kind="baseline",
                baseline=name,
            )
            values = [value_of(j.metrics["baselines"], name) for j in members]
            row.stats = {metric: mean_std(values)}
            # the baseline's value of other table columns, where the task's report gives them
            given = [j.metrics.get("baseline_columns", {}).get(name, {}) for j in members]
            for key in dict.fromkeys(k for c in given for k in c):
                row.stats[key] = mean_std([v for c in given if (v := value_of(c, key)) is not None])
            for stat, (mean, std) in row.stats.items():
                if not std > 1e-9 * abs(mean):  # same data, same baseline: no spread to show
                    row.stats[stat] = (mean, math.nan)
            row.seeds = sorted({s for j in members if (s := j.metrics.get("seed")) is not None})
            rows.append(row)
    return rows


def as_number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _axis(models: list[Row], columns: list[str]) -> str | None:
    """The swept key of ``AXIS_KEYS`` whose values are numbers and differ between rows."""
    for key in AXIS_KEYS:
        values = {row.keys.get(key) for row in models}
        if key in columns and len(values) > 1 and all(as_number(v) is not None for v in values):
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
        label = ", ".join(short_label(k, v) for k, v in row_keys.items() if v) or "defaults"
        row = Row(label=label, keys=row_keys, jobs=jobs)
        _stats(row, keys)
        row.seeds = sorted({s for j in jobs if (s := seed_of(j, seed_keys)) is not None}, key=str)
        rows.append(row)
    scored = [r for r in rows if not math.isnan(r.stats[metric][0])]
    if scored:
        pick = max if goal == "max" else min
        pick(scored, key=lambda r: r.stats[metric][0]).best = True
    section = Section(metric, goal, tasks, keys, rows + _baseline_rows(members, columns, metric))
    section.axis = _axis(rows, columns)
    return section


def rate_key(columns: Sequence[str]) -> str | None:
    """The swept learning rate (``model.optimizer.lr``), if the sweep has one."""
    return next((c for c in columns if c.rsplit(".", 1)[-1] == "lr"), None)


def rate_entries(
    jobs: list[Job], columns: Sequence[str], rate: str, seed_keys: Sequence[str], metric: str
) -> list[Entry]:
    """The finished jobs as ``fair.Entry``: their data set (the swept keys other than the
    backbone, the rate and the seed), backbone, rate, seed, validation and test score."""
    val_key = "val_" + metric.removeprefix("test_")
    entries = []
    for job in jobs:
        rate_value = as_number(job.overrides.get(rate, ""))
        if rate_value is None:
            continue
        dataset = tuple((c, job.overrides.get(c, "")) for c in columns
                        if c not in (rate, "backbone") and c not in seed_keys)  # fmt: skip
        backbone = job.overrides.get("backbone") or str(job.metrics.get("backbone", "?"))
        scores = value_of(job.metrics, val_key), value_of(job.metrics, metric)
        entries.append(Entry(dataset, backbone, rate_value, seed_of(job, seed_keys), *scores))
    return entries


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
    rate = rate_key(columns)
    for section, members in zip(sections, by_metric.values(), strict=True):
        if rate is not None:
            section.rates = choose_rates(rate_entries(members, columns, rate, seed_keys,
                                                      section.metric), section.goal)  # fmt: skip
            judge(section.rates, section.goal)
    comparison = Comparison(sweep_dir, jobs, sections, columns, unranked=unranked)
    results = sweep_dir / "optimization_results.yaml"
    if results.is_file():
        comparison.best_params = _read_yaml(results)
    return comparison


# --------------------------------------------------------------------------- traces


@dataclass
class Curve:
    """Validation loss per epoch over a row's seeds: the mean and the min-max band."""

    epochs: list[float]
    mean: list[float]
    low: list[float]
    high: list[float]


@dataclass
class Trace:
    """One run's test predictions on the true time axis (its ``predictions.csv``)."""

    job: Job
    time: list[float] | list[datetime]
    target: list[float]
    prediction: list[float]


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _floats(rows: list[dict[str, str]], key: str) -> list[float]:
    return [float(r[key]) if r.get(key) not in (None, "") else math.nan for r in rows]


def _times(rows: list[dict[str, str]]) -> list[float] | list[datetime]:
    """The ``time`` column: step numbers, or the dates of a file with a date column."""
    try:
        return _floats(rows, "time")
    except ValueError:
        return [datetime.fromisoformat(r["time"]) for r in rows]


def validation_curve(row: Row) -> Curve | None:
    """The mean over the seeds that reached each epoch of ``val/loss`` (``history.csv``)."""
    by_epoch: dict[float, list[float]] = {}
    for job in row.jobs:
        history = _read_csv(job.path / rundir.HISTORY)
        for epoch, loss in zip(_floats(history, "epoch"), _floats(history, "val/loss"),
                               strict=True):  # fmt: skip
            if not math.isnan(loss):
                by_epoch.setdefault(epoch, []).append(loss)
    if not by_epoch:
        return None
    epochs = sorted(by_epoch)
    values = [by_epoch[e] for e in epochs]
    return Curve(epochs, [statistics.fmean(v) for v in values], [min(v) for v in values],
                 [max(v) for v in values])  # fmt: skip


def median_trace(row: Row, metric: str, goal: str) -> Trace | None:
    """The test predictions of the row's median-seed run by ``metric``, where its
    ``predictions.csv`` has a time axis (``time``, ``target``, ``prediction``)."""
    worst = -math.inf if goal == "max" else math.inf
    ranked = sorted(
        (j for j in row.jobs if (j.path / rundir.PREDICTIONS).is_file()),
        key=lambda j: (
            value_of(j.metrics, metric) if value_of(j.metrics, metric) is not None else worst
        ),
        reverse=goal == "max",
    )
    if not ranked:
        return None
    job = ranked[(len(ranked) - 1) // 2]
    rows = _read_csv(job.path / rundir.PREDICTIONS)
    if not rows or not {"time", "target", "prediction"} <= set(rows[0]):
        return None
    return Trace(job, _times(rows), _floats(rows, "target"), _floats(rows, "prediction"))


def load_traces(comparison: Comparison) -> None:
    """Fill in every model row's ``curve`` and ``trace`` from its jobs' files."""
    for section in comparison.sections:
        for row in section.models:
            row.curve = validation_curve(row)
            row.trace = median_trace(row, section.metric, section.goal)
