"""One results table (and one chart) for a whole sweep directory.

    python -m rnnlab.report.compare logs/train/multiruns/2026-11-25_13-20-00_123456
    python -m rnnlab.report.compare                 # the newest sweep under logs/train/multiruns
    make compare DIR=logs/train/multiruns/...

Writes ``comparison.csv``, ``comparison.md`` and ``comparison.png`` into the sweep directory:
mean ± std over seeds per row (``rnnlab.report.sweep``), one table per ranking metric, the
baselines as rows of their own. Failed and unfinished jobs are listed by name; the finished
ones are still aggregated. When the rows of a table differ by ``backbone`` and one other
setting, a second, compact table crosses the two.

Nothing heavy is imported at module level (matplotlib only when a chart is drawn): the Hydra
callback that calls this module is loaded by every ``python train.py``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rnnlab.report.fair import Interval, tally
from rnnlab.report.sweep import (
    SEED_KEYS,
    Comparison,
    Row,
    Section,
    aggregate,
    as_number,
    load_traces,
    short_label,
)

OUTPUT_NAMES = ("comparison.csv", "comparison.md", "comparison.png")
RATES_NAMES = ("comparison_rates.csv", "sensitivity.png")  # with a learning-rate axis


def _decimals(mean: float, key: str) -> int | None:
    """Decimal places that show ``mean`` to 4 significant digits (None: use %g instead)."""
    if key in ("epochs_trained", "n_params", "peak_memory_mb"):
        return 0 if float(mean).is_integer() else 1
    if key in ("flops_per_sequence", "train_flops"):
        return None  # %g: 5.141e+05
    if key == "fit_seconds":
        return 2
    if key == "test_mse_ratio":
        return 3
    if mean == 0:
        return 4
    places = 3 - math.floor(math.log10(abs(mean)))
    return max(places, 0) if places <= 8 else None


def number(value: float, key: str, like: float | None = None) -> str:
    """A value of ``key`` to about four significant digits (or to the decimal places of
    ``like``, e.g. a spread written to its mean's places)."""
    places = _decimals(value if like is None else like, key)
    return f"{value:.4g}" if places is None else f"{value:.{places}f}"


def _cell(row: Row, key: str, seeds: bool = False) -> str:
    """``mean ± half-width of the 95 % interval`` to the same decimal place, e.g.
    ``0.01122 ± 0.00009`` (``k/n`` for true/false values such as ``solved``; a baseline or a
    single seed: the mean alone); ``seeds`` adds ``(n)``."""
    if key in row.counts:
        return row.counts[key]
    mean = row.stats.get(key, (math.nan, math.nan))[0]
    if math.isnan(mean):
        return "—"
    interval = row.intervals.get(key)
    spread = math.nan if interval is None or key == "n_params" else interval.half
    text = number(mean, key)
    if not math.isnan(spread):
        text += f" ± {number(spread, key, like=mean)}"
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
        header += [f"{key}_mean", f"{key}_std", f"{key}_ci95"]
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
                    interval = row.intervals.get(key)
                    half = math.nan if interval is None else interval.half
                    line += [_plain(mean), _plain(std), _plain(half)]
                writer.writerow(line)


def _plain(value: float) -> str:
    return "" if math.isnan(value) else repr(value)


def _interval(interval: Interval | None, key: str, signed: bool = False) -> str:
    """``mean ± half (n)`` of an interval, or ``—``."""
    if interval is None or math.isnan(interval.mean):
        return "—"
    if signed and math.isfinite(interval.half) and interval.half > 0:
        # a difference near 0: two significant digits of its half-width set the decimals
        places = max(0, 1 - math.floor(math.log10(interval.half)))
        return f"{interval.mean:+.{places}f} ± {interval.half:.{places}f} (n={interval.n})"
    mean = number(interval.mean, key)
    if signed and interval.mean >= 0:
        mean = "+" + mean
    if math.isnan(interval.half):
        return f"{mean} (n={interval.n})"
    return f"{mean} ± {number(interval.half, key, like=interval.mean)} (n={interval.n})"


def rates_markdown(section: Section) -> list[str]:
    """A learning-rate sweep's comparison: per data set, each backbone at the rate its mean
    validation score chose, its test score, and its paired difference to the best backbone;
    then wins, ties and losses over the data sets (``rnnlab.report.fair``)."""
    if not section.rates:
        return []
    metric, val = section.metric, "val_" + section.metric.removeprefix("test_")
    lines = ["", f"### {metric} at each backbone's learning rate, chosen on {val}", "",
             "The rate with the best mean validation score per backbone and data set; the test "
             "score at that rate never chose anything. Δ: the test score minus the best "
             "backbone's, paired by seed; a tie when its 95 % interval holds 0."]  # fmt: skip
    for dataset in dict.fromkeys(c.dataset for c in section.rates):
        here = [c for c in section.rates if c.dataset == dataset]
        title = ", ".join(short_label(k, v) for k, v in dataset)
        lines += ["", f"**{title}**" if title else "", ""] if title else [""]
        lines.append(f"| backbone | rate | {val} | {metric} | Δ to the best | verdict |")
        lines.append("|:--|--:|--:|--:|--:|:--|")
        order = sorted(here, key=lambda c: (c.verdict != "best", c.backbone))
        for c in order:
            lines.append(
                f"| {c.backbone} | {c.rate:g} | {_interval(c.val, val)} | "
                f"{_interval(c.test, metric)} | {_interval(c.difference, metric, True)} | "
                f"{c.verdict} |"
            )
    tallies = tally(section.rates)
    if len({c.dataset for c in section.rates}) > 1:
        lines += ["", "| backbone | wins | ties | losses |", "|:--|--:|--:|--:|"]
        for name, t in sorted(tallies.items(), key=lambda kv: (-kv[1].wins, kv[1].losses)):
            lines.append(f"| {name} | {t.wins} | {t.ties} | {t.losses} |")
    return lines


def write_rates_csv(comparison: Comparison, path: Path) -> bool:
    """``comparison_rates.csv``: one row per data set and backbone at its chosen rate, and
    every rate's mean validation score; False (nothing written) without a rate sweep."""
    rows = [(s, c) for s in comparison.sections for c in s.rates]
    if not rows:
        return False
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["metric", "dataset", "backbone", "rate", "val_mean", "val_ci95",
                         "test_mean", "test_ci95", "n_seeds", "diff_to_best_mean",
                         "diff_to_best_ci95", "verdict", "val_mean_by_rate"])  # fmt: skip
        for section, c in rows:
            diff = c.difference
            by_rate = {f"{r:g}": statistics.fmean(v) for r, v in c.val_by_rate.items() if v}
            writer.writerow([
                section.metric, ";".join(f"{k}={v}" for k, v in c.dataset), c.backbone,
                repr(c.rate), _plain(c.val.mean), _plain(c.val.half), _plain(c.test.mean),
                _plain(c.test.half), c.test.n, _plain(diff.mean) if diff else "",
                _plain(diff.half) if diff else "", c.verdict, repr(by_rate),
            ])  # fmt: skip
    return True


