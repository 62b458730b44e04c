"""``data_mem_ratio``, ``data_build_seconds``, ``data_batches_per_second``.

Runs in a fresh process (``python benchmarks/bench_data.py N SEQ_LEN``) so the peak resident
memory belongs to the datamodule alone; prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

from common import reset_peak, rss


def measure_data(n_points: int, seq_len: int, epoch_batches: int | None = None) -> dict:
    import torch

    from rnnlab.data import SineDataModule, WindowDataModule

    torch.set_num_threads(1)
    # The whole series, sine + noise, float32 (what the windows are views of).
    series_bytes = 4 * n_points
    dm = SineDataModule(sample_size=n_points, t_max=n_points / 10, seq_len=seq_len)
    reset_peak()
    before, _ = rss()
    start = time.perf_counter()
    dm.setup("fit")
    build = time.perf_counter() - start
    _, peak = rss()
    # What the datamodule keeps: the series (time and clean signal are computed on demand).
    kept = sum(t.numel() * t.element_size() for t in vars(dm).values() if torch.is_tensor(t))

    # Windowing alone: a second datamodule over the series already in memory.
    base = type("Given", (WindowDataModule,), {"build_series": lambda self: None})(seq_len=seq_len)
    base.series = dm.series
    reset_peak()
    before_w, _ = rss()
    start = time.perf_counter()
    base.setup("fit")
    build_w = time.perf_counter() - start
    _, peak_w = rss()

    loader = dm.train_dataloader()
    n_batches = 0
    start = time.perf_counter()
    for _x, _y in loader:
        n_batches += 1
        if epoch_batches and n_batches >= epoch_batches:
            break
    loop = time.perf_counter() - start
    return {
        "data_points": n_points,
        "data_seq_len": seq_len,
        "data_series_bytes": series_bytes,
        "data_mem_ratio": (peak - before) / series_bytes,
        "data_kept_ratio": kept / series_bytes,
        "data_mem_ratio_windows": (peak_w - before_w) / series_bytes,
        "data_build_seconds": build,
        "data_build_seconds_windows": build_w,
        "data_batches_per_second": n_batches / loop,
        "data_batches": n_batches,
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    seq = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
    print(json.dumps(measure_data(n, seq, limit)))
