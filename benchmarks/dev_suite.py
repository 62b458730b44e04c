"""The development suite: every backbone on every series, each test MSE beside its baselines.

    python benchmarks/dev_suite.py --jobs 2                     # every backbone, every series
    python benchmarks/dev_suite.py --series all                 # plus the other tasks (hours)
    python benchmarks/dev_suite.py --backbones lstm,gru --series sine_noise0.2,sunspots
    python benchmarks/dev_suite.py --set model.optimizer.weight_decay=0.01 --tag wd0.01
    python benchmarks/dev_suite.py --jobs 2 --table-only        # print what is cached
    python benchmarks/dev_suite.py --jobs 2 --rates 1e-3,3e-3,1e-2 --tag rates  # a rate each

The defaults of rnnlab are chosen on this suite, never on the test split the README reports
(the sine with ``data.seed=42``): every sine here draws its noise with ``data.seed`` 100-103.
Each run is ``train()`` at the defaults plus the series' overrides plus ``--set``; its
``metrics.json`` is cached under ``logs/dev_suite/<tag>/<series>/<backbone>/`` (or
``$RNNLAB_DEV_SUITE_DIR/...``), so an
interrupted suite continues where it stopped and a run whose overrides changed runs again.
The table (``benchmarks/results/dev_suite_<tag>.json`` and printed) holds, per backbone and
series, the test MSE divided by the linear AR baseline's and by repeating the last value's
(``ar`` and ``naive``: below 1 beats the baseline), and per backbone the worst and median
ratio to AR. Tasks that are not forecasts (memory tasks, classification) report their
metric beside their own baselines.

With ``--rates``, every run is made at each learning rate (``<tag>_lr<rate>``), and the table
holds, per backbone and series, the test ratio at the rate whose *validation* score was best
(the ``rate`` of each cell): the protocol of ``experiment=fair_compare`` with one seed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WORK = Path(os.environ.get("RNNLAB_DEV_SUITE_DIR", ROOT / "logs" / "dev_suite"))
# What a suite run drops from the defaults: only what does not change the trained weights
# or the tested checkpoint (pictures, TensorBoard, console output).
QUIET = ["callbacks.figures=null", "callbacks.progress_bar=null", "callbacks.epoch_printer=null",
         "logger=none", "trainer.accelerator=cpu"]  # fmt: skip

SINE = "data.seed=100"  # a development noise draw (the README's numbers use data.seed=42)
SERIES: dict[str, list[str]] = {
    # the walk-through's sine, other noise draws
    **{f"sine_seed{s}": [f"data.seed={s}"] for s in (100, 101, 102, 103)},
    # less and more noise, shorter and longer windows
    "sine_noise0.05": [SINE, "data.noise_std=0.05"],
    "sine_noise0.2": [SINE, "data.noise_std=0.2"],
    "sine_len10": [SINE, "data.seq_len=10"],
    "sine_len40": [SINE, "data.seq_len=40"],
    # the failure: a noisier sine read through a longer window
    "sine_noise0.2_len40": [SINE, "data.noise_std=0.2", "data.seq_len=40"],
    # sin(0.1 t) sampled as the walk-through does (628 steps a period) on a rising line
    "sine_trend": [
        "data=seasonal",
        "data.sample_size=1000",
        "data.level=0.0",
        "data.trend=0.002",
        "data.periods=[628.3]",
        "data.amplitudes=[1.0]",
        "data.noise_std=0.1",
        "data.seed=100",
        "data.season=null",
    ],
    # a real series: yearly sunspot numbers (as experiment=real_series)
    "sunspots": [
        "data=csv",
        "data.path=data/sunspots_yearly.csv",
        "data.target=sunspots",
        "data.time_column=year",
        "data.seq_len=20",
        "data.batch_size=32",
    ],
    # a weekly season in noise, two noise levels, and the same with a trend
    "seasonal_noise0.5": ["data=seasonal", "data.trend=0.0", "data.noise_std=0.5"],
    "seasonal_noise2": ["data=seasonal", "data.trend=0.0", "data.noise_std=2.0"],
    "seasonal_trend": ["data=seasonal"],
}
# Short real series (100-300 points), read from the copies the aeon package ships (the
# `ucr` extra) and written once as plain CSV files under WORK/series (prepare_short_series):
# name -> (aeon file, its time and value columns, season, window).
SHORT: dict[str, tuple[str, str, str, int, int]] = {
    "airline": ("Airline/Airline.csv", "Date", "Passengers", 12, 12),  # 144 monthly
    "lynx": ("Lynx/Lynx.csv", "", "0", 10, 10),  # 114 yearly, a ~10-year cycle
    "uschange": ("Uschange/Uschange.csv", "Quarter", "Consumption", 4, 8),  # 187 quarterly
    "solar": ("solar/solar.csv", "datetime_gmt", "solar_gen", 48, 48),  # 289 half-hourly
    "shampoo": ("ShampooSales/ShampooSales.csv", "Time", "Sales", 12, 6),  # 36 monthly
}
SHORT_SERIES = {
    name: ["data=csv", f"data.path={{series}}/{name}.csv", "data.target=value",
           f"data.season={season}", f"data.seq_len={window}"]
    for name, (_, _, _, season, window) in SHORT.items()
}  # fmt: skip
SERIES.update(SHORT_SERIES)
# Workloads of other tasks, run when their configs exist (conf/data/<name>.yaml): the memory
# tests, and small labelled sets (the UCR ones from the files aeon ships).
OTHER_TASKS: dict[str, list[str]] = {
    "adding": ["data=adding"],
    "copy": ["data=copy"],
    "selective_copy": ["data=selective_copy"],
    "japanese_vowels": ["data=japanese_vowels"],
    "digits": ["data=digits"],
    **{name.lower(): ["data=ucr", f"data.name={name}"]
       for name in ("GunPoint", "ItalyPowerDemand", "OSULeaf", "BasicMotions")},
}  # fmt: skip
LABELLED = ("japanese_vowels", "digits", "gunpoint", "italypowerdemand", "osuleaf", "basicmotions")


def prepare_short_series() -> Path:
    """Write each short series of ``SHORT`` as ``WORK/series/<name>.csv`` (columns ``time``,
    ``value``; dates in ISO form) from aeon's copy; returns the folder."""
    import pandas as pd

    from rnnlab.data.labelled import aeon_data_dir

    folder = WORK / "series"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (file, time_col, value_col, _, _) in SHORT.items():
        out = folder / f"{name}.csv"
        if out.is_file():
            continue
        frame = pd.read_csv(aeon_data_dir() / file)
        time_key = time_col if time_col else frame.columns[0]
        time = frame[time_key].astype(str)
        if name == "uschange":  # "1970 Q1" -> the quarter's first day
            time = pd.PeriodIndex(time.str.replace(" ", ""), freq="Q").start_time
            time = time.strftime("%Y-%m-%d")
        elif name == "solar":
            time = pd.to_datetime(time).dt.tz_convert(None).dt.strftime("%Y-%m-%dT%H:%M:%S")
        pd.DataFrame({"time": time, "value": frame[value_col]}).to_csv(out, index=False)
    return folder