def _ordered(values: Iterable[str]) -> list[str]:
    """Distinct values in order: numerically when all are numbers, else as first seen."""
    distinct = list(dict.fromkeys(values))
    if all(as_number(v) is not None for v in distinct):
        return sorted(distinct, key=lambda v: as_number(v))
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
    head = [section.metric, *(short_label(other, v) for v in across)]
    lines = ["| " + " | ".join(head) + " |", "|:--" + "|--:" * len(across) + "|"]
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
        f"{finished} of {len(comparison.jobs)} jobs finished. Mean ± the half-width of its "
        "95 % interval (Student t over the `seeds` column's n runs: with three, only large "
        "differences show); ★ = best mean of the table's metric.",
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
        lines += rates_markdown(section)
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
    rates_csv, sensitivity_png = (sweep_dir / name for name in RATES_NAMES)
    if write_rates_csv(comparison, rates_csv):
        comparison.written.append(rates_csv)
    if make_plot and any(r.kind == "model" for r in comparison.rows):
        from rnnlab.report.sweep_chart import plot, sensitivity  # matplotlib: only for charts

        load_traces(comparison)
        plot(comparison, png_path)
        comparison.written.append(png_path)
        if any(section.rates for section in comparison.sections):
            sensitivity(comparison, sensitivity_png)
            comparison.written.append(sensitivity_png)
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
