"""``panel_build_seconds``, ``panel_mem_ratio``, ``panel_batches_per_second``: data=panel at scale.

    .venv/bin/python benchmarks/bench_panel.py                 # 10^5 series × 100 points
    .venv/bin/python benchmarks/bench_panel.py --series 1000   # smaller

A synthetic long table (``unique_id`` int64, ``ds`` int64, ``y`` float64: random walks with a
level per series, rows shuffled so the module must sort them) is built in this process; then
``PanelDataModule(table=...).setup()`` reads, checks, sorts, scales it and plans every
window. The peak resident-memory growth while it runs is divided by the table's bytes
(``DataFrame.memory_usage(deep=True)``); goals (issue 24): ≤ 30 s and ≤ 2× the table. Then
training batches (64 windows) are drawn through ``train_dataloader()`` for a few seconds.
Runs in a fresh process so the peak belongs to this measurement; prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from common import reset_peak, rss


def synthetic_table(n_series: int, length: int, seed: int = 0):
    """``n_series`` random walks of ``length`` points in one long table, rows shuffled."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = n_series * length
    steps = rng.standard_normal(n).reshape(n_series, length)
    y = (steps.cumsum(axis=1) + rng.uniform(10, 1000, (n_series, 1))).ravel()
    order = rng.permutation(n)
    return pd.DataFrame({
        "unique_id": np.repeat(np.arange(n_series, dtype=np.int64), length)[order],
        "ds": np.tile(np.arange(length, dtype=np.int64), n_series)[order],
        "y": y[order],
    })  # fmt: skip


def measure(n_series: int, length: int, horizon: int, seq_len: int, seconds: float) -> dict:
    import torch

    from rnnlab.data.panel import PanelDataModule

    torch.set_num_threads(1)
    table = synthetic_table(n_series, length)
    table_bytes = int(table.memory_usage(deep=True).sum())
    dm = PanelDataModule(table=table, seq_len=seq_len, horizon=horizon, batch_size=64)
    reset_peak()
    before, _ = rss()
    start = time.perf_counter()
    dm.setup("fit")
    build = time.perf_counter() - start
    _, peak = rss()
    kept = sum(t.numel() * t.element_size() for t in (dm.values, dm.starts, dm.static_values))
    kept += dm.raw.nbytes + dm._target_time.nbytes
    loader = iter(dm.train_dataloader())
    n_batches, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(loader)
        n_batches += 1
    rate = n_batches / (time.perf_counter() - start)
    return {
        "panel_build_seconds": round(build, 2),
        "panel_mem_ratio": round((peak - before) / table_bytes, 3),
        "panel_batches_per_second": round(rate, 1),
        "detail": {
            "series": n_series,
            "points": n_series * length,
            "table_mb": round(table_bytes / 2**20, 1),
            "peak_growth_mb": round((peak - before) / 2**20, 1),
            "kept_arrays_mb": round(kept / 2**20, 1),
            "train_windows": dm.splits["train"].n_windows,
            "seq_len": seq_len,
            "horizon": horizon,
        },
        "goals": {"panel_build_seconds": "<= 30", "panel_mem_ratio": "<= 2.0"},
        "meta": {"cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--horizon", type=int, default=6)
    parser.add_argument("--seq-len", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent drawing batches")
    args = parser.parse_args()
    print(json.dumps(measure(args.series, args.length, args.horizon, args.seq_len, args.seconds)))


if __name__ == "__main__":
    main()
