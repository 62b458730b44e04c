"""``export``: how fast a trained forecaster answers outside its run, and ``predict.py``.

    python benchmarks/bench_export.py            # the section alone, printed as JSON
    python benchmarks/bench.py --sections export

An LSTM with 32 units reading windows of 20 (the default model, on a 1000-point sine read
from a CSV file) is trained briefly, exported (``rnnlab.run.export``: the training
statistics, the per-window normalisation and the conformal intervals inside the graph) and
timed, one thread, as PyTorch eager, TorchScript and ONNX Runtime run that same graph:

* latency of one window (batch 1): the median of single calls, engines in alternating
  rounds; a bare LSTM-32 + linear layer under ONNX Runtime is timed beside it, as the
  reference of what the normalisation and the intervals add;
* throughput: 10^4 windows in one call, windows per second;
* ``predict.py`` on a new 1000-point CSV: in this process after imports and config (the
  composition of the config timed apart), and as a process from Python's start.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import torch
from common import ROOT, compose

WINDOW, HIDDEN = 20, 32


def series_csv(path: Path, seed: int, n: int = 1000) -> Path:
    """A noisy sine of ``n`` points as a CSV file with one column, ``value``."""
    t = np.linspace(0, 100, n)
    values = np.sin(0.1 * t) + np.random.default_rng(seed).normal(0, 0.1, n)
    path.write_text("value\n" + "\n".join(f"{v:.6f}" for v in values) + "\n")
    return path


def train_run(work: Path, quick: bool) -> Path:
    """A briefly trained default LSTM on a CSV sine; returns its run directory."""
    from rnnlab.run.train import train

    data = series_csv(work / "train.csv", seed=100)
    run_dir = work / "export_run"
    overrides = ["data=csv", f"data.path={data}", "data.target=value", "logger=none",
                 "callbacks.figures=null", "callbacks.progress_bar=null",
                 "callbacks.epoch_printer=null", "trainer.accelerator=cpu",
                 f"trainer.max_epochs={1 if quick else 3}"]  # fmt: skip
    train(compose(run_dir, overrides))
    return run_dir


def median_call_us(fn, calls: int) -> float:
    """Median wall time of ``calls`` single calls, microseconds."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.median(times)


