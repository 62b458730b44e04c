"""``make bench``: every performance figure of rnnlab, as a table and as JSON.

    python benchmarks/bench.py                      # everything, under 12 min on 2 cores
    python benchmarks/bench.py --sections fit,scratch
    python benchmarks/bench.py --quick --out /tmp/bench.json   # tiny settings (the test)

Each figure is a ratio or a size measured inside this one run; timing pairs are repeated
in alternating order and medians are taken, so a busy machine slows both sides alike.
Results go to ``benchmarks/results/latest.json`` (git-ignored) unless ``--out`` is given.
See ``benchmarks/README.md`` for what each figure means.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

SECTIONS = ("scratch", "fit", "data", "startup", "train", "sweep", "quality", "dev", "cells",
            "export")  # fmt: skip
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "latest.json"
# Sweeps at the default 2000 steps would take most of the budget twice over; the 12-job sweep
# is timed at this many optimizer steps (what the launcher and the processes cost, and the
# parallel speed-up). Quality runs at the true defaults. --full-sweeps times them at defaults too.
SWEEP_STEPS = 400


def figure(value, goal: str | None = None, **detail) -> dict:
    """One figure: its value, its goal (``"<= x"``) and whether the value meets it."""
    passed = None
    if goal is not None and value is not None:
        passed = bool(value <= float(goal.split()[-1]))
    return {"value": value, "goal": goal, "pass": passed, **({"detail": detail} if detail else {})}


def _progress(section: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {section}", file=sys.stderr, flush=True)


def run_sections(
    sections: list[str], quick: bool, full_sweeps: bool, work: Path, out: Path = DEFAULT_OUT
) -> dict:
    """Run the requested sections; return ``{figure name: figure}``."""
    import torch

    torch.set_num_threads(1)  # in-process timings: one thread, as steady as a shared box allows
    figs: dict[str, dict] = {}
    tiny = ["trainer.max_epochs=1", "data.min_batches_per_epoch=1", "data.sample_size=300",
            "model.backbone.hidden_size=4", "callbacks.figures=null"] if quick else []  # fmt: skip

    if "scratch" in sections:
        _progress("scratch")
        from bench_scratch import SHAPES, measure_scratch

        shapes = ((8, 5, 4), (16, 10, 4)) if quick else SHAPES
        res = measure_scratch(shapes, repeats=1 if quick else 7, budget_s=0.01 if quick else 0.2)
        for key, r in res.items():
            figs[f"ratio_scratch_vs_rnn[{key}]"] = figure(
                r["ratio"], "<= 1.5", scratch_ms=r["scratch_ms"], nn_rnn_ms=r["nn_rnn_ms"]
            )

    if "fit" in sections:
        _progress("fit")
        from bench_fit import measure_fit

        extra = ["data.sample_size=300", "callbacks.figures=null"] if quick else []
        steps, repeats = (40, 1) if quick else (2000, 5)
        # Lightning's per-batch machinery around every optimizer step (K = 1), and the default
        # steps_per_execution (the goal): both end on the hand-written loop's weights.
        r = measure_fit(steps, repeats, [*extra, "model.steps_per_execution=1"])
        figs["ratio_fit_vs_raw[K=1]"] = figure(r.pop("ratio_fit_vs_raw"), None, **r)
        r = measure_fit(steps, repeats, extra)
        k = r.pop("steps_per_execution")
        figs["ratio_fit_vs_raw"] = figure(r.pop("ratio_fit_vs_raw"), "<= 1.15", K=k, **r)

    if "data" in sections:
        _progress("data")
        n = 100_000 if quick else 10_000_000
        proc = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "bench_data.py"), str(n), "50"],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        d = json.loads(proc.stdout.strip().splitlines()[-1])
        figs["data_mem_ratio"] = figure(
            d["data_mem_ratio"], "<= 2.0",
            kept_arrays_ratio=d["data_kept_ratio"],
            windowing_only_ratio=d["data_mem_ratio_windows"],
            points=d["data_points"], seq_len=d["data_seq_len"],
        )  # fmt: skip
        figs["data_build_seconds"] = figure(
            d["data_build_seconds"], "<= 1.0", windowing_only=d["data_build_seconds_windows"]
        )
        figs["data_batches_per_second"] = figure(
            d["data_batches_per_second"], None, batches=d["data_batches"]
        )

    from bench_process import measure_quality, measure_startup, measure_sweeps, measure_train

    default_run: list[dict] = []
    sweep_runs: list[dict] = []
    startup_runs: list[float] = []
    if "train" in sections:
        _progress("train")
        r = measure_train(work, extra=tiny)
        default_run = [r["train_metrics"]]
        startup_runs.append(r["startup_seconds"])
        # the default run on the 1000-point sine (issue 22's goal: at most 10 s)
        figs["train_wall_seconds"] = figure(
            r["train_wall_seconds"], None if quick else "<= 10", fit_seconds=r["train_fit_seconds"]
        )
    if "startup" in sections:
        _progress("startup")
        # The default run above is one sample; short runs add more (not in --quick).
        extra_runs = 0 if quick and startup_runs else (1 if quick else 3 - len(startup_runs))
        if extra_runs:
            startup_runs += measure_startup(work, repeats=extra_runs, extra=tiny)["startup_runs"]
        figs["startup_seconds"] = figure(statistics.median(startup_runs), None, runs=startup_runs)
    if "sweep" in sections:
        _progress("sweep")
        budget = [] if full_sweeps else [f"trainer.max_steps={SWEEP_STEPS}"]
        sweep_runs: list[dict] = []
        if quick:  # seed 42 of every backbone: the quick quality figure reuses these runs
            r = measure_sweeps(work, seeds="42", extra=tiny)
            sweep_runs = r["sweep_metrics_sequential"]
        else:
            r = measure_sweeps(work, seeds="1,2,3", extra=budget)
        for name in ("sequential", "joblib"):
            figs[f"sweep_wall_seconds_{name}"] = figure(
                r[f"sweep_wall_seconds_{name}"], None, jobs=r[f"sweep_jobs_{name}"],
                budget="defaults" if full_sweeps
                else ("1 epoch" if quick else f"{SWEEP_STEPS} steps"),
            )  # fmt: skip
    if "quality" in sections:
        _progress("quality")
        if quick:
            reuse = default_run + sweep_runs
            r = measure_quality(work, (42,), extra=tiny, reuse=reuse, launcher="basic")
        else:
            r = measure_quality(work, reuse=default_run)
        for backbone, q in r["quality"].items():
            goal = "<= 1.10" if backbone in ("lstm", "gru") else "<= 1.15"
            figs[f"quality[{backbone}]"] = figure(q["mean"], goal, per_seed=q["per_seed"])
        figs["quality_sweep_wall_seconds"] = figure(r["quality_sweep_wall_seconds"], None)
    if "dev" in sections:  # the development suite's last results (benchmarks/dev_suite.py)
        _progress("dev")
        from dev_suite import dev_figures

        figs.update(dev_figures(figure))
    if "cells" in sections:  # every backbone's step time against nn.GRU; plot beside `out`
        _progress("cells")
        from bench_cells import cells_section

        figs.update(cells_section(quick, out.parent, figure, _progress))
    if "export" in sections:  # latency of the exported graph, predict.py (bench_export.py)
        _progress("export")
        from bench_export import export_section

        figs.update(export_section(quick, work / "export", figure, _progress))
    return figs


def table(figs: dict) -> str:
    """The figures as an aligned text table."""
    rows = [("figure", "value", "goal", "pass")]
    for name, f in figs.items():
        v = f["value"]
        value = f"{v:.4g}" if isinstance(v, float) else str(v)
        verdict = {True: "yes", False: "NO", None: "-"}[f["pass"]]
        rows.append((name, value, f["goal"] or "-", verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)}")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="tiny settings (seconds, not minutes)")
    parser.add_argument(
        "--full-sweeps",
        action="store_true",
        help=f"time sweeps at the default budget, not {SWEEP_STEPS} steps",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {', '.join(unknown)}; use {', '.join(SECTIONS)}")

    import torch

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rnnlab-bench-") as tmp:
        figs = run_sections(sections, args.quick, args.full_sweeps, Path(tmp), args.out)
    result = {
        "meta": {
            "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "quick": args.quick,
            "sections": sections,
            "seconds": round(time.perf_counter() - start, 1),
            "cpus": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "in_process_torch_threads": 1,
        },
        "figures": figs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(figs))
    print(f"\n{len(figs)} figures in {result['meta']['seconds']} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
