"""Helpers shared by the bench sections: composing the real config, timing, medians."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def compose(output_dir: Path, overrides: list[str]):
    """Compose ``conf/train.yaml`` as ``python train.py`` would, with runs under ``output_dir``."""
    from rnnlab.run.config import compose_config

    return compose_config(output_dir, overrides)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Wall seconds of one call and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def interleaved(
    a: Callable[[], object], b: Callable[[], object], repeats: int, cpu: dict | None = None
) -> tuple[list[float], list[float]]:
    """Time ``a`` and ``b`` alternately (ABBA order), so slow phases of a shared machine
    hit both sides alike. Returns wall seconds; if ``cpu`` is given, its ``"a"``/``"b"``
    lists get this process's CPU seconds too (less sensitive to other processes' load)."""
    times_a: list[float] = []
    times_b: list[float] = []
    cpu_a: list[float] = []
    cpu_b: list[float] = []
    for i in range(repeats):
        pair = [(a, times_a, cpu_a), (b, times_b, cpu_b)]
        for fn, out, out_cpu in pair if i % 2 == 0 else pair[::-1]:
            start_cpu = time.process_time()
            out.append(timed(fn)[0])
            out_cpu.append(time.process_time() - start_cpu)
    if cpu is not None:
        cpu.update(a=cpu_a, b=cpu_b)
    return times_a, times_b


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def rss() -> tuple[int, int]:
    """(current, peak) resident bytes of this process (Linux /proc)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def reset_peak() -> None:
    """Reset the peak resident size to the current one ("5" to clear_refs, Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")
