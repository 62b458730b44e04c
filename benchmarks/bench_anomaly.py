"""Rescore trained anomaly detectors at several smoothing windows without training again: how
``model.smooth``'s default was chosen (on development seeds, docs/anomaly.md).

    python benchmarks/bench_anomaly.py RUN_DIR [RUN_DIR...] --smooth 1 5 9 17 33

Each RUN_DIR is a ``task=anomaly`` run (its ``checkpoints/best.ckpt``); the scores are the
report's own (``AnomalyReport.detect``), baselines left out. Prints one row per run and window:
PR-AUC, VUS-PR, the UCR top-1 hit and, for injected kinds, the mean PR-AUC over the kinds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnlab.report.tasks.anomaly import AnomalyReport, per_kind
from rnnlab.run.checkpoints import load_checkpoint
from rnnlab.run.eval import load_run


def rescore(run_dir: Path, windows: list[int]) -> list[dict]:
    """One row per smoothing window of the run's best weights."""
    model, dm, report, _ = load_run(load_checkpoint(run_dir / "checkpoints" / "best.ckpt"))
    rows = []
    for window in windows:
        model.smooth = window
        # A fresh report per window: its cache knows the weights, not the window.
        fresh = AnomalyReport(report.threshold_quantile, report.vus_buffer, aeon_baselines=False)
        d = fresh.detect(model, dm)
        lf = dm.labelled_frame()
        kinds = per_kind(lf, d.scores.test_index, d.scores.test.numpy()) if lf.kinds else {}
        values = [v for v in kinds.values() if v is not None]
        rows.append({
            "run": run_dir.name, "smooth": window, "pr_auc": d.metrics.get("pr_auc"),
            "vus_pr": d.metrics.get("vus_pr"), "top1": d.metrics.get("top1_hit"),
            "kinds": sum(values) / len(values) if values else None,
            **{f"pr_{k}": v for k, v in kinds.items()},
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--smooth", nargs="+", type=int, default=[1, 5, 9, 17, 33])
    args = parser.parse_args()
    for run in args.runs:
        for row in rescore(run, args.smooth):
            print("  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in row.items()))  # fmt: skip


if __name__ == "__main__":
    main()
