"""``cells``: forward + backward time per batch of every backbone against ``nn.GRU``.

    python benchmarks/bench_cells.py         # hidden 128, batch 64, T = 100, 1000, 4000
    python benchmarks/bench_cells.py --lengths 20,100,1000 --threads 2
    python benchmarks/bench.py --sections cells   # as a section of `make bench`

Every backbone of ``conf/backbone/`` is built from its YAML at hidden 128 with one input
feature; the scan-trained cells (minGRU, minLSTM, LRU) also in each of their forms
(``sequential``, ``parallel`` with the ``chunked`` and the ``log`` scan), besides ``auto``.
One batch ``[64, T, 1]`` goes forward and backward (the gradient of the last step, as the
heads read it); timings are medians of repeats in alternating order, on the device the
bench runs on (the CPU here; a GPU too when there is one). Peak memory is the growth of the
process's peak resident set over one step (Linux ``/proc/self/clear_refs``; on a GPU,
``torch.cuda.max_memory_allocated``). A second table times the scans alone on coefficient
tensors ``[64, T, 128]``: the textbook step loop (autograd records every step) against the
hand-written step loop, the chunked and the log-space scan.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import torch
from common import ROOT, median

BACKBONES = ("scratch", "rnn", "lstm", "gru", "mingru", "minlstm", "lru")
SCAN_CELLS = ("mingru", "minlstm", "lru")
LENGTHS = (100, 1000, 4000)
HIDDEN, BATCH = 128, 64


def variants(backbones: tuple[str, ...] = BACKBONES) -> dict[str, tuple[str, dict]]:
    """``{label: (backbone, overrides)}``: each backbone as configured (``mode: auto`` for the
    scan cells) and each scan cell in every form."""
    out: dict[str, tuple[str, dict]] = {}
    for name in backbones:
        out[name] = (name, {})
        if name in SCAN_CELLS:
            out[f"{name}:sequential"] = (name, {"mode": "sequential"})
            out[f"{name}:chunked"] = (name, {"mode": "parallel"} | _scan(name, "chunked"))
            if name != "lru":  # the LRU's parallel form is the chunked scan only
                out[f"{name}:log"] = (name, {"mode": "parallel", "scan": "log"})
    return out


def _scan(name: str, scan: str) -> dict:
    return {} if name == "lru" else {"scan": scan}


def build(name: str, hidden: int, overrides: dict, device: str) -> torch.nn.Module:
    """``conf/backbone/<name>.yaml`` at ``hidden`` units and one input feature."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(ROOT / "conf" / "backbone" / f"{name}.yaml")
    cfg = OmegaConf.merge(cfg, {"input_size": 1, "hidden_size": hidden, **overrides})
    return instantiate(cfg).to(device)