def ort_session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def bare_lstm_onnx(work: Path) -> Path:
    """The reference: ``nn.LSTM(1, 32)`` and a linear layer on the last state, nothing else."""
    from rnnlab.run.export import quiet_exporters

    class Bare(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm, self.out = (
                torch.nn.LSTM(1, HIDDEN, batch_first=True),
                torch.nn.Linear(HIDDEN, 1),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.lstm(x)[0][:, -1])

    path = work / "bare.onnx"
    with quiet_exporters():
        program = torch.onnx.export(
            Bare().eval(), (torch.randn(2, WINDOW, 1),), dynamo=True, input_names=["x"],
            dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
        )  # fmt: skip
    program.save(str(path))
    return path


def engines(run_dir: Path, work: Path) -> dict:
    """``{name: callable(x)}`` of the exported graph (and the bare reference)."""
    from rnnlab.run.export import Deployed, export_model
    from rnnlab.run.predict import checkpoint_path, load_model

    model, run_cfg = load_model(checkpoint_path(str(run_dir), None))
    deployed = Deployed(model).eval()
    ts_path = export_model(model, run_cfg, "torchscript", work / "ts")
    scripted = torch.jit.load(str(ts_path))

    def eager(x):
        with torch.inference_mode():
            return deployed(x)

    def torchscript(x):
        with torch.inference_mode():
            return scripted(x)

    out = {"eager": eager, "torchscript": torchscript}
    if all(find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime")):
        graph = ort_session(export_model(model, run_cfg, "onnx", work / "onnx"))
        bare = ort_session(bare_lstm_onnx(work))
        out["onnx"] = lambda x: graph.run(None, {"x": x.numpy()})
        out["bare_lstm_onnx"] = lambda x: bare.run(None, {"x": x.numpy()})
    return out


def latency(calls: dict, quick: bool) -> dict[str, float]:
    """Median microseconds per single window, engines in alternating rounds."""
    x = torch.randn(1, WINDOW, 1)
    rounds, n = (2, 200) if quick else (6, 2000)
    per: dict[str, list[float]] = {name: [] for name in calls}
    for fn in calls.values():
        median_call_us(lambda fn=fn: fn(x), 200)  # warm-up
    for r in range(rounds):
        order = list(calls) if r % 2 == 0 else list(reversed(calls))
        for name in order:
            per[name].append(median_call_us(lambda name=name: calls[name](x), n))
    return {name: statistics.median(v) for name, v in per.items()}


def throughput(calls: dict, quick: bool) -> dict[str, float]:
    """Windows per second over one call of 10^4 windows (median of repeats)."""
    x = torch.randn(10_000, WINDOW, 1)
    repeats = 1 if quick else 5
    out = {}
    for name, fn in calls.items():
        fn(x)  # warm-up
        seconds = [median_call_us(lambda fn=fn: fn(x), 1) / 1e6 for _ in range(repeats)]
        out[name] = 10_000 / statistics.median(seconds)
    return out


def predict_timings(run_dir: Path, work: Path, quick: bool) -> dict:
    """``predict.py`` on a new 1000-point CSV: in-process (config composition apart) and as
    a process."""
    from hydra.core.global_hydra import GlobalHydra

    from rnnlab.run.config import compose_config
    from rnnlab.run.predict import predict

    new = series_csv(work / "new.csv", seed=101)
    overrides = [f"run_dir={run_dir}", f"data.path={new}"]
    composing, predicting = [], []
    for i in range(3 if quick else 15):
        start = time.perf_counter()
        cfg = compose_config(work / f"predict{i}", overrides, config_name="predict")
        middle = time.perf_counter()
        predict(cfg)
        end = time.perf_counter()
        GlobalHydra.instance().clear()
        composing.append(middle - start)
        predicting.append(end - middle)
    processes = []
    for i in range(1 if quick else 3):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, str(ROOT / "predict.py"), *overrides,
             f"hydra.run.dir={work / f'predict_process{i}'}"],
            check=True, capture_output=True, cwd=ROOT,
        )  # fmt: skip
        processes.append(time.perf_counter() - start)
    return {
        "predict_ms": 1e3 * statistics.median(predicting[1:] or predicting),
        "compose_ms": 1e3 * statistics.median(composing[1:] or composing),
        "process_s": statistics.median(processes),
        "runs": len(predicting),
    }


def export_section(quick: bool, work: Path, figure, progress=lambda _: None) -> dict:
    """The section's figures (see the module docstring)."""
    torch.set_num_threads(1)
    work.mkdir(parents=True, exist_ok=True)
    progress("export: training the LSTM")
    run_dir = train_run(work, quick)
    progress("export: exporting")
    calls = engines(run_dir, work)
    progress("export: latency and throughput")
    lat, rate = latency(calls, quick), throughput(calls, quick)
    figs = {}
    for name in ("eager", "torchscript", "onnx"):
        if name not in lat:
            continue
        goal = "<= 30" if name == "onnx" else None
        extra = {"bare_lstm_onnx_us": lat["bare_lstm_onnx"]} if name == "onnx" else {}
        figs[f"export_{name}_batch1_us"] = figure(lat[name], goal, **extra)
        figs[f"export_{name}_windows_per_s"] = figure(rate[name], None, windows=10_000)
    progress("export: predict.py")
    p = predict_timings(run_dir, work, quick)
    figs["predict_after_imports_ms"] = figure(
        p["predict_ms"], "<= 50", compose_ms=p["compose_ms"], runs=p["runs"], points=1000
    )
    figs["predict_process_seconds"] = figure(p["process_s"], None)
    return figs


if __name__ == "__main__":
    import tempfile

    from bench import figure

    with tempfile.TemporaryDirectory(prefix="rnnlab-bench-export-") as tmp:
        result = export_section("--quick" in sys.argv, Path(tmp), figure, print)
    print(json.dumps(result, indent=2))
