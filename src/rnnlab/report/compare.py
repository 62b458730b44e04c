"""One results table (and one chart) for a whole sweep directory.

    python -m rnnlab.report.compare logs/train/multiruns/2026-11-25_13-20-00_123456
    python -m rnnlab.report.compare                 # the newest sweep under logs/train/multiruns
    make compare DIR=logs/train/multiruns/...

Every job of a Hydra multirun is a run directory with ``.hydra/overrides.yaml`` and, once it
finished, ``metrics.json``. Jobs are grouped by their overrides minus the seed; each group
becomes one row with mean ± std over its seeds. Writes ``comparison.csv``,
``comparison.md`` and ``comparison.png`` into the sweep directory. Failed jobs (``error.txt``)
and unfinished ones are listed by name; the finished ones are still aggregated.

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

# Columns aggregated over seeds, in table order.
METRICS = (
    "test_mse",
    "test_mse_ratio",
    "test_mae",
    "val_mse",
    "epochs_trained",
    "fit_seconds",
    "n_params",
)
# Baselines that train.py may store in metrics.json (name -> key of its test MSE).
BASELINES = {"naive_last": "naive_last_mse", "linear_ar": "linear_ar_mse"}
SEED_KEYS = ("seed",)
MAX_PREDICTION_LINES = 8  # more lines than this make panel (b) unreadable
OUTPUT_NAMES = ("comparison.csv", "comparison.md", "comparison.png")


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
    """One line of the table: a model configuration (or a baseline) over its seeds."""

    label: str
    keys: dict[str, str]  # the swept settings that identify the row
    jobs: list[Job]
    kind: str = "model"  # "model" or "baseline"
    mse_key: str = "test_mse"  # where each job's test MSE of this row is stored
    stats: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (mean, std)
    seeds: list[Any] = field(default_factory=list)
    best: bool = False


@dataclass
class Comparison:
    """Everything ``compare`` found in a sweep directory."""

    sweep_dir: Path
    jobs: list[Job]
    rows: list[Row]
    columns: list[str]  # swept keys other than the seed that tell the rows apart
    best_params: dict[str, Any] | None = None  # from an Optuna sweep's optimization_results.yaml
    written: list[Path] = field(default_factory=list)  # files compare() wrote

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
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
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


def _baseline_rows(jobs: list[Job], columns: list[str]) -> list[Row]:
    """One row per baseline (and per swept data setting, since baselines depend on the data)."""
    data_cols = [c for c in columns if c == "data" or c.startswith(("data.", "data/"))]
    rows = []
    for name, key in BASELINES.items():
        having = [j for j in jobs if j.metrics and _value(j.metrics, key) is not None]
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
                mse_key=key,
            )
            mses = [_value(j.metrics, key) for j in members]
            ratios = [
                m / j.metrics["noise_floor_mse"]
                for m, j in zip(mses, members, strict=True)
                if j.metrics.get("noise_floor_mse")
            ]
            row.stats = {"test_mse": mean_std(mses), "test_mse_ratio": mean_std(ratios)}
            mae_key = key.replace("_mse", "_mae")
            maes = [v for j in members if (v := _value(j.metrics, mae_key)) is not None]
            if maes:
                row.stats["test_mae"] = mean_std(maes)
            for stat, (mean, std) in row.stats.items():
                if not std > 1e-9 * abs(mean):  # same data, same baseline: no spread to show
                    row.stats[stat] = (mean, math.nan)
            row.seeds = sorted({s for j in members if (s := j.metrics.get("seed")) is not None})
            rows.append(row)
    return rows


def aggregate(sweep_dir: str | Path, seed_keys: Sequence[str] = SEED_KEYS) -> Comparison:
    """Group the jobs of ``sweep_dir`` into table rows (nothing is written)."""
    sweep_dir = Path(sweep_dir)
    jobs = find_jobs(sweep_dir)
    columns = _display_columns(jobs, seed_keys)
    groups: dict[tuple[tuple[str, str], ...], list[Job]] = {}
    for job in jobs:
        groups.setdefault(_group_key(job, seed_keys), []).append(job)
    rows = []
    for members in groups.values():
        finished = [j for j in members if j.metrics is not None]
        if not finished:
            continue  # listed under "did not finish" instead
        keys = {c: members[0].overrides.get(c, "") for c in columns}
        label = ", ".join(_short(k, v) for k, v in keys.items() if v) or "defaults"
        row = Row(label=label, keys=keys, jobs=finished)
        _stats(row, METRICS)
        row.seeds = sorted(
            {s for j in finished if (s := _seed_of(j, seed_keys)) is not None}, key=str
        )
        rows.append(row)
    scored = [r for r in rows if not math.isnan(r.stats["test_mse"][0])]
    if scored:
        min(scored, key=lambda r: r.stats["test_mse"][0]).best = True
    rows += _baseline_rows([j for j in jobs if j.metrics], columns)
    comparison = Comparison(sweep_dir, jobs, rows, columns)
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


def _cell(row: Row, key: str) -> str:
    """``mean ± std`` with both numbers to the same decimal place, e.g. ``0.01122 ± 0.00009``."""
    mean, std = row.stats.get(key, (math.nan, math.nan))
    if math.isnan(mean):
        return "—"
    places = _decimals(mean, key)
    fmt = (lambda v: f"{v:.4g}") if places is None else (lambda v: f"{v:.{places}f}")
    if math.isnan(std) or key == "n_params":
        return fmt(mean)
    return f"{fmt(mean)} ± {fmt(std)}"


def write_csv(comparison: Comparison, path: Path) -> None:
    """Machine-readable table: one column per statistic, plain numbers."""
    header = ["model", "kind", *comparison.columns, "n_seeds", "n_runs", "best"]
    for key in METRICS:
        header += [f"{key}_mean", f"{key}_std"]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in comparison.rows:
            line: list[Any] = [row.label, row.kind]
            line += [row.keys.get(c, "") for c in comparison.columns]
            line += [len(row.seeds), len(row.jobs), int(row.best)]
            for key in METRICS:
                mean, std = row.stats.get(key, (math.nan, math.nan))
                line += [
                    "" if math.isnan(mean) else repr(mean),
                    "" if math.isnan(std) else repr(std),
                ]
            writer.writerow(line)


def markdown(comparison: Comparison) -> str:
    """The table as GitHub markdown, followed by the jobs that did not finish."""
    header = ["", "model", "seeds", *METRICS]
    lines = [
        f"# Comparison of {comparison.sweep_dir.name}",
        "",
        f"{sum(j.status == 'finished' for j in comparison.jobs)} of {len(comparison.jobs)} jobs "
        "finished. Mean ± sample std over seeds; ★ = lowest mean test_mse; "
        "test_mse_ratio = test_mse / noise_floor_mse.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":-:", ":--"] + ["--:"] * (len(header) - 2)) + "|",
    ]
    for row in comparison.rows:
        cells = ["★" if row.best else "", row.label.replace("|", "\\|"), str(len(row.seeds))]
        cells += [_cell(row, key) for key in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    if not comparison.rows:
        lines.append("| | (no finished job) |" + " |" * (len(header) - 2))
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


def validation_panel(ax: Any, models: list[Row], color: dict[int, Any]) -> None:
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
        ylabel="val/loss (MSE in the units the model sees)",
        yscale="log",
    )
    ax.grid(alpha=0.3)
    if 0 < len(models) <= 12:
        ax.legend(fontsize=8)


def score_panel(ax: Any, comparison: Comparison, color: dict[int, Any]) -> None:
    """(c) Test MSE per model: mean ± std and one dot per seed; baselines in grey. Markers,
    not bars: models near the noise floor sit close together, and bars from zero would hide
    the gaps."""
    import numpy as np

    points = [r for r in comparison.rows if r.kind == "model"]
    points += [r for r in comparison.rows if r.kind == "baseline"]
    for i, row in enumerate(points):
        mean, std = row.stats["test_mse"]
        c = color.get(id(row), "0.45")
        ax.errorbar(i, mean, yerr=0.0 if math.isnan(std) else std, fmt="D" if row.best else "o",
                    color=c, ms=9 if row.best else 7, capsize=5, lw=1.5, zorder=2)  # fmt: skip
        if row.kind == "baseline":
            continue  # the same value for every seed: the marker says it all
        seeds = [v for j in row.jobs if (v := _value(j.metrics, row.mse_key)) is not None]
        jitter = np.linspace(-0.12, 0.12, len(seeds)) if len(seeds) > 1 else np.zeros(len(seeds))
        ax.scatter(i + 0.25 + jitter, seeds, s=10, color=c, alpha=0.7, zorder=3)
    floors = [f for j in comparison.jobs if j.metrics and (f := j.metrics.get("noise_floor_mse"))]
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
    ax.set(title="(c) test MSE per model (mean ± std; dots = seeds)", ylabel="test MSE")
    ax.grid(axis="y", alpha=0.3)


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
    """comparison.png: the three panels above, one colour per model throughout."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    models = [r for r in comparison.rows if r.kind == "model"]
    colors = colormaps["tab10" if len(models) <= 10 else "tab20"]
    color = {id(r): colors(i % colors.N) for i, r in enumerate(models)}
    fig = Figure(figsize=(13, 9.5), layout="constrained")
    grid = fig.add_gridspec(2, 2)
    validation_panel(fig.add_subplot(grid[0, 0]), models, color)
    score_panel(fig.add_subplot(grid[0, 1]), comparison, color)
    predictions_panel(fig.add_subplot(grid[1, :]), models, color)
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