def defaults_fingerprint() -> str:
    """A short hash of the default training config (model, task, callbacks, trainer): tells
    whether cached suite results were made at the current defaults."""
    import hashlib
    import tempfile

    from rnnlab.run.config import compose_config, plain_config

    with tempfile.TemporaryDirectory() as tmp:
        cfg = plain_config(compose_config(Path(tmp), []))
    keep = {k: cfg.get(k) for k in ("model", "callbacks", "trainer", "test_ckpt", "seed")}
    for name in list(keep["callbacks"] or {}):  # output paths differ per run
        node = keep["callbacks"][name]
        if isinstance(node, dict):
            keep["callbacks"][name] = {k: v for k, v in node.items() if "path" not in k}
    keep["trainer"] = {k: v for k, v in (keep["trainer"] or {}).items() if k != "default_root_dir"}
    text = json.dumps(keep, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def backbones() -> list[str]:
    """Every backbone config (conf/backbone/*.yaml)."""
    return sorted(p.stem for p in (ROOT / "conf" / "backbone").glob("*.yaml"))


def all_series() -> dict[str, list[str]]:
    """The forecasting series and the other tasks whose data configs exist."""
    others = {
        k: v
        for k, v in OTHER_TASKS.items()
        if (ROOT / "conf" / "data" / f"{v[0][5:]}.yaml").is_file()
    }
    return {**SERIES, **others}


def _results_key(overrides: list[str]) -> list[str]:
    """The overrides that can change a run's numbers (output settings left out)."""
    quiet = ("callbacks.figures=", "callbacks.progress_bar=", "callbacks.epoch_printer=",
             "callbacks.lr_monitor=", "logger=", "trainer.accelerator=")  # fmt: skip
    return [o for o in overrides if not o.startswith(quiet)]


def run_dir(tag: str, series: str, backbone: str) -> Path:
    return WORK / tag / series / backbone


def run_one(job: tuple[str, str, str, list[str]]) -> dict:
    """Train one (series, backbone) unless its cached result used the same overrides."""
    tag, series, backbone, overrides = job
    out = run_dir(tag, series, backbone)
    cached = out / "suite.json"
    if cached.is_file():
        saved = json.loads(cached.read_text())
        if _results_key(saved.get("overrides", [])) == _results_key(overrides):
            return saved
    import shutil

    import torch

    from rnnlab.run.config import compose_config
    from rnnlab.run.train import train

    torch.set_num_threads(1)
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    record: dict = {"series": series, "backbone": backbone, "overrides": overrides}
    try:
        metrics = train(compose_config(out / "run", overrides))
        record["metrics"] = {k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}
        record["metrics"]["baselines"] = metrics.get("baselines", {})
        record["metrics"]["val_baselines"] = metrics.get("val_baselines", {})
    except Exception as exc:  # a failed run is a result too (e.g. a NaN loss)
        record["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    record["seconds"] = round(time.perf_counter() - start, 1)
    out.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(record, indent=1) + "\n")
    return record


def ratios(record: dict, split: str = "test") -> dict[str, float | None]:
    """``{baseline: metric / baseline's}`` for a run (below 1 beats a min-goal baseline), on
    the test split or (``split="val"``) the validation split."""
    metrics = record.get("metrics")
    if not metrics:
        return {}
    key = metrics.get("metric", "test_mse")
    if split == "val":
        key, bases = key.replace("test_", "val_", 1), metrics.get("val_baselines") or {}
    else:
        bases = metrics.get("baselines") or {}
    value = metrics.get(key)
    return {name: value / base if value is not None and base else None
            for name, base in bases.items()}  # fmt: skip


def summarize(records: list[dict]) -> dict:
    """Per backbone: each series' ratios, the worst and median ratio to the AR baseline, and
    the series where the model is not better than repeating the last value."""
    table: dict[str, dict] = {}
    for rec in records:
        row = table.setdefault(rec["backbone"], {"series": {}})
        r, v = ratios(rec), ratios(rec, "val")
        entry = {"ar": r.get("linear_ar"), "naive": r.get("naive_last"),
                 "val_ar": v.get("linear_ar"), "seconds": rec["seconds"]}  # fmt: skip
        metrics = rec.get("metrics") or {}
        if metrics.get("task", "forecast") != "forecast":
            key = metrics.get("metric")
            entry = {"metric": key, "value": metrics.get(key), "goal": metrics.get("metric_goal"),
                     "baselines": metrics.get("baselines"), "seconds": rec["seconds"]}  # fmt: skip
        if "error" in rec:
            entry["error"] = rec["error"]
        if "rate" in rec:
            entry["rate"] = rec["rate"]
        row["series"][rec["series"]] = entry
    for row in table.values():
        ar = {s: e["ar"] for s, e in row["series"].items() if e.get("ar") is not None}
        naive = {s: e["naive"] for s, e in row["series"].items() if e.get("naive") is not None}
        if ar:
            worst = max(ar, key=ar.get)
            row["ar_worst"], row["ar_worst_series"] = ar[worst], worst
            row["ar_median"] = statistics.median(ar.values())
            row["ar_over_1.05"] = sorted(s for s, v in ar.items() if v > 1.05)
        val = [e["val_ar"] for e in row["series"].values() if e.get("val_ar") is not None]
        if val:  # what a choice of defaults may read: validation only
            row["val_ar_worst"], row["val_ar_median"] = max(val), statistics.median(val)
            row["val_ar_geomean"] = math.exp(statistics.fmean(math.log(v) for v in val))
        row["not_better_than_naive"] = sorted(s for s, v in naive.items() if v >= 1.0)
        row["errors"] = sorted(s for s, e in row["series"].items() if "error" in e)
    return table


def choose_rates(by_rate: dict[float, list[dict]]) -> list[dict]:
    """Per (series, backbone), the record of the rate with the best validation score (the
    lowest validation MSE / AR, or the best validation metric of other tasks), marked with
    its ``rate``; test scores take no part."""
    best: dict[tuple[str, str], tuple[float, dict]] = {}
    for rate, records in sorted(by_rate.items()):
        for rec in records:
            metrics = rec.get("metrics") or {}
            if metrics.get("task", "forecast") == "forecast":
                score = ratios(rec, "val").get("linear_ar")
            else:
                value = metrics.get(metrics.get("metric", "").replace("test_", "val_", 1))
                sign = -1.0 if metrics.get("metric_goal") == "max" else 1.0
                score = None if value is None else sign * value
            score = math.inf if score is None or not math.isfinite(score) else score
            key = (rec["series"], rec["backbone"])
            if key not in best or score < best[key][0]:
                best[key] = (score, {**rec, "rate": rate})
    return [rec for _, rec in best.values()]


def format_table(table: dict, series: list[str]) -> str:
    """Rows: series; columns: backbones; cells ``ar/naive`` ratios."""
    names = sorted(table)
    lines = ["test MSE / AR baseline (/ naive last value), per series and backbone", ""]
    header = ["series", *names]
    rows = [header]
    for s in series:
        cells = [s]
        for b in names:
            e = table[b]["series"].get(s)
            if e is None:
                cells.append("")
            elif "error" in e:
                cells.append("failed")
            elif "ar" in e:
                cells.append(f"{e['ar']:.3f} ({e['naive']:.2f})" if e["ar"] is not None else "-")
            else:
                cells.append(f"{e['metric']}={e['value']:.3g}" if e["value"] is not None else "-")
            if e is not None and "rate" in e:
                cells[-1] += f" @{e['rate']:g}"
        rows.append(cells)
    rows.append(["worst / AR", *(_num(table[b].get("ar_worst")) for b in names)])
    rows.append(["  at", *(table[b].get("ar_worst_series", "") for b in names)])
    rows.append(["median / AR", *(_num(table[b].get("ar_median")) for b in names)])
    rows.append(["val: worst / AR", *(_num(table[b].get("val_ar_worst")) for b in names)])
    rows.append(["val: geomean / AR", *(_num(table[b].get("val_ar_geomean")) for b in names)])
    rows.append(["series > 1.05 AR", *(str(len(table[b].get("ar_over_1.05", []))) for b in names)])
    rows.append(["not < naive", *(str(len(table[b]["not_better_than_naive"])) for b in names)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def dev_figures(figure, tags: tuple[str, ...] = ("rates", "defaults")) -> dict[str, dict]:
    """``make bench``'s summary of the last suite run: the first of ``tags`` with results
    (``rates``: each backbone at the learning rate its validation score chose per series,
    ``--rates``; ``defaults``: every backbone at the default rate). Per backbone the worst
    and median test MSE / AR baseline over the forecasting series (goal: worst <= 1.05) and
    the series where it is not better than repeating the last value (goal: none)."""
    path = next((p for t in tags if (p := RESULTS / f"dev_suite_{t}.json").is_file()), None)
    if path is None:
        note = f"no dev_suite_{{{','.join(tags)}}}.json: run benchmarks/dev_suite.py"
        return {"dev_suite": figure(None, None, note=note)}
    saved = json.loads(path.read_text())
    current = saved.get("defaults") == defaults_fingerprint()
    note = {"results": path.name, "at_current_defaults": current, "suite": saved.get("series")}
    if saved.get("rates"):
        note["rates"] = saved["rates"]
    figs = {}
    for backbone, row in sorted(saved["table"].items()):
        figs[f"dev_ar_worst[{backbone}]"] = figure(
            row.get("ar_worst"), "<= 1.05", series=row.get("ar_worst_series"), **note
        )
        figs[f"dev_ar_median[{backbone}]"] = figure(row.get("ar_median"), None)
        figs[f"dev_not_below_naive[{backbone}]"] = figure(
            len(row["not_better_than_naive"]), "<= 0", series=row["not_better_than_naive"]
        )
    return figs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="", help="comma-separated (default: all)")
    parser.add_argument("--series", default="",
                        help="comma-separated; default: the forecasting series; 'all' adds "
                        "the memory and classification tasks")  # fmt: skip
    parser.add_argument("--set", action="append", default=[], metavar="OVERRIDE",
                        help="an override for every run (repeatable)")  # fmt: skip
    parser.add_argument("--tag", default="defaults", help="name of this configuration")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel")
    parser.add_argument("--table-only", action="store_true", help="only print cached results")
    parser.add_argument("--rates", default="",
                        help="comma-separated learning rates: run each, keep the one with the "
                        "best validation score per backbone and series")  # fmt: skip
    args = parser.parse_args(argv)
    known = all_series()
    series = [s for s in args.series.split(",") if s] or list(SERIES)
    if series == ["all"]:
        series = list(known)
    chosen = [b for b in args.backbones.split(",") if b] or backbones()
    unknown = sorted(set(series) - set(known)) + sorted(set(chosen) - set(backbones()))
    if unknown:
        parser.error(f"unknown series or backbone: {', '.join(unknown)}")
    folder = prepare_short_series() if set(series) & set(SHORT) else WORK / "series"
    rates = [float(r) for r in args.rates.split(",") if r]
    variants = [(f"{args.tag}_lr{r:g}", [f"model.optimizer.lr={r:g}"]) for r in rates]
    jobs = [(tag, s, b, [*QUIET, *(o.format(series=folder) for o in known[s]),
             f"backbone={b}", *args.set, *lr]) for tag, lr in variants or [(args.tag, [])]
            for s in series for b in chosen]  # fmt: skip
    if args.table_only:
        jobs = [job for job in jobs if (run_dir(*job[:3]) / "suite.json").is_file()]
        records = [json.loads((run_dir(*job[:3]) / "suite.json").read_text()) for job in jobs]
    elif args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as pool:
            records = list(pool.map(run_one, jobs))
    else:
        records = []
        for i, job in enumerate(jobs, 1):
            records.append(run_one(job))
            print(f"[{i}/{len(jobs)}] {job[1]} {job[2]}: {records[-1].get('seconds')} s",
                  file=sys.stderr, flush=True)  # fmt: skip
    if rates:
        rate_of = {tag: r for r, (tag, _) in zip(rates, variants, strict=True)}
        by_rate: dict[float, list[dict]] = {r: [] for r in rates}
        for job, rec in zip(jobs, records, strict=True):
            by_rate[rate_of[job[0]]].append(rec)
        records = choose_rates(by_rate)
    table = summarize(records)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"dev_suite_{args.tag}.json"
    record = {"tag": args.tag, "set": args.set, "rates": rates, "defaults": defaults_fingerprint(),
              "series": series, "load_1min": os.getloadavg()[0], "table": table}  # fmt: skip
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(format_table(table, series))
    print(f"\n-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
