"""Where the real fit spends its time beyond the model's own arithmetic (cProfile).

    python benchmarks/profile_fit.py [epochs] [overrides...]
    python benchmarks/profile_fit.py 50 model.steps_per_execution=1   # Lightning per batch

Runs one real ``trainer.fit`` (the ``ratio_fit_vs_raw`` setting) under cProfile and reports
the inclusive time of the entry points that matter as shares of the fit: the work the
hand-written loop also does (forward, backward, Adam, clipping, schedule) and what only the
framework does (fetching batches through the DataLoader, ``self.log``, torchmetrics,
callbacks, checkpoint writes, the progress bar, loggers, the loops themselves). cProfile
inflates Python-heavy parts, so read the shares, not the absolute seconds.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import sys
import tempfile
from pathlib import Path

import torch
from bench_fit import _build

# (label, file substring, function name): the inclusive time of these entry points. Rows
# marked "  of which" are parts of the row above them.
LIGHTNING = "lightning/pytorch/"
ENTRIES = (
    ("model step: forward and loss (training, validation)", "rnnlab/models/", "step"),
    ("backward", "torch/autograd/__init__.py", "backward"),
    ("optimizer step (Adam)", "torch/optim/adam.py", "adam"),
    ("gradient clipping", "torch/nn/utils/clip_grad.py", "clip_grad_norm_"),
    ("lr scheduler step", LIGHTNING + "core/module.py", "lr_scheduler_step"),
    ("next batch (DataLoader + Lightning fetcher)", LIGHTNING + "loops/fetchers.py", "__next__"),
    (
        "manual_backward (the backward above, and hooks)",
        LIGHTNING + "core/module.py",
        "manual_backward",
    ),
    ("LightningOptimizer.step (Adam above, and hooks)", LIGHTNING + "core/optimizer.py", "step"),
    ("self.log / log_dict calls", LIGHTNING + "core/module.py", "log"),
    ("torchmetrics update/compute/reset", "torchmetrics/metric.py", "wrapped_func"),
    ("epoch sums (train metrics)", "rnnlab/models/epoch_sums.py", "update"),
    ("callback hooks (all callbacks)", LIGHTNING + "trainer/call.py", "_call_callback_hooks"),
    (
        "  of which checkpoint saving",
        LIGHTNING + "callbacks/model_checkpoint.py",
        "_save_checkpoint",
    ),
    (
        "  of which progress bar",
        LIGHTNING + "callbacks/progress/rich_progress.py",
        "on_train_batch_end",
    ),
    ("loggers: write metrics (TensorBoard)", "logger_connector/logger_connector.py", "log_metrics"),
    ("validation loop (whole, incl. its forward)", LIGHTNING + "loops/evaluation_loop.py", "run"),
)


def profile_fit(epochs: int = 50, extra: list[str] | None = None) -> dict[str, float]:
    """Inclusive time of each entry point as a fraction of the profiled ``trainer.fit``."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        warm = _build(Path(tmp), epochs, "warm", list(extra or []))[1]
        run = _build(Path(tmp), epochs, "prof", list(extra or []))[1]
        with contextlib.redirect_stdout(io.StringIO()):
            warm.trainer.fit(warm.model, datamodule=warm.datamodule)
            profiler = cProfile.Profile()
            profiler.enable()
            run.trainer.fit(run.model, datamodule=run.datamodule)
            profiler.disable()
    stats = pstats.Stats(profiler).stats
    fit = max(v[3] for (f, _l, fn), v in stats.items() if fn == "fit" and "trainer.py" in f)
    shares = {}
    for label, file_part, func in ENTRIES:
        times = [v[3] for (f, _l, fn), v in stats.items() if fn == func and file_part in f]
        # nested functions of one name (a fetcher's __next__ calling its parent's) count once
        shares[label] = (max(times, default=0.0) if func == "__next__" else sum(times)) / fit
    work = sum(shares[k] for k in list(shares)[:5])
    shares["rest: Lightning loops, hooks, strategy, module mode switches"] = (
        1.0
        - work
        - sum(
            shares[k]
            for k in shares
            if k in list(shares)[5:]
            and not k.startswith(("  ", "validation", "manual_backward", "LightningOptimizer"))
        )
    )
    shares["total fit seconds (profiled)"] = fit
    return shares


if __name__ == "__main__":
    shares = profile_fit(int(sys.argv[1]) if len(sys.argv) > 1 else 50, sys.argv[2:])
    for label, share in shares.items():
        print(f"{share:7.3f}  {label}" if "seconds" in label else f"{100 * share:6.1f} %  {label}")