def _sync(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize()


def _peak_rss_kib() -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmHWM:\s+(\d+)", status)
    return int(found.group(1)) if found else None


def _reset_peak_rss() -> bool:
    """Hand freed heap memory back to the system, then reset the peak to the current RSS.

    Without the trim, a step reuses pages that glibc kept from the warm-up step, and the
    peak would not grow at all."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except (OSError, AttributeError):
        return False
    return True


def peak_memory_mb(step, device: str) -> float | None:
    """Peak memory one call of ``step`` adds (MB): GPU allocations, or the CPU peak RSS."""
    if device != "cpu":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    if not _reset_peak_rss():
        return None
    before = _peak_rss_kib()
    step()
    after = _peak_rss_kib()
    return None if before is None or after is None else (after - before) / 1024


def _train_step(net: torch.nn.Module, x: torch.Tensor):
    def step() -> None:
        out = net(x)
        out[:, -1].sum().backward()  # the gradient of the last step, as the heads read it
        net.zero_grad(set_to_none=True)

    return step


def measure_cells(
    lengths: tuple[int, ...] = LENGTHS,
    labels: dict[str, tuple[str, dict]] | None = None,
    hidden: int = HIDDEN,
    batch: int = BATCH,
    repeats: int = 3,
    device: str = "cpu",
    progress=None,
) -> dict:
    """``{T: {label: {"ms", "peak_mb", "ratio_vs_gru"}}}`` for every variant at every T."""
    labels = labels or variants()
    results: dict[int, dict] = {}
    for length in lengths:
        if progress:
            progress(f"cells T={length}")
        torch.manual_seed(0)
        x = torch.randn(batch, length, 1, device=device)
        steps = {label: _train_step(build(name, hidden, o, device), x)
                 for label, (name, o) in labels.items()}  # fmt: skip
        row: dict[str, dict] = {label: {"times": []} for label in steps}
        for label, step in steps.items():  # warm-up, and the memory of one step
            step()
            row[label]["peak_mb"] = peak_memory_mb(step, device)
        order = list(steps)
        for i in range(repeats):  # alternating order: a busier phase hits every variant
            for label in order if i % 2 == 0 else order[::-1]:
                _sync(device)
                start = time.perf_counter()
                steps[label]()
                _sync(device)
                row[label]["times"].append(time.perf_counter() - start)
        gru = median(row["gru"]["times"]) if "gru" in row else None
        for r in row.values():
            r["ms"] = 1e3 * median(r["times"])
            r["ratio_vs_gru"] = r["ms"] / (1e3 * gru) if gru else None
            r["times"] = [round(1e3 * t, 2) for t in r["times"]]
        results[length] = row
    return results


def _scan_forms(shape: tuple[int, int, int], device: str) -> dict:
    """``{form: step}``: forward + backward of one scan form on fixed random coefficients."""
    from rnnlab.models.scan import scan_chunked, scan_log, scan_reference, scan_sequential

    a = torch.rand(shape, device=device).mul_(0.98).add_(0.01).requires_grad_()
    b = torch.rand(shape, device=device).add_(0.01).requires_grad_()
    log_a, log_b = (t.detach().log().requires_grad_() for t in (a, b))
    forms = {"reference": lambda: scan_reference(a, b),
             "sequential": lambda: scan_sequential(a, b),
             "chunked": lambda: scan_chunked(a, b),
             "log": lambda: scan_log(log_a, log_b)}  # fmt: skip
    return {name: (lambda f=f: f()[:, -1].sum().backward()) for name, f in forms.items()}


def measure_scans(
    lengths: tuple[int, ...] = LENGTHS,
    size: int = HIDDEN,
    batch: int = BATCH,
    repeats: int = 3,
    device: str = "cpu",
) -> dict:
    """The scans alone, forward + backward on coefficients ``[batch, T, size]`` (ms)."""
    results: dict[int, dict] = {}
    for length in lengths:
        torch.manual_seed(0)
        run = _scan_forms((batch, length, size), device)
        forms = ("reference", "sequential", "chunked", "log")
        times: dict[str, list[float]] = {f: [] for f in forms}
        for form in forms:
            run[form]()
        for i in range(repeats):
            for form in forms if i % 2 == 0 else forms[::-1]:
                _sync(device)
                start = time.perf_counter()
                run[form]()
                _sync(device)
                times[form].append(time.perf_counter() - start)
        results[length] = {f: 1e3 * median(t) for f, t in times.items()}
    return results


def plot(results: dict, path: Path, title: str) -> Path:
    """Time per batch against T (log-log): every backbone as configured (the scan cells in
    ``auto``) on the left, each scan cell in every form on the right, nn.GRU on both."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 5), layout="constrained")
    panels = fig.subplots(1, 2, sharey=True)
    lengths = sorted(results)
    labels = list(results[lengths[0]])
    styles = {"sequential": ":", "chunked": "--", "log": "-."}
    for ax, forms in zip(panels, (False, True), strict=True):
        for label in labels:
            name, _, form = label.partition(":")
            if label != "gru" and (bool(form) != forms or (forms and name not in SCAN_CELLS)):
                continue
            ax.plot(lengths, [results[t][label]["ms"] for t in lengths], styles.get(form, "-"),
                    marker="o", lw=2.5 if label == "gru" else 1.5, label=label,
                    color=f"C{BACKBONES.index(name) % 10}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(lengths, [str(t) for t in lengths])
        ax.set_xlabel("sequence length T")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("every backbone (scan cells: mode=auto)" if not forms else
                     "scan cells by form: sequential ··, chunked --, log -·")  # fmt: skip
    panels[0].set_ylabel("forward + backward per batch (ms)")
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def table(results: dict, scans: dict | None = None) -> str:
    """Markdown tables: ms per batch (× nn.GRU) and peak MB, per variant and T."""
    lengths = sorted(results)
    head = "| backbone | " + " | ".join(f"T={t} ms (× GRU)" for t in lengths)
    head += " | " + " | ".join(f"T={t} peak MB" for t in lengths) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(lengths))]
    for label in results[lengths[0]]:
        cells = []
        for t in lengths:
            r = results[t][label]
            ratio = f" ({r['ratio_vs_gru']:.2f})" if r["ratio_vs_gru"] is not None else ""
            cells.append(f"{r['ms']:.1f}{ratio}")
        for t in lengths:
            mb = results[t][label]["peak_mb"]
            cells.append("-" if mb is None else f"{mb:.0f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if scans:
        lines += ["", "| scan alone (ms) | " + " | ".join(f"T={t}" for t in sorted(scans)) + " |",
                  "|" + "---|" * (1 + len(scans))]  # fmt: skip
        for form in scans[min(scans)]:
            lines.append(f"| {form} | " + " | ".join(f"{scans[t][form]:.1f}" for t in sorted(scans))
                         + " |")  # fmt: skip
    return "\n".join(lines)


def cells_section(quick: bool, out_dir: Path, figure, progress=None) -> dict:
    """The ``cells`` figures of ``make bench`` (``figure`` is bench.py's constructor).

    Per device (the CPU, and the GPU when there is one): ``cells[<device>,<variant>,T=<T>]``
    in ms per batch (detail: × nn.GRU, peak MB), the goal ``ratio_mingru_vs_gru`` (minGRU
    in ``auto`` mode over nn.GRU at T = 1000, ``<= 0.5``), the moonshot
    ``ratio_parallel_vs_steps`` (the chunked scan alone over the textbook step loop alone,
    ``<= 1``) at T >= 1000, and the scans alone; the plot goes to ``cells_<device>.png``.
    """
    lengths = (20, 50) if quick else LENGTHS
    size = dict(hidden=8, batch=4) if quick else dict(hidden=HIDDEN, batch=BATCH)
    repeats = 1 if quick else 3
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    figs: dict[str, dict] = {}
    for device in devices:
        res = measure_cells(lengths, None, **size, repeats=repeats, device=device,
                            progress=progress)  # fmt: skip
        scans = measure_scans(lengths, size["hidden"], size["batch"], repeats, device)
        for length, row in res.items():
            for label, r in row.items():
                figs[f"cells[{device},{label},T={length}]"] = figure(
                    round(r["ms"], 3), None, ratio_vs_gru=r["ratio_vs_gru"], peak_mb=r["peak_mb"]
                )
            for form, ms in scans[length].items():
                figs[f"scan_alone[{device},{form},T={length}]"] = figure(round(ms, 3), None)
            if length >= 1000:
                figs[f"ratio_parallel_vs_steps[{device},T={length}]"] = figure(
                    scans[length]["chunked"] / scans[length]["reference"], "<= 1.0",
                    chunked_ms=scans[length]["chunked"], steps_ms=scans[length]["reference"],
                    hand_written_steps_ms=scans[length]["sequential"],
                )  # fmt: skip
        if 1000 in res:
            r = res[1000]["mingru"]
            figs[f"ratio_mingru_vs_gru[{device},T=1000]"] = figure(
                r["ratio_vs_gru"], "<= 0.5", mingru_ms=r["ms"], gru_ms=res[1000]["gru"]["ms"]
            )
        title = f"{device}, hidden {size['hidden']}, batch {size['batch']}, 1 input feature"
        plot(res, out_dir / f"cells_{device}.png", title)
    return figs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    parser.add_argument("--hidden", type=int, default=HIDDEN)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backbones", default=",".join(BACKBONES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None, help="JSON of the results")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of time against T")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    lengths = tuple(int(t) for t in args.lengths.split(","))
    labels = variants(tuple(args.backbones.split(",")))
    report = lambda msg: print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr)  # noqa: E731
    results = measure_cells(lengths, labels, args.hidden, args.batch, args.repeats, args.device,
                            report)  # fmt: skip
    scans = measure_scans(lengths, args.hidden, args.batch, args.repeats, args.device)
    print(table(results, scans))
    if args.out:
        args.out.write_text(json.dumps({"cells": results, "scans": scans}, indent=2) + "\n")
    if args.plot:
        plot(results, args.plot, f"{args.device}, hidden {args.hidden}, batch {args.batch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
