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
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

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
        from rnnlab.report.sweep_chart import plot  # matplotlib: only when a chart is drawn

        load_traces(comparison)
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
