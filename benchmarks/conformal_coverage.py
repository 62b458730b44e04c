"""Conformal coverage on the development suite: ``model.intervals=conformal`` per series.

    python benchmarks/conformal_coverage.py                          # LSTM, mse/gaussian/quantile
    python benchmarks/conformal_coverage.py --losses mse --series sine_seed100,sunspots

Every forecasting series of ``benchmarks/dev_suite.py`` is trained at the defaults (the
suite's runs: its overrides, its cache under ``$RNNLAB_DEV_SUITE_DIR``) with each loss and
``model.intervals=conformal`` (split conformal on the validation windows for mse, CQR for the
quantile loss, the Gaussian's interval recalibrated the same way). The table holds the test
coverage of the calibrated 80 % and 95 % intervals (goal: within 3 points of each), their mean
width in the series' units, and, for the probabilistic losses, the coverage of the model's own
80 % interval beside it. Written to ``benchmarks/results/conformal_coverage.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import dev_suite as suite

LOSSES = ("mse", "gaussian", "quantile")
KEYS = ("test_conformal_coverage80", "test_conformal_coverage95", "test_conformal_width80",
        "test_coverage80")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", default=",".join(LOSSES))
    parser.add_argument("--series", default="", help="comma-separated (default: all)")
    parser.add_argument("--backbone", default="lstm")
    args = parser.parse_args(argv)
    series = [s for s in args.series.split(",") if s] or list(suite.SERIES)
    folder = suite.prepare_short_series()
    table: dict[str, dict[str, dict]] = {}
    for loss in args.losses.split(","):
        for name in series:
            overrides = [*suite.QUIET, *(o.format(series=folder) for o in suite.SERIES[name]),
                         f"backbone={args.backbone}", f"model.loss={loss}",
                         "model.intervals=conformal"]  # fmt: skip
            record = suite.run_one((f"conformal_{loss}", name, args.backbone, overrides))
            metrics = record.get("metrics") or {}
            row = {k: metrics.get(k) for k in KEYS if metrics.get(k) is not None}
            row["error"] = record.get("error")
            table.setdefault(loss, {})[name] = row
            print(f"{loss:9s} {name:20s} " + "  ".join(f"{k[5:]}={v:.3f}" for k, v in row.items()
                  if isinstance(v, float)), file=sys.stderr, flush=True)  # fmt: skip
    summary = {}
    for loss, rows in table.items():
        for c in (80, 95):
            values = [r[f"test_conformal_coverage{c}"] for r in rows.values()
                      if r.get(f"test_conformal_coverage{c}") is not None]  # fmt: skip
            if values:
                within = sum(abs(v - c / 100) <= 0.03 for v in values)
                summary[f"{loss}_{c}"] = {"median": statistics.median(values),
                                          "min": min(values), "max": max(values),
                                          "within_3_points": f"{within}/{len(values)}"}  # fmt: skip
    out = suite.RESULTS / "conformal_coverage.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"backbone": args.backbone, "table": table,
                               "summary": summary}, indent=1) + "\n")  # fmt: skip
    print(json.dumps(summary, indent=1))
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
